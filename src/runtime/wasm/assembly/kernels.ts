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

export function binaryConv2d(
  x: usize, wgt: usize, out: usize, scratch: usize,
  n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, pt: i32, pl: i32,
  outH: i32, outW: i32, outC: i32,
): void {
  const W = (c + 31) >>> 5;
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
// Float depthwise convolution (depth multiplier 1): per output pixel, f32x4 over channels, only
// in-image taps (zero padding contributes nothing). No scratch.

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
        for (let j = 0; j < c4; j += 4) {
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
        for (let j = c4; j < c; j++) {
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
 * Packed sign bits [pixels, ⌈c/32⌉] of fround(x + offset[ch]) ≥ 0 (x ≥ 0 without offset): four
 * channels per f32x4 comparison and bitmask, the rest one by one (ActivationQuantizer.toBits).
 */
export function packSigns(x: usize, c: i32, offset: usize, out: usize, pixels: i32): void {
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
      if (offset != 0) v = f32x4.add(v, v128.load(offset + (<usize>j << 2)));
      const m = <u32>i32x4.bitmask(f32x4.ge(v, zero));
      const wp = op + (<usize>(j >>> 5) << 2);
      store<u32>(wp, load<u32>(wp) | (m << (<u32>(j & 31))));
    }
    for (; j < c; j++) {
      let v = load<f32>(xp + (<usize>j << 2));
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
 * the last group of four one by one.
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
      let s = f32x4.add(f, v128.load(res + base + oo));
      if (alpha != 0) s = v128.bitselect(s, f32x4.mul(v128.load(alpha + oo), s), f32x4.ge(s, zero));
      v128.store(out + base + oo, s);
    }
    for (let o = c4; o < c; o++) {
      const oo = <usize>o << 2;
      const v: f64 = <f64>load<i32>(acc + base + oo) * <f64>load<f32>(a + oo) + <f64>load<f32>(b + oo);
      const f: f32 = relu && v < 0 ? 0 : <f32>v;
      const s: f32 = f + load<f32>(res + base + oo);
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
