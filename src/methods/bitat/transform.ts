/**
 * BiTAT's per-layer transform (Park et al., "BiTAT: Neural Network Binarization with
 * Task-dependent Aggregated Transformation", arXiv:2207.01394). RECONSTRUCTION: the paper's text
 * was unavailable; this follows docs/methods/bitat.md §1.3, not the authors' equations.
 *
 * From the uncentred input correlation C = E[x xᵀ] = V₀ diag(λ) V₀ᵀ of a layer:
 *   V = V₀ · expm(A − Aᵀ)      (orthonormal by construction; A = 0 at the start, so V = V₀)
 *   s = softplus(ρ) / mean(softplus(ρ))   (positive, mean 1; starts at λ / mean λ)
 *   M = V diag(s) Vᵀ           (= C / mean λ at the start)
 * The binary kernel is then sign(M·w) per output channel with the least-squares scale under M
 * (quantizers/binary.ts binaryChannel). M exists only in training.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import * as tf from '../../backend/tf.js';

export interface TransformOptions {
  /** Train the rotation A (default true). */
  trainRotation?: boolean;
  /** Train the importance ρ (default true). */
  trainImportance?: boolean;
  /** Start from the identity (V₀ = I, s = 1) instead of the PCA of C. */
  identity?: boolean;
}

/** Eigen-decomposition of a symmetric matrix (ml-matrix, float64): C = vectors · diag(values) · vectorsᵀ. */
export function eigSymmetric(c: number[][]): { values: number[]; vectors: number[][] } {
  const e = new EigenvalueDecomposition(new Matrix(c), { assumeSymmetric: true });
  return { values: e.realEigenvalues, vectors: e.eigenvectorMatrix.to2DArray() };
}

/** softplus⁻¹(y) = log(eᵞ − 1), stable for small and large y. */
function softplusInverse(y: number): number {
  return y > 20 ? y : Math.log(Math.expm1(y));
}

/**
 * expm(K) by scaling and squaring with a Taylor series (matMul only, differentiable):
 * expm(K) = (Σ_{k≤order} (K/2ʲ)ᵏ/k!)^(2ʲ) with 2ʲ ≥ 2‖K‖_F.
 */
export function expm(k: tf.Tensor2D, order = 10): tf.Tensor2D {
  return tf.tidy(() => {
    const n = k.shape[0];
    const norm = tf.norm(k).dataSync()[0];
    const j = norm > 0.5 ? Math.ceil(Math.log2(norm / 0.5)) : 0;
    const scaled = j > 0 ? tf.div(k, 2 ** j) : k;
    const eye = tf.eye(n);
    let term: tf.Tensor2D = eye;
    let sum: tf.Tensor2D = eye;
    for (let i = 1; i <= order; i++) {
      term = tf.div(tf.matMul(term, scaled), i);
      sum = tf.add(sum, term);
    }
    for (let i = 0; i < j; i++) sum = tf.matMul(sum, sum);
    return sum;
  });
}

export class BitatTransform {
  readonly dim: number;
  /** Eigenvalues of C normalised to mean 1 (the initial importance), descending. */
  readonly initialImportance: Float32Array;
  private readonly v0: tf.Tensor2D;
  private readonly a: tf.Variable;
  private readonly rho: tf.Variable;
  private readonly options: Required<TransformOptions>;
  private static created = 0;

  /** From a correlation matrix C (d × d, symmetric positive semi-definite). */
  constructor(correlation: number[][], options: TransformOptions = {}, name = 'bitat') {
    this.options = { trainRotation: true, trainImportance: true, identity: false, ...options };
    const d = correlation.length;
    this.dim = d;
    let vectors: number[][];
    let importance: number[];
    if (this.options.identity) {
      vectors = Array.from({ length: d }, (_, i) => Array.from({ length: d }, (__, j) => (i === j ? 1 : 0)));
      importance = new Array<number>(d).fill(1);
    } else {
      const e = eigSymmetric(correlation);
      const order = e.values.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]).map(([, i]) => i);
      vectors = e.vectors.map((row) => order.map((i) => row[i]));
      const values = order.map((i) => Math.max(e.values[i], 0));
      const mean = values.reduce((s, v) => s + v, 0) / d || 1;
      // Directions the calibration never excites keep a small positive weight (softplus must stay finite).
      importance = values.map((v) => Math.max(v / mean, 1e-3));
    }
    this.initialImportance = Float32Array.from(importance);
    this.v0 = tf.tensor2d(vectors.flat(), [d, d]);
    // Variable names must be unique in the engine: a stage's transform is re-created on a rerun.
    const tag = `${name}_${(++BitatTransform.created).toString(36)}`;
    this.a = tf.tidy(() => tf.variable(tf.zeros([d, d]), this.options.trainRotation, `${tag}_rotation`));
    this.rho = tf.tidy(() => tf.variable(tf.tensor1d(importance.map(softplusInverse)), this.options.trainImportance, `${tag}_importance`));
  }

  /** V = V₀ · expm(A − Aᵀ). */
  rotation(): tf.Tensor2D {
    return tf.tidy(() => tf.matMul(this.v0, expm(tf.sub(this.a, tf.transpose(this.a)) as tf.Tensor2D)));
  }

  /** s = softplus(ρ) / mean(softplus(ρ)). */
  importance(): tf.Tensor1D {
    return tf.tidy(() => {
      const s = tf.softplus(this.rho);
      return tf.div(s, tf.mean(s)) as tf.Tensor1D;
    });
  }

  /** M = V diag(s) Vᵀ. */
  metric(): tf.Tensor2D {
    return tf.tidy(() => {
      const v = this.rotation();
      return tf.matMul(tf.mul(v, tf.reshape(this.importance(), [1, -1])), v, false, true);
    });
  }

  /** The variables an optimizer should train (per the options). */
  variables(): tf.Variable[] {
    return [this.a, this.rho].filter((v) => v.trainable);
  }

  dispose(): void {
    tf.dispose([this.v0, this.a, this.rho]);
  }
}
