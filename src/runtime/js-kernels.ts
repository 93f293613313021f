/**
 * The reference kernel backend: plain JavaScript loops implementing `RuntimeKernels` (see
 * kernels.ts for the layouts). Clear rather than fast — every other backend is tested against
 * these; the binary convolution counts with 32-bit popcounts.
 */
import { ConvGeometry, RuntimeKernels, wordsFor } from './kernels.js';

/** Set bits of a 32-bit word (SWAR popcount). */
export function popcount32(v: number): number {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}

/**
 * Calls `body(oy, ox, ky0, ky1, kx0, kx1)` for every output position with the range of kernel
 * taps that fall inside the image (padding taps are skipped).
 */
function forEachOutput(g: ConvGeometry, body: (oy: number, ox: number, ky0: number, ky1: number, kx0: number, kx1: number) => void): void {
  for (let oy = 0; oy < g.outH; oy++) {
    const iy0 = oy * g.strideH - g.padTop;
    const ky0 = Math.max(0, -iy0);
    const ky1 = Math.min(g.kh, g.h - iy0);
    for (let ox = 0; ox < g.outW; ox++) {
      const ix0 = ox * g.strideW - g.padLeft;
      body(oy, ox, ky0, ky1, Math.max(0, -ix0), Math.min(g.kw, g.w - ix0));
    }
  }
}

export const jsKernels: RuntimeKernels = {
  name: 'js',

  binaryConv2d(x, wgt, g, out) {
    const words = wordsFor(g.c);
    const { h, w, kh, kw, outC } = g;
    for (let b = 0; b < g.n; b++) {
      const xb = b * h * w * words;
      forEachOutput(g, (oy, ox, ky0, ky1, kx0, kx1) => {
        const iy0 = oy * g.strideH - g.padTop;
        const ix0 = ox * g.strideW - g.padLeft;
        const taps = Math.max(0, ky1 - ky0) * Math.max(0, kx1 - kx0);
        const o0 = ((b * g.outH + oy) * g.outW + ox) * outC;
        for (let o = 0; o < outC; o++) {
          let differ = 0;
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const xi = xb + ((iy0 + ky) * w + ix0 + kx) * words;
              const wi = ((o * kh + ky) * kw + kx) * words;
              for (let k = 0; k < words; k++) differ += popcount32(x[xi + k] ^ wgt[wi + k]);
            }
          }
          // Σ (agreements − disagreements) over in-image taps: c·taps − 2·differ.
          out[o0 + o] = g.c * taps - 2 * differ;
        }
      });
    }
  },

  int8Conv2d(x, wgt, g, out) {
    const { h, w, c, kh, kw, outC } = g;
    for (let b = 0; b < g.n; b++) {
      forEachOutput(g, (oy, ox, ky0, ky1, kx0, kx1) => {
        const iy0 = oy * g.strideH - g.padTop;
        const ix0 = ox * g.strideW - g.padLeft;
        const o0 = ((b * g.outH + oy) * g.outW + ox) * outC;
        for (let o = 0; o < outC; o++) {
          let acc = 0;
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c;
              const wi = ((o * kh + ky) * kw + kx) * c;
              for (let k = 0; k < c; k++) acc += x[xi + k] * wgt[wi + k];
            }
          }
          out[o0 + o] = acc;
        }
      });
    }
  },

  floatConv2d(x, wgt, bias, g, out) {
    const { h, w, c, kh, kw, outC } = g;
    for (let b = 0; b < g.n; b++) {
      forEachOutput(g, (oy, ox, ky0, ky1, kx0, kx1) => {
        const iy0 = oy * g.strideH - g.padTop;
        const ix0 = ox * g.strideW - g.padLeft;
        const o0 = ((b * g.outH + oy) * g.outW + ox) * outC;
        for (let o = 0; o < outC; o++) {
          let acc = 0;
          for (let ky = ky0; ky < ky1; ky++) {
            for (let kx = kx0; kx < kx1; kx++) {
              const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c;
              const wi = ((o * kh + ky) * kw + kx) * c;
              for (let k = 0; k < c; k++) acc += x[xi + k] * wgt[wi + k];
            }
          }
          out[o0 + o] = bias ? acc + bias[o] : acc;
        }
      });
    }
  },

  floatDepthwiseConv2d(x, wgt, bias, g, out) {
    const { h, w, c, kw } = g;
    for (let b = 0; b < g.n; b++) {
      forEachOutput(g, (oy, ox, ky0, ky1, kx0, kx1) => {
        const iy0 = oy * g.strideH - g.padTop;
        const ix0 = ox * g.strideW - g.padLeft;
        const o0 = ((b * g.outH + oy) * g.outW + ox) * c;
        for (let ch = 0; ch < c; ch++) out[o0 + ch] = bias ? bias[ch] : 0;
        for (let ky = ky0; ky < ky1; ky++) {
          for (let kx = kx0; kx < kx1; kx++) {
            const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c;
            const wi = (ky * kw + kx) * c;
            for (let ch = 0; ch < c; ch++) out[o0 + ch] += x[xi + ch] * wgt[wi + ch];
          }
        }
      });
    }
  },
};
