/**
 * Calibration observers: from the values a tensor took on calibration data, the clipping
 * threshold α of its uniform grid — [0, α] for an unsigned grid, [−α, α] for a signed one.
 * Each observer is a pure function of the values; docs/methods/ptq.md says where each rule comes
 * from and which parts are lowbit's reconstruction.
 */
import { LowbitError } from '../../errors.js';
import { integerRange } from '../../quantizers/uniform.js';

export type ObserverName = 'minmax' | 'percentile' | 'mse' | 'aciq';
export const observerNames: readonly ObserverName[] = ['minmax', 'percentile', 'mse', 'aciq'];

/** The distribution ACIQ assumes for a tensor. */
export type AciqPrior = 'laplace' | 'gaussian';

/** What an observer sees of a tensor: its exact extremes and a (deterministic) sample of its values. */
export interface RangeStats {
  min: number;
  max: number;
  /** All values, or every k-th value in order when there are too many to keep. */
  values: Float32Array;
}

/** The grid a threshold is chosen for. */
export interface GridChoice {
  bits: number;
  /** Signed grid [−α, α] (integers −2^(b−1) … 2^(b−1) − 1, or from −(2^(b−1) − 1) when narrow); unsigned [0, α] (0 … 2^b − 1). */
  signed: boolean;
  narrow?: boolean;
}

export interface ObserverOptions extends GridChoice {
  /** percentile: the percentile of |x| (signed) or x (unsigned) taken as α, in (0, 100] (default 99.99). */
  percentile?: number;
  /** aciq: the assumed distribution (default laplace). */
  prior?: AciqPrior;
  /** mse: candidate thresholds α_i = i/K · max (default K = 100). */
  candidates?: number;
}

/** Statistics of a value array (min, max exact; the values themselves as the sample). */
export function rangeStats(values: Float32Array): RangeStats {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max, values };
}

/** The largest magnitude the grid must cover without clipping: max|x| (signed) or max(x, 0) (unsigned). */
function extent(stats: RangeStats, signed: boolean): number {
  return signed ? Math.max(Math.abs(stats.min), Math.abs(stats.max)) : Math.max(stats.max, 0);
}

/** minmax: α = max|x| (signed) or max x (unsigned): nothing is clipped. */
export function minmaxThreshold(stats: RangeStats, signed: boolean): number {
  return extent(stats, signed);
}

/**
 * percentile: α = the p-th percentile of |x| (signed) or of x (unsigned), nearest rank: the
 * ⌈p/100 · n⌉-th smallest of the n sampled values.
 */
export function percentileThreshold(stats: RangeStats, signed: boolean, p: number): number {
  if (!(p > 0 && p <= 100)) throw new LowbitError(`the percentile must be in (0, 100], got ${p}`);
  const n = stats.values.length;
  if (n === 0) return 0;
  const sorted = Float32Array.from(stats.values, (v) => (signed ? Math.abs(v) : v)).sort();
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return Math.max(sorted[rank - 1], 0);
}

/** Round half to even, as TF.js's round (and QONNX's ROUND) does. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The scale of a grid with threshold α: α / q_max (q_max = 2^(b−1) − 1 signed, 2^b − 1 unsigned). */
export function gridScale(alpha: number, grid: GridChoice): number {
  const [, qMax] = integerRange(grid.bits, grid.signed, grid.narrow ?? false);
  return Math.fround(Math.max(alpha, 1e-8) / qMax);
}

/** Σ (q(x) − x)² over `values` on the grid with threshold α (as the uniform quantizer rounds). */
export function quantizationError(values: Float32Array, alpha: number, grid: GridChoice): number {
  const [qMin, qMax] = integerRange(grid.bits, grid.signed, grid.narrow ?? false);
  const s = gridScale(alpha, grid);
  let err = 0;
  for (const v of values) {
    const q = Math.min(qMax, Math.max(qMin, roundHalfEven(v / s))) * s;
    err += (q - v) ** 2;
  }
  return err;
}

/** The search's sample: at most this many values (every k-th of the given ones). */
export const MSE_SAMPLES = 1 << 16;

/** Every ⌈n/max⌉-th value of `values` (all when n ≤ max). */
function thinned(values: Float32Array, max: number): Float32Array {
  if (values.length <= max) return values;
  const stride = Math.ceil(values.length / max);
  return Float32Array.from({ length: Math.ceil(values.length / stride) }, (_, i) => values[i * stride]);
}

/**
 * mse: the α among K evenly spaced candidates i/K · α_max (i = 1 … K, α_max the minmax
 * threshold) with the least squared quantization error Σ (q(x; α) − x)² on the sampled values
 * (at most MSE_SAMPLES of them, every k-th);
 * the smallest such α on ties.
 */
export function mseThreshold(stats: RangeStats, grid: GridChoice, candidates = 100): number {
  const top = extent(stats, grid.signed);
  if (top === 0) return 0;
  const values = thinned(stats.values, MSE_SAMPLES);
  let best = top;
  let bestErr = Infinity;
  for (let i = 1; i <= candidates; i++) {
    const alpha = Math.fround((top * i) / candidates);
    const err = quantizationError(values, alpha, grid);
    if (err < bestErr) {
      bestErr = err;
      best = alpha;
    }
  }
  return best;
}

/**
 * ACIQ's optimal α/b for Laplace(b) at M bits (Banner, Nahshan & Soudry, NeurIPS 2019): the
 * constants the paper gives for 2, 3, 4 and 8 bits.
 */
export const ACIQ_LAPLACE: Readonly<Record<number, number>> = { 2: 2.83, 3: 3.89, 4: 5.03, 8: 9.89 };

/**
 * The α (in units of b or σ) that minimises ACIQ's expected squared error of clipping at α and
 * rounding to M bits over [−α, α] (bin width 2α/2^M, rounding noise α²/(3·4^M)):
 * Laplace(b): 2b²·e^(−α/b) + α²/(3·4^M);
 * Gaussian(σ): (α² + σ²)·(1 − erf(α/(σ√2))) − √(2/π)·α·σ·e^(−α²/(2σ²)) + α²/(3·4^M).
 * Solved by golden-section search (both are unimodal in α); matches ACIQ_LAPLACE to 0.01.
 */
export function aciqOptimalRatio(prior: AciqPrior, bits: number): number {
  const rounding = (a: number) => (a * a) / (3 * 4 ** bits);
  const clipping = prior === 'laplace'
    ? (a: number) => 2 * Math.exp(-a)
    : (a: number) => (a * a + 1) * (1 - erf(a / Math.SQRT2)) - Math.sqrt(2 / Math.PI) * a * Math.exp(-(a * a) / 2);
  const f = (a: number) => clipping(a) + rounding(a);
  let lo = 0;
  let hi = 40;
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < 200; i++) {
    const a = hi - phi * (hi - lo);
    const b = lo + phi * (hi - lo);
    if (f(a) < f(b)) hi = b; else lo = a;
  }
  return (lo + hi) / 2;
}

/** erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/**
 * aciq: α = r(M)·b for Laplace (b = mean|x − mean x|) or r(M)·σ for Gaussian (σ = the standard
 * deviation), r from the paper's constants where it gives them (Laplace, 2/3/4/8 bits) and from
 * `aciqOptimalRatio` otherwise. An unsigned grid (non-negative data, e.g. after ReLU) is
 * treated as one tail: its bins are as wide as a signed grid's with one bit more, so
 * α = r(M + 1)·b with b fitted to the positive values (the exponential's mean for Laplace,
 * √(mean x²) of the half-normal for Gaussian) — lowbit's reconstruction. α never exceeds the
 * minmax threshold (clipping beyond the largest value only coarsens the grid).
 */
export function aciqThreshold(stats: RangeStats, grid: GridChoice, prior: AciqPrior = 'laplace'): number {
  const x = stats.values;
  if (x.length === 0) return 0;
  const bits = grid.signed ? grid.bits : grid.bits + 1;
  const ratio = prior === 'laplace' && ACIQ_LAPLACE[bits] != null ? ACIQ_LAPLACE[bits] : aciqOptimalRatio(prior, bits);
  let spread: number;
  if (grid.signed) {
    let mean = 0;
    for (const v of x) mean += v;
    mean /= x.length;
    let acc = 0;
    for (const v of x) acc += prior === 'laplace' ? Math.abs(v - mean) : (v - mean) ** 2;
    spread = prior === 'laplace' ? acc / x.length : Math.sqrt(acc / x.length);
  } else {
    let acc = 0;
    let n = 0;
    for (const v of x) {
      if (v <= 0) continue;
      acc += prior === 'laplace' ? v : v * v;
      n++;
    }
    spread = n === 0 ? 0 : prior === 'laplace' ? acc / n : Math.sqrt(acc / n);
  }
  return Math.min(ratio * spread, extent(stats, grid.signed));
}

/** The threshold `observer` picks for values `stats` on grid `options`. */
export function clipThreshold(observer: ObserverName, stats: RangeStats, options: ObserverOptions): number {
  switch (observer) {
    case 'minmax': return minmaxThreshold(stats, options.signed);
    case 'percentile': return percentileThreshold(stats, options.signed, options.percentile ?? 99.99);
    case 'mse': return mseThreshold(stats, options, options.candidates);
    case 'aciq': return aciqThreshold(stats, options, options.prior);
  }
}

/**
 * An asymmetric (affine) activation grid: unsigned codes 0 … 2^b − 1 with a zero point z,
 * value = (q − z)·s, covering [lo, hi] (lo ≤ 0 ≤ hi, so 0 is exactly a level):
 * s = (hi − lo)/(2^b − 1), z = round(−lo/s). docs/methods/ptq.md, "Asymmetric activation grids".
 */
export interface AffineGrid {
  lo: number;
  hi: number;
  scale: number;
  zeroPoint: number;
}

/** The affine grid of `bits` bits over [lo, hi] (widened to include 0). */
export function affineGrid(lo: number, hi: number, bits: number): AffineGrid {
  const l = Math.min(lo, 0);
  const h = Math.max(hi, 0);
  const qMax = 2 ** bits - 1;
  const scale = Math.fround(Math.max(h - l, 1e-8) / qMax);
  const zeroPoint = Math.min(qMax, Math.max(0, Math.round(-l / scale)));
  return { lo: l, hi: h, scale, zeroPoint };
}

/** Σ (q(x) − x)² over `values` on an affine grid (as the uniform quantizer rounds: half to even). */
export function affineError(values: Float32Array, g: AffineGrid, bits: number): number {
  const qMax = 2 ** bits - 1;
  let err = 0;
  for (const v of values) {
    const q = Math.min(qMax, Math.max(0, roundHalfEven(v / g.scale + g.zeroPoint)));
    err += ((q - g.zeroPoint) * g.scale - v) ** 2;
  }
  return err;
}

/** The observers that choose an asymmetric range (ACIQ's error model is for symmetric or one-sided grids). */
export const asymmetricObservers: readonly ObserverName[] = ['minmax', 'percentile', 'mse'];

/**
 * The asymmetric range an observer picks: minmax, [min, max]; percentile p, the (100 − p)-th and
 * the p-th percentiles of x (nearest rank); mse, among [i/K·min, i/K·max] (i = 1 … K) the one
 * with the least Σ (q(x) − x)² on the sample (the smallest i on ties). Always widened to include 0.
 */
export function asymmetricGrid(observer: ObserverName, stats: RangeStats, bits: number, options: { percentile?: number; candidates?: number } = {}): AffineGrid {
  switch (observer) {
    case 'minmax': return affineGrid(stats.min, stats.max, bits);
    case 'percentile': {
      const p = options.percentile ?? 99.99;
      if (!(p > 0 && p <= 100)) throw new LowbitError(`the percentile must be in (0, 100], got ${p}`);
      const n = stats.values.length;
      if (n === 0) return affineGrid(0, 0, bits);
      const sorted = Float32Array.from(stats.values).sort();
      const rank = (q: number) => Math.min(n, Math.max(1, Math.ceil((q / 100) * n)));
      return affineGrid(sorted[rank(100 - p) - 1], sorted[rank(p) - 1], bits);
    }
    case 'mse': {
      const k = options.candidates ?? 100;
      const values = thinned(stats.values, MSE_SAMPLES);
      let best = affineGrid(stats.min, stats.max, bits);
      let bestErr = Infinity;
      for (let i = 1; i <= k; i++) {
        const g = affineGrid(Math.fround((Math.min(stats.min, 0) * i) / k), Math.fround((Math.max(stats.max, 0) * i) / k), bits);
        const err = affineError(values, g, bits);
        if (err < bestErr) { bestErr = err; best = g; }
      }
      return best;
    }
    default: throw new LowbitError(`--asymmetric works with the ${asymmetricObservers.join(', ')} observers, not ${observer}`);
  }
}
