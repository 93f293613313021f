/**
 * `npm run bench`: training throughput of each reference model on each backend at batch 64 and
 * 128, through lowbit's own training loop on MNIST images. Each configuration runs in a fresh
 * child process so its peak RSS is its own. Writes bench/results/train-speed-<backend…>.json.
 *
 *   node dist/bench/train-speed.js [--models a,b] [--variants float,dorefa-w1] [--backends wasm,native,cpu] [--batches 64,128] [--steps N] [--out FILE]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { arg } from './runner.js';

interface Row { model: string; variant: string; backend: string; batch: number; steps: number; imagesPerSecond: number; msPerStep: number; peakRssMB: number }


async function child(model: string, variant: string, backend: string, batch: number, steps: number): Promise<void> {
  const { setBackend, dorefaModel, loadMnist, buildModel, train } = await import('../src/node.js');
  await setBackend(backend);
  const data = loadMnist();
  const float = buildModel(model, { seed: 0 });
  const m = variant === 'dorefa-w1' ? await dorefaModel(float, { wbits: 1, abits: 32 }) : float;
  const warmup = 2;
  const stamps: number[] = [];
  await train(m, data, {
    epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' },
    weightDecay: 0, seed: 0, maxStepsPerEpoch: warmup + steps, skipValidation: true,
  }, { onStep: () => stamps.push(performance.now()) });
  const ms = (stamps[stamps.length - 1] - stamps[warmup - 1]) / steps;
  const row: Row = { model, variant, backend, batch, steps, imagesPerSecond: (batch * 1000) / ms, msPerStep: ms,
    peakRssMB: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(row));
}

async function main(): Promise<void> {
  const models = arg('models', 'lenet5,vgg-small,resnet20,mobilenet-tiny').split(',');
  const backends = arg('backends', 'wasm').split(',');
  const variants = arg('variants', 'float').split(',');
  const batches = arg('batches', '64,128').split(',').map(Number);
  const steps = Number(arg('steps', '5'));
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  for (const backend of backends) for (const model of models) for (const variant of variants) for (const batch of batches) {
    const r = spawnSync(process.execPath, [self, '--child', model, variant, backend, String(batch), String(steps)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${model}/${variant}/${backend}/${batch} failed: ${r.stderr}`);
    const row = JSON.parse(r.stdout) as Row;
    rows.push(row);
    process.stderr.write(`${model.padEnd(15)} ${variant.padEnd(9)} ${backend.padEnd(6)} batch ${String(batch).padEnd(4)} ${row.imagesPerSecond.toFixed(1).padStart(7)} img/s  ${row.msPerStep.toFixed(0).padStart(6)} ms/step  peak RSS ${row.peakRssMB.toFixed(0)} MB\n`);
  }
  let commit = 'unknown';
  try { commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim(); } catch { /* not a checkout */ }
  const result = {
    command: `node dist/bench/train-speed.js ${process.argv.slice(2).join(' ')}`.trim(),
    commit, node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(),
    note: 'img/s over the timed steps after 2 warm-up steps; Adam, float32, MNIST 28×28×1 batches through lowbit.train',
    rows,
  };
  mkdirSync('bench/results', { recursive: true });
  const path = arg('out', `bench/results/train-speed-${backends.join('-')}${variants.length > 1 || variants[0] !== 'float' ? `-${variants.join('-')}` : ''}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`wrote ${path}\n`);
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], process.argv[4], process.argv[5], Number(process.argv[6]), Number(process.argv[7]));
} else {
  await main();
}
