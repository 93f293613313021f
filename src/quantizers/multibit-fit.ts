/**
 * The multi-bit fit of ALQ's weight form (multibit.ts; docs/methods/alq.md): plain arithmetic on
 * arrays, no TF.js, so the grid read-out (kind-info.ts) can use it in the runtime's import graph.
 */

/** A group's fit: α's (large to small) and, per basis, the signs (±1) of its n values. */
export interface MultibitFit {
  alphas: Float64Array;
  signs: Int8Array[];
}

/**
 * α = (BᵀB)⁻¹Bᵀw for bases B = [β_1 … β_I] (the least-squares coordinates), by Gaussian
 * elimination with partial pivoting; a basis that duplicates others (a zero pivot) gets α = 0.
 */
export function leastSquaresAlphas(w: ArrayLike<number>, signs: readonly Int8Array[]): Float64Array {
  const k = signs.length;
  const codes = new Uint8Array(w.length);
  for (let i = 0; i < k; i++) for (let t = 0; t < w.length; t++) if (signs[i][t] > 0) codes[t] |= 1 << i;
  return solveAlphas(Float64Array.from(w), codes, k);
}

/*
 * The fit works on codes: element t's signs are the bits of codes[t] (bit i set ⇔ β_i[t] = +1),
 * so each pass over the n weights is one monomorphic loop. BᵀB comes from a histogram of the
 * codes (its entries are integers, exact in float64); Bᵀw and the squared error are summed in
 * element order, as a per-basis loop over Int8Array signs would, so the fit is the same.
 */

/** Least-squares α for the bases encoded in `codes` (see leastSquaresAlphas). */
function solveAlphas(w: Float64Array, codes: Uint8Array, k: number): Float64Array {
  const n = w.length;
  const count = new Float64Array(1 << k);
  const rhs = new Float64Array(k);
  for (let t = 0; t < n; t++) {
    const code = codes[t];
    count[code]++;
    for (let i = 0; i < k; i++) rhs[i] += (code >> i) & 1 ? w[t] : -w[t];
  }
  const a = Array.from({ length: k }, () => new Float64Array(k + 1));
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let code = 0; code < count.length; code++) if (count[code] > 0) dot += ((code >> i) & 1) === ((code >> j) & 1) ? count[code] : -count[code];
      a[i][j] = dot;
      a[j][i] = dot;
    }
    a[i][k] = rhs[i];
  }
  const alpha = new Float64Array(k);
  const used = new Array<boolean>(k).fill(false);
  const pivotOf = new Int32Array(k).fill(-1);
  for (let col = 0; col < k; col++) {
    let best = -1;
    for (let r = 0; r < k; r++) if (!used[r] && (best < 0 || Math.abs(a[r][col]) > Math.abs(a[best][col]))) best = r;
    if (best < 0 || Math.abs(a[best][col]) < 1e-9 * n) continue; // dependent basis: α = 0
    used[best] = true;
    pivotOf[col] = best;
    for (let r = 0; r < k; r++) {
      if (r === best || a[r][col] === 0) continue;
      const f = a[r][col] / a[best][col];
      for (let c = col; c <= k; c++) a[r][c] -= f * a[best][c];
    }
  }
  for (let col = 0; col < k; col++) if (pivotOf[col] >= 0) alpha[col] = a[pivotOf[col]][k] / a[pivotOf[col]][col];
  return alpha;
}

/** The 2^k values Σ_i ±α_i, indexed by code (bit i set ⇔ +α_i), each summed in basis order. */
function codeValues(alphas: Float64Array): Float64Array {
  const k = alphas.length;
  const value = new Float64Array(1 << k);
  for (let code = 0; code < value.length; code++) {
    let v = 0;
    for (let i = 0; i < k; i++) v += ((code >> i) & 1 ? 1 : -1) * alphas[i];
    value[code] = v;
  }
  return value;
}

function squaredError(w: Float64Array, value: Float64Array, codes: Uint8Array): number {
  let e = 0;
  for (let t = 0; t < w.length; t++) { const d = w[t] - value[codes[t]]; e += d * d; }
  return e;
}

/** The multi-bit fit of one group w with I bases (see the file comment); I = 0 gives no bases (q = 0). */
export function fitMultibit(w: ArrayLike<number>, bases: number, refine = 2): MultibitFit {
  const n = w.length;
  if (bases === 0) return { alphas: new Float64Array(0), signs: [] };
  const x = Float64Array.from(w);
  // Greedy: β_i = sign(r) (sign(0) = +1), α_i = mean|r|, r ← r − α_i β_i.
  let codes = new Uint8Array(n);
  let alphas: Float64Array = new Float64Array(bases);
  const r = Float64Array.from(x);
  for (let i = 0; i < bases; i++) {
    let mean = 0;
    for (let t = 0; t < n; t++) { if (r[t] >= 0) codes[t] |= 1 << i; mean += Math.abs(r[t]); }
    mean /= n;
    alphas[i] = mean;
    for (let t = 0; t < n; t++) r[t] -= (codes[t] >> i) & 1 ? mean : -mean;
  }
  let err = squaredError(x, codeValues(alphas), codes);
  const combos = 1 << bases;
  for (let round = 0; round <= refine; round++) {
    const ls = solveAlphas(x, codes, bases);
    const lsErr = squaredError(x, codeValues(ls), codes);
    if (lsErr <= err) { alphas = ls; err = lsErr; }
    if (round === refine) break;
    // β given α: each element takes the nearest of the 2^I sums Σ ±α_i (the first on a tie).
    const value = codeValues(alphas);
    const next = new Uint8Array(n);
    for (let t = 0; t < n; t++) {
      let best = 0;
      let dist = Infinity;
      for (let code = 0; code < combos; code++) {
        const d = Math.abs(value[code] - x[t]);
        if (d < dist) { dist = d; best = code; }
      }
      next[t] = best;
    }
    const nbErr = squaredError(x, value, next);
    if (nbErr <= err) { codes = next; err = nbErr; } else break;
  }
  // α > 0 (flip the basis of a negative one), large to small.
  const order = Array.from(alphas.keys()).sort((i, j) => Math.abs(alphas[j]) - Math.abs(alphas[i]));
  return {
    alphas: Float64Array.from(order, (i) => Math.abs(alphas[i])),
    signs: order.map((i) => {
      const flip = alphas[i] < 0;
      const s = new Int8Array(n);
      for (let t = 0; t < n; t++) s[t] = ((codes[t] >> i) & 1) !== (flip ? 1 : 0) ? 1 : -1;
      return s;
    }),
  };
}

/** Per output channel of a kernel [d_in·…, C] (values in TF layout, channel = index mod C): each channel's fit with its own number of bases. */
export function fitKernel(values: ArrayLike<number>, bases: ArrayLike<number>, refine = 2): MultibitFit[] {
  const c = bases.length;
  const n = values.length / c;
  return Array.from({ length: c }, (_, ch) => {
    const w = new Float64Array(n);
    for (let t = 0; t < n; t++) w[t] = values[t * c + ch];
    return fitMultibit(w, Math.max(0, Math.round(bases[ch])), refine);
  });
}

/** The quantized kernel Σ α_i β_i of per-channel fits, in TF layout. */
export function reconstructKernel(fits: readonly MultibitFit[], count: number): Float32Array {
  const c = fits.length;
  const out = new Float32Array(count);
  for (let ch = 0; ch < c; ch++) {
    const f = fits[ch];
    for (let t = 0; t < count / c; t++) {
      let v = 0;
      for (let i = 0; i < f.alphas.length; i++) v += f.alphas[i] * f.signs[i][t];
      out[t * c + ch] = v;
    }
  }
  return out;
}
