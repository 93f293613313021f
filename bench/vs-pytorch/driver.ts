/**
 * Side-by-side benchmark, lowbit (native) vs the same models and quantizers in PyTorch (issue 21).
 * For each row (model × variant × batch) it runs the two sides alternately, each in its own
 * process (lowbit: dist/bench/vs-pytorch/lowbit-side.js; PyTorch: bench/vs-pytorch/torch_side.py,
 * Debian's /usr/bin/python3 with python3-torch), `--reps` times with the order flipped on every
 * repetition so that drift of a shared machine cancels, and reports the median img/s of each side,
 * their ratio, peak RSS and achieved GFLOP/s (6 × forward MACs per image × img/s, MACs counted by
 * the PyTorch side) against an sgemm peak probe of each side (oneDNN through the addon; torch.mm).
 * Both sides use 2 threads (OMP_NUM_THREADS=2; torch.set_num_threads(2)).
 *
 *   npm run build && node dist/bench/vs-pytorch/driver.js [--models lenet5,vgg-small,resnet20,mobilenet-tiny]
 *     [--variants float,dorefa-w1,dorefa-w2a2,lsq-w2a2,srq-w2a2] [--batches 64,128] [--steps 10] [--reps 2] [--name full]
 *
 * Writes bench/results/vs-pytorch/NAME.json and NAME.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { arg } from '../runner.js';

interface Side { imagesPerSecond: number; peakRssMB: number; msPerStep: number; macsPerImage?: number }
const PYTHON = process.env.LOWBIT_BENCH_PYTHON ?? '/usr/bin/python3';
const env = { ...process.env, OMP_NUM_THREADS: '2' };

function runJson(cmd: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}
const lowbitSide = (args: string[]) => runJson(process.execPath, ['dist/bench/vs-pytorch/lowbit-side.js', ...args]);
const torchSide = (args: string[]) => runJson(PYTHON, ['bench/vs-pytorch/torch_side.py', ...args]);
const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const models = arg('models', 'lenet5,vgg-small,resnet20,mobilenet-tiny').split(',');
const variants = arg('variants', 'float,dorefa-w1,dorefa-w2a2,lsq-w2a2,srq-w2a2').split(',');
const batches = arg('batches', '64,128').split(',').map(Number);
const steps = arg('steps', '10');
const reps = Number(arg('reps', '2'));
const name = arg('name', 'full');

const peak = { lowbit: lowbitSide(['--probe']).gflops as number, pytorch: torchSide(['--probe', '--threads', '2']).gflops as number };
process.stderr.write(`sgemm peak: lowbit/oneDNN ${peak.lowbit.toFixed(1)} GFLOP/s, torch.mm ${peak.pytorch.toFixed(1)} GFLOP/s\n`);
const rows: object[] = [];
for (const model of models) for (const variant of variants) for (const batch of batches) {
  const runs: { lowbit: Side[]; pytorch: Side[] } = { lowbit: [], pytorch: [] };
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? ['lowbit', 'pytorch'] as const : ['pytorch', 'lowbit'] as const;
    for (const side of order) {
      runs[side].push((side === 'lowbit' ? lowbitSide([model, variant, String(batch), steps])
        : torchSide(['--model', model, '--variant', variant, '--batch', String(batch), '--steps', steps, '--threads', '2'])) as unknown as Side);
    }
  }
  const macs = runs.pytorch[0].macsPerImage ?? 0;
  const ips = { lowbit: median(runs.lowbit.map((s) => s.imagesPerSecond)), pytorch: median(runs.pytorch.map((s) => s.imagesPerSecond)) };
  const row = {
    model, variant, batch, lowbitImagesPerSecond: ips.lowbit, pytorchImagesPerSecond: ips.pytorch, ratio: ips.lowbit / ips.pytorch,
    lowbitPeakRssMB: Math.max(...runs.lowbit.map((s) => s.peakRssMB)), pytorchPeakRssMB: Math.max(...runs.pytorch.map((s) => s.peakRssMB)),
    macsPerImage: macs, lowbitGflops: (6 * macs * ips.lowbit) / 1e9, pytorchGflops: (6 * macs * ips.pytorch) / 1e9, runs,
  };
  rows.push(row);
  process.stderr.write(`${model.padEnd(15)} ${variant.padEnd(12)} b${String(batch).padEnd(4)} lowbit ${ips.lowbit.toFixed(0).padStart(6)} img/s  pytorch ${ips.pytorch.toFixed(0).padStart(6)} img/s  ratio ${row.ratio.toFixed(2)}\n`);
}
let commit = 'unknown';
try { commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim(); } catch { /* not a checkout */ }
const result = {
  command: `node dist/bench/vs-pytorch/driver.js ${process.argv.slice(2).join(' ')}`.trim(), commit, node: process.version,
  cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(), threads: 2, reps, steps: Number(steps), peakGflops: peak,
  note: 'median img/s over reps, sides alternated per repetition, each run in its own process after 2 warm-up steps; lowbit: native backend, '
    + 'its training loop on MNIST batches; PyTorch: one random batch; GFLOP/s = 6 × forward MACs per image × img/s',
  rows,
};
mkdirSync('bench/results/vs-pytorch', { recursive: true });
writeFileSync(`bench/results/vs-pytorch/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
const f = (v: number, d = 0) => v.toFixed(d);
const md = [
  `# lowbit (native) vs PyTorch ${String((runs0(rows)))}`,
  '',
  `\`${result.command}\` — ${result.date}, ${result.cpu} (${result.cores} cores), 2 threads each, ${reps} alternated repetitions of ${steps} steps.`,
  `sgemm peak: oneDNN (lowbit) ${f(peak.lowbit, 1)} GFLOP/s, torch.mm ${f(peak.pytorch, 1)} GFLOP/s.`,
  '',
  '| model | variant | batch | lowbit img/s | PyTorch img/s | lowbit / PyTorch | lowbit GFLOP/s | PyTorch GFLOP/s | peak RSS lowbit / PyTorch (MB) |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const x = r as Record<string, number | string>;
    return `| ${x.model} | ${x.variant} | ${x.batch} | ${f(x.lowbitImagesPerSecond as number)} | ${f(x.pytorchImagesPerSecond as number)} | ${f(x.ratio as number, 2)}× | ${f(x.lowbitGflops as number, 1)} | ${f(x.pytorchGflops as number, 1)} | ${f(x.lowbitPeakRssMB as number)} / ${f(x.pytorchPeakRssMB as number)} |`;
  }),
  '',
].join('\n');
function runs0(r: object[]): string { return r.length === 1 ? '(smoke run: one row)' : ''; }
writeFileSync(`bench/results/vs-pytorch/${name}.md`, md);
process.stderr.write(`wrote bench/results/vs-pytorch/${name}.json and .md\n`);
