// per-step wall and cpu ms of lowbit's training loop (as bench/vs-pytorch/lowbit-side.ts), printed in blocks
const [dir, model, variant, batch, steps] = process.argv.slice(2);
const { setBackend, loadMnist, buildModel, train, dorefaModel } = await import(`${dir}/dist/src/node.js`);
await setBackend('native');
const data = loadMnist();
let m = buildModel(model, { seed: 0 });
if (variant === 'dorefa-w1') m = await dorefaModel(m, { wbits: 1, abits: 32 });
const stamps = [], cpu = [];
await train(m, data, { epochs: 1, batchSize: Number(batch), learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' },
  weightDecay: 0, seed: 0, maxStepsPerEpoch: Number(steps), skipValidation: true },
  { onStep: () => { stamps.push(performance.now()); const c = process.cpuUsage(); cpu.push((c.user + c.system) / 1000); } });
const blocks = [[1, 3], [3, 8], [8, 20], [20, 40], [40, 80], [80, 150], [150, 250], [250, 400]].filter(([a, b]) => b <= stamps.length);
console.log(JSON.stringify({ dir, model, variant, batch: Number(batch), blocks: blocks.map(([a, b]) => ({ steps: `${a + 1}-${b}`, ms: +((stamps[b - 1] - stamps[a - 1]) / (b - a)).toFixed(2), cpuMs: +((cpu[b - 1] - cpu[a - 1]) / (b - a)).toFixed(2) })) }));
