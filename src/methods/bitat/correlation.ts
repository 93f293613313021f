/**
 * The uncentred input correlation C = E[x xᵀ] of a quantized layer, over the patches its kernel
 * multiplies (bitat.md §1.3 step 1): x is the layer's actual input — through its own input
 * quantizer (RSign) and everything below it as currently quantized. Patch layout matches the
 * kernel's [d_in, d_out] view: (i, j, c) for a k×k conv, (i, j) per channel for a depthwise
 * conv, c for a 1×1 conv or dense layer. Patches are taken at every position (stride 1), an
 * estimate of the strided layer's statistics.
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { QuantConv1D, QuantConv2D, QuantConv2DTranspose, QuantDepthwiseConv2D, QuantLayer } from '../../layers/quant-layers.js';

type Sym = tf.SymbolicTensor;

/** [n, d_in] rows: every k×k patch of x [N, H, W, C] ('same' zero padding). */
export function patches(x: tf.Tensor, layer: QuantLayer): tf.Tensor2D {
  return tf.tidy(() => {
    const c = x.shape[x.rank - 1];
    if (layer instanceof QuantConv2DTranspose) throw new LowbitError(`BiTAT cannot binarize ${layer.name} (Conv2DTranspose) yet: its input patches are not computed; keep it float`);
    if (layer instanceof QuantConv1D) {
      // Every k-tap window along the length (dilation ignored, like stride), rows (i, c) as the kernel [k, C, F].
      const k = layer.kernelSize;
      const left = Math.floor((k - 1) / 2);
      const padded = tf.pad(x, [[0, 0], [left, k - 1 - left], [0, 0]]);
      const taps = Array.from({ length: k }, (_, i) => tf.slice(padded, [0, i, 0], [-1, x.shape[1]!, c]));
      return tf.reshape(tf.stack(taps, 2), [-1, k * c]) as tf.Tensor2D;
    }
    if (!(layer instanceof QuantConv2D || layer instanceof QuantDepthwiseConv2D)) return tf.reshape(x, [-1, c]) as tf.Tensor2D; // dense: rows are inputs
    const [kh, kw] = layer.kernelSize;
    if (kh === 1 && kw === 1) return tf.reshape(x, [-1, c]) as tf.Tensor2D;
    const [h, w] = [x.shape[1]!, x.shape[2]!];
    const top = Math.floor((kh - 1) / 2);
    const left = Math.floor((kw - 1) / 2);
    const padded = tf.pad(x, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]]);
    const taps: tf.Tensor[] = [];
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(tf.slice(padded, [0, i, j, 0], [-1, h, w, c]));
    if (layer instanceof QuantDepthwiseConv2D) return tf.reshape(tf.stack(taps, 4), [-1, kh * kw]) as tf.Tensor2D; // [N,H,W,C,k²]
    return tf.reshape(tf.stack(taps, 3), [-1, kh * kw * c]) as tf.Tensor2D; // [N,H,W,k²,C]
  });
}

/** C = E[x xᵀ] over the layer's input patches for `images`, in chunks of `chunk` images. */
export function inputCorrelation(model: tf.LayersModel, layer: QuantLayer, images: tf.Tensor4D, chunk = 128): number[][] {
  const probe = tf.model({ inputs: model.inputs, outputs: layer.input as Sym });
  let sum: tf.Tensor2D | null = null;
  let rows = 0;
  for (let start = 0; start < images.shape[0]; start += chunk) {
    const size = Math.min(chunk, images.shape[0] - start);
    const next: tf.Tensor2D = tf.tidy(() => {
      const x = layer.quantizeInput(probe.predict(tf.slice(images, start, size)) as tf.Tensor);
      const p = patches(x, layer);
      rows += p.shape[0];
      const xtx = tf.matMul(p, p, true, false);
      return (sum == null ? xtx : tf.add(sum, xtx)) as tf.Tensor2D;
    });
    sum?.dispose();
    sum = next;
  }
  const c = tf.tidy(() => tf.div(sum!, rows));
  sum!.dispose();
  const values = c.arraySync() as number[][];
  c.dispose();
  return values;
}
