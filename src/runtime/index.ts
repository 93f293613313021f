/**
 * lowbit's bitwise inference runtime (`lowbit/runtime`): runs a packed model (packed.json +
 * packed.bin, see src/export/packed.ts) without TF.js — binary layers on packed sign bits with
 * XNOR-popcount kernels, integer-coded layers on int8 codes, float layers on float kernels — with a
 * pluggable kernel backend (plain JS, the reference; WebAssembly SIMD, `createWasmKernels`; native
 * in `lowbit/runtime/node`). Browser-safe. docs/runtime.md describes kernel selection and exactness.
 */
import { LowbitError } from '../errors.js';
import { jsKernels } from './js-kernels.js';
import type { RuntimeKernels } from './kernels.js';
import type { PackedModel } from './load.js';
import { BatchExecutor, CompiledPlan, RuntimeStep } from './plan.js';

export type { RuntimeKernels, ConvGeometry } from './kernels.js';
export { wordsFor } from './kernels.js';
export type { PackedModel } from './load.js';
export { RUNTIME_LAYERS } from './load.js';
export type { RuntimeStep, KernelMode } from './plan.js';
export { jsKernels } from './js-kernels.js';
export { createWasmKernels, hasWasmSimd } from './wasm/index.js';

export interface RuntimeOptions {
  /** The kernel backend (default: `jsKernels`, the plain-JS reference). */
  kernels?: RuntimeKernels;
  /** Names the model in error messages (default 'packed model'). */
  where?: string;
}

/** A packed model compiled for the runtime. Not thread-safe: one `run` at a time. */
export class RuntimeModel {
  private readonly executors = new Map<number, BatchExecutor>();
  /** Input shape without the batch axis (NHWC: [h, w, c]). */
  readonly inputShape: readonly number[];
  /** Output shape without the batch axis (e.g. [classes]). */
  readonly outputShape: readonly number[];
  readonly kernels: RuntimeKernels;

  constructor(private readonly plan: CompiledPlan, kernels: RuntimeKernels) {
    this.inputShape = plan.inputShape;
    this.outputShape = plan.outputShape;
    this.kernels = kernels;
  }

  /** The compiled steps: which layers each computes, with which kernel. */
  get steps(): readonly RuntimeStep[] {
    return this.plan.steps;
  }

  /**
   * Runs a batch: `x` holds `batch` inputs, NHWC row-major (batch·h·w·c values); returns
   * batch·outputs values (a fresh array). Buffers are allocated on the first run at each batch size.
   */
  run(x: Float32Array, batch?: number): Float32Array {
    const per = this.inputShape.reduce((a, b) => a * b, 1);
    const n = batch ?? x.length / per;
    if (!Number.isInteger(n) || n < 1 || x.length !== n * per) {
      throw new LowbitError(`runtime: input of ${x.length} values is not ${batch ?? 'a whole number of'} image(s) of ${this.inputShape.join('×')} (${per} values each)`);
    }
    let ex = this.executors.get(n);
    if (!ex) this.executors.set(n, ex = new BatchExecutor(this.plan, n, this.kernels));
    ex.input.set(x);
    ex.execute();
    return ex.output.slice();
  }

  /**
   * Per-step time: runs `x` `runs` times (after one warm-up run) and returns each step's mean
   * and median milliseconds, in plan order. `now` is the clock (default performance.now).
   */
  profile(x: Float32Array, runs = 10, now: () => number = () => performance.now()): Array<{ step: string; ms: number; medianMs: number }> {
    this.run(x);
    const ex = this.executors.get(x.length / this.inputShape.reduce((a, b) => a * b, 1))!;
    const steps = ex.labels.length;
    const ms = new Float64Array(steps);
    // Each run's per-step times, for the medians (robust when other processes share the CPU).
    const each = Array.from({ length: steps }, () => new Float64Array(runs));
    const one = new Float64Array(steps);
    for (let r = 0; r < runs; r++) {
      one.fill(0);
      ex.input.set(x);
      ex.executeTimed(one, now);
      for (let i = 0; i < steps; i++) { ms[i] += one[i]; each[i][r] = one[i]; }
    }
    return ex.labels.map((step, i) => ({ step, ms: ms[i] / runs, medianMs: each[i].sort()[Math.floor(runs / 2)] }));
  }

  /** Frees the buffers kept for each batch size. */
  release(): void {
    this.executors.clear();
  }
}

/**
 * Compiles a packed model (`{manifest, data}`: the parsed packed.json and packed.bin's bytes) for
 * the runtime. Throws one LowbitError before any work for a manifest of another format or version,
 * a truncated weights buffer, or a layer or quantizer the runtime does not run (named).
 */
export function createRuntime(packed: PackedModel, options: RuntimeOptions = {}): RuntimeModel {
  return new RuntimeModel(new CompiledPlan(packed, options.where), options.kernels ?? jsKernels);
}
