/**
 * The native C++ kernels' threaded paths (native/parallel.h: at least 2^18 elements) against
 * their one-thread paths: the same ops on tensors above the threshold, run in two child processes
 * with OMP_NUM_THREADS=1 and 2 (and the 2-thread one twice: the same numbers every run).
 * Elementwise results and per-image or per-block loops are bit-identical across thread counts;
 * results that sum per-thread partials (per-channel sums, batch-norm statistics and their
 * gradients, PReLU's ∂α, LSQ's ∂s) agree within 1e-5. Without the addon everything skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backendAvailable } from '../src/node.js';
import { relativeError } from './helpers.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';

const at = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
// [32, 32, 32, 9] = 294912 elements, over native/parallel.h's 2^18.
const script = `
const { tf, setBackend } = await import(${at('../src/node.js')});
const { batchNormTrain } = await import(${at('../src/backend/native-batchnorm.js')});
const { lsq } = await import(${at('../src/quantizers/uniform.js')});
const { dorefaActivation } = await import(${at('../src/quantizers/dorefa.js')});
await setBackend('native');
const shape = [32, 32, 32, 9];
const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
const y = tf.randomNormal(shape, 0, 1, 'float32', 2);
const w = tf.randomNormal(shape, 0, 1, 'float32', 3);
const alpha = tf.randomUniform([9], 0.05, 0.3, 'float32', 4);
const scale = tf.randomUniform([9], 0.5, 1.5, 'float32', 5);
const shift = tf.randomNormal([9], 0, 1, 'float32', 6);
const step = tf.scalar(0.05);
const out = {};
const put = (name, t) => { out[name] = Buffer.from(t.dataSync().buffer.slice(0)).toString('base64'); };
put('add', tf.add(x, y));
put('relu', tf.relu(x));
put('prelu', tf.prelu(x, alpha));
const [pdx, pda] = tf.grads((a, b) => tf.sum(tf.mul(tf.prelu(a, b), w)))([x, alpha]);
put('prelu.dx', pdx); put('prelu.dalpha', pda);
put('sum', tf.sum(x, [0, 1, 2]));
put('mean.hw', tf.mean(x, [1, 2]));
const pooled = tf.maxPool(x, 2, 2, 'valid');
put('maxPool', pooled);
put('maxPool.dx', tf.grad((a) => tf.sum(tf.mul(tf.maxPool(a, 3, 1, 'same'), w)))(x));
put('avgPool.dx', tf.grad((a) => tf.sum(tf.avgPool(a, 2, 2, 'valid')))(x));
put('concat', tf.concat([x, y], 3));
put('split.dx', tf.grad((a) => tf.sum(tf.mul(tf.split(tf.concat([a, y], 3), [9, 9], 3)[0], w)))(x));
const [bny, bnm, bnv] = batchNormTrain(x, scale, shift, 1e-3);
put('bn.y', bny); put('bn.mean', bnm); put('bn.var', bnv);
const [bdx, bds, bdo] = tf.grads((a, s, o) => tf.sum(tf.mul(batchNormTrain(a, s, o, 1e-3)[0], w)))([x, scale, shift]);
put('bn.dx', bdx); put('bn.dscale', bds); put('bn.doffset', bdo);
put('lsq', lsq(x, step, { bits: 2 }));
const [ldx, lds] = tf.grads((a, s) => tf.sum(tf.mul(lsq(a, s, { bits: 2 }), w)))([x, step]);
put('lsq.dx', ldx); put('lsq.dstep', lds);
put('dorefa', dorefaActivation(x, 2));
put('dorefa.dx', tf.grad((a) => tf.sum(tf.mul(dorefaActivation(a, 2), w)))(x));
process.stdout.write(JSON.stringify(out));
`;
/** Results summed from per-thread partials: equal within 1e-5 across thread counts, not bit for bit. */
const summed = new Set(['prelu.dalpha', 'sum', 'bn.mean', 'bn.var', 'bn.y', 'bn.dx', 'bn.dscale', 'bn.doffset', 'lsq.dstep']);

function runWith(threads: number, file: string): Record<string, Float32Array> {
  const json = execFileSync(process.execPath, [file], { env: { ...process.env, OMP_NUM_THREADS: String(threads) }, maxBuffer: 1 << 28 }).toString();
  const raw = JSON.parse(json) as Record<string, string>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => {
    const b = Buffer.from(v, 'base64');
    return [k, new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)];
  }));
}

const bitEqual = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

test('native C++ kernels above the threading threshold: 2 threads = 1 thread (bit-identical, or within 1e-5 for per-thread sums), and the same on every run', { skip }, () => {
  const file = join(mkdtempSync(join(tmpdir(), 'lowbit-threads-')), 'run.mjs');
  writeFileSync(file, script);
  const one = runWith(1, file);
  const two = runWith(2, file);
  const twoAgain = runWith(2, file);
  assert.equal(Object.keys(one).length, 23);
  for (const [name, a] of Object.entries(one)) {
    const b = two[name];
    assert.equal(a.length, b.length, name);
    assert.ok(bitEqual(b, twoAgain[name]), `${name}: two 2-thread runs differ`);
    if (summed.has(name)) assert.ok(relativeError(b, a) < 1e-5, `${name}: 2 threads vs 1: ${relativeError(b, a)}`);
    else assert.ok(bitEqual(a, b), `${name}: 2 threads differ from 1`);
  }
});
