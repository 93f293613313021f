/**
 * The k-means of "And the Bit Goes Down" (Stock et al., ICLR 2020; docs/methods/pq.md §2), on
 * the host in float64 so the codebooks are the same on every backend. Sub-vectors w_j ∈ R^d of a
 * layer share one codebook {c_k}; the objective is the layer's output error
 *   Σ_j ‖X̃ (w_j − c_{a_j})‖² = Σ_j (w_j − c_{a_j})ᵀ H (w_j − c_{a_j}),   H = X̃ᵀX̃,
 * with X̃ the layer's input activations "unrolled" into d-column blocks and stacked (all blocks
 * share H, as in the authors' code: quantization/pq.py, em.py). E-step: each sub-vector to the
 * codeword nearest in the H-metric. M-step: c_k = argmin_c Σ_{j∈k} ‖X̃(w_j − c)‖² = X̃⁺X̃·mean_{j∈k} w_j
 * (the authors' solver.py), i.e. the mean projected onto the range of H. Both steps are plain
 * k-means on z = H^{1/2} w, which is how they are computed; H = I is plain k-means on weights.
 */
import { Rng } from '../../random.js';

export interface KMeansResult {
  /** K codewords of d values, row-major [K, d]. */
  codebook: Float64Array;
  /** The codeword of each sub-vector. */
  assignments: Int32Array;
  /** Σ_j (w_j − c_{a_j})ᵀ H (w_j − c_{a_j}) after each iteration. */
  objective: number[];
  /** Empty clusters re-seeded by splitting the most populated one (the authors' rule), over all iterations. */
  splits: number;
}

/** Eigen-decomposition of a symmetric d×d matrix (cyclic Jacobi): H = V·diag(λ)·Vᵀ, V's columns the eigenvectors. */
export function symmetricEigen(h: ArrayLike<number>, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(h);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) { // A ← A·J
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) { // A ← Jᵀ·A
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => a[i * d + i]), vectors: v };
}

/**
 * H^{1/2} and its pseudo-inverse (eigenvalues below 1e-12·max treated as 0, as a pseudo-inverse
 * does): z = H^{1/2} w maps the H-metric to the Euclidean one, w = (H^{1/2})⁺ z maps back onto the
 * range of H (the minimum-norm centroid).
 */
export function metricRoot(h: ArrayLike<number>, d: number): { root: Float64Array; rootPinv: Float64Array } {
  const { values, vectors } = symmetricEigen(h, d);
  const top = Math.max(0, ...values);
  const root = new Float64Array(d * d);
  const rootPinv = new Float64Array(d * d);
  for (let e = 0; e < d; e++) {
    const lambda = values[e];
    if (!(lambda > 1e-12 * top) || top === 0) continue;
    const sq = Math.sqrt(lambda);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        const vv = vectors[i * d + e] * vectors[j * d + e];
        root[i * d + j] += sq * vv;
        rootPinv[i * d + j] += vv / sq;
      }
    }
  }
  return { root, rootPinv };
}

/** rows [n, d] ↦ rows·Mᵀ (M symmetric here, so rows·M). */
function transform(rows: ArrayLike<number>, n: number, d: number, m: Float64Array): Float64Array {
  const out = new Float64Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += m[i * d + j] * rows[r * d + j];
      out[r * d + i] = s;
    }
  }
  return out;
}

/** Nearest codeword (Euclidean; the first of equals) of each row; returns the summed squared distance. */
function assign(z: Float64Array, n: number, d: number, book: Float64Array, k: number, out: Int32Array): number {
  let total = 0;
  for (let r = 0; r < n; r++) {
    let best = 0;
    let bestDist = Infinity;
    for (let c = 0; c < k; c++) {
      let dist = 0;
      for (let i = 0; i < d; i++) {
        const diff = z[r * d + i] - book[c * d + i];
        dist += diff * diff;
      }
      if (dist < bestDist) { bestDist = dist; best = c; }
    }
    out[r] = best;
    total += bestDist;
  }
  return total;
}

function counts(a: Int32Array, k: number): Int32Array {
  const n = new Int32Array(k);
  for (const c of a) n[c]++;
  return n;
}

/** A standard normal draw (Box–Muller) from the seeded generator. */
function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * K-means of the rows of `w` [n, d] under the metric H [d, d] (row-major; null = identity, plain
 * k-means): `iterations` rounds of E-step then M-step. Initial codewords: K sub-vectors drawn
 * with the seeded generator (distinct when n ≥ K). Deterministic given the inputs and the seed.
 */
export function weightedKMeans(w: ArrayLike<number>, d: number, h: ArrayLike<number> | null, k: number, iterations: number, seed: number): KMeansResult {
  const n = w.length / d;
  if (!Number.isInteger(n) || n < 1) throw new Error(`weightedKMeans: ${w.length} values are not whole sub-vectors of ${d}`);
  const identity = Float64Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : 0));
  const { root, rootPinv } = h == null ? { root: identity, rootPinv: identity } : metricRoot(h, d);
  const z = transform(w, n, d, root);
  const rng = new Rng(seed);
  const picks = n >= k ? rng.shuffle(Int32Array.from({ length: n }, (_, i) => i)).subarray(0, k) : Int32Array.from({ length: k }, () => rng.int(n));
  const book = new Float64Array(k * d);
  picks.forEach((p, c) => { for (let i = 0; i < d; i++) book[c * d + i] = z[p * d + i]; });
  const assignments = new Int32Array(n);
  const objective: number[] = [];
  let splits = 0;
  for (let it = 0; it < iterations; it++) {
    assign(z, n, d, book, k, assignments);
    // Empty clusters: split the most populated cluster in two by a tiny ± perturbation (em.py), until none is empty or no split helps.
    for (let tries = 0; tries < k; tries++) {
      const size = counts(assignments, k);
      const empty = size.findIndex((s) => s === 0);
      if (empty < 0) break;
      let big = 0;
      for (let c = 1; c < k; c++) if (size[c] > size[big]) big = c;
      if (size[big] < 2) break;
      for (let i = 0; i < d; i++) {
        const e = gaussian(rng) * 1e-8 * (1 + Math.abs(book[big * d + i]));
        book[empty * d + i] = book[big * d + i] + e;
        book[big * d + i] -= e;
      }
      splits++;
      assign(z, n, d, book, k, assignments);
    }
    // M-step: the mean of each cluster in z (= H^{1/2}·(X̃⁺X̃·mean w)).
    const size = counts(assignments, k);
    const sums = new Float64Array(k * d);
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) sums[assignments[r] * d + i] += z[r * d + i];
    for (let c = 0; c < k; c++) if (size[c] > 0) for (let i = 0; i < d; i++) book[c * d + i] = sums[c * d + i] / size[c];
    let total = 0;
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) total += (z[r * d + i] - book[assignments[r] * d + i]) ** 2;
    objective.push(total);
  }
  if (iterations === 0) assign(z, n, d, book, k, assignments);
  return { codebook: transform(book, k, d, rootPinv), assignments, objective, splits };
}

/** Σ_j (w_j − c_{a_j})ᵀ H (w_j − c_{a_j}) (H null = identity): the output error a codebook leaves. */
export function metricError(w: ArrayLike<number>, d: number, h: ArrayLike<number> | null, codebook: ArrayLike<number>, assignments: ArrayLike<number>): number {
  let total = 0;
  const diff = new Float64Array(d);
  for (let r = 0; r < assignments.length; r++) {
    for (let i = 0; i < d; i++) diff[i] = w[r * d + i] - codebook[assignments[r] * d + i];
    for (let i = 0; i < d; i++) {
      if (h == null) { total += diff[i] * diff[i]; continue; }
      for (let j = 0; j < d; j++) total += diff[i] * h[i * d + j] * diff[j];
    }
  }
  return total;
}
