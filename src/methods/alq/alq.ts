/**
 * ALQ's adaptive bit allocation (Qu, Zhou, Cheng & Thiele, CVPR 2020, arXiv:1912.08883;
 * docs/methods/alq.md): multi-bit layers start with I_max bases per group (output channel); after
 * each of the first P epochs the bases whose removal the second-order loss model says costs least
 * are pruned, until the size-weighted average bases per weight reaches the budget.
 *
 * Importance of basis i of a group (the authors' formula, checked against their public code):
 *   ΔL_i = −g_αᵢ·α_i + ½·α_i²·H_αᵢ,   g_αᵢ = Σ_t β_i,t·lr·m̂_t,   H_αᵢ = Σ_t (√v̂_t + ε),
 * with m̂, v̂ Adam's bias-corrected moments of the group's weights (lr·m̂ and √v̂ + ε are the
 * gradient and diagonal Hessian of the quadratic model whose minimiser is Adam's step).
 * Simplified here: a group loses one basis count and is refit with one fewer basis (greedy +
 * alternating least squares, src/quantizers/multibit.ts) instead of dropping exactly basis i;
 * bases are pruned one at a time from the cheapest group (the paper prunes a fixed share of the
 * least important α's per pruning step).
 */
import * as tf from '../../backend/tf.js';
import { isQuantLayer, QuantLayer } from '../../layers/quant-layers.js';
import { fitMultibit, MultibitSpec } from '../../quantizers/multibit.js';
import { adamMoments } from '../../train/optimizer.js';

/** What an ALQ run records: the budget and the bases each layer kept. */
export interface AlqReport {
  /** The target average bases (bits) per weight over the multi-bit layers. */
  budget: number;
  /** Every channel kept exactly `budget` bases (no pruning). */
  uniform: boolean;
  maxBases: number;
  pruneEpochs: number;
  /** Bases per weight after pruning (the bit planes), size-weighted over the multi-bit layers. */
  averageBits: number;
  /** With the α's (32-bit floats, one per basis per channel): the storage bits per weight. */
  bitsPerWeight: number;
  layers: Array<{ name: string; averageBases: number; channelsWithBases: number[] }>;
}

/** The model's layers with a multi-bit kernel quantizer. */
export function multibitLayers(model: tf.LayersModel): QuantLayer[] {
  return model.layers.filter(isQuantLayer).filter((l) => l.kernelQuantizerSpec?.kind === 'multibit');
}

function layerState(l: QuantLayer) {
  const bases = l.quantizerWeights('kernel')[0];
  return { bases, counts: Int32Array.from(bases.read().dataSync(), Math.round), count: (l.latentKernel.shape as number[]).reduce((a, b) => a * b, 1) };
}

/** Size-weighted average bases per weight over the multi-bit layers (0 when there are none). */
export function averageBases(model: tf.LayersModel): number {
  let bits = 0;
  let weights = 0;
  for (const l of multibitLayers(model)) {
    const { counts, count } = layerState(l);
    bits += counts.reduce((a, b) => a + b, 0) * (count / counts.length);
    weights += count;
  }
  return weights > 0 ? bits / weights : 0;
}

/**
 * The cost of a layer's groups: cost(channel, k) = min_i ΔL_i over the k-basis fit of that
 * channel, from Adam's moments (or ½·α_i²·n, the plain reconstruction cost, when the optimizer
 * has no Adam state for the layer).
 */
export function groupCosts(l: QuantLayer, optimizer: tf.Optimizer | null): (channel: number, k: number) => number {
  const spec = l.kernelQuantizerSpec as MultibitSpec;
  const kernel = l.latentKernel.read();
  const values = kernel.dataSync();
  const moments = optimizer ? adamMoments(optimizer, kernel as tf.Variable) : null;
  const g = moments ? tf.tidy(() => tf.mul(moments.firstMoment, moments.learningRate).dataSync()) : null;
  const h = moments ? tf.tidy(() => tf.add(tf.sqrt(moments.secondMoment), moments.epsilon).dataSync()) : null;
  if (moments) tf.dispose([moments.firstMoment, moments.secondMoment]);
  const c = l.kernelColumns();
  const n = values.length / c;
  return (ch, k) => {
    if (k === 0) return Infinity;
    const w = new Float64Array(n);
    let hAlpha = 0;
    for (let t = 0; t < n; t++) { w[t] = values[t * c + ch]; hAlpha += h ? h[t * c + ch] : 1; }
    const f = fitMultibit(w, k, spec.refine ?? 2);
    let best = Infinity;
    f.alphas.forEach((a, i) => {
      let gAlpha = 0;
      if (g) for (let t = 0; t < n; t++) gAlpha += f.signs[i][t] * g[t * c + ch];
      best = Math.min(best, -gAlpha * a + 0.5 * a * a * hAlpha);
    });
    return best;
  };
}

/**
 * Prunes bases one at a time, always from the group (across all multi-bit layers) whose cheapest
 * basis costs least (its cost recomputed after each prune), until the average bases per weight
 * is at most `target`; groups keep at least `minBases`. Returns the number of bases pruned.
 */
export function pruneBases(model: tf.LayersModel, optimizer: tf.Optimizer | null, target: number, minBases: number): number {
  const layers = multibitLayers(model);
  const states = layers.map(layerState);
  const total = states.reduce((a, s) => a + s.count, 0);
  let bits = states.reduce((a, s) => a + s.counts.reduce((x, y) => x + y, 0) * (s.count / s.counts.length), 0);
  if (bits / total <= target + 1e-9) return 0;
  const costs = layers.map((l) => groupCosts(l, optimizer));
  const current = states.map((s, li) => Float64Array.from(s.counts, (k, ch) => (k > minBases ? costs[li](ch, k) : Infinity)));
  let pruned = 0;
  while (bits / total > target + 1e-9) {
    let li = -1;
    let ch = -1;
    let lowest = Infinity;
    current.forEach((row, l) => row.forEach((cost, c) => { if (cost < lowest) { lowest = cost; li = l; ch = c; } }));
    if (li < 0) break;
    const s = states[li];
    s.counts[ch]--;
    bits -= s.count / s.counts.length;
    pruned++;
    current[li][ch] = s.counts[ch] > minBases ? costs[li](ch, s.counts[ch]) : Infinity;
  }
  states.forEach((s) => tf.tidy(() => { s.bases.write(tf.tensor1d(Float32Array.from(s.counts))); }));
  return pruned;
}

/** The report of the model's multi-bit layers. */
export function alqReport(model: tf.LayersModel, o: { budget: number; uniform: boolean; maxBases: number; pruneEpochs: number }): AlqReport {
  let weights = 0;
  let planeBits = 0;
  let alphas = 0;
  const layers = multibitLayers(model).map((l) => {
    const { counts, count } = layerState(l);
    const sum = counts.reduce((a, b) => a + b, 0);
    weights += count;
    planeBits += sum * (count / counts.length);
    alphas += sum;
    const histogram = Array.from({ length: o.maxBases + 1 }, (_, k) => counts.filter((c) => c === k).length);
    return { name: l.name, averageBases: sum / counts.length, channelsWithBases: histogram };
  });
  return {
    ...o, averageBits: weights ? planeBits / weights : 0, bitsPerWeight: weights ? (planeBits + 32 * alphas) / weights : 0, layers,
  };
}
