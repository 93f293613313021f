/**
 * Adam's update as one native kernel per variable. TF.js's AdamOptimizer runs about a dozen ops
 * per variable per step (two moment updates, two bias corrections, sqrt, add, div, mul, add),
 * each through the engine; with small variables that bookkeeping, not arithmetic, is the cost
 * (fusing it took vgg-small at batch 64 from 796 to 922 img/s: bench/results/train-speed-native-fused*.json).
 * While the native backend is active, AdamOptimizer.applyGradients computes, per float32
 * variable, with TF.js's formula and operation order:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
 *   θ ← θ + (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε) · (−lr)
 * (native/dnnl_addon.cc: AdamUpdate), creating the m and v slots as TF.js does (same names, so
 * optimizer checkpoints are unchanged). Other optimizers and backends keep TF.js's path.
 * Agreement with tf.train.adam on the cpu backend is tested (test/native.test.ts).
 */
import * as tf from './tf.js';

export const ADAM_UPDATE = 'LowbitAdamUpdate';

interface Slot { originalName: string; variable: tf.Variable }
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: Slot[];
  accumulatedSecondMoment: Slot[];
  incrementIterations(): void;
}
type Grads = tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>;
type Apply = (this: AdamInternals, grads: Grads) => void;

let original: Apply | null = null;

function fusedApplyGradients(this: AdamInternals, grads: Grads): void {
  const names = Array.isArray(grads) ? grads.map((g) => g.name) : Object.keys(grads);
  const gradientOf = (name: string, i: number) => (Array.isArray(grads) ? grads[i].tensor : grads[name]);
  const variables = tf.engine().registeredVariables;
  const eligible = names.every((name, i) => variables[name].dtype === 'float32' && (gradientOf(name, i)?.dtype ?? 'float32') === 'float32');
  if (!eligible || tf.getKernel(ADAM_UPDATE, tf.getBackend()) == null) {
    original!.call(this, grads);
    return;
  }
  tf.tidy(() => {
    names.forEach((name, i) => {
      const value = variables[name];
      // The slots exactly as TF.js makes them (names are what optimizer checkpoints store).
      this.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      this.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      const gradient = gradientOf(name, i);
      if (gradient == null) return;
      const m = this.accumulatedFirstMoment[i].variable;
      const v = this.accumulatedSecondMoment[i].variable;
      const [newValue, newM, newV] = tf.engine().runKernel(ADAM_UPDATE, { value, m, v, gradient, accBeta1: this.accBeta1, accBeta2: this.accBeta2 },
        { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      m.assign(newM);
      v.assign(newV);
      value.assign(newValue);
    });
    this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
    this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
  });
  this.incrementIterations();
}

/** Routes AdamOptimizer.applyGradients through the fused kernel (idempotent). */
export function installFusedAdam(): void {
  if (original != null) return;
  const proto = tf.AdamOptimizer.prototype as unknown as { applyGradients: Apply };
  original = proto.applyGradients;
  proto.applyGradients = fusedApplyGradients;
}

export function uninstallFusedAdam(): void {
  if (original == null) return;
  (tf.AdamOptimizer.prototype as unknown as { applyGradients: Apply }).applyGradients = original;
  original = null;
}
