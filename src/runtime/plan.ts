/**
 * Compiles a packed model into a flat list of steps, and runs it with buffers preallocated per
 * batch size. Each convolution or dense layer picks its kernel from its quantizers' grid
 * read-outs:
 * - 'binary': bipolar (sign) input and bipolar kernel → `binaryConv2d` on packed sign bits;
 * - 'int8': integer-grid input and integer kernel codes that fit int8 → `int8Conv2d` on codes;
 * - 'float': anything else (float layers, codebooks, float activations) → float kernels with the
 *   dequantized weights (BatchNorm folded into them).
 * The integer result r becomes r·A[o] + B[o], A = input step · kernel step (per output channel) ·
 * BatchNorm scale, B the bias with BatchNorm folded in. The BatchNorm, ReLU, PReLU, RPReLU and
 * activation layers that follow a convolution (each the only consumer of the one before) run in
 * its epilogue; when the next layer is binary the epilogue writes its packed sign bits directly
 * (sign(y + threshold) as a comparison), with no float tensor in between.
 */
import { LowbitError } from '../errors.js';
import { int8Codes } from '../export/quant-codes.js';
import { specGrid } from '../quantizers/spec-types.js';
import { ConvGeometry, RuntimeKernels, RuntimeOps, wordsFor } from './kernels.js';
import { LayerEntry, PackedModel, readPackedModel } from './load.js';
import { ActivationQuantizer, activationQuantizer } from './quantize.js';
import { bindMultibit, compileMultibit, foldMultibit, MultibitLayer } from './multibit.js';

/** A per-channel elementwise stage of an epilogue (or a standalone elementwise step). */
type Stage =
  | { kind: 'affine'; a: Float32Array; b: Float32Array }
  | { kind: 'relu'; max: number }
  | { kind: 'prelu'; alpha: Float32Array; shiftIn: Float32Array | null; shiftOut: Float32Array | null }
  | { kind: 'map'; f: (v: number) => number }
  | { kind: 'softmax' };

/** Which kernel a convolution or dense layer runs. */
export type KernelMode = 'binary' | 'int8' | 'float';

/** One step of the compiled plan, as `RuntimeModel.steps` describes it. */
export interface RuntimeStep {
  /** The model's layers this step computes (a convolution with the BatchNorm and activations fused into it). */
  layers: string[];
  op: string;
  /** Convolution and dense steps: the kernel. */
  kernel?: KernelMode;
  /** 'bits': the step writes packed sign bits for the binary layer that consumes it. */
  output: 'float' | 'bits';
  /** Convolution and dense steps: the kernel's geometry (batch size aside; dense = 1×1 on a 1×1 image). */
  geometry?: Omit<ConvGeometry, 'n'>;
}

type Geometry = Omit<ConvGeometry, 'n'>;

interface Weighted {
  mode: KernelMode;
  depthwise: boolean;
  geom: Geometry;
  wBits: Uint32Array | null;
  wInt8: Int8Array | null;
  wFloat: Float32Array | null;
  bias: Float32Array | null;
  /** Integer modes: out = r·A[o] + B[o]. */
  a: Float32Array | null;
  b: Float32Array | null;
  stages: Stage[];
  quant: ActivationQuantizer | null;
  /** Multi-bit kernels on integer inputs: one integer row per basis, summed per channel (src/runtime/multibit.ts). */
  multibit?: MultibitLayer;
  /** A multi-bit int8 layer as a float layer (same stages), run by kernels without RuntimeOps (wasm, JS). */
  floatTwin?: Weighted;
}

/**
 * A float convolution (+ ReLU) whose only consumer is a max-pool: on backends with
 * RuntimeOps.floatConv2dMaxPool the two run as one pass (BatchExecutor), which with `codes` also
 * writes the int8 codes of the pool's only consumer, an int8 layer (its input quantization).
 */
interface PoolFusion {
  g: Geometry;
  /** The max-pool layer (its output tensor). */
  output: string;
  codes: ActivationQuantizer | null;
}

/**
 * A two-input Add that is the only consumer of a convolution's result (after its folded
 * BatchNorm and stages), with the elementwise layers after the sum: computed in the convolution's
 * step, out = stages(result + the Add's other input). The other input must be computed before.
 */
interface Residual {
  input: string;
  stages: Stage[];
}

type Op =
  | { type: 'weighted'; w: Weighted; input: string; output: string; outBits: Float32Array | null | undefined; pool?: PoolFusion; residual?: Residual }
  | { type: 'quantize'; q: ActivationQuantizer; input: string; output: string }
  | { type: 'stages'; stages: Stage[]; c: number; input: string; output: string }
  | { type: 'pool'; max: boolean; g: Geometry; input: string; output: string }
  | { type: 'pool-bits'; g: Geometry; input: string; output: string }
  | { type: 'gap'; h: number; w: number; c: number; input: string; output: string }
  | { type: 'add'; inputs: string[]; stages: Stage[]; c: number; output: string }
  | { type: 'concat'; inputs: string[]; channels: number[]; output: string }
  | { type: 'alias'; input: string; output: string };

interface TensorInfo { shape: number[]; bits: boolean }

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const pair = (v: unknown, fallback: number): [number, number] => (v == null ? [fallback, fallback] : Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v as number, v as number]);

function geometry(h: number, w: number, c: number, k: [number, number], s: [number, number], padding: unknown, outC: number): Geometry {
  const same = padding === 'same';
  const outH = same ? Math.ceil(h / s[0]) : Math.ceil((h - k[0] + 1) / s[0]);
  const outW = same ? Math.ceil(w / s[1]) : Math.ceil((w - k[1] + 1) / s[1]);
  const padTop = same ? Math.floor(Math.max((outH - 1) * s[0] + k[0] - h, 0) / 2) : 0;
  const padLeft = same ? Math.floor(Math.max((outW - 1) * s[1] + k[1] - w, 0) / 2) : 0;
  return { h, w, c, kh: k[0], kw: k[1], strideH: s[0], strideW: s[1], padTop, padLeft, outH, outW, outC };
}

function poolGeometry(l: LayerEntry, inShape: number[]): Geometry {
  const [h, w, c] = inShape;
  const k = pair(l.config.pool_size, 2);
  return geometry(h, w, c, k, pair(l.config.strides ?? k, 1), l.config.padding, c);
}

function activationStage(name: unknown, layer: string): Stage | null {
  switch (name ?? 'linear') {
    case 'linear': return null;
    case 'relu': return { kind: 'relu', max: Infinity };
    case 'relu6': return { kind: 'relu', max: 6 };
    case 'softmax': return { kind: 'softmax' };
    case 'sigmoid': return { kind: 'map', f: (v) => 1 / (1 + Math.exp(-v)) };
    case 'tanh': return { kind: 'map', f: Math.tanh };
    case 'elu': return { kind: 'map', f: (v) => (v > 0 ? v : Math.exp(v) - 1) };
    default: throw new LowbitError(`layer ${layer}: activation '${String(name)}' is not supported by the runtime (linear, relu, relu6, softmax, sigmoid, tanh, elu are)`);
  }
}

/** BatchNorm as y = x·a + b per channel. */
function batchNormAffine(l: LayerEntry): { a: Float32Array; b: Float32Array } {
  const get = (base: string) => l.weights.find((w) => w.base === base)?.values;
  const mean = get('moving_mean');
  const variance = get('moving_variance');
  if (!mean || !variance) throw new LowbitError(`layer ${l.name}: BatchNormalization without moving statistics in the manifest`);
  const gamma = get('gamma');
  const beta = get('beta');
  const eps = (l.config.epsilon as number | undefined) ?? 1e-3;
  const a = new Float32Array(mean.length);
  const b = new Float32Array(mean.length);
  for (let i = 0; i < a.length; i++) {
    const s = (gamma ? gamma[i] : 1) / Math.sqrt(variance[i] + eps);
    a[i] = s;
    b[i] = (beta ? beta[i] : 0) - mean[i] * s;
  }
  return { a, b };
}

/**
 * Runs per-channel stages over `pixels` pixels of `c` channels starting at element `from` (in
 * place). With `ops` (the backend's passes), affine, ReLU and PReLU stages over a whole buffer run there.
 */
function runStages(stages: Stage[], buf: Float32Array, from: number, pixels: number, c: number, ops?: RuntimeOps, k?: RuntimeKernels): void {
  const end = from + pixels * c;
  const whole = ops !== undefined && from === 0 && end === buf.length;
  for (const s of stages) {
    // Without the passes, the kernels' own PReLU (wasm) over a whole buffer: the same values.
    if (!ops && k?.prelu && s.kind === 'prelu' && s.alpha.length === c && !s.shiftIn && !s.shiftOut && from === 0 && end === buf.length) { k.prelu(buf, c, s.alpha); continue; }
    if (whole) {
      if (s.kind === 'affine') { ops.affine(buf, s.a, s.b); continue; }
      if (s.kind === 'relu') { ops.clamp(buf, s.max); continue; }
      if (s.kind === 'prelu') { ops.prelu(buf, c, s.alpha, s.shiftIn, s.shiftOut); continue; }
    }
    switch (s.kind) {
      case 'affine': {
        const { a, b } = s;
        for (let i = from; i < end; i += c) for (let ch = 0; ch < c; ch++) buf[i + ch] = buf[i + ch] * a[ch] + b[ch];
        break;
      }
      case 'relu': {
        const max = s.max;
        for (let i = from; i < end; i++) { const v = buf[i]; buf[i] = v < 0 ? 0 : v > max ? max : v; }
        break;
      }
      case 'prelu': {
        const { alpha, shiftIn, shiftOut } = s;
        const n = alpha.length;
        const perChannel = n === c;
        for (let i = from; i < end; i += c) {
          for (let ch = 0; ch < c; ch++) {
            const v = shiftIn ? buf[i + ch] - shiftIn[ch] : buf[i + ch];
            const y = v >= 0 ? v : alpha[perChannel ? ch : (i + ch) % n] * v;
            buf[i + ch] = shiftOut ? y + shiftOut[ch] : y;
          }
        }
        break;
      }
      case 'map':
        for (let i = from; i < end; i++) buf[i] = s.f(buf[i]);
        break;
      case 'softmax':
        for (let i = from; i < end; i += c) {
          let m = -Infinity;
          for (let ch = 0; ch < c; ch++) m = Math.max(m, buf[i + ch]);
          let sum = 0;
          for (let ch = 0; ch < c; ch++) sum += (buf[i + ch] = Math.exp(buf[i + ch] - m));
          for (let ch = 0; ch < c; ch++) buf[i + ch] /= sum;
        }
        break;
    }
  }
}

/** The input quantizer of a quantized layer (or a QuantActivation's quantizer), or null. */
function layerQuantizer(l: LayerEntry, channels: number): ActivationQuantizer | null {
  const spec = l.cls === 'QuantActivation' ? l.config.quantizer : l.config.input_quantizer;
  if (spec == null || (spec as { kind?: string }).kind === 'none') return null;
  const prefix = l.cls === 'QuantActivation' ? 'act_' : 'input_';
  const params = l.weights.filter((w) => w.base.startsWith(prefix)).map((w) => w.values);
  const grid = specGrid(spec as never, 'activation', { channels, params }, `layer ${l.name}`);
  const kind = (spec as { kind: string }).kind;
  if (grid == null) throw new LowbitError(`layer ${l.name}: the ${kind} activation quantizer has no fixed grid (it depends on each input); the runtime cannot run it`);
  const aq = activationQuantizer(grid, channels);
  if (aq == null) throw new LowbitError(`layer ${l.name}: the ${kind} activation quantizer (a codebook) is not supported by the runtime`);
  return aq;
}

/** Reorders a TF-layout kernel [taps, cin, cout] to the runtime's [cout, taps, cin]. */
function outputMajor<T extends Float32Array | Int8Array>(values: ArrayLike<number>, taps: number, cin: number, cout: number, make: (n: number) => T): T {
  const out = make(values.length);
  for (let t = 0; t < taps; t++) for (let k = 0; k < cin; k++) for (let o = 0; o < cout; o++) out[(o * taps + t) * cin + k] = values[(t * cin + k) * cout + o];
  return out;
}

/** Compiles a convolution / dense layer (without its epilogue stages, added by the caller). */
function compileWeighted(l: LayerEntry, inShape: number[]): Weighted {
  const where = `layer ${l.name}`;
  const dense = l.cls === 'Dense' || l.cls === 'QuantDense';
  const depthwise = l.cls.includes('Depthwise');
  const kernel = l.weights.find((w) => w.base === 'kernel' || w.base === 'depthwise_kernel');
  if (!kernel) throw new LowbitError(`${where}: no kernel in the manifest`);
  const bias = l.config.use_bias === false ? null : l.weights.find((w) => w.base === 'bias')?.values ?? null;
  const [h, w, c] = inShape.length === 1 ? [1, 1, inShape[0]] : inShape;
  if (inShape.length !== 1 && inShape.length !== 3) throw new LowbitError(`${where}: input of rank ${inShape.length + 1}; the runtime runs NHWC images and flat features`);
  const dil = pair(l.config.dilation_rate, 1);
  if (dil[0] !== 1 || dil[1] !== 1) throw new LowbitError(`${where}: dilated convolutions are not supported by the runtime`);
  if (depthwise && ((l.config.depth_multiplier as number | undefined) ?? 1) !== 1) throw new LowbitError(`${where}: depthwise convolutions with a depth multiplier other than 1 are not supported by the runtime`);
  const outC = dense ? (l.config.units as number) : depthwise ? c : (l.config.filters as number);
  const geom = dense ? geometry(h, w, c, [1, 1], [1, 1], 'valid', outC)
    : geometry(h, w, c, pair(l.config.kernel_size, 1), pair(l.config.strides, 1), l.config.padding, outC);
  const quant = l.cls.startsWith('Quant') ? layerQuantizer(l, c) : null;
  const taps = geom.kh * geom.kw;
  const base: Weighted = { mode: 'float', depthwise, geom, wBits: null, wInt8: null, wFloat: null, bias, a: null, b: null, stages: [], quant };
  const i8 = !depthwise && kernel.codes ? int8Codes(kernel.codes) : null;
  const channelScale = (o: number) => (i8!.channelScales ? i8!.channelScales[o] : i8!.scale);
  const mb = !depthwise && kernel.codes?.multibit ? compileMultibit(kernel.codes, quant, geom, bias) : null;
  if (mb) {
    // wasm and JS have no bit-serial int8 kernel: there I integer rows cost I float layers, so those
    // kernels run the same layer on the float path (floatTwin, sharing the stages).
    const floatTwin: Weighted | undefined = mb.kernel === 'int8' ? { ...base, wFloat: outputMajor(kernel.values, taps, c, outC, (n) => new Float32Array(n)) } : undefined;
    return { ...base, mode: mb.kernel, multibit: mb, bias: null, floatTwin };
  }
  const kernelBipolar = kernel.codes != null && kernel.codes.codebook == null && kernel.codes.bits === 1 && kernel.codes.zeroPoint === 0.5;
  if (i8 && quant && ((quant.bipolar && kernelBipolar) || quant.fitsInt8)) {
    const xScale = quant.bipolar ? quant.scalarScale! / 2 : quant.scalarScale! / quant.codeMultiplier;
    const a = new Float32Array(outC);
    const b = new Float32Array(outC);
    for (let o = 0; o < outC; o++) { a[o] = xScale * channelScale(o); b[o] = bias ? bias[o] : 0; }
    const q = outputMajor(i8.q, taps, c, outC, (n) => new Int8Array(n));
    if (quant.bipolar && kernelBipolar) {
      const words = wordsFor(c);
      const bits = new Uint32Array(outC * taps * words);
      for (let ot = 0; ot < outC * taps; ot++) for (let k = 0; k < c; k++) if (q[ot * c + k] > 0) bits[ot * words + (k >>> 5)] |= 1 << (k & 31);
      return { ...base, mode: 'binary', wBits: bits, a, b, bias: null };
    }
    return { ...base, mode: 'int8', wInt8: q, a, b, bias: null };
  }
  const wFloat = depthwise ? Float32Array.from(kernel.values) : outputMajor(kernel.values, taps, c, outC, (n) => new Float32Array(n));
  return { ...base, wFloat };
}

/** Folds y = x·s + t (per output channel) into a weighted layer's result. */
function foldAffine(w: Weighted, s: Float32Array, t: Float32Array): void {
  const outC = w.geom.outC;
  if (w.multibit) {
    foldMultibit(w.multibit, s, t);
    if (w.floatTwin) foldAffine(w.floatTwin, s, t);
    return;
  }
  if (w.mode !== 'float') {
    for (let o = 0; o < outC; o++) { w.a![o] *= s[o]; w.b![o] = w.b![o] * s[o] + t[o]; }
    return;
  }
  const per = w.wFloat!.length / outC;
  if (w.depthwise) {
    for (let i = 0; i < w.wFloat!.length; i++) w.wFloat![i] *= s[i % outC];
  } else {
    for (let o = 0; o < outC; o++) for (let i = 0; i < per; i++) w.wFloat![o * per + i] *= s[o];
  }
  const bias = new Float32Array(outC);
  for (let o = 0; o < outC; o++) bias[o] = (w.bias ? w.bias[o] : 0) * s[o] + t[o];
  w.bias = bias;
}

/** The stage an elementwise layer runs as, or null for layers that are not elementwise. */
function elementwiseStage(l: LayerEntry, flat: boolean): Stage | null {
  switch (l.cls) {
    case 'BatchNormalization': {
      const axis = l.config.axis as number | number[];
      const ax = Array.isArray(axis) ? axis[0] : axis;
      // Images (NHWC) normalise axis 3; flat features axis 1 — the last axis either way.
      if (ax !== -1 && ax !== 3 && !(ax === 1 && flat)) {
        throw new LowbitError(`layer ${l.name}: BatchNormalization over axis ${JSON.stringify(axis)}; the runtime normalises the channel (last) axis`);
      }
      return { kind: 'affine', ...batchNormAffine(l) };
    }
    case 'ReLU': {
      const max = l.config.max_value as number | null | undefined;
      return { kind: 'relu', max: max ?? Infinity };
    }
    case 'Activation': return activationStage(l.config.activation, l.name) ?? { kind: 'map', f: (v) => v };
    case 'Softmax': return { kind: 'softmax' };
    case 'PReLU': return { kind: 'prelu', alpha: l.weights[0].values, shiftIn: null, shiftOut: null };
    case 'RPReLU': {
      const get = (base: string) => l.weights.find((w) => w.base === base)!.values;
      return { kind: 'prelu', alpha: get('alpha'), shiftIn: get('shift_in'), shiftOut: get('shift_out') };
    }
    default: return null;
  }
}

/** A compiled packed model: its steps and how to run them at a batch size. */
export class CompiledPlan {
  readonly ops: Op[] = [];
  readonly steps: RuntimeStep[] = [];
  readonly tensors = new Map<string, TensorInfo>();
  readonly inputShape: number[];
  readonly outputShape: number[];
  readonly input: string;
  readonly output: string;

  constructor(packed: PackedModel, where?: string) {
    const { layers, inputShape, input, output } = readPackedModel(packed, where);
    this.inputShape = inputShape;
    this.input = input;
    this.tensors.set(input, { shape: inputShape, bits: false });
    const consumers = new Map<string, LayerEntry[]>();
    for (const l of layers) for (const i of l.inputs) consumers.set(i, [...(consumers.get(i) ?? []), l]);
    const shapeOf = (name: string) => {
      const t = this.tensors.get(name);
      if (!t) throw new LowbitError(`layer ${name} is used before it is computed (the topology is not in order)`);
      return t.shape;
    };
    // Every weighted layer's kernel choice first: a producer writes bits when its consumer is binary.
    const weighted = new Map<string, Weighted>();
    const done = new Set<string>();
    /** The only consumer of `name`, when there is exactly one. */
    const single = (name: string) => { const c = consumers.get(name) ?? []; return c.length === 1 && name !== output ? c[0] : null; };
    const byName = new Map(layers.map((l) => [l.name, l]));
    const compileLayer = (l: LayerEntry): void => {
      const inShapes = l.inputs.map(shapeOf);
      const x = l.inputs[0];
      const set = (name: string, shape: number[], bits = false) => this.tensors.set(name, { shape, bits });
      switch (l.cls) {
        case 'Conv2D': case 'QuantConv2D': case 'DepthwiseConv2D': case 'QuantDepthwiseConv2D': case 'Dense': case 'QuantDense': {
          const w = weighted.get(l.name) ?? compileWeighted(l, inShapes[0]);
          const fused = [l.name];
          const flatOut = l.cls.includes('Dense') && inShapes[0].length === 1;
          const act = activationStage(l.config.activation, l.name);
          if (act) w.stages.push(act);
          let last = l.name;
          for (let next = single(last); next && elementwiseStage(next, flatOut); next = single(last)) {
            const stage = elementwiseStage(next, flatOut)!;
            if (stage.kind === 'affine' && w.stages.length === 0) foldAffine(w, stage.a, stage.b);
            else w.stages.push(stage);
            fused.push(next.name);
            done.add(next.name);
            last = next.name;
          }
          const shape = l.cls.includes('Dense') && inShapes[0].length === 1 ? [w.geom.outC] : [w.geom.outH, w.geom.outW, w.geom.outC];
          // result → Add(result, a tensor computed before) → elementwise layers: one step (Residual).
          let residual: Residual | undefined;
          const adder = single(last);
          if (adder?.cls === 'Add' && adder.inputs.length === 2 && adder.inputs.includes(last)) {
            const other = adder.inputs[0] === last ? adder.inputs[1] : adder.inputs[0];
            // A pooled shortcut later in the layer order (mobilenet-tiny's stride-2 blocks) whose
            // input is ready: compiled now, before this step.
            const pooled = byName.get(other);
            if (!this.tensors.has(other) && pooled && !done.has(other) && ['AveragePooling2D', 'MaxPooling2D'].includes(pooled.cls) && pooled.inputs.every((i) => this.tensors.has(i))) {
              compileLayer(pooled);
              done.add(other);
            }
            const t = this.tensors.get(other);
            if (other !== last && t && !t.bits && size(t.shape) === size(shape) && t.shape[t.shape.length - 1] === shape[shape.length - 1]) {
              const flat = shape.length === 1;
              residual = { input: other, stages: [] };
              fused.push(adder.name);
              done.add(adder.name);
              last = adder.name;
              for (let next = single(last); next && elementwiseStage(next, flat); next = single(last)) {
                residual.stages.push(elementwiseStage(next, flat)!);
                fused.push(next.name);
                done.add(next.name);
                last = next.name;
              }
            }
          }
          // The consumer runs binary on exactly this tensor: write its packed sign bits.
          // A max-pool between may run on the bits: sign(max(z) + t) = OR of sign(z + t) (sign is monotone).
          let next = residual ? null : single(last);
          let nextShape = shape;
          if (next?.cls === 'MaxPooling2D' && shape.length === 3) {
            const g = poolGeometry(next, shape);
            nextShape = [g.outH, g.outW, g.outC];
            next = single(next.name);
          }
          const nextW = next && ['QuantConv2D', 'QuantDense'].includes(next.cls) ? (weighted.get(next.name) ?? compileWeighted(next, nextShape)) : null;
          if (nextW) weighted.set(next!.name, nextW);
          const outBits = nextW?.mode === 'binary' ? nextW.quant!.offset : undefined;
          set(last, shape, outBits !== undefined);
          // conv (+ ReLU) → max-pool (→ an int8 layer): fusable (PoolFusion).
          let pool: PoolFusion | undefined;
          const after = single(last);
          const lone = w.stages.length === 0 || (w.stages.length === 1 && w.stages[0].kind === 'relu' && w.stages[0].max === Infinity);
          if (!residual && outBits === undefined && w.mode === 'float' && !w.depthwise && shape.length === 3 && lone && after?.cls === 'MaxPooling2D') {
            const consumer = single(after.name);
            const cw = consumer && consumer.inputs.length === 1 ? weighted.get(consumer.name) : undefined;
            const codes = cw?.mode === 'int8' && !cw.multibit && cw.quant && !cw.quant.bipolar && cw.quant.channels === w.geom.outC ? cw.quant : null;
            pool = { g: poolGeometry(after, shape), output: after.name, codes };
          }
          this.ops.push({ type: 'weighted', w, input: x, output: last, outBits, pool, residual });
          this.steps.push({ layers: fused, op: l.cls.includes('Dense') ? 'dense' : w.depthwise ? 'depthwise' : 'conv', kernel: w.mode, output: outBits !== undefined ? 'bits' : 'float', geometry: w.geom });
          break;
        }
        case 'QuantActivation': {
          const q = layerQuantizer(l, inShapes[0][inShapes[0].length - 1]);
          set(l.name, inShapes[0]);
          if (q) this.ops.push({ type: 'quantize', q, input: x, output: l.name });
          else this.ops.push({ type: 'alias', input: x, output: l.name });
          this.steps.push({ layers: [l.name], op: q ? 'quantize' : 'identity', output: 'float' });
          break;
        }
        case 'BatchNormalization': case 'ReLU': case 'Activation': case 'Softmax': case 'PReLU': case 'RPReLU': {
          const c = inShapes[0][inShapes[0].length - 1];
          const flat = inShapes[0].length === 1;
          const stages = [elementwiseStage(l, flat)!];
          const fused = [l.name];
          let last = l.name;
          for (let next = single(last); next && elementwiseStage(next, flat); next = single(last)) {
            stages.push(elementwiseStage(next, flat)!);
            fused.push(next.name);
            done.add(next.name);
            last = next.name;
          }
          set(last, inShapes[0]);
          this.ops.push({ type: 'stages', stages, c, input: x, output: last });
          this.steps.push({ layers: fused, op: 'elementwise', output: 'float' });
          break;
        }
        case 'MaxPooling2D': case 'AveragePooling2D': {
          const g = poolGeometry(l, inShapes[0]);
          // Packed sign bits in (the producer saw a binary layer after this max-pool): OR-pool them.
          const bits = this.tensors.get(x)!.bits;
          set(l.name, [g.outH, g.outW, g.outC], bits);
          this.ops.push(bits ? { type: 'pool-bits', g, input: x, output: l.name } : { type: 'pool', max: l.cls === 'MaxPooling2D', g, input: x, output: l.name });
          this.steps.push({ layers: [l.name], op: l.cls === 'MaxPooling2D' ? 'max-pool' : 'average-pool', output: bits ? 'bits' : 'float' });
          break;
        }
        case 'GlobalAveragePooling2D': {
          const [h, w, c] = inShapes[0];
          set(l.name, [c]);
          this.ops.push({ type: 'gap', h, w, c, input: x, output: l.name });
          this.steps.push({ layers: [l.name], op: 'global-average-pool', output: 'float' });
          break;
        }
        case 'Add': {
          if (inShapes.some((s) => size(s) !== size(inShapes[0]))) throw new LowbitError(`layer ${l.name}: Add of different shapes (${inShapes.map((s) => s.join('×')).join(', ')}); the runtime adds equal shapes`);
          // Elementwise layers after the sum (each the only consumer of the one before) run in the same pass.
          const c = inShapes[0][inShapes[0].length - 1];
          const flat = inShapes[0].length === 1;
          const stages: Stage[] = [];
          const fused = [l.name];
          let last = l.name;
          for (let next = single(last); next && elementwiseStage(next, flat); next = single(last)) {
            stages.push(elementwiseStage(next, flat)!);
            fused.push(next.name);
            done.add(next.name);
            last = next.name;
          }
          set(last, inShapes[0]);
          this.ops.push({ type: 'add', inputs: l.inputs, stages, c, output: last });
          this.steps.push({ layers: fused, op: 'add', output: 'float' });
          break;
        }
        case 'Concatenate': {
          const axis = (l.config.axis as number | undefined) ?? -1;
          const rank = inShapes[0].length + 1;
          if (axis !== -1 && axis !== rank - 1) throw new LowbitError(`layer ${l.name}: Concatenate over axis ${axis}; the runtime concatenates channels (the last axis)`);
          const channels = inShapes.map((s) => s[s.length - 1]);
          set(l.name, [...inShapes[0].slice(0, -1), channels.reduce((a, b) => a + b, 0)]);
          this.ops.push({ type: 'concat', inputs: l.inputs, channels, output: l.name });
          this.steps.push({ layers: [l.name], op: 'concat', output: 'float' });
          break;
        }
        case 'Flatten': case 'Dropout': {
          set(l.name, l.cls === 'Flatten' ? [size(inShapes[0])] : inShapes[0]);
          this.ops.push({ type: 'alias', input: x, output: l.name });
          break;
        }
        default: throw new LowbitError(`layer ${l.name}: ${l.cls} is not supported by the runtime`);
      }
      for (const i of l.inputs) if (this.tensors.get(i)?.bits && !['weighted', 'pool-bits'].includes(this.ops[this.ops.length - 1].type)) {
        throw new LowbitError(`layer ${l.name}: internal plan error (packed bits reached a float step)`);
      }
    };
    for (const l of layers) if (!done.has(l.name)) compileLayer(l);
    this.output = output;
    const out = this.tensors.get(output);
    if (!out) throw new LowbitError(`the model's output layer ${output} is not computed by the runtime`);
    this.outputShape = out.shape;
  }
}

/** Float values, packed sign bits, or (a fused pass's output) an int8 layer's input codes. */
type Buffer = Float32Array | Uint32Array | Int8Array;

/** The plan bound to one batch size: every buffer allocated once, each step a closure. */
export class BatchExecutor {
  private readonly run: Array<() => void> = [];
  /** The step each entry of `run` computes (its first layer's name). */
  readonly labels: string[] = [];
  readonly input: Float32Array;
  readonly output: Float32Array;

  constructor(plan: CompiledPlan, readonly n: number, kernels: RuntimeKernels) {
    const buffers = new Map<string, Buffer>();
    const bufferOf = (name: string): Buffer => {
      let b = buffers.get(name);
      if (b) return b;
      const t = plan.tensors.get(name)!;
      const s = t.shape;
      b = t.bits ? new Uint32Array(n * size(s.slice(0, -1)) * wordsFor(s[s.length - 1])) : new Float32Array(n * size(s));
      buffers.set(name, b);
      return b;
    };
    this.input = bufferOf(plan.input) as Float32Array;
    // Max-pools computed inside their convolution's pass (PoolFusion; backends with floatConv2dMaxPool).
    const fusedPools = new Set<string>();
    const labelOf = (output: string) => plan.steps.find((s) => s.layers.includes(output))?.layers.join('+') ?? output;
    for (const op of plan.ops) {
      if (op.type === 'alias') { buffers.set(op.output, bufferOf(op.input)); continue; }
      if (op.type === 'pool' && fusedPools.has(op.output)) continue;
      if (op.type === 'weighted' && op.pool && kernels.ops?.floatConv2dMaxPool !== undefined) {
        const p = op.pool;
        // With codes, the pool's tensor holds its consumer's int8 codes (that layer then skips its quantization).
        if (p.codes) buffers.set(p.output, new Int8Array(n * size(plan.tensors.get(p.output)!.shape)));
        fusedPools.add(p.output);
        this.run.push(bindConvPool(op.w, p, n, kernels, bufferOf(op.input) as Float32Array, bufferOf(p.output) as Float32Array | Int8Array));
        this.labels.push(`${labelOf(op.output)}+${labelOf(p.output)}`);
        continue;
      }
      this.run.push(this.bind(op, n, kernels, bufferOf));
      this.labels.push(labelOf(op.output));
    }
    this.output = bufferOf(plan.output) as Float32Array;
  }

  execute(): void {
    for (const step of this.run) step();
  }

  /** Runs once, adding each step's milliseconds to `ms` (indexed like `labels`). */
  executeTimed(ms: Float64Array, now: () => number): void {
    for (let i = 0; i < this.run.length; i++) {
      const t0 = now();
      this.run[i]();
      ms[i] += now() - t0;
    }
  }

  private bind(op: Op, n: number, k: RuntimeKernels, bufferOf: (name: string) => Buffer): () => void {
    const ops = k.ops;
    switch (op.type) {
      case 'weighted': {
        if (!op.residual) return bindWeighted(op.w, n, k, bufferOf(op.input), bufferOf(op.output), op.outBits);
        return bindResidual(op.w, n, k, bufferOf(op.input) as Float32Array | Uint32Array, bufferOf(op.output) as Float32Array, bufferOf(op.residual.input) as Float32Array, op.residual.stages);
      }
      case 'quantize': {
        const x = bufferOf(op.input) as Float32Array;
        const y = bufferOf(op.output) as Float32Array;
        return () => op.q.toValues(x, y, ops);
      }
      case 'stages': {
        const x = bufferOf(op.input) as Float32Array;
        const y = bufferOf(op.output) as Float32Array;
        return () => { y.set(x); runStages(op.stages, y, 0, y.length / op.c, op.c, ops, k); };
      }
      case 'pool': {
        const x = bufferOf(op.input) as Float32Array;
        const y = bufferOf(op.output) as Float32Array;
        const sums = new Float64Array(op.g.c);
        const g: ConvGeometry = { n, ...op.g };
        if (ops) return () => ops.pool(x, g, op.max, y);
        return () => pool(x, y, n, op.g, op.max, sums);
      }
      case 'pool-bits': {
        const x = bufferOf(op.input) as Uint32Array;
        const y = bufferOf(op.output) as Uint32Array;
        return () => poolBits(x, y, n, op.g);
      }
      case 'gap': {
        const x = bufferOf(op.input) as Float32Array;
        const y = bufferOf(op.output) as Float32Array;
        const { h, w, c } = op;
        const hw = h * w;
        if (ops) return () => ops.globalAveragePool(x, n, hw, c, y);
        return () => {
          y.fill(0);
          for (let b = 0; b < n; b++) {
            for (let p = 0; p < hw; p++) {
              const xi = (b * hw + p) * c;
              for (let ch = 0; ch < c; ch++) y[b * c + ch] += x[xi + ch];
            }
          }
          for (let i = 0; i < y.length; i++) y[i] /= hw;
        };
      }
      case 'add': {
        const xs = op.inputs.map((i) => bufferOf(i) as Float32Array);
        const y = bufferOf(op.output) as Float32Array;
        const { stages, c } = op;
        return () => {
          if (ops && xs.length >= 2) {
            ops.add(y, xs[0], xs[1]);
            for (let j = 2; j < xs.length; j++) ops.addInto(y, xs[j]);
          } else {
            y.set(xs[0]);
            for (let j = 1; j < xs.length; j++) { const x = xs[j]; for (let i = 0; i < y.length; i++) y[i] += x[i]; }
          }
          if (stages.length) runStages(stages, y, 0, y.length / c, c, ops, k);
        };
      }
      case 'concat': {
        const xs = op.inputs.map((i) => bufferOf(i) as Float32Array);
        const y = bufferOf(op.output) as Float32Array;
        const total = op.channels.reduce((a, b) => a + b, 0);
        const channels = Int32Array.from(op.channels);
        if (ops) return () => { for (let j = 0, at = 0; j < xs.length; at += channels[j], j++) ops.concatInto(xs[j], channels[j], y, total, at); };
        return () => {
          const pixels = y.length / total;
          for (let j = 0, at = 0; j < xs.length; j++) {
            const x = xs[j];
            const c = channels[j];
            for (let p = 0; p < pixels; p++) {
              const src = p * c;
              const dst = p * total + at;
              for (let ch = 0; ch < c; ch++) y[dst + ch] = x[src + ch];
            }
            at += c;
          }
        };
      }
      case 'alias': return () => {};
    }
  }
}

function pool(x: Float32Array, y: Float32Array, n: number, g: Geometry, max: boolean, sums: Float64Array): void {
  const { h, w, c, kh, kw, outH, outW, strideH, strideW, padTop, padLeft } = g;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * strideH - padTop;
      const ky0 = iy0 < 0 ? -iy0 : 0;
      const ky1 = h - iy0 < kh ? h - iy0 : kh;
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * strideW - padLeft;
        const kx0 = ix0 < 0 ? -ix0 : 0;
        const kx1 = w - ix0 < kw ? w - ix0 : kw;
        const o = ((b * outH + oy) * outW + ox) * c;
        // Channels innermost (contiguous); per channel the taps are visited in the same order as
        // a tap-innermost loop, and average sums stay in doubles until the division.
        if (max) {
          for (let ch = 0; ch < c; ch++) y[o + ch] = -Infinity;
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c;
              for (let ch = 0; ch < c; ch++) { const v = x[xi + ch]; if (v > y[o + ch]) y[o + ch] = v; }
            }
          }
        } else {
          const count = (ky1 - ky0) * (kx1 - kx0);
          sums.fill(0);
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c;
              for (let ch = 0; ch < c; ch++) sums[ch] += x[xi + ch];
            }
          }
          for (let ch = 0; ch < c; ch++) y[o + ch] = sums[ch] / count;
        }
      }
    }
  }
}

/** Max-pooling of packed sign bits: the OR over the window's in-image taps (padding is ignored, as max-pooling ignores it). */
function poolBits(x: Uint32Array, y: Uint32Array, n: number, g: Geometry): void {
  const { h, w } = g;
  const words = wordsFor(g.c);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      const iy0 = oy * g.strideH - g.padTop;
      const ky0 = Math.max(0, -iy0);
      const ky1 = Math.min(g.kh, h - iy0);
      for (let ox = 0; ox < g.outW; ox++) {
        const ix0 = ox * g.strideW - g.padLeft;
        const kx0 = Math.max(0, -ix0);
        const kx1 = Math.min(g.kw, w - ix0);
        const o = ((b * g.outH + oy) * g.outW + ox) * words;
        for (let k = 0; k < words; k++) {
          let acc = 0;
          // `| 0`: read the word as int32 (a Uint32Array element ≥ 2³¹ is otherwise a double).
          for (let ky = ky0; ky < ky1; ky++) for (let kx = kx0; kx < kx1; kx++) acc |= x[((b * h + iy0 + ky) * w + ix0 + kx) * words + k] | 0;
          y[o + k] = acc;
        }
      }
    }
  }
}

/**
 * The next layer's sign bit of an integer result r, f(r) = [fround(relu?(fround(r·a + b)) + t) ≥ 0]
 * (exactly the float comparison), as s·r ≥ T per channel: f is monotone in r (every rounding
 * is), so over r ∈ [−range, range] it switches once, found by bisection.
 */
function foldedThresholds(a: Float32Array, b: Float32Array, relu: boolean, offset: Float32Array | null, range: number): { sign: Int32Array; threshold: Float64Array } {
  const sign = new Int32Array(a.length);
  const threshold = new Float64Array(a.length);
  for (let o = 0; o < a.length; o++) {
    const f = (r: number) => {
      let v = Math.fround(r * a[o] + b[o]);
      if (relu && v < 0) v = 0;
      if (offset) v = Math.fround(v + offset[o]);
      return v >= 0;
    };
    // s·r is non-decreasing in the direction where f turns on: s = +1 for a ≥ 0, −1 for a < 0.
    const s = a[o] < 0 ? -1 : 1;
    sign[o] = s;
    // Smallest u = s·r in [−range, range] with f(s·u) true (+∞: never; −∞: always).
    if (!f(s * range)) { threshold[o] = Infinity; continue; }
    if (f(-s * range)) { threshold[o] = -Infinity; continue; }
    let lo = -range;
    let hi = range;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (f(s * mid)) hi = mid; else lo = mid;
    }
    threshold[o] = hi;
  }
  return { sign, threshold };
}

/**
 * A float convolution (+ ReLU), its max-pool and (with `p.codes`) the next layer's input codes as
 * one backend pass (RuntimeOps.floatConv2dMaxPool). Where the backend declines, the unfused plan's
 * passes — the convolution step as bindWeighted binds it, ops.pool, toInt8 — in full-size scratch
 * buffers made on first decline: the same values either way.
 */
function bindConvPool(w: Weighted, p: PoolFusion, n: number, k: RuntimeKernels, xBuf: Float32Array, out: Float32Array | Int8Array): () => void {
  const ops = k.ops!;
  const g: ConvGeometry = { n, ...w.geom };
  const pg: ConvGeometry = { n, ...p.g };
  const relu = w.stages.length === 1;
  const scratchX = w.quant ? new Float32Array(n * g.h * g.w * g.c) : null;
  const codeArgs = p.codes ? p.codes.int8CodeArgs : null;
  let unfused: (() => void) | null = null;
  return () => {
    let xq = xBuf;
    if (w.quant) { w.quant.toValues(xBuf, scratchX!, ops); xq = scratchX!; }
    if (ops.floatConv2dMaxPool!(xq, w.wFloat!, w.bias, g, relu, pg, codeArgs, out)) return;
    unfused ??= (() => {
      const convOut = new Float32Array(n * g.outH * g.outW * g.outC);
      const conv = bindWeighted(w, n, k, xBuf, convOut, undefined);
      if (!p.codes) return () => { conv(); ops.pool(convOut, pg, true, out as Float32Array); };
      const pooled = new Float32Array(n * pg.outH * pg.outW * pg.outC);
      return () => { conv(); ops.pool(convOut, pg, true, pooled); p.codes!.toInt8(pooled, out as Int8Array, ops); };
    })();
    unfused();
  };
}

/** A PReLU stage with one alpha per channel and no shifts (the fused residual epilogues' form), or null. */
function plainPrelu(stages: Stage[], c: number): Float32Array | null | undefined {
  if (stages.length === 0) return null;
  const s = stages[0];
  return stages.length === 1 && s.kind === 'prelu' && s.alpha.length === c && !s.shiftIn && !s.shiftOut ? s.alpha : undefined;
}

/**
 * A convolution step with its residual Add and the stages after it (Residual): y = stages(conv + res).
 * Binary layers with a plain epilogue and float depthwise layers without stages run it as one
 * backend pass where the backend has one (binaryConv2dAffineResidual, floatDepthwiseConv2dResidual);
 * otherwise the convolution step as bindWeighted binds it writes y, then one pass adds res and runs
 * the stages (a single JavaScript loop for a plain PReLU). The same values either way: the sum is
 * the Add's float32 sum, the stages the plan's.
 */
function bindResidual(w: Weighted, n: number, k: RuntimeKernels, xBuf: Float32Array | Uint32Array, y: Float32Array, res: Float32Array, stages: Stage[]): () => void {
  const ops = k.ops;
  const g: ConvGeometry = { n, ...w.geom };
  const c = g.outC;
  const alpha = plainPrelu(stages, c);
  const conv = bindWeighted(w, n, k, xBuf, y, undefined);
  const reluOnly = w.stages.length === 1 && w.stages[0].kind === 'relu' && w.stages[0].max === Infinity;
  // The backend's passes, or (wasm) the kernels' own fused forms.
  const fusedBinary = ops ? ops.binaryConv2dAffineResidual?.bind(ops) : k.binaryConv2dAffineResidual?.bind(k);
  const fusedDepthwise = ops ? ops.floatDepthwiseConv2dResidual?.bind(ops) : k.floatDepthwiseConv2dResidual?.bind(k);
  const binaryFused = alpha !== undefined && fusedBinary !== undefined && w.mode === 'binary' && !w.multibit && (w.stages.length === 0 || reluOnly);
  const depthwiseFused = alpha !== undefined && fusedDepthwise !== undefined && w.mode === 'float' && w.depthwise && w.stages.length === 0;
  // A quantized depthwise layer's input values (binary models: ±scale/2), as bindWeighted computes them.
  const scratchX = depthwiseFused && w.quant ? new Float32Array(n * g.h * g.w * g.c) : null;
  const levels = scratchX && !ops && k.signs && w.quant!.bipolar ? w.quant!.valueLevels() : null;
  const inputBits = xBuf instanceof Uint32Array;
  const xb = binaryFused && !inputBits ? new Uint32Array(n * g.h * g.w * wordsFor(g.c)) : null;
  const rest = () => {
    if (ops) {
      ops.addInto(y, res);
      if (stages.length) runStages(stages, y, 0, y.length / c, c, ops);
    } else if (alpha) {
      for (let i = 0; i < y.length; i += c) {
        for (let ch = 0; ch < c; ch++) { const v = Math.fround(y[i + ch] + res[i + ch]); y[i + ch] = v >= 0 ? v : alpha[ch] * v; }
      }
    } else {
      for (let i = 0; i < y.length; i++) y[i] += res[i];
      if (stages.length) runStages(stages, y, 0, y.length / c, c);
    }
  };
  return () => {
    if (binaryFused) {
      const bits = inputBits ? xBuf : xb!;
      if (!inputBits) {
        if (!ops && k.packSigns) k.packSigns(xBuf as Float32Array, w.quant!.channels, w.quant!.offset, bits);
        else w.quant!.toBits(xBuf as Float32Array, bits, ops);
      }
      if (fusedBinary!(bits, w.wBits!, g, w.a!, w.b!, reluOnly, res, alpha ?? null, y)) return;
    }
    if (depthwiseFused) {
      let xq = xBuf as Float32Array;
      if (scratchX) {
        if (levels) k.signs!(xq, g.c, w.quant!.offset, levels, scratchX);
        else w.quant!.toValues(xq, scratchX, ops);
        xq = scratchX;
      }
      if (fusedDepthwise!(xq, w.wFloat!, w.bias, g, res, alpha ?? null, y)) return;
    }
    conv();
    rest();
  };
}

/**
 * A convolution / dense step bound to its buffers: input quantization (unless the producer wrote
 * packed bits), the kernel, then the epilogue — float values, or the consumer's packed sign bits
 * when `outBits` is set (null: no threshold).
 */
function bindWeighted(w: Weighted, n: number, k: RuntimeKernels, xBuf: Buffer, yBuf: Buffer, outBits: Float32Array | null | undefined): () => void {
  const ops = k.ops;
  // The float twin on every kernel set but native's (wasm has the passes, but no bit-serial kernel).
  if (w.floatTwin && (!ops || k.name !== 'native')) return bindWeighted(w.floatTwin, n, k, xBuf, yBuf, outBits);
  const g: ConvGeometry = { n, ...w.geom };
  const inCount = n * g.h * g.w * g.c;
  const outPixels = n * g.outH * g.outW;
  const outC = g.outC;
  const toBits = outBits !== undefined;
  const words = wordsFor(outC);
  /** Float results of `pixels` pixels at `from` → bits of the output (`relu`: of max(v, 0), fused). */
  const packPixels = (src: Float32Array, from: number, p0: number, pixels: number, relu = false) => {
    const bits = yBuf as Uint32Array;
    for (let p = p0; p < p0 + pixels; p++) {
      const s0 = from + (p - p0) * outC;
      const at = p * words;
      for (let k = 0; k < words; k++) {
        const o0 = k << 5;
        const o1 = outC < o0 + 32 ? outC : o0 + 32;
        let word = 0;
        if (outBits && relu) {
          for (let o = o0; o < o1; o++) { const v = src[s0 + o]; if (Math.fround((v < 0 ? 0 : v) + outBits[o]) >= 0) word |= 1 << (o & 31); }
        } else if (outBits) {
          for (let o = o0; o < o1; o++) if (Math.fround(src[s0 + o] + outBits[o]) >= 0) word |= 1 << (o & 31);
        } else if (relu) {
          for (let o = o0; o < o1; o++) { const v = src[s0 + o]; if ((v < 0 ? 0 : v) >= 0) word |= 1 << (o & 31); }
        } else {
          for (let o = o0; o < o1; o++) if (src[s0 + o] >= 0) word |= 1 << (o & 31);
        }
        bits[at + k] = word;
      }
    }
  };
  if (w.multibit) {
    // The rows' integer kernel and the per-channel sum (src/runtime/multibit.ts), then the stages as on a float result.
    const y = toBits ? new Float32Array(outPixels * outC) : (yBuf as Float32Array);
    // Never int8 codes: a pool fused into its convolution writes codes only for plain int8 layers.
    const forward = bindMultibit(w.multibit, w.quant!, n, k, xBuf as Float32Array | Uint32Array, y);
    return () => {
      forward();
      if (w.stages.length) runStages(w.stages, y, 0, outPixels, outC, ops);
      if (toBits) {
        if (ops) ops.packSigns(y, outC, outBits ?? null, false, yBuf as Uint32Array);
        else packPixels(y, 0, 0, outPixels);
      }
    };
  }
  if (w.mode === 'float') {
    let xq: Float32Array = xBuf as Float32Array;
    const scratchX = w.quant ? new Float32Array(inCount) : null;
    const y = toBits ? new Float32Array(outPixels * outC) : (yBuf as Float32Array);
    // A lone ReLU before packed bits runs inside the packing pass.
    const fusedRelu = toBits && w.stages.length === 1 && w.stages[0].kind === 'relu' && w.stages[0].max === Infinity;
    // The backend may run the convolution and the sign packing as one pass.
    const fusedSigns = ops?.floatConv2dSigns !== undefined && toBits && !w.depthwise && (w.stages.length === 0 || fusedRelu);
    // … or the convolution and a lone ReLU after it.
    const reluOut = ops?.floatConv2dRelu !== undefined && !toBits && !w.depthwise && w.stages.length === 1 && w.stages[0].kind === 'relu' && w.stages[0].max === Infinity;
    return () => {
      if (w.quant) { w.quant.toValues(xBuf as Float32Array, scratchX!, ops); xq = scratchX!; }
      if (fusedSigns && ops!.floatConv2dSigns!(xq, w.wFloat!, w.bias, g, fusedRelu, outBits ?? null, y, yBuf as Uint32Array)) return;
      if (reluOut && ops!.floatConv2dRelu!(xq, w.wFloat!, w.bias, g, y)) return;
      if (w.depthwise) k.floatDepthwiseConv2d(xq, w.wFloat!, w.bias, g, y);
      else k.floatConv2d(xq, w.wFloat!, w.bias, g, y);
      if (w.stages.length && !fusedRelu) runStages(w.stages, y, 0, outPixels, outC, ops, k);
      if (toBits) {
        if (ops) ops.packSigns(y, outC, outBits ?? null, fusedRelu, yBuf as Uint32Array);
        else packPixels(y, 0, 0, outPixels, fusedRelu);
      }
    };
  }
  const acc = new Int32Array(outPixels * outC);
  const a = w.a!;
  const b = w.b!;
  // The common epilogues (nothing, or a ReLU, after the affine) as single tight loops.
  const reluOnly = w.stages.length === 1 && w.stages[0].kind === 'relu' && w.stages[0].max === Infinity;
  const simple = w.stages.length === 0 || reluOnly;
  // |r| ≤ range: c·taps for ±1 products, c·taps·128² for int8 codes.
  const range = g.c * g.kh * g.kw * (w.mode === 'binary' ? 1 : 128 * 128);
  const { sign, threshold } = simple && toBits ? foldedThresholds(a, b, reluOnly, outBits ?? null, range) : { sign: null, threshold: null };
  // Branch-free form when every s·r and threshold fits int32: bit = (T − 1 − s·r) < 0, T clamped to
  // [−range, range + 1] (±∞ thresholds: always / never, as |r| ≤ range).
  const intThresholds = threshold && 2 * range + 2 < 2 ** 31 ? Int32Array.from(threshold, (t) => (t === Infinity ? range + 1 : t === -Infinity ? -range : t) - 1) : null;
  // The float result before packed bits, for the epilogues that run the stages (native passes or JS loops).
  const scratchY = toBits && !simple ? new Float32Array(outPixels * outC) : null;
  // With the backend's passes: the whole epilogue as one to three passes over the buffer.
  const nativeEpilogue = ops === undefined ? null : simple && !toBits ? () => ops.affineInt(acc, a, b, reluOnly, yBuf as Float32Array)
    : simple && intThresholds ? () => ops.packThreshold(acc, sign!, intThresholds, yBuf as Uint32Array)
      : !simple ? () => {
        const y = scratchY ?? (yBuf as Float32Array);
        ops.affineInt(acc, a, b, false, y);
        runStages(w.stages, y, 0, outPixels, outC, ops);
        if (scratchY) ops.packSigns(scratchY, outC, outBits ?? null, false, yBuf as Uint32Array);
      } : null;
  const epilogue = nativeEpilogue ?? (() => {
    if (simple && !toBits) {
      const y = yBuf as Float32Array;
      for (let p = 0, i = 0; p < outPixels; p++) {
        for (let o = 0; o < outC; o++, i++) { const v = acc[i] * a[o] + b[o]; y[i] = reluOnly && v < 0 ? 0 : v; }
      }
      return;
    }
    if (simple) {
      // The sign as an integer comparison s·r ≥ T (threshold folded; see foldedThresholds).
      // Each word is built in an int32 local and stored once (or-ing into a Uint32Array element
      // reads back values ≥ 2³¹ as doubles, which made this loop several times slower).
      const bits = yBuf as Uint32Array;
      const sg = sign!;
      const th = threshold!;
      for (let p = 0; p < outPixels; p++) {
        const at = p * words;
        const i0 = p * outC;
        for (let k = 0; k < words; k++) {
          const o0 = k << 5;
          const o1 = outC < o0 + 32 ? outC : o0 + 32;
          let word = 0;
          if (intThresholds) {
            for (let o = o0; o < o1; o++) word |= ((intThresholds[o] - sg[o] * acc[i0 + o]) >>> 31) << (o & 31);
          } else {
            for (let o = o0; o < o1; o++) if (sg[o] * acc[i0 + o] >= th[o]) word |= 1 << (o & 31);
          }
          bits[at + k] = word;
        }
      }
      return;
    }
    // The whole float result (into a scratch buffer before packed bits), then the stages over the
    // whole buffer: a stage indexed by element (PReLU with per-element alpha) sees each value's
    // position in the tensor (stages run pixel by pixel on a one-pixel scratch once read alpha[ch]
    // for every pixel).
    const y = scratchY ?? (yBuf as Float32Array);
    for (let p = 0, i = 0; p < outPixels; p++) for (let o = 0; o < outC; o++, i++) y[i] = acc[i] * a[o] + b[o];
    if (w.stages.length) runStages(w.stages, y, 0, outPixels, outC);
    if (toBits) packPixels(y, 0, 0, outPixels);
  });
  if (w.mode === 'binary') {
    const inputBits = xBuf instanceof Uint32Array;
    const xb = inputBits ? xBuf : new Uint32Array(n * g.h * g.w * wordsFor(g.c));
    const fusedThreshold = ops?.binaryConv2dThreshold !== undefined && simple && intThresholds !== null;
    const fusedAffine = ops?.binaryConv2dAffine !== undefined && simple && !toBits;
    return () => {
      if (!inputBits) w.quant!.toBits(xBuf as Float32Array, xb, ops);
      if (fusedThreshold && ops!.binaryConv2dThreshold!(xb, w.wBits!, g, sign!, intThresholds!, yBuf as Uint32Array)) return;
      if (fusedAffine && ops!.binaryConv2dAffine!(xb, w.wBits!, g, a, b, reluOnly, yBuf as Float32Array)) return;
      k.binaryConv2d(xb, w.wBits!, g, acc);
      epilogue();
    };
  }
  // Int8 input: the codes already (written by a fused convolution + pool pass).
  const codesIn = xBuf instanceof Int8Array;
  const xi = codesIn ? xBuf : new Int8Array(inCount);
  const fusedAffine = ops?.int8Conv2dAffine !== undefined && simple && !toBits;
  return () => {
    if (!codesIn) w.quant!.toInt8(xBuf as Float32Array, xi, ops);
    if (fusedAffine && ops!.int8Conv2dAffine!(xi, w.wInt8!, g, a, b, reluOnly, yBuf as Float32Array)) return;
    k.int8Conv2d(xi, w.wInt8!, g, acc);
    epilogue();
  };
}
