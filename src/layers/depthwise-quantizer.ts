/**
 * DepthwiseQuantizer (Fostiropoulos & Boehm, "Implicit Feature Decoupling with Depthwise
 * Quantization", CVPR 2022, arXiv:2203.08080; mechanics from the authors' code, dq.md §1): the
 * C = M·D feature channels are split into M contiguous groups; group m is vector-quantized at
 * every position by its own codebook of K codes; the results are concatenated. M = 1 is plain VQ.
 *
 * Outputs [q, vqLoss]: q = z + stopgrad(e − z) in training (straight-through), exactly e in
 * inference; per example
 * vqLoss = β·Σ_m mean((z_m − stopgrad(e_m))²) — plus Σ_m mean((stopgrad(z_m) − e_m)²) with the
 * codebook-loss variant. With EMA codebooks (the default) a training call also moves the
 * codebooks (decay γ, Laplace ε) and restarts dead codes (smoothed count < threshold) from the
 * batch; codebooks, EMA counts and sums are non-trainable weights, so they are saved.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { Rng } from '../random.js';
import { nextNoiseSeed } from '../quantizers/noise.js';
import { codeCounts, emaStep, nearestCodeIndices, perplexity, stopGradient } from '../quantizers/vector.js';
import { single } from './quant-base.js';
import { detached } from '../quantizers/common.js';
import { NEAREST_CODE } from '../methods/dq/kernel-names.js';

type Shape = Array<number | null>;

export interface DepthwiseQuantizerArgs {
  name?: string;
  /** M: channel groups, one codebook each. */
  groups: number;
  /** K: codes per codebook. */
  codes: number;
  /** β, the commitment weight (default 0.25). */
  beta?: number;
  /** 'ema' (default): EMA k-means codebooks; 'loss': codebooks trained by the codebook loss. */
  learning?: 'ema' | 'loss';
  /** EMA decay γ (default 0.99). */
  decay?: number;
  /** Laplace smoothing ε (default 1e-5). */
  epsilon?: number;
  /** EMA: restart codes whose smoothed count falls below this (default 1; 0 = never). */
  deadThreshold?: number;
  /** Codebook initialisation: N(0, 1) (the authors' code), batch samples, or k-means on the first batch. */
  init?: 'normal' | 'batch' | 'kmeans';
  seed?: number;
}

export interface QuantizerStats {
  /** exp(entropy) of each group's code usage in the last training batch. */
  perplexity: number[];
  /** Codes used in the last batch, per group. */
  used: number[];
  /** Codes restarted from the batch in the last step, per group. */
  dead: number[];
}

export class DepthwiseQuantizer extends tf.layers.Layer {
  static className = 'DepthwiseQuantizer';
  readonly groups: number;
  readonly codes: number;
  readonly beta: number;
  readonly learning: 'ema' | 'loss';
  readonly decay: number;
  readonly epsilon: number;
  readonly deadThreshold: number;
  readonly init: 'normal' | 'batch' | 'kmeans';
  readonly seed: number;
  dim = 0;
  /** Statistics of the last training step. */
  lastStats: QuantizerStats | null = null;
  /** Training batches this layer has applied its EMA/usage update for (one per batch). */
  trainingUpdates = 0;
  /**
   * The last call's input, kwargs and outputs. TF.js's graph executor (tfjs-layers engine/executor)
   * applies a layer once per output it needs, passing the same input tensor and the same kwargs
   * object each time, so one training step reached call() twice (for q and for vqLoss) and updated
   * the codebooks twice. A repeat call with both identical returns the first call's tensors; any
   * other call (a new kwargs object, e.g. a separate apply()) computes and updates afresh.
   */
  private lastCall: { x: tf.Tensor; kwargs: object; out: tf.Tensor[] } | null = null;
  /** The saved `initialized` flag has been read (once, not every step). */
  private initChecked = false;
  private codebook!: tf.LayerVariable;
  private emaCount!: tf.LayerVariable;
  private emaSum!: tf.LayerVariable;
  private initialized!: tf.LayerVariable;

  constructor(args: DepthwiseQuantizerArgs) {
    super({ name: args.name });
    const where = `DepthwiseQuantizer ${args.name ?? ''}`.trim();
    for (const [k, v] of [['groups', args.groups], ['codes', args.codes]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new LowbitError(`${where}: ${k} must be a whole number ≥ 1, got ${v}`);
    }
    this.groups = args.groups;
    this.codes = args.codes;
    this.beta = args.beta ?? 0.25;
    this.learning = args.learning ?? 'ema';
    this.decay = args.decay ?? 0.99;
    this.epsilon = args.epsilon ?? 1e-5;
    this.deadThreshold = args.deadThreshold ?? 1;
    this.init = args.init ?? 'normal';
    this.seed = args.seed ?? 0;
    if (this.learning !== 'ema' && this.learning !== 'loss') throw new LowbitError(`${where}: learning must be 'ema' or 'loss', got ${JSON.stringify(this.learning)}`);
    if (!['normal', 'batch', 'kmeans'].includes(this.init)) throw new LowbitError(`${where}: init must be normal, batch or kmeans, got ${JSON.stringify(this.init)}`);
    if (!(this.decay > 0 && this.decay < 1)) throw new LowbitError(`${where}: decay must be in (0, 1), got ${this.decay}`);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const c = shape[shape.length - 1] as number;
    if (c % this.groups !== 0) throw new LowbitError(`${this.name}: ${c} channels cannot be split into ${this.groups} equal groups`);
    this.dim = c / this.groups;
    const [m, k, d] = [this.groups, this.codes, this.dim];
    this.codebook = this.addWeight('codebook', [m, k, d], 'float32', tf.initializers.randomNormal({ mean: 0, stddev: 1, seed: this.seed }), undefined, this.learning === 'loss');
    this.emaCount = this.addWeight('ema_count', [m, k], 'float32', tf.initializers.ones(), undefined, false);
    this.emaSum = this.addWeight('ema_sum', [m, k, d], 'float32', tf.initializers.zeros(), undefined, false);
    this.initialized = this.addWeight('initialized', [], 'float32', tf.initializers.zeros(), undefined, false);
    this.emaSum.write(this.codebook.read()); // S starts as a copy of the codebook (counts 1)
    this.built = true;
  }

  /** Bits per position (M·log2 K) and codebook floats (M·K·D). */
  get capacity(): { bitsPerPosition: number; codebookFloats: number } {
    return { bitsPerPosition: this.groups * Math.log2(this.codes), codebookFloats: this.groups * this.codes * this.dim };
  }

  /** The codebooks [M, K, D]. */
  codebooks(): tf.Tensor3D {
    return this.codebook.read().clone() as tf.Tensor3D;
  }

  /** Code indices [N·H·W, M] of features x [N, H, W, M·D], on the device (int32). */
  assignCodes(x: tf.Tensor): tf.Tensor2D {
    if (this.fusedSearchApplies(x)) {
      const [idx, q] = this.searchFused(x, false);
      q.dispose();
      return idx as tf.Tensor2D;
    }
    return detached(() => {
      const n = x.size / (this.groups * this.dim);
      const books = tf.unstack(this.codebook.read());
      const zs = tf.unstack(tf.reshape(x, [n, this.groups, this.dim]), 1);
      return tf.stack(zs.map((zg, m) => nearestCodeIndices(zg as tf.Tensor2D, books[m] as tf.Tensor2D)), 1) as tf.Tensor2D;
    });
  }

  /**
   * Whether the fused nearest-code kernel (native/dq.cc: search, lookup and EMA statistics in one pass)
   * runs here: the native backend with the DQ addon, float32 features, EMA codebooks (the kernel's
   * codewords carry no gradient to the codebooks, which the codebook-loss variant needs).
   */
  fusedSearchApplies(x: tf.Tensor): boolean {
    const backend = tf.getBackend();
    return this.learning === 'ema' && x.dtype === 'float32' && x.size > 0 && backend != null && tf.getKernel(NEAREST_CODE, backend) != null;
  }

  /**
   * The fused search off the gradient tape (its input is a detached view of x): [indices [n, M] int32,
   * codewords shaped as x] and with `stats` the batch's counts [M, K] and per-code sums of z [M, K, D].
   */
  private searchFused(x: tf.Tensor, stats: boolean): tf.Tensor[] {
    const z = detached(() => x.clone());
    try {
      return tf.engine().runKernel(NEAREST_CODE, { z, codebooks: this.codebook.read() }, { stats }) as unknown as tf.Tensor[];
    } finally {
      z.dispose();
    }
  }

  /** Code indices [N·H·W, M] of features x [N, H, W, M·D] (host data, row-major). */
  assign(x: tf.Tensor): Int32Array {
    return tf.tidy(() => Int32Array.from(this.assignCodes(x).dataSync()));
  }

  /** The quantized features [..., M·D] for indices [N, M] (decode): codeword m of each group, concatenated. */
  lookup(indices: Int32Array | tf.Tensor2D, shape: number[]): tf.Tensor {
    return tf.tidy(() => {
      const idx = indices instanceof tf.Tensor ? indices : tf.tensor2d(indices, [indices.length / this.groups, this.groups], 'int32');
      const books = tf.unstack(this.codebook.read());
      const columns = tf.unstack(idx, 1);
      const parts = books.map((book, m) => tf.gather(book, columns[m]));
      return tf.reshape(tf.stack(parts, 1), [...shape.slice(0, -1), this.groups * this.dim]);
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean } = {}): tf.Tensor[] {
    const training = kwargs.training === true;
    const x = single(inputs);
    const last = this.lastCall;
    if (last != null && last.x === x && last.kwargs === kwargs && last.out.every((t) => !t.isDisposed)) return last.out;
    const [m, d] = [this.groups, this.dim];
    const n = x.size / (m * d);
    const batch = x.shape[0];
    if (training && !this.initChecked) {
      this.initializeFrom(x);
      this.initChecked = true;
    }
    // The fused kernel returns the codewords and, for the EMA step, the batch statistics with the codes.
    const fused = this.fusedSearchApplies(x) ? this.searchFused(x, training) : null;
    const idx = fused ? fused[0] : this.assignCodes(x);
    const out = tf.tidy(() => {
      const q = fused ? fused[1] : this.lookup(idx as tf.Tensor2D, x.shape); // constant for EMA codebooks; trainable with the codebook loss
      // Training: the straight-through q = z + stopgrad(e − z); inference: the codewords themselves (bit-exact).
      const st = training ? tf.add(x, stopGradient(tf.sub(q, x))) : q.clone();
      // Per example: Σ_m mean over positions and the group's D channels.
      const perExample = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mean(tf.reshape(tf.squaredDifference(a, b), [batch, -1, m, d]), [1, 3]), 1, true);
      let vq = tf.mul(perExample(x, stopGradient(q)), this.beta);
      if (this.learning === 'loss') vq = tf.add(vq, perExample(stopGradient(x), q));
      return [st, vq];
    });
    // The EMA step's dead-code restart draws one batch row per dead code: it needs the counts on
    // the host (the one host read left in a forward pass; see docs/browser.md).
    if (training) this.update(x, idx.dataSync() as Int32Array, n, fused?.[2], fused?.[3]);
    tf.dispose(fused ?? idx);
    this.lastCall = { x, kwargs, out };
    return out;
  }

  /**
   * EMA step, dead-code restart and usage statistics for one training batch (off the tape). With the
   * batch's counts [M, K] and per-code sums [M, K, D] from the fused kernel, the EMA step runs on all
   * groups at once (emaStepBatched), otherwise per group from one-hot products (emaStep).
   */
  private update(x: tf.Tensor, idx: Int32Array, n: number, batchCounts?: tf.Tensor, batchSums?: tf.Tensor): void {
    const [m, k, d] = [this.groups, this.codes, this.dim];
    const stats: QuantizerStats = { perplexity: [], used: [], dead: [] };
    const groupIdx = Array.from({ length: m }, (_, g) => Int32Array.from({ length: n }, (__, i) => idx[i * m + g]));
    groupIdx.forEach((gi) => {
      const counts = codeCounts(gi, k);
      stats.perplexity.push(perplexity(counts));
      stats.used.push(counts.filter((c) => c > 0).length);
    });
    if (this.learning === 'ema' && batchCounts != null && batchSums != null) {
      this.emaStepBatched(x, n, batchCounts, batchSums, stats);
    } else if (this.learning === 'ema') {
      const rng = new Rng(nextNoiseSeed());
      tf.tidy(() => {
        const z = tf.reshape(x, [n, m, d]);
        const zs = tf.unstack(z, 1) as tf.Tensor2D[];
        const counts = tf.unstack(this.emaCount.read()) as tf.Tensor1D[];
        const sums = tf.unstack(this.emaSum.read()) as tf.Tensor2D[];
        const books: tf.Tensor2D[] = [];
        const newCounts: tf.Tensor1D[] = [];
        const newSums: tf.Tensor2D[] = [];
        for (let g = 0; g < m; g++) {
          const r = emaStep({ count: counts[g], sum: sums[g] }, zs[g], groupIdx[g], this.decay, this.epsilon);
          const dead = Array.from(r.smoothed).map((v, i) => (v < this.deadThreshold ? i : -1)).filter((i) => i >= 0);
          stats.dead.push(dead.length);
          let book = r.codebook;
          if (dead.length > 0) {
            // Restart dead codes at random vectors of this batch (jittered when the batch has fewer than K).
            const rows = tf.gather(zs[g], tf.tensor1d(dead.map(() => rng.int(n)), 'int32'));
            const fresh = n < k ? tf.add(rows, tf.randomNormal(rows.shape, 0, 0.01 / Math.sqrt(d), 'float32', rng.int(2 ** 31))) : rows;
            const mask = tf.tensor2d(Array.from({ length: k }, (_, i) => (dead.includes(i) ? 1 : 0)), [k, 1]);
            const scattered = tf.scatterND(tf.tensor2d(dead.map((i) => [i]), [dead.length, 1], 'int32'), fresh, [k, d]);
            book = tf.add(tf.mul(book, tf.sub(1, mask)), scattered) as tf.Tensor2D;
          }
          books.push(book);
          newCounts.push(r.state.count);
          newSums.push(r.state.sum);
        }
        this.codebook.write(tf.stack(books));
        this.emaCount.write(tf.stack(newCounts));
        this.emaSum.write(tf.stack(newSums));
      });
    } else {
      stats.dead.push(...new Array<number>(m).fill(0));
    }
    this.lastStats = stats;
    this.trainingUpdates++;
  }

  /**
   * update()'s EMA step on all M groups at once, from the batch statistics: per element the operations
   * of emaStep (src/quantizers/vector.ts) on [M, K] and [M, K, D] tensors, one host read of the smoothed
   * counts, then the dead-code restarts of each group in group order with the same draws.
   */
  private emaStepBatched(x: tf.Tensor, n: number, batchCounts: tf.Tensor, batchSums: tf.Tensor, stats: QuantizerStats): void {
    const [m, k, d] = [this.groups, this.codes, this.dim];
    const rng = new Rng(nextNoiseSeed());
    tf.tidy(() => {
      const decay = this.decay;
      const count = tf.add(tf.mul(this.emaCount.read(), decay), tf.mul(batchCounts, 1 - decay));
      const sum = tf.add(tf.mul(this.emaSum.read(), decay), tf.mul(batchSums, 1 - decay));
      const total = tf.sum(count, 1, true); // [M, 1]
      const smoothedT = tf.mul(tf.div(tf.add(count, this.epsilon), tf.add(total, k * this.epsilon)), total);
      let codebook = tf.div(sum, tf.reshape(smoothedT, [m, k, 1]));
      const smoothed = smoothedT.dataSync();
      let rowsOfZ: tf.Tensor2D | null = null; // [n·M, D]: row i·M + g is position i's group-g vector
      let books: tf.Tensor2D[] | null = null;
      for (let g = 0; g < m; g++) {
        const dead: number[] = [];
        for (let i = 0; i < k; i++) if (smoothed[g * k + i] < this.deadThreshold) dead.push(i);
        stats.dead.push(dead.length);
        if (dead.length === 0) continue;
        // Restart dead codes at random vectors of this batch (jittered when the batch has fewer than K), as update() does per group.
        rowsOfZ ??= tf.reshape(x, [n * m, d]) as tf.Tensor2D;
        books ??= tf.unstack(codebook) as tf.Tensor2D[];
        const rows = tf.gather(rowsOfZ, tf.tensor1d(dead.map(() => rng.int(n) * m + g), 'int32'));
        const fresh = n < k ? tf.add(rows, tf.randomNormal(rows.shape, 0, 0.01 / Math.sqrt(d), 'float32', rng.int(2 ** 31))) : rows;
        const mask = tf.tensor2d(Array.from({ length: k }, (_, i) => (dead.includes(i) ? 1 : 0)), [k, 1]);
        const scattered = tf.scatterND(tf.tensor2d(dead.map((i) => [i]), [dead.length, 1], 'int32'), fresh, [k, d]);
        books[g] = tf.add(tf.mul(books[g], tf.sub(1, mask)), scattered) as tf.Tensor2D;
      }
      if (books != null) codebook = tf.stack(books);
      this.codebook.write(codebook);
      this.emaCount.write(count);
      this.emaSum.write(sum);
    });
  }

  /**
   * 'batch' / 'kmeans' initialisation from the first training batch ('normal' keeps N(0, 1)),
   * unless the saved `initialized` flag says it happened: chosen on the device, no host read.
   */
  private initializeFrom(x: tf.Tensor): void {
    const [m, k, d] = [this.groups, this.codes, this.dim];
    const n = x.size / (m * d);
    if (this.init !== 'normal') {
      const rng = new Rng(this.seed ^ 0x1a2b3c);
      tf.tidy(() => {
        const zs = tf.unstack(tf.reshape(x, [n, m, d]), 1) as tf.Tensor2D[];
        const books = zs.map((z) => {
          let book = tf.gather(z, tf.tensor1d(Array.from({ length: k }, () => rng.int(n)), 'int32')) as tf.Tensor2D;
          if (this.init === 'kmeans') {
            for (let it = 0; it < 10; it++) { // Lloyd iterations on the batch; empty clusters keep their centre
              const onehot = tf.cast(tf.oneHot(nearestCodeIndices(z, book), k), 'float32');
              const sums = tf.matMul(onehot, z, true, false);
              const c = tf.reshape(tf.sum(onehot, 0), [k, 1]);
              book = tf.where(tf.greater(tf.tile(c, [1, d]), 0), tf.div(sums, tf.maximum(c, 1)), book) as tf.Tensor2D;
            }
          }
          return book;
        });
        // A restored layer (flag 1) keeps its codebooks and EMA state.
        const fresh = tf.equal(this.initialized.read(), 0);
        const keep = (current: tf.Tensor, candidate: tf.Tensor) => tf.where(tf.broadcastTo(fresh, current.shape), candidate, current);
        const stacked = tf.stack(books);
        this.codebook.write(keep(this.codebook.read(), stacked));
        this.emaSum.write(keep(this.emaSum.read(), stacked));
        this.emaCount.write(keep(this.emaCount.read(), tf.onesLike(this.emaCount.read())));
      });
    }
    this.initialized.write(tf.scalar(1));
  }

  override computeOutputShape(inputShape: Shape): Shape[] {
    return [inputShape, [inputShape[0], 1]];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(), groups: this.groups, codes: this.codes, beta: this.beta, learning: this.learning, decay: this.decay,
      epsilon: this.epsilon, deadThreshold: this.deadThreshold, init: this.init, seed: this.seed,
    };
  }
}

/** Plain VQ (van den Oord et al. 2017): one codebook over the whole feature vector — DepthwiseQuantizer with M = 1. */
export class VectorQuantizer extends DepthwiseQuantizer {
  static override className = 'VectorQuantizer';

  constructor(args: Omit<DepthwiseQuantizerArgs, 'groups'> & { groups?: 1 }) {
    super({ ...args, groups: 1 });
  }
}

for (const cls of [DepthwiseQuantizer, VectorQuantizer]) {
  tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}
