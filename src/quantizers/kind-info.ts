/**
 * The TF.js-free half of lowbit's built-in quantizer kinds: for each kind everything but its
 * function (`apply`, which stays in the kind's own file with its TF.js code) — validation, naming,
 * precision, learned parameters, value set and grid read-out. The kinds that builtins.ts registers
 * are these objects plus `apply`, so each read-out has one implementation; the runtime
 * (src/runtime/plan.ts, through spec-types.ts) reads grids from here without importing TF.js
 * (test/browser-bundle.test.ts checks that its bundle holds no @tensorflow module).
 */
import { LowbitError } from '../errors.js';
import type { BinarySpec, RsignSpec } from './binary.js';
import type { DorefaSpec } from './dorefa.js';
import type { CodebookGrid, MultibitGrid, QuantizerKindInfo, UniformGrid } from './kind.js';
import type { MultibitSpec } from './multibit.js';
import { fitKernel } from './multibit-fit.js';
import type { NoneSpec } from './none.js';
import type { PqSpec } from './pq.js';
import type { RelaxedMethod, RelaxedSpec } from './relaxed.js';
import type { TernarySpec } from './ternary.js';
import type { LsqSpec, PactSpec, UniformSpec } from './uniform.js';

/** Throws a LowbitError naming the culprit unless bits is an integer in [min, max]. */
export function checkBits(bits: unknown, where: string, min = 1, max = 32): number {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < min || bits > max) {
    throw new LowbitError(`${where}: bits must be a whole number from ${min} to ${max}, got ${JSON.stringify(bits)}`);
  }
  return bits;
}

/** The integer range of QONNX Quant: [q_min, q_max]. */
export function integerRange(bits: number, signed: boolean, narrow: boolean): [number, number] {
  if (signed) return [-(2 ** (bits - 1)) + (narrow ? 1 : 0), 2 ** (bits - 1) - 1];
  return [0, 2 ** bits - 1 - (narrow ? 1 : 0)];
}

/** Whether `axis` (negative from the end) is the last axis of a rank-`rank` tensor. */
export const isLastAxis = (axis: number, rank: number) => (axis < 0 ? rank + axis : axis) === rank - 1;

/**
 * The axis order in which a TF-layout kernel of this rank is cut into sub-vectors: output
 * channels, input channels, then the spatial axes — [3, 2, 0, 1] for a conv kernel
 * [kh, kw, C_in, C_out], [1, 0] for a Dense kernel [in, out], [2, 1, 0] for Conv1D.
 */
export function subvectorOrder(rank: number): number[] {
  if (rank < 2) return [0];
  return [rank - 1, rank - 2, ...Array.from({ length: rank - 2 }, (_, i) => i)];
}

/**
 * Learned bit-widths start at 2 bits: the signed 1-bit grid {−1, 0}·α cannot represent a positive
 * weight, so gates cover bits 3 … b and the 2-bit grid {−2, −1, 0, 1}·α is always kept.
 */
export const MIN_LEARNED_BITS = 2;

/**
 * A gate's log α is stored as θ = log α / GATE_SCALE. Adam moves a parameter by about lr per
 * step, so this gives the gates a GATE_SCALE× learning rate: at lr 1e-3, log α can move by ~0.1
 * per step. With the model's own rate, a 400-step fine-tune moved no gate far enough to drop a bit
 * (bench/results/srq-learned-bits-probe.log).
 */
export const GATE_SCALE = 100;

/** none: q(x) = x, 32 bits, no grid. Layers treat it as no quantizer at all. */
export const noneInfo: QuantizerKindInfo<NoneSpec> = {
  kind: 'none',
  naming: 'plain',
  validate() {},
  precision: () => 32,
  params: () => [],
  valueSet: () => 'float32',
  grid: () => null,
};

/**
 * dorefa: weights dorefaWeight, activations dorefaActivation. Grids: weights k = 1 bipolar ±E
 * (scale 2E, read off the kernel), k ≥ 2 codes i ∈ [0, n] with value (i − n/2)·(2/n), n = 2^k − 1;
 * activations codes i ∈ [0, n], value i/n. k = 32 has none.
 */
export const dorefaInfo: QuantizerKindInfo<DorefaSpec> = {
  kind: 'dorefa',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (dorefa)`, 1, 32);
  },
  precision: (s) => s.bits,
  params: () => [],
  valueSet: (s, role) => (role === 'weight'
    ? (s.bits === 1 ? '{−E, +E}, E = mean|w|' : `{2i/${2 ** s.bits - 1} − 1 : i = 0…${2 ** s.bits - 1}}`)
    : `{i/${2 ** s.bits - 1} : i = 0…${2 ** s.bits - 1}}`),
  grid(s, role, input) {
    if (s.bits === 32) return null;
    const n = 2 ** s.bits - 1;
    if (role === 'activation') return { type: 'uniform', bits: s.bits, signed: false, narrow: false, scale: 1 / n, zeroPoint: 0, axis: null };
    if (s.bits === 1) {
      if (input.quantized == null) return null;
      return { type: 'uniform', bits: 1, signed: false, narrow: false, scale: 2 * Math.abs(input.quantized[0]) || 1, zeroPoint: 0.5, axis: null };
    }
    return { type: 'uniform', bits: s.bits, signed: false, narrow: false, scale: 2 / n, zeroPoint: n / 2, axis: null };
  },
};

/** The bipolar grid {−s/2, +s/2}: codes {0, 1}, value = (code − ½)·s. */
function bipolar(scale: number | Float32Array, extra: Partial<UniformGrid> = {}): UniformGrid {
  return { type: 'uniform', bits: 1, signed: false, narrow: false, scale, zeroPoint: 0.5, axis: scale instanceof Float32Array ? -1 : null, ...extra };
}

/**
 * binary: weights ±E (E = mean|w| of the tensor) or ±α_o per output channel (binaryChannel,
 * optionally under BiTAT's metric); activations steSign. Grid: bipolar, scale 2E (per tensor) or
 * 2α_o (per channel), read off the quantized kernel; activations ±1.
 */
export const binaryInfo: QuantizerKindInfo<BinarySpec> = {
  kind: 'binary',
  naming: 'plain',
  validate(s, where) {
    if (s.scale != null && s.scale !== 'tensor' && s.scale !== 'channel') throw new LowbitError(`${where}: binary scale must be 'tensor' or 'channel', got ${JSON.stringify(s.scale)}`);
  },
  precision: () => 1,
  params: () => [],
  valueSet: (s, role) => (role === 'weight' ? (s.scale === 'channel' ? '{−α_o, +α_o} per output channel' : '{−E, +E}, E = mean|w|') : '{−1, +1}'),
  grid(s, role, input) {
    if (role === 'activation') return bipolar(2);
    const q = input.quantized;
    if (q == null) return null;
    if (s.scale !== 'channel') return bipolar(2 * Math.abs(q[0]) || 1);
    // ±α_o per output channel (the kernel's columns): α_o read off the first row.
    const scales = new Float32Array(input.channels);
    for (let o = 0; o < scales.length; o++) scales[o] = 2 * Math.abs(q[o]) || 1;
    return bipolar(scales);
  },
};

/** rsign: activations only, sign(x + b) with a learned threshold b per channel; grid ±1 after adding b. */
export const rsignInfo: QuantizerKindInfo<RsignSpec> = {
  kind: 'rsign',
  naming: 'plain',
  validate() {},
  precision: () => 1,
  params: () => [{ name: 'rsign_threshold', init: 0, perChannel: true }],
  valueSet: () => '{−1, +1} (sign(x + b), learned b per channel)',
  grid: (_s, role, input) => (role === 'weight' ? null : bipolar(2, { offset: Float32Array.from(input.params[0]), learned: true })),
};

/**
 * ternary: the same rule for weights and activations. Grid: signed 2-bit narrow codes
 * {−1, 0, 1} times α = max|q| of the quantized kernel (WRPN: 1). TWN activations have none
 * (α depends on each input).
 */
export const ternaryInfo: QuantizerKindInfo<TernarySpec> = {
  kind: 'ternary',
  naming: 'plain',
  validate(s, where) {
    if (s.form != null && s.form !== 'twn' && s.form !== 'wrpn') throw new LowbitError(`${where}: ternary form must be 'twn' or 'wrpn', got ${JSON.stringify(s.form)}`);
  },
  precision: () => 2,
  params: () => [],
  valueSet: (s) => ((s.form ?? 'twn') === 'twn' ? '{−α, 0, +α}' : '{−1, 0, +1}'),
  grid(s, role, input) {
    const grid = (scale: number) => ({ type: 'uniform' as const, bits: 2, signed: true, narrow: true, scale, zeroPoint: 0, axis: null });
    if (role === 'activation') return (s.form ?? 'twn') === 'wrpn' ? grid(1) : null;
    if (input.quantized == null) return null;
    let alpha = 0;
    input.quantized.forEach((v) => { alpha = Math.max(alpha, Math.abs(v)); });
    return grid(alpha || 1);
  },
};

/**
 * uniform: QONNX Quant semantics. Grid: the spec's own (bits, signed, narrow, zero point); a
 * numeric scale as is, a 'max' scale read off the latent kernel like `uniform` computes it (per
 * tensor, or per output channel when `axis` is the last axis). 'max' activations have none
 * (dynamic), nor has a per-channel kernel scale on another axis.
 */
export const uniformInfo: QuantizerKindInfo<UniformSpec> = {
  kind: 'uniform',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (uniform)`, 1, 32);
    if (s.channelBits != null) {
      if (!Array.isArray(s.channelBits) || s.channelBits.length === 0) throw new LowbitError(`${where} (uniform): channelBits must be a non-empty list of bit-widths, got ${JSON.stringify(s.channelBits)}`);
      s.channelBits.forEach((b) => checkBits(b, `${where} (uniform channelBits)`, 2, s.bits));
      if (s.axis == null || (s.scale != null && s.scale !== 'max')) throw new LowbitError(`${where} (uniform): channelBits needs axis -1 and the 'max' scale`);
    }
  },
  // With per-channel bit-widths: their mean, the bits per weight a summary counts (channels hold equally many weights).
  precision: (s) => (s.channelBits ? s.channelBits.reduce((a, b) => a + b, 0) / s.channelBits.length : s.bits),
  params: () => [],
  valueSet: (s) => `{(i − z)·s : i = q_min…q_max} (${s.channelBits ? `${Math.min(...s.channelBits)}–${Math.max(...s.channelBits)} bits per channel` : `${s.bits}-bit`} ${s.signed === false ? 'unsigned' : 'signed'})`,
  grid(s, role, input) {
    const signed = s.signed ?? true;
    const narrow = s.narrow ?? false;
    const base = { type: 'uniform' as const, bits: s.bits, signed, narrow, zeroPoint: s.zeroPoint ?? 0 };
    if (typeof s.scale === 'number') return { ...base, scale: s.scale, axis: null };
    const w = input.latent;
    if (role === 'activation' || w == null) return null;
    const denomOf = (bits: number) => {
      const [qMin, qMax] = integerRange(bits, signed, narrow);
      return Math.max(Math.abs(qMax), Math.abs(qMin), 1);
    };
    // As `uniform` computes it in float32: max(max|w|, 1e-8) / denom.
    const step = (m: number, bits = s.bits) => Math.fround(Math.fround(Math.max(m, Math.fround(1e-8))) / denomOf(bits));
    if (s.axis == null) {
      let m = 0;
      w.forEach((v) => { m = Math.max(m, Math.abs(v)); });
      return { ...base, scale: step(m), axis: null };
    }
    // Per channel only along the last axis, when the layer's columns (output channels) are its
    // last axis or, for DepthwiseConv2D, its last two (see byColumns in uniform.ts); another axis has no read-out here.
    const shape = input.shape ?? [];
    const c = input.channels;
    if (shape.length === 0 || !isLastAxis(s.axis, shape.length) || !(shape[shape.length - 1] === c || shape[shape.length - 2] * shape[shape.length - 1] === c)) return null;
    if (s.channelBits != null && s.channelBits.length !== c) return null;
    const m = new Float32Array(c);
    w.forEach((v, i) => { m[i % c] = Math.max(m[i % c], Math.abs(v)); });
    const cb = s.channelBits;
    return { ...base, scale: m.map((v, ch) => step(v, cb ? cb[ch] : s.bits)), axis: -1, ...(cb ? { channelBits: Int32Array.from(cb) } : {}) };
  },
};

/** lsq: learned step s (a scalar). Grid: i·s on [q_min, q_max], s the learned step. */
export const lsqInfo: QuantizerKindInfo<LsqSpec> = {
  kind: 'lsq',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (lsq)`, 2, 32);
  },
  precision: (s) => s.bits,
  params: (s) => [{ name: 'lsq_step', init: s.initStep ?? 0.05 }],
  valueSet: (s) => `{i·s : i = q_min…q_max} (${s.bits}-bit, learned s)`,
  grid: (s, _role, input): UniformGrid => ({ type: 'uniform', bits: s.bits, signed: s.signed ?? true, narrow: false, scale: input.params[0][0], zeroPoint: 0, axis: null, learned: true }),
};

/** pact: learned clip α. Grid: i·α/n, i = 0 … n = 2^k − 1. */
export const pactInfo: QuantizerKindInfo<PactSpec> = {
  kind: 'pact',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (pact)`, 1, 32);
  },
  precision: (s) => s.bits,
  params: (s) => [{ name: 'pact_alpha', init: s.initAlpha ?? 6 }],
  valueSet: (s) => `{i·α/${2 ** s.bits - 1} : i = 0…${2 ** s.bits - 1}} (learned α)`,
  grid: (s, _role, input): UniformGrid => ({ type: 'uniform', bits: s.bits, signed: false, narrow: false, scale: Math.fround(input.params[0][0] / (2 ** s.bits - 1)), zeroPoint: 0, axis: null, learned: true }),
};

/**
 * One relaxed kind (rq, rq-st or srq). Learned parameters: log α, log σ, and with learnBits one
 * gate per bit above 2. Grid: α·G, G signed [−2^(b−1), 2^(b−1) − 1] for weights and unsigned
 * [0, 2^b − 1] for (post-ReLU) activations, α = exp(log α).
 */
function relaxedInfo(method: RelaxedMethod): QuantizerKindInfo<RelaxedSpec> {
  return {
    kind: method,
    validate(s, where) {
      checkBits(s.bits, `${where} (${s.kind})`, 1, 16);
      if (s.dropBitsMask != null && s.dropBitsMask !== 'element' && s.dropBitsMask !== 'layer') throw new LowbitError(`${where} (${s.kind}): dropBitsMask must be 'element' or 'layer', got ${JSON.stringify(s.dropBitsMask)}`);
      if (s.dropBits != null && !(s.dropBits >= 0 && s.dropBits < 1)) throw new LowbitError(`${where} (${s.kind}): dropBits must be in [0, 1), got ${s.dropBits}`);
      if (s.temperature != null && !(s.temperature > 0)) throw new LowbitError(`${where} (${s.kind}): temperature must be > 0, got ${s.temperature}`);
      if (s.learnBits && s.kind !== 'srq') throw new LowbitError(`${where} (${s.kind}): learnBits needs srq`);
      if (s.learnBits && s.bits < 3) throw new LowbitError(`${where} (srq): learnBits needs bits ≥ 3 (the most a layer may keep; learned widths start at 2), got ${s.bits}`);
    },
    precision: (s) => s.bits,
    params(s) {
      const alpha0 = s.initAlpha ?? 0.05;
      // Learned bits: one hard-concrete gate per bit above 2, open at the start (log α = 0.5:
      // P(open) ≈ 0.89, near enough to the threshold that the optimizer can close it in a short run).
      const gates = s.learnBits ? Array.from({ length: s.bits - MIN_LEARNED_BITS }, (_, i) => ({ name: `bit_gate_${i + MIN_LEARNED_BITS + 1}`, init: 0.5 / GATE_SCALE })) : [];
      return [{ name: 'log_alpha', init: Math.log(alpha0) }, { name: 'log_sigma', init: Math.log(alpha0 / 3) }, ...gates];
    },
    valueSet: (s, role) => (role === 'weight' ? `{i·α : i = −${2 ** (s.bits - 1)}…${2 ** (s.bits - 1) - 1}} (learned α)` : `{i·α : i = 0…${2 ** s.bits - 1}} (learned α)`),
    grid: (s, role, input) => ({ type: 'uniform', bits: s.bits, signed: role === 'weight', narrow: false, scale: Math.exp(input.params[0][0]), zeroPoint: 0, axis: null, learned: true }),
  };
}

export const rqInfo = relaxedInfo('rq');
export const rqStInfo = relaxedInfo('rq-st');
export const srqInfo = relaxedInfo('srq');

/** multibit: weights only; one per-channel, untrained parameter holds each channel's number of bases. */
export const multibitInfo: QuantizerKindInfo<MultibitSpec> = {
  kind: 'multibit',
  validate(s, where) {
    if (!Number.isInteger(s.bases) || s.bases < 1 || s.bases > 8) throw new LowbitError(`${where}: multibit bases must be a whole number from 1 to 8, got ${JSON.stringify(s.bases)}`);
    if (s.refine != null && (!Number.isInteger(s.refine) || s.refine < 0)) throw new LowbitError(`${where}: multibit refine must be a whole number ≥ 0, got ${JSON.stringify(s.refine)}`);
  },
  precision: (s) => s.bases,
  params: (s) => [{ name: 'multibit_bases', init: s.bases, perChannel: true, trainable: false }],
  valueSet: (s) => `Σ_{i≤I_c} ±α_{c,i} per output channel c, I_c ≤ ${s.bases} bases`,
  grid(s, role, input): MultibitGrid | null {
    if (role === 'activation' || input.latent == null) return null;
    const bases = Int32Array.from(input.params[0], (b) => Math.max(0, Math.min(s.bases, Math.round(b))));
    const fits = fitKernel(input.latent, bases, s.refine ?? 2);
    const alphas = new Float32Array(bases.length * s.bases);
    fits.forEach((f, c) => f.alphas.forEach((a, i) => { alphas[c * s.bases + i] = a; }));
    return { type: 'multibit', bits: s.bases, bases, alphas, axis: -1 };
  },
};

const isPowerOfTwo = (k: number) => Number.isInteger(k) && k >= 1 && (k & (k - 1)) === 0;

/** pq: a product quantizer of one kernel (docs/methods/pq.md); its grid is the codebook and the stored codes. */
export const pqInfo: QuantizerKindInfo<PqSpec> = {
  kind: 'pq',
  validate(s, where) {
    if (!Number.isInteger(s.dim) || s.dim < 1) throw new LowbitError(`${where}: pq dim (the sub-vector length d) must be a whole number ≥ 1, got ${JSON.stringify(s.dim)}`);
    if (!isPowerOfTwo(s.size) || s.size > 2 ** 16) throw new LowbitError(`${where}: pq size (codewords K) must be a power of two from 1 to 65536, got ${JSON.stringify(s.size)}`);
    if (!Number.isInteger(s.count) || s.count < 1) throw new LowbitError(`${where}: pq count (the kernel's sub-vectors) must be a whole number ≥ 1, got ${JSON.stringify(s.count)}`);
  },
  /** log2 K index bits per d weights; the codebook's floats are counted by `summary` from the grid read-out. */
  precision: (s) => Math.log2(s.size) / s.dim,
  params: (s) => [
    { name: 'pq_codebook', init: 0, shape: [s.size, s.dim] },
    { name: 'pq_indices', init: 0, shape: [s.count], trainable: false },
  ],
  valueSet: (s) => `K = ${s.size} codewords of ${s.dim} values (a learned codebook)`,
  grid(s, role, input): CodebookGrid | null {
    if (role !== 'weight' || input.params.length < 2) return null;
    const [values, indices] = input.params;
    const rank = input.shape?.length ?? 2;
    return {
      type: 'codebook', bits: Math.max(1, Math.log2(s.size)), values: Float32Array.from(values), size: s.size, axis: null, learned: true,
      dim: s.dim, codes: Int32Array.from(indices, Math.round), order: subvectorOrder(rank),
    };
  },
};

/** The built-in kinds' TF.js-free halves, in registration order (builtins.ts). */
export const BUILTIN_KIND_INFOS: readonly QuantizerKindInfo[] = [noneInfo, dorefaInfo, binaryInfo, rsignInfo, ternaryInfo, uniformInfo, lsqInfo, pactInfo,
  rqInfo, rqStInfo, srqInfo, multibitInfo, pqInfo] as unknown as readonly QuantizerKindInfo[];
