/**
 * Relaxed Quantization and Semi-Relaxed Quantization over a learned grid ĝ = α·G.
 *
 * RQ — Louizos, Reisser, Blankevoort, Gavves & Welling, "Relaxed Quantization for Discretized
 * Neural Networks", ICLR 2019 (verified from the paper's text, srq.md §1): logistic noise of
 * scale σ puts a categorical π over the grid, π_i = Sig((ĝ_i + α/2 − x)/σ) − Sig((ĝ_i − α/2 − x)/σ),
 * truncated to the grid's support and renormalised, with a fuzz ε. RQ draws a concrete sample
 * z = softmax((log π + Gumbel)/λ) and returns Σ z_i ĝ_i; RQ-ST returns the hard one-hot of the same
 * Gumbel argmax with the concrete sample's gradient.
 *
 * SRQ — Lee, Yun, Hwang & Yang, arXiv:1911.12990 (ICCV 2021 as CPQ). The paper's full text was not
 * available: this is srq.md §2.2's RECONSTRUCTION. Forward: the mode of π (= round-and-clip).
 * Backward: the multi-class straight-through estimator, ∂r̃/∂π := I, so ∂L/∂π_i = ĝ_i·∂L/∂x̂ flows
 * through π into x, α and σ, and α also gets Σ_i r̃_i G_i·∂L/∂x̂. No temperature.
 *
 * DropBits (srq.md §3.2, also a RECONSTRUCTION): grid points are grouped into nested bit shells;
 * per element and step, the shell of bit k survives with probability (1 − p)^(k−1); π is masked
 * before the argmax. The (b−1)-bit core is never dropped.
 *
 * Test time (training = false), every method: α·clip(round(x/α), G_min, G_max).
 * Numerics: log π_i = logσ(b_i) + logσ(−a_i) + log(1 − e^(−α/σ)) with a_i, b_i the standardised bin
 * edges — no cancellation, finite for |x| = 1e6, zeros and subnormals.
 */
import * as tf from '../backend/tf.js';
import { detached, withGradient } from './common.js';
import type { QuantizerKind, QuantizerKindInfo } from './kind.js';
import { GATE_SCALE, MIN_LEARNED_BITS, rqInfo, rqStInfo, srqInfo } from './kind-info.js';
import { nextNoiseSeed } from './noise.js';
import { fusedRelaxedAvailable, relaxedFused } from './relaxed-fused.js';

export type RelaxedMethod = 'rq' | 'rq-st' | 'srq';

export interface RelaxedOptions {
  method: RelaxedMethod;
  bits: number;
  /** Signed grid [−2^(b−1), 2^(b−1) − 1] (weights) or unsigned [0, 2^b − 1] (post-ReLU activations). */
  signed: boolean;
  /** Concrete temperature λ (RQ, RQ-ST). */
  temperature?: number;
  /** DropBits drop rate p per bit above the core (SRQ; 0 = off). */
  dropBits?: number;
  /** DropBits masks: one gate draw per element (default) or one per layer and step. */
  dropBitsMask?: 'element' | 'layer';
  /**
   * Learned bit-widths (SRQ): log α of a hard-concrete gate for each bit k = 3 … b (one per
   * layer). Shell k survives with Π_{j≤k} z_j; the regulariser lives in the recipe.
   */
  bitGates?: tf.Tensor[];
  /** Fuzz ε added to every π_i (RQ's Algorithm 1). */
  epsilon?: number;
  /** Local grid half-width in σ units (RQ §2.2, δ = 3); used when it is narrower than the grid. */
  delta?: number;
  training: boolean;
}

export function relaxedGrid(bits: number, signed: boolean): number[] {
  const lo = signed ? -(2 ** (bits - 1)) : 0;
  return Array.from({ length: 2 ** bits }, (_, i) => lo + i);
}

/** The bit shell of each grid point: the smallest k whose k-bit grid holds it (1 = the 1-bit core). */
export function bitShells(grid: number[], signed: boolean): number[] {
  return grid.map((g) => {
    for (let k = 1; k <= 32; k++) {
      const inside = signed ? g >= -(2 ** (k - 1)) && g <= 2 ** (k - 1) - 1 : g <= 2 ** k - 1;
      if (inside) return Math.max(1, k);
    }
    return 32;
  });
}

/** α·clip(round(x/α), G_min, G_max): the deterministic quantizer every method uses at test time. */
export function roundToGrid(x: tf.Tensor, alpha: tf.Tensor, bits: number, signed: boolean): tf.Tensor {
  const g = relaxedGrid(bits, signed);
  return tf.tidy(() => tf.mul(tf.clipByValue(tf.round(tf.div(x, alpha)), g[0], g[g.length - 1]), alpha));
}

/** log σ(z) = −softplus(−z). (TF.js's own logSigmoid keeps its input in a closure, which breaks inside tidy.) */
const logSigmoid = (z: tf.Tensor) => tf.neg(tf.softplus(tf.neg(z)));

/**
 * log π over the grid offsets, shape [...x.shape, W]: the (local) grid points n(x) + o for
 * o = −h … h, with out-of-range points masked out. Returns log-probabilities (normalised over
 * the support, plus the ε fuzz) and the grid integers G per slot.
 */
function categorical(x: tf.Tensor, alpha: tf.Tensor, sigma: tf.Tensor, grid: number[], epsilon: number, delta: number): { logp: tf.Tensor; G: tf.Tensor } {
  const K = grid.length;
  const lo = grid[0];
  const hi = grid[K - 1];
  const { h } = localWindow(alpha, sigma, K, delta);
  const local = h >= 0;
  const xe = tf.expandDims(x, -1);
  let G: tf.Tensor;
  if (local) {
    // Integer grid slots around the nearest point; their choice carries no gradient.
    G = detached(() => tf.add(tf.clipByValue(tf.round(tf.div(xe, alpha)), lo, hi), tf.range(-h, h + 1))); // may leave the range: masked below
  } else {
    G = tf.reshape(tf.tensor1d(grid), [...new Array(x.rank).fill(1), K]);
  }
  const g = tf.mul(G, alpha);
  const halfAlpha = tf.mul(alpha, 0.5);
  const a = tf.div(tf.sub(tf.sub(g, halfAlpha), xe), sigma); // lower edge, standardised
  const b = tf.div(tf.sub(tf.add(g, halfAlpha), xe), sigma); // upper edge
  const logWidth = tf.log(tf.neg(tf.expm1(tf.neg(tf.div(alpha, sigma))))); // log(1 − e^(−α/σ))
  let logits = tf.add(tf.add(logSigmoid(b), logSigmoid(tf.neg(a))), logWidth);
  if (local) {
    // Slots off the grid get log π = −1e30 (arithmetic mask: LogicalAnd has no gradient in TF.js).
    const valid = tf.mul(tf.cast(tf.greaterEqual(G, lo), 'float32'), tf.cast(tf.lessEqual(G, hi), 'float32'));
    logits = tf.add(logits, tf.mul(tf.sub(valid, 1), 1e30));
  }
  // Truncate to the support and renormalise (softmax), then RQ's fuzz: (π + ε)/(1 + Kε).
  const p = tf.div(tf.add(tf.softmax(logits), epsilon), 1 + K * epsilon);
  return { logp: tf.log(p), G };
}

/**
 * The relaxed quantizer of `o.method`. While training on a backend with the fused kernels (wasm,
 * native) it runs as one fused op per call (relaxed-fused.ts: the categorical computed per element
 * inside the kernel); elsewhere (cpu) as relaxedQuantizeReference. Both draw the same random
 * samples in the same order, so a seed gives the same noise on either path.
 */
export function relaxedQuantize(x: tf.Tensor, alpha: tf.Tensor, sigma: tf.Tensor, o: RelaxedOptions): tf.Tensor {
  if (!o.training) return roundToGrid(x, alpha, o.bits, o.signed);
  if (x.dtype === 'float32' && x.size > 0 && alpha.size === 1 && sigma.size === 1 && fusedRelaxedAvailable()) return relaxedQuantizeFused(x, alpha, sigma, o);
  return relaxedQuantizeReference(x, alpha, sigma, o);
}

/** The local grid: half-width h (−1 = the whole grid) and slots per element W. One scalar host read. */
function localWindow(alpha: tf.Tensor, sigma: tf.Tensor, K: number, delta: number): { h: number; W: number } {
  // The local-grid width must be a JS number (it fixes tensor shapes): one scalar read per call,
  // the one host read left in a relaxed forward pass (docs/browser.md).
  const ratio = sigma.dataSync()[0] / alpha.dataSync()[0];
  const h = Math.ceil(delta * ratio);
  return 2 * h + 1 < K ? { h, W: 2 * h + 1 } : { h: -1, W: K };
}

/** The fused path: the reference's random draws, then one kernel (relaxed-fused.ts). */
function relaxedQuantizeFused(x: tf.Tensor, alpha: tf.Tensor, sigma: tf.Tensor, o: RelaxedOptions): tf.Tensor {
  const grid = relaxedGrid(o.bits, o.signed);
  const { h, W } = localWindow(alpha, sigma, grid.length, o.delta ?? 3);
  return tf.tidy(() => {
    const none = tf.zeros([1]);
    let u = none;
    let drop = none;
    let gates = none;
    let nDrop = 0;
    let nGates = 0;
    const layerMask = o.dropBitsMask === 'layer';
    if (o.method === 'srq') {
      if ((o.dropBits ?? 0) > 0) {
        const draws = dropBitsGates(layerMask ? x.shape.map(() => 1) : x.shape, o.bits, o.dropBits!);
        drop = tf.concat(draws.map((d) => tf.reshape(d, [-1])));
        nDrop = draws.length;
      }
      if (o.bitGates && o.bitGates.length > 0) {
        gates = tf.stack(o.bitGates.map((g) => tf.reshape(sampleHardConcrete(g), [])));
        nGates = o.bitGates.length;
      }
    } else {
      u = tf.randomUniform([...x.shape, W], 1e-6, 1 - 1e-6, 'float32', nextNoiseSeed());
    }
    return relaxedFused(x, alpha, sigma, u, drop, gates, {
      method: o.method, lo: grid[0], hi: grid[grid.length - 1], h, signed: o.signed, nDrop, dropPerElement: !layerMask, nGates,
      epsilon: o.epsilon ?? 1e-6, temperature: o.temperature ?? 1,
    });
  });
}

/** The tfjs-ops implementation with per-grid-point [..., W] tensors: the cpu path and the fused kernels' reference. */
export function relaxedQuantizeReference(x: tf.Tensor, alpha: tf.Tensor, sigma: tf.Tensor, o: RelaxedOptions): tf.Tensor {
  const grid = relaxedGrid(o.bits, o.signed);
  return tf.tidy(() => {
    const { logp, G } = categorical(x, alpha, sigma, grid, o.epsilon ?? 1e-6, o.delta ?? 3);
    const W = logp.shape[logp.rank - 1];
    if (o.method === 'srq') {
      let masked = logp;
      let probs = tf.exp(logp);
      if ((o.dropBits ?? 0) > 0) {
        // π times the 0/1 mask: the argmax picks among survivors and the backward reaches survivors only (srq.md §3.2).
        const survive = nestedSurvival(G, o.signed, 1, dropBitsGates(o.dropBitsMask === 'layer' ? x.shape.map(() => 1) : x.shape, o.bits, o.dropBits!));
        masked = tf.add(logp, tf.log(tf.maximum(survive, 1e-30)));
        probs = tf.mul(probs, survive);
      }
      if (o.bitGates && o.bitGates.length > 0) {
        // Learned bits: π scaled by the shells' survival (the gates get the multi-class STE's gradient).
        const survive = nestedSurvival(G, o.signed, MIN_LEARNED_BITS, o.bitGates.map((g) => tf.reshape(sampleHardConcrete(g), [])));
        masked = tf.add(masked, tf.log(tf.maximum(survive, 1e-30)));
        probs = tf.mul(probs, survive);
      }
      const onehot = tf.cast(tf.oneHot(tf.argMax(masked, -1), W), 'float32');
      return srqSelect(probs, onehot, G, alpha);
    }
    const u = tf.randomUniform(logp.shape, 1e-6, 1 - 1e-6, 'float32', nextNoiseSeed());
    const gumbel = tf.neg(tf.log(tf.neg(tf.log(u))));
    const z = tf.softmax(tf.div(tf.add(logp, gumbel), o.temperature ?? 1));
    const g = tf.mul(G, alpha);
    const soft = tf.sum(tf.mul(z, g), -1);
    if (o.method === 'rq') return soft;
    const hard = tf.sum(tf.mul(tf.cast(tf.oneHot(tf.argMax(z, -1), W), 'float32'), g), -1);
    return stPair(hard, soft);
  });
}

/** value = hard, gradient → soft (RQ-ST's straight-through Gumbel-softmax). */
const stPair = withGradient(([hard]) => {
  return { value: tf.clone(hard), gradFunc: (dy) => [tf.zerosLike(dy), dy] };
});

/**
 * SRQ's selection: value Σ_i r̃_i ĝ_i with r̃ the one-hot mode; gradients ∂/∂π_i = ĝ_i·dy and
 * ∂/∂α = Σ (Σ_i r̃_i G_i)·dy (the multi-class STE, srq.md §2.2).
 */
const srqSelectGrad = withGradient(([, a, pk, grid], save) => {
  // Input 0 (π) carries no value here: it only receives the multi-class STE gradient.
  save([a, pk, grid]); // saved tensors outlive the forward pass's tidy scopes
  return {
    value: tf.mul(pk, a),
    gradFunc: (dy, [sa, spk, sg]) => [
      tf.mul(tf.expandDims(dy, -1), tf.mul(sg, sa)),
      tf.reshape(tf.sum(tf.mul(dy, spk)), sa.shape),
      tf.zerosLike(spk),
      tf.zerosLike(sg),
    ],
  };
});

function srqSelect(probs: tf.Tensor, onehot: tf.Tensor, G: tf.Tensor, alpha: tf.Tensor): tf.Tensor {
  const picked = tf.sum(tf.mul(onehot, G), -1); // Σ r̃_i G_i
  return srqSelectGrad(probs, alpha, picked, G);
}

/**
 * Which grid slots survive nested bit gates, 1 or 0 (or the gates' values) per slot. Shell k is
 * the smallest k whose k-bit grid holds the point; shells up to `core` always survive, and shell
 * k > core survives with gates[0]·…·gates[k − core − 1], so the surviving points are always a
 * smaller uniform grid. DropBits draws the gates (core = 1); learned bits samples them (core = 2).
 */
function nestedSurvival(G: tf.Tensor, signed: boolean, core: number, gates: tf.Tensor[]): tf.Tensor {
  return tf.tidy(() => {
    const shell = shellOf(G, signed);
    let alive: tf.Tensor = tf.scalar(1);
    let survive: tf.Tensor = tf.cast(tf.lessEqual(shell, core), 'float32');
    gates.forEach((gate, i) => {
      alive = tf.mul(alive, gate);
      survive = tf.add(survive, tf.mul(tf.cast(tf.equal(shell, core + 1 + i), 'float32'), alive));
    });
    return survive;
  });
}

/** DropBits' gates for bits 2 … b: open with probability 1 − p, one draw per element ([...elemShape, 1]) or per layer (all ones). */
function dropBitsGates(elemShape: number[], bits: number, p: number): tf.Tensor[] {
  return Array.from({ length: bits - 1 }, () => tf.cast(tf.greaterEqual(tf.randomUniform([...elemShape, 1], 0, 1, 'float32', nextNoiseSeed()), p), 'float32'));
}

function shellOf(G: tf.Tensor, signed: boolean): tf.Tensor {
  // signed: g ≥ 0 → needs k with g ≤ 2^(k−1) − 1 → k = ceil(log2(g + 1)) + 1; g < 0 → k = ceil(log2(−g)) + 1.
  // unsigned: k = ceil(log2(g + 1)), at least 1.
  const log2 = (t: tf.Tensor) => tf.div(tf.log(t), Math.LN2);
  if (signed) {
    const mag = tf.where(tf.greaterEqual(G, 0), tf.add(G, 1), tf.neg(G));
    return tf.add(tf.ceil(tf.sub(log2(mag), 1e-6)), 1);
  }
  return tf.maximum(tf.ceil(tf.sub(log2(tf.add(G, 1)), 1e-6)), 1);
}

/** Hard-concrete constants (Louizos, Welling & Kingma, "Learning Sparse Neural Networks through L0 Regularization", arXiv:1712.01312). */
const HC = { beta: 2 / 3, gamma: -0.1, zeta: 1.1 };

/** z = clip(σ((log u − log(1 − u) + log α)/β)·(ζ − γ) + γ, 0, 1), one sample per step (seeded). */
export function sampleHardConcrete(logAlpha: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const u = tf.randomUniform(logAlpha.shape, 1e-6, 1 - 1e-6, 'float32', nextNoiseSeed());
    const s = tf.sigmoid(tf.div(tf.add(tf.sub(tf.log(u), tf.log(tf.sub(1, u))), logAlpha), HC.beta));
    return tf.clipByValue(tf.add(tf.mul(s, HC.zeta - HC.gamma), HC.gamma), 0, 1);
  });
}

/** P(z > 0) = σ(log α − β·log(−γ/ζ)): the gate's probability of being open (differentiable). */
export function gateOpenProbability(logAlpha: tf.Tensor): tf.Tensor {
  return tf.sigmoid(tf.sub(logAlpha, HC.beta * Math.log(-HC.gamma / HC.zeta)));
}

// MIN_LEARNED_BITS and GATE_SCALE live in kind-info.ts (the kinds' parameters use them).
export { MIN_LEARNED_BITS, GATE_SCALE } from './kind-info.js';

/** Expected bit-width 2 + Σ_k Π_{j≤k} P(gate j open) of nested gates for bits 3 … b. */
export function expectedBits(gates: tf.Tensor[]): tf.Tensor {
  return tf.tidy(() => {
    let alive: tf.Tensor = tf.scalar(1);
    let bits: tf.Tensor = tf.scalar(MIN_LEARNED_BITS);
    for (const g of gates) {
      alive = tf.mul(alive, tf.reshape(gateOpenProbability(g), []));
      bits = tf.add(bits, alive);
    }
    return bits;
  });
}

/**
 * The bit-width read off the gates: the expected bit-width (what the penalty steers), rounded —
 * so the fixed bits match the average the training aimed at.
 */
export function learnedBits(logAlphas: number[]): number {
  return tf.tidy(() => Math.round(expectedBits(logAlphas.map((la) => tf.scalar(la))).dataSync()[0]));
}

/**
 * α·clip(round(x/α), G_min, G_max) on the grid of b = round(expected bits) of the gates (stored as
 * θ = log α / GATE_SCALE): learnedBits' grid, computed on the device.
 */
function roundToLearnedGrid(x: tf.Tensor, alpha: tf.Tensor, gates: tf.Tensor[], signed: boolean): tf.Tensor {
  return tf.tidy(() => {
    // floor(b + ½) rounds halves up as Math.round does (tf.round rounds them to even).
    const bits = tf.floor(tf.add(expectedBits(gates.map((g) => tf.mul(tf.reshape(g, []), GATE_SCALE))), 0.5));
    const levels = tf.pow(tf.scalar(2), bits); // 2^b
    const lo = signed ? tf.neg(tf.div(levels, 2)) : tf.scalar(0);
    const hi = signed ? tf.sub(tf.div(levels, 2), 1) : tf.sub(levels, 1);
    return tf.mul(tf.minimum(tf.maximum(tf.round(tf.div(x, alpha)), lo), hi), alpha);
  });
}

/** Relaxed quantization (rq, rq-st) and SRQ over a learned grid α·G; σ = α/3 at init. */
export interface RelaxedSpec {
  kind: RelaxedMethod;
  bits: number;
  temperature?: number;
  dropBits?: number;
  dropBitsMask?: 'element' | 'layer';
  initAlpha?: number;
  /** SRQ weights: learn this layer's bit-width (2 … bits) with hard-concrete gates per bit (reconstruction, srq.md §3.3). */
  learnBits?: boolean;
}

/** One relaxed kind (rq, rq-st or srq): its info (kind-info.ts) plus `apply`. */
function relaxedKind(info: QuantizerKindInfo<RelaxedSpec>): QuantizerKind<RelaxedSpec> {
  return {
    ...info,
    apply(s, x, role, p, training) {
      const gateParams = p.slice(2);
      // Inference with learned bits: the grid of round(expected bits), chosen on the device.
      if (!training && gateParams.length > 0) return roundToLearnedGrid(x, tf.exp(p[0]), gateParams, role === 'weight');
      return relaxedQuantize(x, tf.exp(p[0]), tf.exp(p[1]), {
        method: s.kind, bits: s.bits, signed: role === 'weight', temperature: s.temperature, training,
        dropBits: role === 'weight' ? s.dropBits ?? 0 : 0, // DropBits acts on weights only (srq.md §3.1)
        dropBitsMask: s.dropBitsMask,
        bitGates: training ? gateParams.map((g) => tf.mul(g, GATE_SCALE)) : undefined,
      });
    },
  };
}

/** The relaxed kinds: RQ, RQ-ST and SRQ. */
export const rqKind = relaxedKind(rqInfo);
export const rqStKind = relaxedKind(rqStInfo);
export const srqKind = relaxedKind(srqInfo);
