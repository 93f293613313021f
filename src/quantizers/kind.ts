/**
 * The quantizer registry. A quantizer kind is one object (`QuantizerKind`) that says everything
 * lowbit needs to know about it: how its spec is validated and named, its function (forward and
 * training-time rule), its precision, the learned parameters it declares, its value set, and a
 * read-out of its grid (`QuantGrid`) computed from a layer's actual weights and learned parameters.
 * Summaries and exporters consume the read-out; nothing outside a kind's own file switches on
 * `kind`. `registerQuantizer` adds a kind; `quantizerKind` looks one up.
 */
import type * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';

/** Where a quantizer is applied: a layer's kernel or its input activations. */
export type QuantizerRole = 'weight' | 'activation';

/** A learned parameter a quantizer declares (created by the quantized layer that owns it). */
export interface QuantizerParam {
  /** The weight's name inside the layer, after the slot prefix (`kernel_`, `input_`, `act_`). */
  name: string;
  init: number;
  /** One value per channel (the input's last axis) instead of a scalar. */
  perChannel?: boolean;
  /** An explicit shape (e.g. a product quantizer's codebook [K, d]); overrides `perChannel`. */
  shape?: number[];
  /** false: a stored parameter the optimizer never updates (e.g. fixed code indices, or the multi-bit bases per group ALQ prunes). Default true. */
  trainable?: boolean;
}

/** What the layer tells a quantizer about the tensor it quantizes. */
export interface QuantizerContext {
  /** Output channels of a kernel: viewed as [d_in, outputChannels] by per-channel weight quantizers. */
  outputChannels?: number;
  /** A training-time metric M [d_in, d_in] for binary per-channel weights (BiTAT). */
  metric?: tf.Tensor2D | null;
}

/**
 * A uniform (affine) integer grid: value = (code − zeroPoint)·scale with integer codes in
 * [−2^(bits−1) (+1 if narrow), 2^(bits−1) − 1] (signed) or [0, 2^bits − 1 (−1 if narrow)]
 * (unsigned) — QONNX `Quant` semantics. A 1-bit unsigned grid with zeroPoint ½ is bipolar,
 * {−scale/2, +scale/2}, with sign(0) = + (QONNX `BipolarQuant`).
 */
export interface UniformGrid {
  type: 'uniform';
  bits: number;
  signed: boolean;
  narrow: boolean;
  /** One scale for the tensor, or one per channel along `axis`. */
  scale: number | Float32Array;
  zeroPoint: number;
  /**
   * null: per tensor. −1: per channel along the tensor's last axis — for kernels, its output
   * channels (value i belongs to channel i mod channels, the kernel viewed as [d_in, channels]).
   */
  axis: number | null;
  /**
   * Per-channel bit-widths (with axis −1): channel c's codes lie in the code range of
   * channelBits[c] bits (same signed/narrow); `bits` is the widest. Storage is
   * Σ_c channelBits[c] × values per channel.
   */
  channelBits?: Int32Array;
  /** Added to the input before it is put on the grid, one value per channel of the last axis (RSign's threshold). */
  offset?: Float32Array;
  /** The scale is (derived from) a learned parameter. */
  learned?: boolean;
}

/**
 * An explicit, possibly non-uniform, list of values (a codebook): per tensor K values, or per
 * channel (`axis` −1) channels × K values, row c holding channel c's K values. Codes are indices
 * into the row; `bits` = the stored code width (⌈log2 K⌉ at least).
 *
 * With `dim` d > 1 (product quantization, docs/methods/pq.md) each code stands for a sub-vector
 * of d values: `values` holds K codewords of d numbers (per tensor), `codes` the code of each
 * sub-vector, and `order` how the tensor is cut into sub-vectors: its TF-layout axes transposed
 * into `order`, flattened, then cut every d values.
 */
export interface CodebookGrid {
  type: 'codebook';
  bits: number;
  /** K values (per tensor) or channels × K (per channel). */
  values: Float32Array;
  /** K, the values per channel. */
  size: number;
  /** null: per tensor; −1: per channel along the last axis (as UniformGrid.axis). */
  axis: number | null;
  learned?: boolean;
  /** Values per code (sub-vector length d); absent or 1: scalar codes. */
  dim?: number;
  /** dim > 1: the code of each sub-vector, in cut order (the codes are stored, not derived from the values). */
  codes?: Int32Array;
  /** dim > 1: the axis order (a permutation of the TF-layout axes) in which the tensor is cut into sub-vectors. */
  order?: number[];
}

/**
 * Multi-bit binary bases per output channel (ALQ): channel c's values are
 * Σ_{i < bases[c]} alphas[c·maxBases + i]·β_i with β_i ∈ {−1, +1}. Each basis is a bit plane
 * (bit i of a value's code is 1 where β_i = +1); channels may have different numbers of bases,
 * so storage is Σ_c bases[c]·(values in c) bits plus the α's.
 */
export interface MultibitGrid {
  type: 'multibit';
  /** The most bases any channel may have (the width of the codes). */
  bits: number;
  /** Bases per channel (0 … bits). */
  bases: Int32Array;
  /** channels × bits coordinates α (row c: channel c's α's, unused ones 0). */
  alphas: Float32Array;
  /** Always per channel along the last axis (as UniformGrid.axis −1). */
  axis: -1;
}

/** The read-out of a quantizer's grid for one tensor, computed from its actual weights and learned parameters. */
export type QuantGrid = UniformGrid | CodebookGrid | MultibitGrid;

/** Bits the codes of a tensor of `count` values on `grid` take: Σ bases (multi-bit) or Σ channelBits (uniform) × values per channel, else count·bits. */
export function gridCodeBits(grid: QuantGrid, count: number): number {
  if (grid.type === 'uniform' && grid.channelBits) {
    const perChannel = count / grid.channelBits.length;
    return grid.channelBits.reduce((a, b) => a + b * perChannel, 0);
  }
  if (grid.type !== 'multibit') return count * grid.bits;
  const perChannel = count / grid.bases.length;
  return grid.bases.reduce((a, b) => a + b * perChannel, 0);
}

/** float32 numbers a grid read-out stores besides its codes (scales, codebook values, α's). */
export function gridFloats(grid: QuantGrid): number {
  if (grid.type === 'codebook') return grid.values.length;
  if (grid.type === 'multibit') return grid.bases.reduce((a, b) => a + b, 0);
  return typeof grid.scale === 'number' ? 1 : grid.scale.length;
}

/** What a kind's `grid` read-out may use. */
export interface GridInput {
  /** Channels of the tensor (a kernel's output channels; an activation's last axis). */
  channels: number;
  /** The tensor's shape (TF layout), when known. */
  shape?: number[];
  /** The learned parameters' current values, in the order the kind declared them. */
  params: Float32Array[];
  /** Weights only: the latent (float) kernel, in TF layout. */
  latent?: Float32Array;
  /** Weights only: the quantized kernel as inference computes it, in TF layout. */
  quantized?: Float32Array;
}

/** A spec as stored in model.json: plain JSON with a `kind`. */
export interface QuantizerSpecBase {
  kind: string;
}

/**
 * One quantizer kind. Methods take the kind's own spec type S (already validated by `validate`).
 * Register with `registerQuantizer`; specs `{kind: <kind>, ...}` then work everywhere a spec does.
 */
export interface QuantizerKind<S extends QuantizerSpecBase = QuantizerSpecBase> {
  /** The spec's `kind`. */
  readonly kind: string;
  /**
   * How a name spells it for `specFromName`: 'plain' ('binary'), 'bits' ('dorefa2', K = bits),
   * or absent (objects only).
   */
  readonly naming?: 'plain' | 'bits';
  /** Throws a LowbitError naming `where` and the offending field unless the spec is valid. */
  validate(spec: S, where: string): void;
  /** Bits per value after quantization (what summaries count; 32 = float). */
  precision(spec: S): number;
  /** The learned parameters this spec needs; the layer creates them (`<slot>_<name>`) and passes them to `apply` and `grid` in this order. */
  params(spec: S): readonly QuantizerParam[];
  /** q(x): `training` selects the training-time rule where it differs. */
  apply(spec: S, x: tf.Tensor, role: QuantizerRole, params: tf.Tensor[], training: boolean, context: QuantizerContext, where: string): tf.Tensor;
  /** The documented output value set (for summaries and docs). */
  valueSet(spec: S, role: QuantizerRole): string;
  /**
   * The grid the inference-time quantizer puts the tensor on, or null when it has none that is
   * fixed once the weights are (float, or a grid that depends on each input).
   */
  grid(spec: S, role: QuantizerRole, input: GridInput): QuantGrid | null;
}

/**
 * A kind without its function: everything but `apply`, none of it needing TF.js. The built-in
 * kinds are their infos (kind-info.ts) plus `apply`; the runtime reads grids through infos alone.
 */
export type QuantizerKindInfo<S extends QuantizerSpecBase = QuantizerSpecBase> = Omit<QuantizerKind<S>, 'apply'>;

const registry = new Map<string, QuantizerKind>();

/**
 * Adds a quantizer kind to the registry (replacing one of the same name only with
 * `{replace: true}`). Specs `{kind: kind.kind, …}` then validate, resolve, train, save, summarise
 * and export like the built-in ones.
 */
export function registerQuantizer<S extends QuantizerSpecBase>(kind: QuantizerKind<S>, options: { replace?: boolean } = {}): void {
  if (typeof kind?.kind !== 'string' || !/^[a-z][a-z0-9-]*$/.test(kind.kind)) {
    throw new LowbitError(`registerQuantizer: kind must be a lower-case name like 'deadzone', got ${JSON.stringify(kind?.kind)}`);
  }
  if (registry.has(kind.kind) && !options.replace) throw new LowbitError(`registerQuantizer: a quantizer kind '${kind.kind}' is already registered`);
  registry.set(kind.kind, kind as unknown as QuantizerKind);
}

/** The registered kind of that name, or undefined. */
export function quantizerKind(name: string): QuantizerKind | undefined {
  return registry.get(name);
}

/** The names of every registered kind, in registration order. */
export function registeredQuantizerKinds(): string[] {
  return [...registry.keys()];
}

/** The integer code range [min, max] of a uniform grid. */
export function codeRange(g: Pick<UniformGrid, 'bits' | 'signed' | 'narrow'>): [number, number] {
  if (g.signed) return [-(2 ** (g.bits - 1)) + (g.narrow ? 1 : 0), 2 ** (g.bits - 1) - 1];
  return [0, 2 ** g.bits - 1 - (g.narrow ? 1 : 0)];
}

/** Whether a uniform grid is the bipolar 1-bit grid {−scale/2, +scale/2} (sign with sign(0) = +). */
export function isBipolar(g: QuantGrid): boolean {
  return g.type === 'uniform' && g.bits === 1 && !g.signed && g.zeroPoint === 0.5;
}
