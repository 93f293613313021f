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
