/**
 * Shared by the runtime's kernel tests: the geometry of a square-kernel convolution or pool,
 * computed here from TF's padding rules independently of src/runtime/plan.ts (the code under test).
 */
import type { ConvGeometry } from '../src/runtime/kernels.js';

/** A k×k window at `stride` over [n, h, w, c] with 'same' (TF's split: the extra row/column at the end) or 'valid' padding. */
export function squareGeometry(n: number, h: number, w: number, c: number, k: number, stride: number, same: boolean, outC: number): ConvGeometry {
  const outH = same ? Math.ceil(h / stride) : Math.ceil((h - k + 1) / stride);
  const outW = same ? Math.ceil(w / stride) : Math.ceil((w - k + 1) / stride);
  const padTop = same ? Math.floor(Math.max((outH - 1) * stride + k - h, 0) / 2) : 0;
  const padLeft = same ? Math.floor(Math.max((outW - 1) * stride + k - w, 0) / 2) : 0;
  return { n, h, w, c, kh: k, kw: k, strideH: stride, strideW: stride, padTop, padLeft, outH, outW, outC };
}

/** The integer convolution by its definition (NHWC x, [outC, kh, kw, c] weights, zeros outside the image): the kernels' reference. */
export function directIntConv(x: Int8Array, wgt: Int8Array, g: ConvGeometry): Int32Array {
  const out = new Int32Array(g.n * g.outH * g.outW * g.outC);
  for (let b = 0; b < g.n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let o = 0; o < g.outC; o++) {
    let s = 0;
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.strideH - g.padTop + ky;
      const ix = ox * g.strideW - g.padLeft + kx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
      for (let k = 0; k < g.c; k++) s += x[((b * g.h + iy) * g.w + ix) * g.c + k] * wgt[((o * g.kh + ky) * g.kw + kx) * g.c + k];
    }
    out[((b * g.outH + oy) * g.outW + ox) * g.outC + o] = s;
  }
  return out;
}
