/**
 * lowbit's bitwise runtime kernels in AssemblyScript, compiled to WebAssembly with SIMD
 * (scripts/build-wasm.mjs; layout and use in docs/runtime-wasm.md). Not part of the TypeScript
 * build: tsconfig.json excludes this folder, asc compiles it.
 *
 * Every kernel reads and writes the module's one linear memory at byte addresses the caller (the
 * wrapper in ../index.ts) chose: inputs, weights, outputs and a scratch area whose size the
 * matching `*ScratchBytes` function gives. Tensors are NHWC; the geometry arguments follow
 * `ConvGeometry` in src/runtime/kernels.ts. Nothing is allocated: the module has no heap.
 */

/** First byte the caller may use: everything below belongs to the module's static data. */
export function heapBase(): usize {
  return (__heap_base + 15) & ~(<usize>15);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

@inline function align16(bytes: usize): usize {
  return (bytes + 15) & ~(<usize>15);
}

@inline function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/** Popcount bytes (each ≤ 8·31) widened to four i32 lanes. */
@inline function widenU8(acc: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u(acc));
}

/**
 * Copies / zeroes `words` 32-bit words. Rows are gathered a few words at a time, where V8's
 * memory.copy / memory.fill (a call out of the compiled code) costs more than the copy itself.
 */
@inline function copyWords(dst: usize, src: usize, words: i32): void {
  let j = 0;
  for (; j + 4 <= words; j += 4) v128.store(dst + (<usize>j << 2), v128.load(src + (<usize>j << 2)));
  for (; j < words; j++) store<u32>(dst + (<usize>j << 2), load<u32>(src + (<usize>j << 2)));
}

@inline function zeroWords(dst: usize, words: i32): void {
  let j = 0;
  const z = i32x4.splat(0);
  for (; j + 4 <= words; j += 4) v128.store(dst + (<usize>j << 2), z);
  for (; j < words; j++) store<u32>(dst + (<usize>j << 2), 0);
}

/**
 * Output pixels whose im2col rows are gathered together (at most TILE, even, and about 256 KiB of
 * rows, so a tile stays in L2): each block of filters then runs over the whole tile, so the filters
 * stream from memory once per tile rather than once per pixel pair, and a block of four filters is
 * reused from L1 by every pixel of the tile.
 */
const TILE = 32;

@inline function tileFor(rowBytes: i32): i32 {
  return max(2, min(TILE, (262144 / rowBytes) & ~1));
}

// ---------------------------------------------------------------------------------------------
// Binary × binary convolution: out = Σ_valid taps (c − 2·popcount(x XOR w)).
//
// Per output pixel the K = kh·kw taps' packed words are gathered into one row of L = K·W words
// (W = words per pixel), zero-filled at padding taps and padded to whole v128s. Each weight filter
// is repacked to the same padded length, so a dot product is one straight loop of
// xor → i8x16.popcnt → i8x16.add. A zero padding tap adds popcount(w_tap) to the sum instead of
// nothing; border pixels subtract it again from a per-(channel, tap) table. Register blocking: two
// pixels × four output channels per pass share each input and weight load.

export function binaryScratchBytes(c: i32, kh: i32, kw: i32, outC: i32): usize {
  const K = kh * kw;
  const Lp = ((K * ((c + 31) >>> 5) + 3) >>> 2) << 2;
  return align16(<usize>outC * Lp * 4) + align16(<usize>outC * K * 4) + <usize>TILE * Lp * 4 + 16;
}

/** Fills one im2col row of packed words for output pixel (b, oy, ox); returns whether a tap was padding. */
@inline function binaryRow(
  row: usize, x: usize, b: i32, oy: i32, ox: i32,
  h: i32, w: i32, W: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
): bool {
  // The in-image taps of one kernel row are adjacent pixels: one copy of (kx1 − kx0)·W words.
  const x0 = ox * sw - pl, kx0 = max(0, -x0), kx1 = min(kw, w - x0);
  let padded = kx0 > 0 || kx1 < kw;
  let dst = row;
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - pt + ky;
    if (iy < 0 || iy >= h || kx1 <= kx0) {
      zeroWords(dst, kw * W);
      padded = true;
    } else {
      zeroWords(dst, kx0 * W);
      copyWords(dst + (<usize>(kx0 * W) << 2), x + ((<usize>(b * h + iy) * w + x0 + kx0) * W) * 4, (kx1 - kx0) * W);
      zeroWords(dst + (<usize>(kx1 * W) << 2), (kw - kx1) * W);
    }
    dst += <usize>(kw * W) << 2;
  }
  return padded;
}

/** Undoes the padding taps' popcount(w) at a border pixel: out[o] -= Σ_padded (c − 2·popcount(w[o, t])). */
function binaryBorderFix(
  out: usize, fix: usize, oy: i32, ox: i32, h: i32, w: i32, kh: i32, kw: i32,
  sh: i32, sw: i32, pt: i32, pl: i32, outC: i32,
): void {
  const K = kh * kw;
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - pt + ky;
    for (let kx = 0; kx < kw; kx++) {
      const ix = ox * sw - pl + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
        const t = ky * kw + kx;
        for (let o = 0; o < outC; o++) {
          const p = out + (<usize>o << 2);
          store<i32>(p, load<i32>(p) - load<i32>(fix + ((<usize>(o * K + t)) << 2)));
        }
      }
    }
  }
}

/** Two pixels' rows × four filters of Lv packed v128s: Σ popcount(x XOR w) per pair, as full − 2·Σ into q0 (and q1 if `two`). */
@inline function binaryBlock4(r0: usize, r1: usize, w0: usize, stride: usize, Lv: i32, full: i32, q0: usize, q1: usize, two: bool): void {
  let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s02 = i32x4.splat(0), s03 = i32x4.splat(0);
  let s10 = i32x4.splat(0), s11 = i32x4.splat(0), s12 = i32x4.splat(0), s13 = i32x4.splat(0);
  for (let k0 = 0; k0 < Lv; k0 += 31) {
    const k1 = min(k0 + 31, Lv);
    let a00 = i8x16.splat(0), a01 = i8x16.splat(0), a02 = i8x16.splat(0), a03 = i8x16.splat(0);
    let a10 = i8x16.splat(0), a11 = i8x16.splat(0), a12 = i8x16.splat(0), a13 = i8x16.splat(0);
    for (let k = k0; k < k1; k++) {
      const off = <usize>k << 4;
      const x0 = v128.load(r0 + off);
      const x1 = v128.load(r1 + off);
      const v0 = v128.load(w0 + off);
      const v1 = v128.load(w0 + stride + off);
      const v2 = v128.load(w0 + 2 * stride + off);
      const v3 = v128.load(w0 + 3 * stride + off);
      a00 = i8x16.add(a00, i8x16.popcnt(v128.xor(x0, v0)));
      a01 = i8x16.add(a01, i8x16.popcnt(v128.xor(x0, v1)));
      a02 = i8x16.add(a02, i8x16.popcnt(v128.xor(x0, v2)));
      a03 = i8x16.add(a03, i8x16.popcnt(v128.xor(x0, v3)));
      a10 = i8x16.add(a10, i8x16.popcnt(v128.xor(x1, v0)));
      a11 = i8x16.add(a11, i8x16.popcnt(v128.xor(x1, v1)));
      a12 = i8x16.add(a12, i8x16.popcnt(v128.xor(x1, v2)));
      a13 = i8x16.add(a13, i8x16.popcnt(v128.xor(x1, v3)));
    }
    s00 = i32x4.add(s00, widenU8(a00)); s01 = i32x4.add(s01, widenU8(a01));
    s02 = i32x4.add(s02, widenU8(a02)); s03 = i32x4.add(s03, widenU8(a03));
    s10 = i32x4.add(s10, widenU8(a10)); s11 = i32x4.add(s11, widenU8(a11));
    s12 = i32x4.add(s12, widenU8(a12)); s13 = i32x4.add(s13, widenU8(a13));
  }
  store<i32>(q0, full - 2 * hsum(s00));
  store<i32>(q0, full - 2 * hsum(s01), 4);
  store<i32>(q0, full - 2 * hsum(s02), 8);
  store<i32>(q0, full - 2 * hsum(s03), 12);
  if (two) {
    store<i32>(q1, full - 2 * hsum(s10));
    store<i32>(q1, full - 2 * hsum(s11), 4);
    store<i32>(q1, full - 2 * hsum(s12), 8);
    store<i32>(q1, full - 2 * hsum(s13), 12);
  }
}

/** Words per pixel up to which a 1×1 binary convolution takes binaryPointwise. */
const POINTWISE_WORDS = 3;

/**
 * A 1×1 binary convolution without padding over at most POINTWISE_WORDS words per pixel (the
 * point-wise layers of mobilenet-style blocks: 16–96 channels). The general kernel would pad each
 * pixel's row to a whole v128 (3 of 4 words zero at 32 channels) and gather it; here each pixel's
 * words are splatted and XORed with four filters' words at a time (the filters transposed to
 * [W][outC] in `scratch`), the per-byte popcounts summed and widened to four i32 outputs
 * c − 2·popcount. Same integers as the general kernel (the one tap is always in the image).
 */
function binaryPointwise(x: usize, wgt: usize, out: usize, scratch: usize, pixels: i32, c: i32, W: i32, outC: i32, h: i32, w: i32, sh: i32, sw: i32, outH: i32, outW: i32): void {
  // [W][outC4] filter words, zero past outC.
  const oc4 = (outC + 3) & ~3;
  memory.fill(scratch, 0, <usize>W * oc4 * 4);
  for (let o = 0; o < outC; o++) for (let k = 0; k < W; k++) store<u32>(scratch + ((<usize>(k * oc4 + o)) << 2), load<u32>(wgt + ((<usize>(o * W + k)) << 2)));
  const cv = i32x4.splat(c);
  for (let p = 0; p < pixels; p++) {
    // The input pixel under output pixel p: (b, oy·sh, ox·sw).
    const b = p / (outH * outW), r = p % (outH * outW);
    const xp = x + ((<usize>((b * h + (r / outW) * sh) * w + (r % outW) * sw) * W) << 2);
    const d = out + ((<usize>p * outC) << 2);
    let o = 0;
    for (; o + 4 <= outC; o += 4) {
      let bytes = i8x16.popcnt(v128.xor(v128.load32_splat(xp), v128.load(scratch + (<usize>o << 2))));
      for (let k = 1; k < W; k++) bytes = i8x16.add(bytes, i8x16.popcnt(v128.xor(v128.load32_splat(xp + (<usize>k << 2)), v128.load(scratch + ((<usize>(k * oc4 + o)) << 2)))));
      v128.store(d + (<usize>o << 2), i32x4.sub(cv, i32x4.shl(widenU8(bytes), 1)));
    }
    for (; o < outC; o++) {
      let differ = 0;
      for (let k = 0; k < W; k++) differ += <i32>popcnt<u32>(load<u32>(xp + (<usize>k << 2)) ^ load<u32>(wgt + ((<usize>(o * W + k)) << 2)));
      store<i32>(d + (<usize>o << 2), c - 2 * differ);
    }
  }
}

export function binaryConv2d(
  x: usize, wgt: usize, out: usize, scratch: usize,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32, outC: i32,
): void {
  const W = (c + 31) >>> 5;
  if (kh == 1 && kw == 1 && pt == 0 && pl == 0 && W <= POINTWISE_WORDS && (outH - 1) * sh < h && (outW - 1) * sw < w) {
    binaryPointwise(x, wgt, out, scratch, n * outH * outW, c, W, outC, h, w, sh, sw, outH, outW);
    return;
  }
  const K = kh * kw;
  const L = K * W;
  const Lv = (L + 3) >>> 2;
  const Lp = Lv << 2;
  const stride = <usize>Lp * 4;
  const wpk = scratch;
  const fix = wpk + align16(<usize>outC * stride);
  const rows = fix + align16(<usize>outC * K * 4);

  // Repacked filters (zero tail) and the per-(channel, tap) correction c − 2·popcount(w_tap).
  for (let o = 0; o < outC; o++) {
    const src = wgt + (<usize>o * L) * 4;
    const dst = wpk + <usize>o * stride;
    copyWords(dst, src, L);
    zeroWords(dst + <usize>L * 4, Lp - L);
    for (let t = 0; t < K; t++) {
      let pc = 0;
      for (let j = 0; j < W; j++) pc += popcnt<i32>(load<i32>(src + (<usize>(t * W + j)) * 4));
      store<i32>(fix + (<usize>(o * K + t)) * 4, c - 2 * pc);
    }
  }
  memory.fill(rows, 0, <usize>TILE * stride);

  const full = c * K;
  const pixels = n * outH * outW;
  const oc4 = outC & ~3;
  const T = tileFor(<i32>stride);
  const outRow = <usize>outC * 4;
  // Bit i of `padded`: pixel i of the tile has a padding tap.
  for (let p0 = 0; p0 < pixels; p0 += T) {
    const np = min(T, pixels - p0);
    let padded: u32 = 0;
    for (let i = 0; i < np; i++) {
      const p = p0 + i;
      const b = p / (outH * outW), r = p % (outH * outW);
      if (binaryRow(rows + <usize>i * stride, x, b, r / outW, r % outW, h, w, W, kh, kw, sh, sw, pt, pl)) padded |= (<u32>1) << i;
    }
    const out0 = out + <usize>p0 * outRow;
    // An odd last pixel pairs with a stale row whose sums are not stored.
    for (let o = 0; o < oc4; o += 4) {
      const w0 = wpk + <usize>o * stride;
      for (let i = 0; i < np; i += 2) {
        const q0 = out0 + <usize>i * outRow + (<usize>o << 2);
        binaryBlock4(rows + <usize>i * stride, rows + <usize>(i + 1) * stride, w0, stride, Lv, full, q0, q0 + outRow, i + 1 < np);
      }
    }
    for (let o = oc4; o < outC; o++) {
      const w0 = wpk + <usize>o * stride;
      for (let i = 0; i < np; i += 2) {
        const r0 = rows + <usize>i * stride, r1 = r0 + stride;
        let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
        for (let k0 = 0; k0 < Lv; k0 += 31) {
          const k1 = min(k0 + 31, Lv);
          let a0 = i8x16.splat(0), a1 = i8x16.splat(0);
          for (let k = k0; k < k1; k++) {
            const off = <usize>k << 4;
            const v0 = v128.load(w0 + off);
            a0 = i8x16.add(a0, i8x16.popcnt(v128.xor(v128.load(r0 + off), v0)));
            a1 = i8x16.add(a1, i8x16.popcnt(v128.xor(v128.load(r1 + off), v0)));
          }
          s0 = i32x4.add(s0, widenU8(a0));
          s1 = i32x4.add(s1, widenU8(a1));
        }
        const q0 = out0 + <usize>i * outRow + (<usize>o << 2);
        store<i32>(q0, full - 2 * hsum(s0));
        if (i + 1 < np) store<i32>(q0 + outRow, full - 2 * hsum(s1));
      }
    }
    for (let i = 0; i < np; i++) {
      if ((padded & ((<u32>1) << i)) == 0) continue;
      const r = (p0 + i) % (outH * outW);
      binaryBorderFix(out0 + <usize>i * outRow, fix, r / outW, r % outW, h, w, kh, kw, sh, sw, pt, pl, outC);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Int8 × int8 convolution: im2col rows widened to i16 (zero at padding taps, which is the codes'
// padding value), filters widened once per call, and a 2-pixel × 4-channel blocked loop of
// i32x4.dot_i16x8_s (8 products per instruction into 4 exact i32 lanes).

export function int8ScratchBytes(c: i32, kh: i32, kw: i32, outC: i32): usize {
  const Kp = ((kh * kw * c + 7) >>> 3) << 3;
  return align16(<usize>outC * Kp * 2) + <usize>TILE * Kp * 2;
}

/** Zeroes `count` i16 values. */
@inline function zeroI16(dst: usize, count: i32): void {
  zeroWords(dst, count >>> 1);
  if (count & 1) store<i16>(dst + (<usize>(count - 1) << 1), 0);
}

/** Widens `count` int8 values at `src` to i16 at `dst`. */
@inline function widenI8(dst: usize, src: usize, count: i32): void {
  let j = 0;
  for (; j + 16 <= count; j += 16) {
    const v = v128.load(src + j);
    v128.store(dst + (<usize>j << 1), i16x8.extend_low_i8x16_s(v));
    v128.store(dst + (<usize>j << 1), i16x8.extend_high_i8x16_s(v), 16);
  }
  for (; j < count; j++) store<i16>(dst + (<usize>j << 1), <i16>load<i8>(src + j));
}

@inline function int8Row(
  row: usize, x: usize, b: i32, oy: i32, ox: i32,
  h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
): void {
  const x0 = ox * sw - pl, kx0 = max(0, -x0), kx1 = min(kw, w - x0);
  let dst = row;
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - pt + ky;
    if (iy < 0 || iy >= h || kx1 <= kx0) {
      zeroI16(dst, kw * c);
    } else {
      zeroI16(dst, kx0 * c);
      widenI8(dst + (<usize>(kx0 * c) << 1), x + (<usize>(b * h + iy) * w + x0 + kx0) * c, (kx1 - kx0) * c);
      zeroI16(dst + (<usize>(kx1 * c) << 1), (kw - kx1) * c);
    }
    dst += <usize>(kw * c) << 1;
  }
}

/** Two pixels' rows × four filters of Kv i16x8 vectors: sums into out rows q0 (and q1 if `two`). */
@inline function int8Block4(r0: usize, r1: usize, w0: usize, stride: usize, Kv: i32, q0: usize, q1: usize, two: bool): void {
  let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s02 = i32x4.splat(0), s03 = i32x4.splat(0);
  let s10 = i32x4.splat(0), s11 = i32x4.splat(0), s12 = i32x4.splat(0), s13 = i32x4.splat(0);
  for (let k = 0; k < Kv; k++) {
    const off = <usize>k << 4;
    const x0 = v128.load(r0 + off);
    const x1 = v128.load(r1 + off);
    const v0 = v128.load(w0 + off);
    const v1 = v128.load(w0 + stride + off);
    const v2 = v128.load(w0 + 2 * stride + off);
    const v3 = v128.load(w0 + 3 * stride + off);
    s00 = i32x4.add(s00, i32x4.dot_i16x8_s(x0, v0));
    s01 = i32x4.add(s01, i32x4.dot_i16x8_s(x0, v1));
    s02 = i32x4.add(s02, i32x4.dot_i16x8_s(x0, v2));
    s03 = i32x4.add(s03, i32x4.dot_i16x8_s(x0, v3));
    s10 = i32x4.add(s10, i32x4.dot_i16x8_s(x1, v0));
    s11 = i32x4.add(s11, i32x4.dot_i16x8_s(x1, v1));
    s12 = i32x4.add(s12, i32x4.dot_i16x8_s(x1, v2));
    s13 = i32x4.add(s13, i32x4.dot_i16x8_s(x1, v3));
  }
  store<i32>(q0, hsum(s00));
  store<i32>(q0, hsum(s01), 4);
  store<i32>(q0, hsum(s02), 8);
  store<i32>(q0, hsum(s03), 12);
  if (two) {
    store<i32>(q1, hsum(s10));
    store<i32>(q1, hsum(s11), 4);
    store<i32>(q1, hsum(s12), 8);
    store<i32>(q1, hsum(s13), 12);
  }
}

export function int8Conv2d(
  x: usize, wgt: usize, out: usize, scratch: usize,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32, outC: i32,
): void {
  const L = kh * kw * c;
  const Kv = (L + 7) >>> 3;
  const Kp = Kv << 3;
  const stride = <usize>Kp * 2;
  const wpk = scratch;
  const rows = wpk + align16(<usize>outC * stride);
  for (let o = 0; o < outC; o++) {
    const src = wgt + <usize>o * L;
    const dst = wpk + <usize>o * stride;
    widenI8(dst, src, L);
    zeroI16(dst + (<usize>L << 1), Kp - L);
  }
  memory.fill(rows, 0, <usize>TILE * stride);

  const pixels = n * outH * outW;
  const oc4 = outC & ~3;
  const T = tileFor(<i32>stride);
  const outRow = <usize>outC * 4;
  for (let p0 = 0; p0 < pixels; p0 += T) {
    const np = min(T, pixels - p0);
    for (let i = 0; i < np; i++) {
      const p = p0 + i;
      const b = p / (outH * outW), r = p % (outH * outW);
      int8Row(rows + <usize>i * stride, x, b, r / outW, r % outW, h, w, c, kh, kw, sh, sw, pt, pl);
    }
    const out0 = out + <usize>p0 * outRow;
    // An odd last pixel pairs with a stale row whose sums are not stored.
    for (let o = 0; o < oc4; o += 4) {
      const w0 = wpk + <usize>o * stride;
      for (let i = 0; i < np; i += 2) {
        const q0 = out0 + <usize>i * outRow + (<usize>o << 2);
        int8Block4(rows + <usize>i * stride, rows + <usize>(i + 1) * stride, w0, stride, Kv, q0, q0 + outRow, i + 1 < np);
      }
    }
    for (let o = oc4; o < outC; o++) {
      const w0 = wpk + <usize>o * stride;
      for (let i = 0; i < np; i += 2) {
        const r0 = rows + <usize>i * stride, r1 = r0 + stride;
        let s0 = i32x4.splat(0), s1 = i32x4.splat(0);
        for (let k = 0; k < Kv; k++) {
          const off = <usize>k << 4;
          const v0 = v128.load(w0 + off);
          s0 = i32x4.add(s0, i32x4.dot_i16x8_s(v128.load(r0 + off), v0));
          s1 = i32x4.add(s1, i32x4.dot_i16x8_s(v128.load(r1 + off), v0));
        }
        const q0 = out0 + <usize>i * outRow + (<usize>o << 2);
        store<i32>(q0, hsum(s0));
        if (i + 1 < np) store<i32>(q0 + outRow, hsum(s1));
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float convolution: an im2col GEMM vectorised over output channels. The filters are repacked
// once per call into panels of eight output channels, panel[k][0..8) = wgt[o0..o0+8)[k] (zero past
// outC), each contiguous. Im2col rows are gathered for a tile of up to FLOAT_TILE pixels (about 256 KiB) (zero at
// padding taps); then per panel, per four pixels of the tile, each step broadcasts one input value
// per pixel and multiply-adds the panel's two f32x4 vectors: 8 accumulators, and each panel is
// reused from cache by the whole tile.

const FLOAT_TILE = 32;

@inline function floatTileFor(rowBytes: usize): i32 {
  return max(4, min(FLOAT_TILE, <i32>(262144 / rowBytes) & ~3));
}

export function floatScratchBytes(c: i32, kh: i32, kw: i32, outC: i32): usize {
  const L = kh * kw * c;
  const ocp = (outC + 7) & ~7;
  return align16(<usize>L * ocp * 4) + align16(<usize>ocp * 4) + <usize>FLOAT_TILE * align16(<usize>L * 4);
}

@inline function floatRow(
  row: usize, x: usize, b: i32, oy: i32, ox: i32,
  h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
): void {
  const x0 = ox * sw - pl, kx0 = max(0, -x0), kx1 = min(kw, w - x0);
  let dst = row;
  for (let ky = 0; ky < kh; ky++) {
    const iy = oy * sh - pt + ky;
    if (iy < 0 || iy >= h || kx1 <= kx0) {
      zeroWords(dst, kw * c);
    } else {
      zeroWords(dst, kx0 * c);
      copyWords(dst + (<usize>(kx0 * c) << 2), x + ((<usize>(b * h + iy) * w + x0 + kx0) * c) * 4, (kx1 - kx0) * c);
      zeroWords(dst + (<usize>(kx1 * c) << 2), (kw - kx1) * c);
    }
    dst += <usize>(kw * c) << 2;
  }
}

@inline function storeLanes(dst: usize, v: v128, count: i32): void {
  if (count >= 4) { v128.store(dst, v); return; }
  store<f32>(dst, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(dst, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(dst, f32x4.extract_lane(v, 2), 8);
}

/**
 * Up to this many output pixels (a dense layer at a small batch), repacking the filters would cost
 * as much as the product itself: each output is then a direct f32x4 dot product of the pixel's row
 * with the filter as given, four filters per pass sharing each row load.
 */
const FLOAT_DIRECT_PIXELS = 8;

function floatConvDirect(
  x: usize, wgt: usize, bias: usize, out: usize, row: usize,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32, outC: i32,
): void {
  const L = kh * kw * c;
  const L4 = L & ~3;
  const fb = <usize>L << 2;
  const pixels = n * outH * outW;
  for (let p = 0; p < pixels; p++) {
    const b = p / (outH * outW), r = p % (outH * outW);
    floatRow(row, x, b, r / outW, r % outW, h, w, c, kh, kw, sh, sw, pt, pl);
    const d = out + ((<usize>p * outC) << 2);
    let o = 0;
    for (; o + 4 <= outC; o += 4) {
      const w0 = wgt + <usize>o * fb;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < L4; k += 4) {
        const kb = <usize>k << 2;
        const xv = v128.load(row + kb);
        a0 = f32x4.add(a0, f32x4.mul(xv, v128.load(w0 + kb)));
        a1 = f32x4.add(a1, f32x4.mul(xv, v128.load(w0 + fb + kb)));
        a2 = f32x4.add(a2, f32x4.mul(xv, v128.load(w0 + 2 * fb + kb)));
        a3 = f32x4.add(a3, f32x4.mul(xv, v128.load(w0 + 3 * fb + kb)));
      }
      for (let j = 0; j < 4; j++) {
        const wj = w0 + <usize>j * fb;
        const v = j == 0 ? a0 : j == 1 ? a1 : j == 2 ? a2 : a3;
        let s: f32 = f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
        for (let k = L4; k < L; k++) s += load<f32>(row + (<usize>k << 2)) * load<f32>(wj + (<usize>k << 2));
        if (bias != 0) s += load<f32>(bias + (<usize>(o + j) << 2));
        store<f32>(d + (<usize>(o + j) << 2), s);
      }
    }
    for (; o < outC; o++) {
      const w0 = wgt + <usize>o * fb;
      let a0 = f32x4.splat(0);
      for (let k = 0; k < L4; k += 4) {
        const kb = <usize>k << 2;
        a0 = f32x4.add(a0, f32x4.mul(v128.load(row + kb), v128.load(w0 + kb)));
      }
      let s: f32 = f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1) + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
      for (let k = L4; k < L; k++) s += load<f32>(row + (<usize>k << 2)) * load<f32>(w0 + (<usize>k << 2));
      if (bias != 0) s += load<f32>(bias + (<usize>o << 2));
      store<f32>(d + (<usize>o << 2), s);
    }
  }
}

export function floatConv2d(
  x: usize, wgt: usize, bias: usize, out: usize, scratch: usize,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32, outC: i32,
): void {
  const L = kh * kw * c;
  const pixels = n * outH * outW;
  if (pixels <= FLOAT_DIRECT_PIXELS) {
    floatConvDirect(x, wgt, bias, out, scratch, n, h, w, c, kh, kw, sh, sw, pt, pl, outH, outW, outC);
    return;
  }
  const ocp = (outC + 7) & ~7;
  const panels = scratch;
  const panelBytes = <usize>L * 32;
  const rowBytes = align16(<usize>L * 4);
  const biasPad = panels + align16(<usize>L * ocp * 4);
  const rows = biasPad + align16(<usize>ocp * 4);
  memory.fill(panels, 0, <usize>L * ocp * 4);
  for (let o = 0; o < outC; o++) {
    const src = wgt + (<usize>o * L) * 4;
    const dst = panels + <usize>(o >>> 3) * panelBytes + (<usize>(o & 7) << 2);
    for (let k = 0; k < L; k++) store<f32>(dst + (<usize>k << 5), load<f32>(src + (<usize>k << 2)));
  }
  // A bias, if any, starts the accumulators.
  memory.fill(biasPad, 0, <usize>ocp * 4);
  if (bias != 0) memory.copy(biasPad, bias, <usize>outC * 4);
  const T = floatTileFor(rowBytes);
  const ps = <usize>outC << 2;
  for (let p0 = 0; p0 < pixels; p0 += T) {
    const nt = min(T, pixels - p0);
    for (let i = 0; i < nt; i++) {
      const q = p0 + i;
      const b = q / (outH * outW), r = q % (outH * outW);
      floatRow(rows + <usize>i * rowBytes, x, b, r / outW, r % outW, h, w, c, kh, kw, sh, sw, pt, pl);
    }
    for (let o = 0; o < outC; o += 8) {
      const panel = panels + <usize>(o >>> 3) * panelBytes;
      const b0 = v128.load(biasPad + (<usize>o << 2));
      const b1 = v128.load(biasPad + (<usize>o << 2), 16);
      const left = outC - o;
      const n0 = min(left, 4), n1 = left - 4;
      // Pixels past nt in the last group read stale rows; their sums are not stored.
      for (let i = 0; i < nt; i += 4) {
        const np = min(4, nt - i);
        const r0 = rows + <usize>i * rowBytes, r1 = r0 + rowBytes, r2 = r1 + rowBytes, r3 = r2 + rowBytes;
        let a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
        for (let k = 0; k < L; k++) {
          const wk = panel + (<usize>k << 5);
          const v0 = v128.load(wk);
          const v1 = v128.load(wk, 16);
          const kb = <usize>k << 2;
          const x0 = v128.load32_splat(r0 + kb);
          const x1 = v128.load32_splat(r1 + kb);
          const x2 = v128.load32_splat(r2 + kb);
          const x3 = v128.load32_splat(r3 + kb);
          a00 = f32x4.add(a00, f32x4.mul(x0, v0)); a01 = f32x4.add(a01, f32x4.mul(x0, v1));
          a10 = f32x4.add(a10, f32x4.mul(x1, v0)); a11 = f32x4.add(a11, f32x4.mul(x1, v1));
          a20 = f32x4.add(a20, f32x4.mul(x2, v0)); a21 = f32x4.add(a21, f32x4.mul(x2, v1));
          a30 = f32x4.add(a30, f32x4.mul(x3, v0)); a31 = f32x4.add(a31, f32x4.mul(x3, v1));
        }
        const d = out + ((<usize>(p0 + i) * outC + o) << 2);
        storeLanes(d, a00, n0); if (n1 > 0) storeLanes(d + 16, a01, n1);
        if (np > 1) { storeLanes(d + ps, a10, n0); if (n1 > 0) storeLanes(d + ps + 16, a11, n1); }
        if (np > 2) { storeLanes(d + 2 * ps, a20, n0); if (n1 > 0) storeLanes(d + 2 * ps + 16, a21, n1); }
        if (np > 3) { storeLanes(d + 3 * ps, a30, n0); if (n1 > 0) storeLanes(d + 3 * ps + 16, a31, n1); }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float depthwise convolution (depth multiplier 1): per output pixel, f32x4 over channels (16 at a
// time, then 4, then one by one), only in-image taps (zero padding contributes nothing). No scratch.

export function floatDepthwiseConv2d(
  x: usize, wgt: usize, bias: usize, out: usize,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32,
): void {
  const c4 = c & ~3;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      const ky0 = max(0, pt - oy * sh), ky1 = min(kh, h + pt - oy * sh);
      for (let ox = 0; ox < outW; ox++) {
        const kx0 = max(0, pl - ox * sw), kx1 = min(kw, w + pl - ox * sw);
        const d = out + ((<usize>((b * outH + oy) * outW + ox) * c) << 2);
        // 16 channels at a time: four accumulators, each tap's addresses computed once (every
        // lane still sums bias + taps in ky, kx order: the same bits as the loop below).
        let j = 0;
        for (; j + 16 <= c; j += 16) {
          const jb = <usize>j << 2;
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          if (bias != 0) { a0 = v128.load(bias + jb); a1 = v128.load(bias + jb, 16); a2 = v128.load(bias + jb, 32); a3 = v128.load(bias + jb, 48); }
          for (let ky = ky0; ky < ky1; ky++) {
            const iy = oy * sh - pt + ky;
            for (let kx = kx0; kx < kx1; kx++) {
              const ix = ox * sw - pl + kx;
              const xp = x + ((<usize>((b * h + iy) * w + ix) * c) << 2) + jb;
              const wp = wgt + ((<usize>(ky * kw + kx) * c) << 2) + jb;
              a0 = f32x4.add(a0, f32x4.mul(v128.load(xp), v128.load(wp)));
              a1 = f32x4.add(a1, f32x4.mul(v128.load(xp, 16), v128.load(wp, 16)));
              a2 = f32x4.add(a2, f32x4.mul(v128.load(xp, 32), v128.load(wp, 32)));
              a3 = f32x4.add(a3, f32x4.mul(v128.load(xp, 48), v128.load(wp, 48)));
            }
          }
          v128.store(d + jb, a0); v128.store(d + jb, a1, 16); v128.store(d + jb, a2, 32); v128.store(d + jb, a3, 48);
        }
        for (; j < c4; j += 4) {
          let acc = bias != 0 ? v128.load(bias + (<usize>j << 2)) : f32x4.splat(0);
          for (let ky = ky0; ky < ky1; ky++) {
            const iy = oy * sh - pt + ky;
            for (let kx = kx0; kx < kx1; kx++) {
              const ix = ox * sw - pl + kx;
              const xv = v128.load(x + ((<usize>((b * h + iy) * w + ix) * c + j) << 2));
              const wv = v128.load(wgt + ((<usize>(ky * kw + kx) * c + j) << 2));
              acc = f32x4.add(acc, f32x4.mul(xv, wv));
            }
          }
          v128.store(d + (<usize>j << 2), acc);
        }
        for (; j < c; j++) {
          let acc: f32 = bias != 0 ? load<f32>(bias + (<usize>j << 2)) : 0;
          for (let ky = ky0; ky < ky1; ky++) {
            const iy = oy * sh - pt + ky;
            for (let kx = kx0; kx < kx1; kx++) {
              const ix = ox * sw - pl + kx;
              acc += load<f32>(x + ((<usize>((b * h + iy) * w + ix) * c + j) << 2)) * load<f32>(wgt + ((<usize>(ky * kw + kx) * c + j) << 2));
            }
          }
          store<f32>(d + (<usize>j << 2), acc);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Elementwise passes the plan runs around the convolutions when the kernels are these (no
// RuntimeOps in wasm): each the same arithmetic as the plan's JavaScript loop (src/runtime/plan.ts),
// so the outputs keep their bits — doubles where JavaScript computes in doubles, one f32 rounding
// per store; WebAssembly has no fused multiply-add, so nothing is contracted.

/**
 * Packed sign bits [pixels, ⌈c/32⌉] of fround((relu ? max(x, 0) : x) + offset[ch]) ≥ 0 (without
 * offset: of that value): four channels per f32x4 comparison and bitmask, the rest one by one
 * (ActivationQuantizer.toBits, RuntimeOps.packSigns). The ReLU is the plan's `v < 0 ? 0 : v`
 * (a bit select: −0 and NaN kept).
 */
export function packSigns(x: usize, c: i32, offset: usize, relu: bool, out: usize, pixels: i32): void {
  const words = (c + 31) >>> 5;
  const c4 = c & ~3;
  const zero = f32x4.splat(0);
  for (let p = 0; p < pixels; p++) {
    const xp = x + ((<usize>p * c) << 2);
    const op = out + ((<usize>p * words) << 2);
    for (let k = 0; k < words; k++) store<u32>(op + (<usize>k << 2), 0);
    let j = 0;
    for (; j < c4; j += 4) {
      let v = v128.load(xp + (<usize>j << 2));
      if (relu) v = f32x4.pmax(v, zero);
      if (offset != 0) v = f32x4.add(v, v128.load(offset + (<usize>j << 2)));
      const m = <u32>i32x4.bitmask(f32x4.ge(v, zero));
      const wp = op + (<usize>(j >>> 5) << 2);
      store<u32>(wp, load<u32>(wp) | (m << (<u32>(j & 31))));
    }
    for (; j < c; j++) {
      let v = load<f32>(xp + (<usize>j << 2));
      if (relu && v < 0) v = 0;
      if (offset != 0) v = v + load<f32>(offset + (<usize>j << 2));
      if (v >= 0) {
        const wp = op + (<usize>(j >>> 5) << 2);
        store<u32>(wp, load<u32>(wp) | ((<u32>1) << (<u32>(j & 31))));
      }
    }
  }
}

/**
 * The binary convolution's epilogue with its residual Add and PReLU: out = fround(acc·a + b) (in
 * doubles; ReLU: 0 where that double is < 0), then fround(out + res), then, with alpha,
 * v ≥ 0 ? v : fround(alpha·v) — per channel over [pixels, c]. Two doubles per f64x2 (the products
 * of an int32 and a float32 and their sums with a float32 are the JavaScript loop's), four
 * float32s per f32x4 for the residual and the PReLU (a bit select, no branch); the channels after
 * the last group of four one by one. res = 0: no residual, alpha = 0: no PReLU (then it is
 * RuntimeOps.affineInt).
 */
export function affineResidual(acc: usize, a: usize, b: usize, relu: bool, res: usize, alpha: usize, out: usize, pixels: i32, c: i32): void {
  const c4 = c & ~3;
  const zero = f32x4.splat(0);
  const zeroD = f64x2.splat(0);
  for (let p = 0; p < pixels; p++) {
    const base = (<usize>p * c) << 2;
    for (let o = 0; o < c4; o += 4) {
      const oo = <usize>o << 2;
      const r = v128.load(acc + base + oo);
      const av = v128.load(a + oo), bv = v128.load(b + oo);
      let lo = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(r), f64x2.promote_low_f32x4(av)), f64x2.promote_low_f32x4(bv));
      let hi = f64x2.add(f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(r, r, 2, 3, 0, 1)), f64x2.promote_low_f32x4(i32x4.shuffle(av, av, 2, 3, 0, 1))),
        f64x2.promote_low_f32x4(i32x4.shuffle(bv, bv, 2, 3, 0, 1)));
      // ReLU: +0 where the double is < 0 (−0 and NaN kept), as `relu && v < 0 ? 0 : v`.
      if (relu) { lo = v128.bitselect(zeroD, lo, f64x2.lt(lo, zeroD)); hi = v128.bitselect(zeroD, hi, f64x2.lt(hi, zeroD)); }
      const f = i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
      let s = f;
      if (res != 0) s = f32x4.add(s, v128.load(res + base + oo));
      if (alpha != 0) s = v128.bitselect(s, f32x4.mul(v128.load(alpha + oo), s), f32x4.ge(s, zero));
      v128.store(out + base + oo, s);
    }
    for (let o = c4; o < c; o++) {
      const oo = <usize>o << 2;
      const v: f64 = <f64>load<i32>(acc + base + oo) * <f64>load<f32>(a + oo) + <f64>load<f32>(b + oo);
      const f: f32 = relu && v < 0 ? 0 : <f32>v;
      const s: f32 = res != 0 ? f + load<f32>(res + base + oo) : f;
      store<f32>(out + base + oo, alpha != 0 && !(s >= 0) ? load<f32>(alpha + oo) * s : s);
    }
  }
}

/** In place over [pixels, c]: y = fround(y + res) (res = 0: no residual, y unchanged), then with alpha v ≥ 0 ? v : fround(alpha·v) (f32x4, a bit select). */
export function residualPrelu(y: usize, res: usize, alpha: usize, pixels: i32, c: i32): void {
  const c4 = c & ~3;
  const zero = f32x4.splat(0);
  for (let p = 0; p < pixels; p++) {
    const base = (<usize>p * c) << 2;
    for (let o = 0; o < c4; o += 4) {
      const oo = <usize>o << 2;
      let s = v128.load(y + base + oo);
      if (res != 0) s = f32x4.add(s, v128.load(res + base + oo));
      if (alpha != 0) s = v128.bitselect(s, f32x4.mul(v128.load(alpha + oo), s), f32x4.ge(s, zero));
      v128.store(y + base + oo, s);
    }
    for (let o = c4; o < c; o++) {
      const oo = <usize>o << 2;
      let s = load<f32>(y + base + oo);
      if (res != 0) s = s + load<f32>(res + base + oo);
      store<f32>(y + base + oo, alpha != 0 && !(s >= 0) ? load<f32>(alpha + oo) * s : s);
    }
  }
}

/** Bipolar input values: out = fround(x + offset[ch]) ≥ 0 ? levels[ch] : −levels[ch] over [pixels, c] (f32x4, a bit select). */
export function signValues(x: usize, c: i32, offset: usize, levels: usize, out: usize, pixels: i32): void {
  const c4 = c & ~3;
  const zero = f32x4.splat(0);
  for (let p = 0; p < pixels; p++) {
    const base = (<usize>p * c) << 2;
    for (let o = 0; o < c4; o += 4) {
      const oo = <usize>o << 2;
      let v = v128.load(x + base + oo);
      if (offset != 0) v = f32x4.add(v, v128.load(offset + oo));
      const h = v128.load(levels + oo);
      v128.store(out + base + oo, v128.bitselect(h, f32x4.neg(h), f32x4.ge(v, zero)));
    }
    for (let o = c4; o < c; o++) {
      const oo = <usize>o << 2;
      let v = load<f32>(x + base + oo);
      if (offset != 0) v = v + load<f32>(offset + oo);
      const h = load<f32>(levels + oo);
      store<f32>(out + base + oo, v >= 0 ? h : -h);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RuntimeOps (src/runtime/kernels.ts): the rest of the plan's passes. Each is the plan's (or
// ActivationQuantizer's) JavaScript loop with the same roundings. Two facts make f32 lanes exact:
// the float32 rounding of a double +, −, ·, / of two float32s equals the float32 operation (a double
// holds more than 2·24 + 2 bits), and f32x4.pmax(a, b) / pmin(a, b) are exactly `a < b ? b : a` /
// `b < a ? b : a`. Where JavaScript keeps a double across two operations (x·a + b, PReLU shifts,
// average-pool sums) the lanes are f64x2.

/** Two f32x4 halves [lo, hi] as doubles → one f32x4 (each rounded once, as a Float32Array store). */
@inline function demote2(lo: v128, hi: v128): v128 {
  return i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

@inline function highHalf(v: v128): v128 {
  return i32x4.shuffle(v, v, 2, 3, 0, 1);
}

/**
 * Packed bits of sign[o]·acc > t[o] over [pixels, c] (RuntimeOps.packThreshold; the plan's
 * `(t − s·r) >>> 31`, the thresholds chosen so that this fits int32): four channels per
 * i32x4.bitmask of t − s·r.
 */
export function packThreshold(acc: usize, sign: usize, t: usize, out: usize, pixels: i32, c: i32): void {
  const words = (c + 31) >>> 5;
  const c4 = c & ~3;
  for (let p = 0; p < pixels; p++) {
    const ap = acc + ((<usize>p * c) << 2);
    const op = out + ((<usize>p * words) << 2);
    for (let k = 0; k < words; k++) {
      const o0 = k << 5;
      const o1 = min(c, o0 + 32);
      const o4 = min(c4, o1);
      let word: u32 = 0;
      let o = o0;
      for (; o < o4; o += 4) {
        const oo = <usize>o << 2;
        const d = i32x4.sub(v128.load(t + oo), i32x4.mul(v128.load(sign + oo), v128.load(ap + oo)));
        word |= (<u32>i32x4.bitmask(d)) << (<u32>(o & 31));
      }
      for (; o < o1; o++) {
        const oo = <usize>o << 2;
        const d = load<i32>(t + oo) - load<i32>(sign + oo) * load<i32>(ap + oo);
        word |= (<u32>d >>> 31) << (<u32>(o & 31));
      }
      store<u32>(op + (<usize>k << 2), word);
    }
  }
}

/**
 * ActivationQuantizer's codes: v = fround(x + offset[ch]) (x without offset), u = fround(v·n)
 * (n ≠ 0) or fround(v / scale[ch]), then fround(u + zp) (zp ≠ 0), q = clip(roundHalfEven(u), lo, hi)
 * (f32x4.nearest ties to even; roundHalfEven gives +0 for u in [−½, −0) where nearest gives −0, so
 * + 0, and u itself for u = ±0, whose floor it keeps), written as mode 0: q / n,
 * 1: (q − zp)·scale[ch] (in doubles when zp ≠ 0), 2: int8 m·(q − zp) (the caller guarantees an
 * exact value in −128 … 127). n, zp, lo, hi, m are float32-exact (the caller checks).
 */
export function quantize(x: usize, c: i32, offset: usize, n: f32, scales: usize, zp: f32, lo: f32, hi: f32, mode: i32, m: f32, out: usize, pixels: i32): void {
  const c4 = c & ~3;
  const zero = f32x4.splat(0);
  const nv = f32x4.splat(n), zv = f32x4.splat(zp), lov = f32x4.splat(lo), hiv = f32x4.splat(hi), mv = f32x4.splat(m);
  const zd = f64x2.splat(<f64>zp);
  for (let p = 0; p < pixels; p++) {
    const base = <usize>p * c;
    let o = 0;
    for (; o < c4; o += 4) {
      const oo = <usize>o << 2;
      let v = v128.load(x + (base << 2) + oo);
      if (offset != 0) v = f32x4.add(v, v128.load(offset + oo));
      let u = n != 0 ? f32x4.mul(v, nv) : f32x4.div(v, v128.load(scales + oo));
      if (zp != 0) u = f32x4.add(u, zv);
      let q = v128.bitselect(u, f32x4.add(f32x4.nearest(u), zero), f32x4.eq(u, zero));
      q = f32x4.pmin(f32x4.pmax(q, lov), hiv);
      if (mode == 0) {
        v128.store(out + (base << 2) + oo, f32x4.div(q, nv));
      } else if (mode == 1) {
        const s = v128.load(scales + oo);
        if (zp == 0) {
          v128.store(out + (base << 2) + oo, f32x4.mul(q, s));
        } else {
          const dlo = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(q), zd), f64x2.promote_low_f32x4(s));
          const dhi = f64x2.mul(f64x2.sub(f64x2.promote_low_f32x4(highHalf(q)), zd), f64x2.promote_low_f32x4(highHalf(s)));
          v128.store(out + (base << 2) + oo, demote2(dlo, dhi));
        }
      } else {
        const k = i32x4.trunc_sat_f32x4_s(f32x4.mul(f32x4.sub(q, zv), mv));
        const b = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(k, k), zero);
        store<i32>(out + base + <usize>o, i32x4.extract_lane(b, 0));
      }
    }
    for (; o < c; o++) {
      const oo = <usize>o << 2;
      let v = load<f32>(x + (base << 2) + oo);
      if (offset != 0) v = v + load<f32>(offset + oo);
      let u: f32 = n != 0 ? v * n : v / load<f32>(scales + oo);
      if (zp != 0) u = u + zp;
      let q: f32 = u == 0 ? u : nearest<f32>(u) + 0;
      q = q < lo ? lo : q > hi ? hi : q;
      if (mode == 0) store<f32>(out + (base << 2) + oo, q / n);
      else if (mode == 1) store<f32>(out + (base << 2) + oo, zp == 0 ? q * load<f32>(scales + oo) : <f32>((<f64>q - <f64>zp) * <f64>load<f32>(scales + oo)));
      else store<i8>(out + base + <usize>o, <i8><i32>((q - zp) * m));
    }
  }
}

/** Bipolar int8 values: out = fround(x + offset[ch]) ≥ 0 ? f : −f (bytes; x ≥ 0 without offset). */
export function signBytes(x: usize, c: i32, offset: usize, f: i32, out: usize, pixels: i32): void {
  const c4 = c & ~3;
  const zero = f32x4.splat(0);
  const pos = i32x4.splat(f), neg = i32x4.splat(-f);
  for (let p = 0; p < pixels; p++) {
    const base = <usize>p * c;
    let o = 0;
    for (; o < c4; o += 4) {
      const oo = <usize>o << 2;
      let v = v128.load(x + (base << 2) + oo);
      if (offset != 0) v = f32x4.add(v, v128.load(offset + oo));
      const k = v128.bitselect(pos, neg, f32x4.ge(v, zero));
      const b = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(k, k), zero);
      store<i32>(out + base + <usize>o, i32x4.extract_lane(b, 0));
    }
    for (; o < c; o++) {
      let v = load<f32>(x + (base << 2) + (<usize>o << 2));
      if (offset != 0) v = v + load<f32>(offset + (<usize>o << 2));
      store<i8>(out + base + <usize>o, <i8>(v >= 0 ? f : -f));
    }
  }
}

/** In place over [pixels, c]: buf = fround(buf·a[ch] + b[ch]), the product and sum in doubles (as the plan's loop). */
export function affine(buf: usize, a: usize, b: usize, pixels: i32, c: i32): void {
  const c4 = c & ~3;
  for (let p = 0; p < pixels; p++) {
    const base = (<usize>p * c) << 2;
    let o = 0;
    for (; o < c4; o += 4) {
      const oo = <usize>o << 2;
      const v = v128.load(buf + base + oo), av = v128.load(a + oo), bv = v128.load(b + oo);
      const lo = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(av)), f64x2.promote_low_f32x4(bv));
      const hi = f64x2.add(f64x2.mul(f64x2.promote_low_f32x4(highHalf(v)), f64x2.promote_low_f32x4(highHalf(av))), f64x2.promote_low_f32x4(highHalf(bv)));
      v128.store(buf + base + oo, demote2(lo, hi));
    }
    for (; o < c; o++) {
      const oo = <usize>o << 2;
      store<f32>(buf + base + oo, <f32>(<f64>load<f32>(buf + base + oo) * <f64>load<f32>(a + oo) + <f64>load<f32>(b + oo)));
    }
  }
}

/** In place over `len` floats: v < 0 ? 0 : v > hi ? hi : v (pmax, pmin; −0 and NaN kept). */
export function clamp(buf: usize, hi: f32, len: i32): void {
  const zero = f32x4.splat(0), mv = f32x4.splat(hi);
  const l4 = len & ~3;
  let i = 0;
  for (; i < l4; i += 4) {
    const pi = buf + (<usize>i << 2);
    v128.store(pi, f32x4.pmin(f32x4.pmax(v128.load(pi), zero), mv));
  }
  for (; i < len; i++) {
    const pi = buf + (<usize>i << 2);
    const v = load<f32>(pi);
    store<f32>(pi, v < 0 ? 0 : v > hi ? hi : v);
  }
}

/**
 * In place over [pixels, c], the plan's PReLU / RPReLU loop in doubles: v = buf − shiftIn[ch],
 * y = v ≥ 0 ? v : alpha·v, buf = fround(y + shiftOut[ch]) (shiftIn, shiftOut = 0: absent). alpha
 * has `na` entries, a multiple of c (c: per channel, else per element: alpha[(p·c + ch) mod na]).
 */
export function preluShift(buf: usize, c: i32, alpha: usize, na: i32, shiftIn: usize, shiftOut: usize, pixels: i32): void {
  const c4 = c & ~3;
  const zeroD = f64x2.splat(0);
  for (let p = 0; p < pixels; p++) {
    const base = (<usize>p * c) << 2;
    const ap = alpha + (<usize>((p * c) % na) << 2);
    let o = 0;
    for (; o < c4; o += 4) {
      const oo = <usize>o << 2;
      const x = v128.load(buf + base + oo), av = v128.load(ap + oo);
      let lo = f64x2.promote_low_f32x4(x), hi = f64x2.promote_low_f32x4(highHalf(x));
      if (shiftIn != 0) {
        const s = v128.load(shiftIn + oo);
        lo = f64x2.sub(lo, f64x2.promote_low_f32x4(s));
        hi = f64x2.sub(hi, f64x2.promote_low_f32x4(highHalf(s)));
      }
      lo = v128.bitselect(lo, f64x2.mul(f64x2.promote_low_f32x4(av), lo), f64x2.ge(lo, zeroD));
      hi = v128.bitselect(hi, f64x2.mul(f64x2.promote_low_f32x4(highHalf(av)), hi), f64x2.ge(hi, zeroD));
      if (shiftOut != 0) {
        const s = v128.load(shiftOut + oo);
        lo = f64x2.add(lo, f64x2.promote_low_f32x4(s));
        hi = f64x2.add(hi, f64x2.promote_low_f32x4(highHalf(s)));
      }
      v128.store(buf + base + oo, demote2(lo, hi));
    }
    for (; o < c; o++) {
      const oo = <usize>o << 2;
      let v = <f64>load<f32>(buf + base + oo);
      if (shiftIn != 0) v -= <f64>load<f32>(shiftIn + oo);
      let y = v >= 0 ? v : <f64>load<f32>(ap + oo) * v;
      if (shiftOut != 0) y += <f64>load<f32>(shiftOut + oo);
      store<f32>(buf + base + oo, <f32>y);
    }
  }
}

/** y = a + b over `len` floats (float32 sums; a = y: addInto). */
export function add(y: usize, a: usize, b: usize, len: i32): void {
  const l4 = len & ~3;
  let i = 0;
  for (; i < l4; i += 4) {
    const oi = <usize>i << 2;
    v128.store(y + oi, f32x4.add(v128.load(a + oi), v128.load(b + oi)));
  }
  for (; i < len; i++) {
    const oi = <usize>i << 2;
    store<f32>(y + oi, load<f32>(a + oi) + load<f32>(b + oi));
  }
}

/**
 * Max or average pooling over each window's in-image taps (the plan's `pool`): max as
 * `v > y ? v : y` from −∞ (f32x4.pmax), average as double sums in tap order, then / count.
 */
export function pool(
  x: usize, out: usize, isMax: bool,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32,
): void {
  const c4 = c & ~3;
  const ninf = f32x4.splat(-Infinity);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sh - pt;
      const ky0 = max(0, -iy0), ky1 = min(kh, h - iy0);
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sw - pl;
        const kx0 = max(0, -ix0), kx1 = min(kw, w - ix0);
        const d = out + ((<usize>((b * outH + oy) * outW + ox) * c) << 2);
        const count = <f64>((ky1 - ky0) * (kx1 - kx0));
        let o = 0;
        for (; o < c4; o += 4) {
          const oo = <usize>o << 2;
          if (isMax) {
            let m = ninf;
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                m = f32x4.pmax(m, v128.load(x + ((<usize>((b * h + iy0 + ky) * w + ix0 + kx) * c) << 2) + oo));
              }
            }
            v128.store(d + oo, m);
          } else {
            let lo = f64x2.splat(0), hi = f64x2.splat(0);
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const v = v128.load(x + ((<usize>((b * h + iy0 + ky) * w + ix0 + kx) * c) << 2) + oo);
                lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
                hi = f64x2.add(hi, f64x2.promote_low_f32x4(highHalf(v)));
              }
            }
            const cv = f64x2.splat(count);
            v128.store(d + oo, demote2(f64x2.div(lo, cv), f64x2.div(hi, cv)));
          }
        }
        for (; o < c; o++) {
          const oo = <usize>o << 2;
          if (isMax) {
            let m: f32 = -Infinity;
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) {
                const v = load<f32>(x + ((<usize>((b * h + iy0 + ky) * w + ix0 + kx) * c) << 2) + oo);
                if (v > m) m = v;
              }
            }
            store<f32>(d + oo, m);
          } else {
            let s: f64 = 0;
            for (let ky = ky0; ky < ky1; ky++) {
              for (let kx = kx0; kx < kx1; kx++) s += <f64>load<f32>(x + ((<usize>((b * h + iy0 + ky) * w + ix0 + kx) * c) << 2) + oo);
            }
            store<f32>(d + oo, <f32>(s / count));
          }
        }
      }
    }
  }
}

/** Mean over the hw pixels of each image: float32 sums in pixel order from +0, then / hw (the plan's loop). */
export function globalAveragePool(x: usize, n: i32, hw: i32, c: i32, out: usize): void {
  const c4 = c & ~3;
  const hv: f32 = <f32>hw;
  const hwv = f32x4.splat(hv);
  for (let b = 0; b < n; b++) {
    const d = out + ((<usize>b * c) << 2);
    zeroWords(d, c);
    for (let p = 0; p < hw; p++) {
      const xp = x + ((<usize>(b * hw + p) * c) << 2);
      let o = 0;
      for (; o < c4; o += 4) {
        const oo = <usize>o << 2;
        v128.store(d + oo, f32x4.add(v128.load(d + oo), v128.load(xp + oo)));
      }
      for (; o < c; o++) {
        const oo = <usize>o << 2;
        store<f32>(d + oo, load<f32>(d + oo) + load<f32>(xp + oo));
      }
    }
    let o = 0;
    for (; o < c4; o += 4) v128.store(d + (<usize>o << 2), f32x4.div(v128.load(d + (<usize>o << 2)), hwv));
    for (; o < c; o++) store<f32>(d + (<usize>o << 2), load<f32>(d + (<usize>o << 2)) / hv);
  }
}

/** Copies x's c channels per pixel to channels at … at + c − 1 of y (`total` per pixel). */
export function concatInto(x: usize, c: i32, y: usize, total: i32, at: i32, pixels: i32): void {
  for (let p = 0; p < pixels; p++) copyWords(y + ((<usize>p * total + at) << 2), x + ((<usize>p * c) << 2), c);
}
