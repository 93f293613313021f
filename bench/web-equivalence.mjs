// Before/after check for the asynchronous loop and the on-device quantizers (issue 19): the same
// tiny runs (float, DoReFa W1, SRQ W4 with the local grid, RQ W4, SRQ learned bits, DQ normal and
// k-means init; 200 MNIST training images, 3 steps per epoch) with two builds, one digest each.
// Usage: node bench/web-equivalence.mjs <build dir with src/node.js> [backend] > out.json
// Run: old = commit 6f273b7 (git archive | tar; npx tsc), new = this branch; the two outputs are
// in bench/results/web-equivalence/ and are byte-identical.
import { createHash } from 'node:crypto';
const lb = await import(process.argv[2] + '/src/node.js');
await lb.setBackend(process.argv[3] ?? 'wasm');
const data = lb.balancedSubset(lb.loadDataset('mnist'), 200);
const train = { epochs: 2, maxStepsPerEpoch: 3, batchSize: 16, seed: 1 };
const digest = async (r) => {
  const h = createHash('sha256');
  for (const w of r.model.weights) h.update(Buffer.from((await w.read().data()).buffer));
  const hist = r.record.history.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]);
  return { weights: h.digest('hex').slice(0, 16), hist, test: r.record.test ?? null };
};
const out = {};
const float = await lb.runMethod('float', { model: 'lenet5' }, { data, train });
out.float = await digest(float);
for (const [name, opts] of [['dorefa', { wbits: 1 }], ['srq', { wbits: 4 }], ['rq', { wbits: 4 }], ['srq', { wbits: 4, learnBits: true, targetBits: 3 }]]) {
  const r = await lb.runMethod(name, opts, { data, teacher: float.model, train: { ...train, epochs: 1 } });
  out[`${name}-${JSON.stringify(opts)}`] = await digest(r);
  r.model.dispose();
}
for (const init of ['normal', 'kmeans']) {
  const r = await lb.runMethod('dq', { groups: 2, codes: 8, levels: 1, embedChannels: 8, width: 8, init }, { data, train: { ...train, epochs: 1 } });
  out[`dq-${init}`] = { ...(await digest(r)), val: r.record.val, testDq: r.record.test };
  r.model.dispose();
}
console.log(JSON.stringify(out, null, 1));
