/**
 * Quantizer specs: a discriminated union (plain JSON, so it serialises into model.json) or a
 * name. `resolveQuantizer` validates a spec and returns the function it stands for, with its
 * precision in bits (what summaries count) and any learned parameters it needs.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { binaryChannel, rsign, steSign } from './binary.js';
import { checkBits } from './common.js';
import { binaryMeanScaled, dorefaActivation, dorefaWeight } from './dorefa.js';
import { ternary } from './ternary.js';
import { lsq, pact, uniform } from './uniform.js';
import { GATE_SCALE, learnedBits, MIN_LEARNED_BITS, relaxedQuantize } from './relaxed.js';

export type QuantizerSpec =
  | { kind: 'none' }
  | { kind: 'dorefa'; bits: number }
  /** 1-bit: weights sign·mean|w| per tensor or per output channel ('channel'); activations sign. */
  | { kind: 'binary'; scale?: 'tensor' | 'channel' }
  /** ReActNet's RSign for activations: sign(x + b), a learned threshold b per channel. */
  | { kind: 'rsign' }
  | { kind: 'ternary'; form?: 'twn' | 'wrpn' }
  | { kind: 'uniform'; bits: number; signed?: boolean; narrow?: boolean; scale?: number | 'max'; zeroPoint?: number; axis?: number }
  | { kind: 'lsq'; bits: number; signed?: boolean; initStep?: number }
  | { kind: 'pact'; bits: number; initAlpha?: number }
  /** Relaxed quantization (rq, rq-st) and SRQ over a learned grid α·G; σ = α/3 at init. */
  | { kind: 'rq' | 'rq-st' | 'srq'; bits: number; temperature?: number; dropBits?: number; dropBitsMask?: 'element' | 'layer'; initAlpha?: number;
    /** SRQ weights: learn this layer's bit-width (2 … bits) with hard-concrete gates per bit (reconstruction, srq.md §3.3). */
    learnBits?: boolean };

export type QuantizerKind = QuantizerSpec['kind'];
export const quantizerKinds: readonly QuantizerKind[] = ['none', 'dorefa', 'binary', 'rsign', 'ternary', 'uniform', 'lsq', 'pact', 'rq', 'rq-st', 'srq'];

/** Where a quantizer is applied: a layer's kernel or its input activations. */
export type QuantizerRole = 'weight' | 'activation';

/** A learned parameter a quantizer needs (created by the quantized layer that owns it). */
export interface QuantizerParam {
  name: string;
  init: number;
  /** One value per channel (the input's last axis) instead of a scalar. */
  perChannel?: boolean;
}

/** What the layer tells a quantizer about the tensor it quantizes. */
export interface QuantizerContext {
  /** Output channels of a kernel: viewed as [d_in, outputChannels] by per-channel weight quantizers. */
  outputChannels?: number;
  /** A training-time metric M [d_in, d_in] for binary per-channel weights (BiTAT). */
  metric?: tf.Tensor2D | null;
}

export interface Quantizer {
  readonly spec: QuantizerSpec;
  /** Bits per value after quantization (32 for none). */
  readonly precision: number;
  readonly params: readonly QuantizerParam[];
  /**
   * q(x) for the given role; `params` holds the layer's tensors for `this.params`, in order;
   * `training` selects the training-time rule where it differs (RQ/SRQ; default false).
   */
  apply(x: tf.Tensor, role: QuantizerRole, params?: tf.Tensor[], training?: boolean, context?: QuantizerContext): tf.Tensor;
}

/** Names: 'none', 'binary', 'ternary', 'dorefaK', 'uniformK', 'lsqK', 'pactK' (K = bits, e.g. 'dorefa2'). */
export function specFromName(name: string): QuantizerSpec {
  const m = /^([a-z]+)(\d+)?$/.exec(name);
  const kind = m?.[1];
  const bits = m?.[2] != null ? Number(m[2]) : undefined;
  if (m && bits == null && (kind === 'none' || kind === 'binary' || kind === 'rsign' || kind === 'ternary')) return { kind };
  if (m && bits != null && (kind === 'dorefa' || kind === 'uniform' || kind === 'lsq' || kind === 'pact')) return { kind, bits };
  throw new LowbitError(`unknown quantizer '${name}': use none, binary, rsign, ternary, dorefaK, uniformK, lsqK or pactK (K = bits, e.g. dorefa2)`);
}

/** Validates a spec (object or name); errors name the offending field. */
export function normalizeSpec(spec: QuantizerSpec | string, where = 'quantizer'): QuantizerSpec {
  // A JSON round trip drops undefined fields, which TF.js's config conversion cannot take.
  const s = typeof spec === 'string' ? specFromName(spec) : spec != null && typeof spec === 'object' ? JSON.parse(JSON.stringify(spec)) as QuantizerSpec : spec;
  if (s == null || typeof s !== 'object' || !('kind' in s)) throw new LowbitError(`${where}: expected a quantizer spec like {kind: 'dorefa', bits: 2}, got ${JSON.stringify(spec)}`);
  switch (s.kind) {
    case 'none': case 'rsign':
      return s;
    case 'binary':
      if (s.scale != null && s.scale !== 'tensor' && s.scale !== 'channel') throw new LowbitError(`${where}: binary scale must be 'tensor' or 'channel', got ${JSON.stringify(s.scale)}`);
      return s;
    case 'ternary':
      if (s.form != null && s.form !== 'twn' && s.form !== 'wrpn') throw new LowbitError(`${where}: ternary form must be 'twn' or 'wrpn', got ${JSON.stringify(s.form)}`);
      return s;
    case 'dorefa':
      checkBits(s.bits, `${where} (dorefa)`, 1, 32);
      return s;
    case 'uniform':
      checkBits(s.bits, `${where} (uniform)`, 1, 32);
      return s;
    case 'lsq':
      checkBits(s.bits, `${where} (lsq)`, 2, 32);
      return s;
    case 'pact':
      checkBits(s.bits, `${where} (pact)`, 1, 32);
      return s;
    case 'rq': case 'rq-st': case 'srq':
      checkBits(s.bits, `${where} (${s.kind})`, 1, 16);
      if (s.dropBitsMask != null && s.dropBitsMask !== 'element' && s.dropBitsMask !== 'layer') throw new LowbitError(`${where} (${s.kind}): dropBitsMask must be 'element' or 'layer', got ${JSON.stringify(s.dropBitsMask)}`);
      if (s.dropBits != null && !(s.dropBits >= 0 && s.dropBits < 1)) throw new LowbitError(`${where} (${s.kind}): dropBits must be in [0, 1), got ${s.dropBits}`);
      if (s.temperature != null && !(s.temperature > 0)) throw new LowbitError(`${where} (${s.kind}): temperature must be > 0, got ${s.temperature}`);
      if (s.learnBits && s.kind !== 'srq') throw new LowbitError(`${where} (${s.kind}): learnBits needs srq`);
      if (s.learnBits && s.bits < 3) throw new LowbitError(`${where} (srq): learnBits needs bits ≥ 3 (the most a layer may keep; learned widths start at 2), got ${s.bits}`);
      return s;
    default:
      throw new LowbitError(`${where}: unknown quantizer kind ${JSON.stringify((s as { kind: unknown }).kind)}: choose one of ${quantizerKinds.join(', ')}`);
  }
}

export function resolveQuantizer(spec: QuantizerSpec | string, where?: string): Quantizer {
  const s = normalizeSpec(spec, where);
  switch (s.kind) {
    case 'none':
      return { spec: s, precision: 32, params: [], apply: (x) => x };
    case 'dorefa':
      return { spec: s, precision: s.bits, params: [],
        apply: (x, role) => (role === 'weight' ? dorefaWeight(x, s.bits) : dorefaActivation(x, s.bits)) };
    case 'binary':
      return { spec: s, precision: 1, params: [], apply: (x, role, _p, _t, ctx) => {
        if (role === 'activation') return steSign(x);
        if (s.scale !== 'channel') return binaryMeanScaled(x);
        return tf.tidy(() => tf.reshape(binaryChannel(tf.reshape(x, [-1, channelsOf(x, ctx)]) as tf.Tensor2D, ctx?.metric), x.shape));
      } };
    case 'rsign':
      return { spec: s, precision: 1, params: [{ name: 'rsign_threshold', init: 0, perChannel: true }], apply: (x, role, p) => {
        if (role === 'weight') throw new LowbitError(`${where ?? 'quantizer'}: rsign binarizes activations; for weights use {kind: 'binary', scale: 'channel'}`);
        return rsign(x, p![0]);
      } };
    case 'ternary':
      return { spec: s, precision: 2, params: [], apply: (x) => ternary(x, { form: s.form }) };
    case 'uniform':
      return { spec: s, precision: s.bits, params: [], apply: (x) => uniform(x, s) };
    case 'lsq':
      return { spec: s, precision: s.bits, params: [{ name: 'lsq_step', init: s.initStep ?? 0.05 }],
        apply: (x, _role, p) => lsq(x, p![0], s) };
    case 'pact':
      return { spec: s, precision: s.bits, params: [{ name: 'pact_alpha', init: s.initAlpha ?? 6 }],
        apply: (x, _role, p) => pact(x, p![0], s.bits) };
    case 'rq': case 'rq-st': case 'srq': {
      const alpha0 = s.initAlpha ?? 0.05;
      // Learned bits: one hard-concrete gate per bit above 2, open at the start (log α = 0.5:
      // P(open) ≈ 0.89, near enough to the threshold that the optimizer can close it in a short run).
      const gates = s.learnBits ? Array.from({ length: s.bits - MIN_LEARNED_BITS }, (_, i) => ({ name: `bit_gate_${i + MIN_LEARNED_BITS + 1}`, init: 0.5 / GATE_SCALE })) : [];
      return { spec: s, precision: s.bits, params: [{ name: 'log_alpha', init: Math.log(alpha0) }, { name: 'log_sigma', init: Math.log(alpha0 / 3) }, ...gates],
        apply: (x, role, p, training) => {
          const gateParams = p!.slice(2);
          // Inference with learned bits: round to the grid of the bits the deterministic gates keep.
          const bits = !training && gateParams.length > 0 ? learnedBits(gateParams.map((g) => g.dataSync()[0] * GATE_SCALE)) : s.bits;
          return relaxedQuantize(x, tf.exp(p![0]), tf.exp(p![1]), {
            method: s.kind, bits, signed: role === 'weight', temperature: s.temperature, training: training ?? false,
            dropBits: role === 'weight' ? s.dropBits ?? 0 : 0, // DropBits acts on weights only (srq.md §3.1)
            dropBitsMask: s.dropBitsMask,
            bitGates: training ? gateParams.map((g) => tf.mul(g, GATE_SCALE)) : undefined,
          });
        } };
    }
  }
}

function channelsOf(x: tf.Tensor, ctx: QuantizerContext | undefined): number {
  return ctx?.outputChannels ?? x.shape[x.rank - 1];
}

/** The documented output value set of a quantizer (for summaries and docs). */
export function valueSet(spec: QuantizerSpec, role: QuantizerRole): string {
  switch (spec.kind) {
    case 'none': return 'float32';
    case 'dorefa': return role === 'weight'
      ? (spec.bits === 1 ? '{−E, +E}, E = mean|w|' : `{2i/${2 ** spec.bits - 1} − 1 : i = 0…${2 ** spec.bits - 1}}`)
      : `{i/${2 ** spec.bits - 1} : i = 0…${2 ** spec.bits - 1}}`;
    case 'binary': return role === 'weight' ? (spec.scale === 'channel' ? '{−α_o, +α_o} per output channel' : '{−E, +E}, E = mean|w|') : '{−1, +1}';
    case 'rsign': return '{−1, +1} (sign(x + b), learned b per channel)';
    case 'ternary': return (spec.form ?? 'twn') === 'twn' ? '{−α, 0, +α}' : '{−1, 0, +1}';
    case 'uniform': return `{(i − z)·s : i = q_min…q_max} (${spec.bits}-bit ${spec.signed === false ? 'unsigned' : 'signed'})`;
    case 'lsq': return `{i·s : i = q_min…q_max} (${spec.bits}-bit, learned s)`;
    case 'pact': return `{i·α/${2 ** spec.bits - 1} : i = 0…${2 ** spec.bits - 1}} (learned α)`;
    case 'rq': case 'rq-st': case 'srq': return role === 'weight' ? `{i·α : i = −${2 ** (spec.bits - 1)}…${2 ** (spec.bits - 1) - 1}} (learned α)` : `{i·α : i = 0…${2 ** spec.bits - 1}} (learned α)`;
  }
}
