/**
 * The DQ auto-encoder row of the side-by-side benchmark (issue 21), beside bench/vs-pytorch/driver.ts: for each
 * batch it runs lowbit's DQ training step (dist/bench/vs-pytorch/dq-side.js, native backend) and its PyTorch port
 * (bench/vs-pytorch/dq_torch.py, Debian's /usr/bin/python3 with python3-torch) alternately, each in its own
 * process, `--reps` times with the order flipped on every repetition, and reports the median img/s of each side,
 * their ratio, the best run of each side (the least disturbed on a shared machine), the CPU time per step of each side's process, peak RSS, GFLOP/s (6 × forward MACs per image × img/s, MACs counted by the PyTorch side) and the
 * first-step loss of each side (a rough check that the two steps compute the same thing). Both sides use 2
 * threads (OMP_NUM_THREADS=2; torch.set_num_threads(2)) and the DQ method's defaults (M = 4, K = 32, 2 levels).
 *
 *   npm run build && node dist/bench/vs-pytorch/dq-driver.js [--batches 64,128] [--steps 10] [--reps 2]
 *     [--linear onednn|blas] [--deconv onednn|torch] [--name dq]
 *
 * --linear and --deconv choose the PyTorch side's route for its matrix products and transposed convolutions
 * (dq_torch.py says why oneDNN is the default for both). Writes bench/results/vs-pytorch/NAME.json and NAME.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { arg } from '../runner.js';
import { median, runJson as runSide } from './side.js';

interface Side { imagesPerSecond: number; peakRssMB: number; msPerStep: number; cpuMsPerStep: number; firstLoss: number; macsPerImage?: number }
const PYTHON = process.env.LOWBIT_BENCH_PYTHON ?? '/usr/bin/python3';
const env = { ...process.env, OMP_NUM_THREADS: '2' };

const runJson = (cmd: string, args: string[]) => runSide(cmd, args, env);

const batches = arg('batches', '64,128').split(',').map(Number);
const steps = arg('steps', '10');
const reps = Number(arg('reps', '2'));
const name = arg('name', 'dq');
const linear = arg('linear', 'onednn');
const deconv = arg('deconv', 'onednn');
if (linear !== 'onednn' && linear !== 'blas') { process.stderr.write(`--linear must be onednn or blas, got ${linear}\n`); process.exit(2); }
if (deconv !== 'onednn' && deconv !== 'torch') { process.stderr.write(`--deconv must be onednn or torch, got ${deconv}\n`); process.exit(2); }
const lowbitSide = (batch: number) => runJson(process.execPath, ['dist/bench/vs-pytorch/dq-side.js', String(batch), steps]);
const torchSide = (batch: number) => runJson(PYTHON, ['bench/vs-pytorch/dq_torch.py', '--batch', String(batch), '--steps', steps,
  '--threads', '2', '--linear', linear, '--deconv', deconv]);

const started = performance.now();
const loadAtStart = loadavg();
const rows: Array<Record<string, unknown>> = [];
let torchInfo: Record<string, unknown> = {};
for (const batch of batches) {
  const rowStart = performance.now();
  const runs: { lowbit: Side[]; pytorch: Side[] } = { lowbit: [], pytorch: [] };
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? ['lowbit', 'pytorch'] as const : ['pytorch', 'lowbit'] as const;
    for (const side of order) {
      const out = side === 'lowbit' ? lowbitSide(batch) : torchSide(batch);
      if (side === 'pytorch') torchInfo = { torch: out.torch, torchThreads: out.torchThreads, linear: out.linear, deconv: out.deconv };
      runs[side].push(out as unknown as Side);
    }
  }
  const macs = runs.pytorch[0].macsPerImage ?? 0;
  const ips = { lowbit: median(runs.lowbit.map((s) => s.imagesPerSecond)), pytorch: median(runs.pytorch.map((s) => s.imagesPerSecond)) };
  const row = {
    model: 'dq-autoencoder', batch, lowbitImagesPerSecond: ips.lowbit, pytorchImagesPerSecond: ips.pytorch, ratio: ips.lowbit / ips.pytorch,
    lowbitPeakRssMB: Math.max(...runs.lowbit.map((s) => s.peakRssMB)), pytorchPeakRssMB: Math.max(...runs.pytorch.map((s) => s.peakRssMB)),
    macsPerImage: macs, lowbitGflops: (6 * macs * ips.lowbit) / 1e9, pytorchGflops: (6 * macs * ips.pytorch) / 1e9,
    // Best of the repetitions (the least disturbed run of each side): on a shared machine the median can still be a contended run.
    lowbitBestImagesPerSecond: Math.max(...runs.lowbit.map((s) => s.imagesPerSecond)), pytorchBestImagesPerSecond: Math.max(...runs.pytorch.map((s) => s.imagesPerSecond)),
    lowbitCpuMsPerStep: median(runs.lowbit.map((s) => s.cpuMsPerStep)), pytorchCpuMsPerStep: median(runs.pytorch.map((s) => s.cpuMsPerStep)),
    lowbitFirstLoss: runs.lowbit[0].firstLoss, pytorchFirstLoss: runs.pytorch[0].firstLoss,
    wallSeconds: (performance.now() - rowStart) / 1000, runs,
  };
  rows.push(row);
  process.stderr.write(`dq-autoencoder b${String(batch).padEnd(4)} lowbit ${ips.lowbit.toFixed(1).padStart(6)} img/s  pytorch ${ips.pytorch.toFixed(1).padStart(6)} img/s  ratio ${row.ratio.toFixed(2)}  (${row.wallSeconds.toFixed(0)} s)\n`);
}
let commit = 'unknown';
try { commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim(); } catch { /* not a checkout */ }
const result = {
  command: `node dist/bench/vs-pytorch/dq-driver.js ${process.argv.slice(2).join(' ')}`.trim(), commit, node: process.version,
  cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(), threads: 2, reps, steps: Number(steps), linear, deconv, ...torchInfo,
  wallSeconds: (performance.now() - started) / 1000, loadAverage: { start: loadAtStart, end: loadavg() },
  note: 'median img/s over reps, sides alternated per repetition, each run in its own process after 2 warm-up steps; both sides train '
    + 'the DQ auto-encoder (M = 4, K = 32, 2 levels, M·D = 32, width 32, 5 mixtures, EMA codebooks) with Adam lr 2e-3 on Fashion-MNIST '
    + 'training batches (IDX bytes / 255 per batch); lowbit: native backend, its training loop and dqLoss; PyTorch: dq_torch.py; '
    + 'best: the highest img/s over the reps of each side (its least disturbed run); GFLOP/s = 6 × forward conv MACs per image × img/s; CPU ms/step: median CPU time of the side\'s process (all threads, OpenMP spin-waiting included) per timed step; firstLoss: loss of the first step (different initial draws, the same distributions)',
  rows,
};
mkdirSync('bench/results/vs-pytorch', { recursive: true });
writeFileSync(`bench/results/vs-pytorch/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
const f = (v: number, d = 0) => v.toFixed(d);
const md = [
  '# lowbit (native) vs PyTorch: the DQ auto-encoder step',
  '',
  `\`${result.command}\` — ${result.date}, commit ${commit}, ${result.cpu} (${result.cores} cores), ${f(result.wallSeconds / 60, 1)} min; `
    + `${reps} alternated repetitions of ${steps} steps after 2 warm-up steps (img/s: median over the repetitions; best: the fastest repetition of each side); load average ${f(loadAtStart[0], 1)} at the start, ${f(loadavg()[0], 1)} at the end (2 cores).`,
  `Both sides: the DQ method's defaults (M = 4 groups, K = 32 codes, 2 levels, M·D = 32, width 32, 5 logistic mixtures, EMA codebooks with `
    + `dead-code restarts), Adam lr 2e-3, Fashion-MNIST batches, 2 threads. lowbit: native backend (dq-side.ts). PyTorch ${String(torchInfo.torch)} `
    + `(dq_torch.py): matrix products ${linear === 'onednn' ? 'through oneDNN (1×1 conv)' : 'through torch.mm'}, transposed convolutions `
    + `${deconv === 'onednn' ? 'through oneDNN (four 2×2 convolutions)' : 'as nn.ConvTranspose2d'}.`,
  '',
  '| model | batch | lowbit img/s | PyTorch img/s | lowbit / PyTorch | best of reps: lowbit / PyTorch img/s (ratio) | lowbit ms/step (CPU ms) | PyTorch ms/step (CPU ms) | lowbit GFLOP/s | PyTorch GFLOP/s | peak RSS lowbit / PyTorch (MB) | first-step loss lowbit / PyTorch |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const x = r as Record<string, number>;
    return `| dq-autoencoder | ${x.batch} | ${f(x.lowbitImagesPerSecond, 1)} | ${f(x.pytorchImagesPerSecond, 1)} | ${f(x.ratio, 2)}× | `
      + `${f(x.lowbitBestImagesPerSecond, 1)} / ${f(x.pytorchBestImagesPerSecond, 1)} (${f(x.lowbitBestImagesPerSecond / x.pytorchBestImagesPerSecond, 2)}×) | `
      + `${f((1000 * x.batch) / x.lowbitImagesPerSecond)} (${f(x.lowbitCpuMsPerStep)}) | ${f((1000 * x.batch) / x.pytorchImagesPerSecond)} (${f(x.pytorchCpuMsPerStep)}) | ${f(x.lowbitGflops, 1)} | ${f(x.pytorchGflops, 1)} | `
      + `${f(x.lowbitPeakRssMB)} / ${f(x.pytorchPeakRssMB)} | ${f(x.lowbitFirstLoss, 3)} / ${f(x.pytorchFirstLoss, 3)} |`;
  }),
  '',
].join('\n');
writeFileSync(`bench/results/vs-pytorch/${name}.md`, md);
process.stderr.write(`wrote bench/results/vs-pytorch/${name}.json and .md\n`);
