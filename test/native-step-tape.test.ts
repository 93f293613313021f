/**
 * The gradient tape's clones without an Identity kernel call (src/backend/native-tape.ts) against
 * the engine's own clone: the gradients of reference models' losses bit for bit, a second-order
 * gradient through saved tensors, flat tensor counts, no Identity kernels for saved tensors in the
 * profile, and the engine's own clone on wasm. Without the addon (LOWBIT_NATIVE=0) only the
 * backend-independent checks run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable, buildModel } from '../src/node.js';
import { installSharedClones, uninstallSharedClones } from '../src/backend/native-tape.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';

const hasOwnClone = () => Object.prototype.hasOwnProperty.call(tf.engine(), 'clone');

/** f() with the engine's own clone, then the shared clones back. */
function withEngineClone<T>(f: () => T): T {
  uninstallSharedClones();
  try {
    return f();
  } finally {
    installSharedClones('wasm');
  }
}

/** Loss and gradients of a reference model on a fixed batch, on the current backend. */
function gradients(name: string, seed: number): Float32Array[] {
  const model = buildModel(name, { seed });
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', seed + 1);
    const y = tf.oneHot(tf.tensor1d([1, 4, 7, 9], 'int32'), 10);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads, value } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
    return [Float32Array.from(value.dataSync()), ...vars.map((v) => Float32Array.from(grads[v.name].dataSync()))];
  });
  assert.equal(tf.memory().numTensors, before, `${name}: the step leaks tensors`);
  model.dispose();
  return out;
}

function assertSame(a: Float32Array[], b: Float32Array[], what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((t, i) => {
    assert.equal(t.length, b[i].length);
    for (let j = 0; j < t.length; j++) if (!Object.is(t[j], b[i][j])) assert.fail(`${what}: tensor ${i} element ${j} is ${t[j]}, the engine clone's ${b[i][j]}`);
  });
}

for (const name of ['mobilenet-tiny', 'resnet20', 'lenet5']) {
  test(`shared clones: ${name}'s loss and gradients bit-identical to the engine's clones on native`, { skip }, async () => {
    await setBackend('native');
    assert.ok(hasOwnClone(), 'the native backend installs its clone');
    const shared = gradients(name, 5);
    const own = withEngineClone(() => {
      assert.ok(!hasOwnClone());
      return gradients(name, 5);
    });
    assertSame(shared, own, name);
    await setBackend('wasm');
  });
}

test('shared clones: a second-order gradient through saved tensors equals the engine clone\'s', { skip }, async () => {
  await setBackend('native');
  // d²/dx² of Σ x³·relu(x) and of Σ exp(x)·x: the first gradients use saved inputs and outputs, whose clones carry the second.
  const f = (x: tf.Tensor) => tf.sum(tf.add(tf.mul(tf.mul(tf.mul(x, x), x), tf.relu(x)), tf.mul(tf.exp(x), x)));
  const run = () => tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.grad(f)(x)))(tf.tensor([-1.5, -0.25, 0.5, 2])).dataSync()));
  const shared = run();
  const own = withEngineClone(run);
  assert.deepEqual(shared, own);
  await setBackend('cpu');
  const cpu = run();
  await setBackend('wasm');
  shared.forEach((v, i) => assert.ok(Math.abs(v - cpu[i]) <= 1e-5 * Math.max(1, Math.abs(cpu[i])), `f''[${i}] = ${v}, cpu's ${cpu[i]}`));
});

test('shared clones: saved tensors run no Identity kernel; counts stay flat over Adam steps', { skip }, async () => {
  await setBackend('native');
  const model = buildModel('mobilenet-tiny', { seed: 3 });
  const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 4);
  const y = tf.oneHot(tf.tensor1d([2, 5], 'int32'), 10);
  const optimizer = tf.train.adam(1e-3);
  const step = () => { tf.dispose(optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true) ?? []); };
  step();
  const before = tf.memory();
  const profile = await tf.profile(step);
  for (let i = 0; i < 3; i++) step();
  const after = tf.memory();
  assert.equal(after.numTensors, before.numTensors, 'tensors');
  assert.equal(after.numBytes, before.numBytes, 'bytes');
  const identities = profile.kernels.filter((k) => k.name === 'Identity').length;
  uninstallSharedClones();
  const ownProfile = await tf.profile(step).finally(() => installSharedClones('wasm'));
  const ownIdentities = ownProfile.kernels.filter((k) => k.name === 'Identity').length;
  assert.ok(ownIdentities >= identities + 100, `Identity kernels per step: ${identities} shared, ${ownIdentities} with the engine's clone`);
  const counts = (p: typeof profile) => {
    const m = new Map<string, number>();
    for (const k of p.kernels) if (k.name !== 'Identity') m.set(k.name, (m.get(k.name) ?? 0) + 1);
    return [...m].sort().join(' ');
  };
  assert.equal(counts(profile), counts(ownProfile), 'only Identity kernels go');
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  await setBackend('wasm');
});

test('shared clones: the wasm backend keeps the engine\'s own clone', async () => {
  await setBackend('wasm');
  assert.ok(!hasOwnClone(), 'no clone override on wasm');
  const r = tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(x, x)))(tf.tensor([1, -2, 3])).dataSync()));
  assert.deepEqual(r, [2, -4, 6]);
});
