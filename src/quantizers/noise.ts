/**
 * Seeds for quantizer noise (Gumbel samples, DropBits masks, DoReFa gradient noise). The
 * training loop seeds this counter from the run's seed and checkpoints it, so the same seed
 * gives the same noise, and a resumed run continues the sequence.
 */
let state = 0x9e3779b9;

export function setNoiseState(seed: number): void {
  state = seed >>> 0;
}

export function getNoiseState(): number {
  return state;
}

/** The next noise seed (a 31-bit integer for tf.randomUniform). */
export function nextNoiseSeed(): number {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state & 0x7fffffff;
}
