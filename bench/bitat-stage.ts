/**
 * BiTAT's last-stage training setup for the speed benchmarks (bench/vs-pytorch/lowbit-side.ts,
 * bench/profile-step.ts): docs/methods/bitat.md §1.3–1.5, as src/methods/bitat/run.ts trains it —
 * every binarizable layer binarized (per-channel sign·α, RSign inputs; first and last layer float),
 * the kernels of the earlier stages frozen, the last stage's layer(s) under the trainable transform
 * M = V diag(s) Vᵀ, V = V₀·expm(A − Aᵀ). V₀ and s start at the identity here instead of a PCA of
 * the layer's input (speed only: the same ops and shapes in every step; the PCA runs once per
 * stage, outside the steps).
 */
import type * as TF from '../src/backend/tf.js';
import { buildModel } from '../src/node.js';
import { bitatStages, bitatStudent } from '../src/methods/bitat/run.js';
import { BitatTransform } from '../src/methods/bitat/transform.js';

/** BiTAT's last-stage model of reference model `model` and the variables its step trains. */
export async function bitatLastStage(model: string): Promise<{ model: TF.LayersModel; variables: TF.Variable[] }> {
  const student = await bitatStudent(buildModel(model, { seed: 0 }));
  const stages = bitatStages(student);
  const last = stages[stages.length - 1];
  const frozen = new Set(stages.slice(0, -1).flat().map((l) => l.latentKernel));
  const transforms = last.map((l) => {
    const d = l.latentKernel.read().size / l.kernelColumns();
    const t = new BitatTransform(Array.from({ length: d }, () => new Array<number>(d).fill(0)), { identity: true }, l.name);
    l.kernelMetric = () => t.metric();
    return t;
  });
  const variables = [...student.trainableWeights.filter((w) => !frozen.has(w)).map((w) => w.read() as TF.Variable),
    ...transforms.flatMap((t) => t.variables())];
  return { model: student, variables };
}
