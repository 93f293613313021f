/**
 * Per-channel weight bit allocation (docs/methods/ptq.md, "Per-channel bit allocation"), after
 * Banner, Nahshan & Soudry, "Post training 4-bit quantization of convolutional networks for
 * rapid-deployment" (NeurIPS 2019, arXiv:1810.05723), section 4.
 *
 * The paper minimises the rounding noise Σ_i R_i² / (12·4^{M_i}) of C channels with ranges R_i
 * under a fixed total of quantization bins Σ_i 2^{M_i} = C·2^B, and finds
 * 2^{M_i} = C·2^B · R_i^{2/3} / Σ_j R_j^{2/3}. lowbit starts from that closed form (in bits,
 * M_i = B + log2(C·R_i^{2/3} / Σ_j R_j^{2/3})), rounds to whole bits in [min, max], and then keeps
 * the paper's constraint on integers greedily: while Σ 2^{b_i} > C·2^B it removes the bit that
 * costs the least noise per bin freed, then, while a bit still fits, it adds the one that saves
 * the most noise per bin spent. Since log2 is concave, Σ 2^{b_i} ≤ C·2^B implies mean b_i ≤ B.
 */
import { LowbitError } from '../../errors.js';

/**
 * Whole bit-widths per channel for channel ranges `ranges` (e.g. max|w| of each output channel)
 * under an average budget of `budget` bits: Σ 2^{b_i} ≤ C·2^budget, each b_i in [min, max]. Deterministic (ties: lowest index).
 */
export function allocateBits(ranges: ArrayLike<number>, budget: number, min = 2, max = 8): number[] {
  const c = ranges.length;
  if (!(Number.isInteger(budget) && budget >= min && budget <= max)) throw new LowbitError(`bit allocation: the budget must be a whole number of bits from ${min} to ${max}, got ${budget}`);
  if (c === 0) return [];
  const r = Array.from(ranges, (v) => Math.max(Math.abs(v), 1e-12));
  const w = r.map((v) => v ** (2 / 3));
  const sum = w.reduce((a, b) => a + b, 0);
  const bits = w.map((v) => Math.min(max, Math.max(min, Math.round(budget + Math.log2((c * v) / sum)))));
  const cap = c * 2 ** budget;
  let bins = bits.reduce((a, b) => a + 2 ** b, 0);
  // Noise added by removing a bit from channel i, per bin freed: (R²/4^{b−1} − R²/4^b) / 2^{b−1}.
  while (bins > cap) {
    let best = -1;
    let cost = Infinity;
    for (let i = 0; i < c; i++) {
      if (bits[i] <= min) continue;
      const k = (3 * r[i] ** 2 / 4 ** bits[i]) / 2 ** (bits[i] - 1);
      if (k < cost) { cost = k; best = i; }
    }
    if (best < 0) break; // every channel at min: C·2^min ≤ C·2^budget, so this cannot happen
    bins -= 2 ** (bits[best] - 1);
    bits[best]--;
  }
  // Noise saved by adding a bit to channel i, per bin spent: (R²/4^b − R²/4^{b+1}) / 2^b.
  for (;;) {
    let best = -1;
    let gain = 0;
    for (let i = 0; i < c; i++) {
      if (bits[i] >= max || bins + 2 ** bits[i] > cap) continue;
      const g = (3 * r[i] ** 2 / 4 ** (bits[i] + 1)) / 2 ** bits[i];
      if (g > gain) { gain = g; best = i; }
    }
    if (best < 0) break;
    bins += 2 ** bits[best];
    bits[best]++;
  }
  return bits;
}
