/**
 * The gradient tape's clones without a kernel call. While it records, TF.js's engine saves every
 * tensor a gradient needs as a clone (engine.clone: an Identity kernel run through the whole
 * kernel machinery, plus a tape node whose gradient is a Cast), about 120 a mobilenet-tiny
 * training step (docs/engine.md). The native backend's Identity already shares the input's buffer
 * (a reference count; src/backend/native.ts shareBuffer), so the kernel call is pure bookkeeping.
 * While the native backend is active, engine.clone makes the same tensor directly: the reference
 * count, a new tensor on the same data and the same tape node, so gradients (higher-order ones
 * included), memory accounting and disposal are as before; only the Identity entry in tf.profile's
 * kernel list goes. Strings and tensors of another backend keep the engine's own clone.
 * Tested in test/native-step-tape.test.ts.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from './tf.js';

interface Backend { incRef(dataId: object): void }
interface EngineInternals {
  backendName: string;
  backend: Backend;
  state: { activeScope: { name: string }; tensorInfo: Map<object, { backend: Backend }> };
  clone(x: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: TensorInfo, backend?: Backend): tf.Tensor;
  addTapeNode(kernelName: string, inputs: Record<string, tf.Tensor>, outputs: tf.Tensor[], gradientsFunc: (dy: tf.Tensor) => Record<string, () => tf.Tensor>,
    saved: tf.Tensor[], attrs: Record<string, unknown>): void;
  runKernel(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor;
}

let installed: { engine: EngineInternals; backendName: string } | null = null;

/** The engine's clone with the Identity kernel call left out (see the file comment). */
function sharedClone(this: EngineInternals, x: tf.Tensor): tf.Tensor {
  const own = Object.getPrototypeOf(this).clone as (x: tf.Tensor) => tf.Tensor;
  if (installed == null || this.backendName !== installed.backendName || x.dtype === 'string' || x.dtype === 'complex64') return own.call(this, x);
  const backend = this.backend;
  if (this.state.tensorInfo.get(x.dataId)?.backend !== backend) return own.call(this, x);
  backend.incRef(x.dataId);
  const y = this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend);
  // The engine's clone's tape node (tfjs-core engine.js clone): the gradient passes dy through a Cast to float32.
  const grad = (dy: tf.Tensor) => ({ x: () => this.runKernel('Cast', { x: dy }, { dtype: 'float32' }) });
  this.addTapeNode(this.state.activeScope.name, { x }, [y], grad, [], {});
  return y;
}

/** Makes the engine's clones share buffers without a kernel call while `backendName` (the native backend's base, wasm) computes (idempotent). */
export function installSharedClones(backendName: string): void {
  const engine = tf.engine() as unknown as EngineInternals;
  installed = { engine, backendName };
  engine.clone = sharedClone;
}

/** Restores the engine's own clone. */
export function uninstallSharedClones(): void {
  if (installed == null) return;
  delete (installed.engine as unknown as { clone?: unknown }).clone; // the prototype's method again
  installed = null;
}
