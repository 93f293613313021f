/**
 * Side-by-side benchmark, lowbit (native) vs the same models and quantizers in PyTorch (issue 21).
 * For each row (model × variant × batch) it runs the two sides alternately, each in its own
 * process (lowbit: dist/bench/vs-pytorch/lowbit-side.js; PyTorch: bench/vs-pytorch/torch_side.py,
 * Debian's /usr/bin/python3 with python3-torch), `--reps` times with the order flipped on every
 * repetition so that drift of a shared machine cancels, and reports the median img/s of each side,
 * their ratio, peak RSS and achieved GFLOP/s (6 × forward MACs per image × img/s, MACs counted by
 * the PyTorch side) against the machine's measured sgemm peak: the best of both sides' probes, which
 * time the same product (M = N = K = 1024 float32, 3 warm-up calls, best of 20) on every route each
 * side has (lowbit: oneDNN matmul and 1×1 conv; PyTorch: torch.mm = its BLAS, oneDNN inner product,
 * oneDNN 1×1 conv). Both sides use `--threads` threads, 2 by default (OMP_NUM_THREADS; torch.set_num_threads), recorded.
 * PyTorch's Linear layers run through oneDNN by default (`--linear onednn`; torch_side.py says why).
 *
 *   npm run build && node dist/bench/vs-pytorch/driver.js [--models lenet5,vgg-small,resnet20,mobilenet-tiny]
 *     [--variants float,dorefa-w1,dorefa-w2a2,lsq-w2a2,srq-w2a2,bitat-w1a1] [--batches 64,128] [--steps 10] [--reps 2]
 *     [--model-steps lenet5=40,mobilenet-tiny=40] [--linear onednn|blas] [--threads 2] [--max-minutes 0] [--name full]
 *
 * --model-steps sets the steps of some models' rows (the others take --steps): a fast model's
 * few steps last a fraction of a second, too short to time on a shared machine.
 *
 * --max-minutes M (0: no limit) skips the rows that would likely end after M minutes and lists them
 * in the record and the table as incomplete.
 *
 * The DQ auto-encoder step is timed by dq-driver.ts instead (NOT_COMPARED below says why).
 *
 * Writes bench/results/vs-pytorch/NAME.json and NAME.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { arg } from '../runner.js';
import { median, runJson as runSide } from './side.js';

interface Side { imagesPerSecond: number; peakRssMB: number; msPerStep: number; macsPerImage?: number }
const PYTHON = process.env.LOWBIT_BENCH_PYTHON ?? '/usr/bin/python3';
const threads = arg('threads', '2');
if (!(Number(threads) >= 1 && Number.isInteger(Number(threads)))) { process.stderr.write(`--threads must be a whole number ≥ 1, got ${threads}\n`); process.exit(2); }
const env = { ...process.env, OMP_NUM_THREADS: threads };

const runJson = (cmd: string, args: string[]) => runSide(cmd, args, env);
const lowbitSide = (args: string[]) => runJson(process.execPath, ['dist/bench/vs-pytorch/lowbit-side.js', ...args]);
const torchSide = (args: string[]) => runJson(PYTHON, ['bench/vs-pytorch/torch_side.py', ...args]);

const models = arg('models', 'lenet5,vgg-small,resnet20,mobilenet-tiny').split(',');
const variants = arg('variants', 'float,dorefa-w1,dorefa-w2a2,lsq-w2a2,srq-w2a2,bitat-w1a1').split(',');
const linear = arg('linear', 'onednn');
if (linear !== 'onednn' && linear !== 'blas') { process.stderr.write(`--linear must be onednn or blas, got ${linear}\n`); process.exit(2); }
const NOT_COMPARED: Record<string, string> = {
  'dq-autoencoder': 'DQ quantizes the features of its own VQ auto-encoder (src/methods/dq/model.ts), not a classifier, so the four '
    + 'reference models have no DQ variant; its step is compared by its own driver, bench/vs-pytorch/dq-driver.ts (docs/results/dq-speed.md)',
};
const started = performance.now();
const loadAtStart = loadavg();
const batches = arg('batches', '64,128').split(',').map(Number);
const steps = arg('steps', '10');
const modelSteps = new Map(arg('model-steps', '').split(',').filter((e) => e !== '').map((e) => {
  const [m, n] = e.split('=');
  if (!models.includes(m) || !(Number(n) >= 1 && Number.isInteger(Number(n)))) { process.stderr.write(`--model-steps takes MODEL=STEPS entries for models of this run, got ${e}\n`); process.exit(2); }
  return [m, n] as const;
}));
const reps = Number(arg('reps', '2'));
const name = arg('name', 'full');
const maxMinutes = Number(arg('max-minutes', '0'));
if (!(maxMinutes >= 0)) { process.stderr.write(`--max-minutes must be a number ≥ 0 (0: no limit), got ${arg('max-minutes', '0')}\n`); process.exit(2); }
const skipped: string[] = [];

const probes = { lowbit: lowbitSide(['--probe']), pytorch: torchSide(['--probe', '--threads', threads]) };
const routes = (p: Record<string, unknown>) => Object.entries(p.routes as Record<string, number>).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
const peak = { lowbit: probes.lowbit.gflops as number, pytorch: probes.pytorch.gflops as number };
const machinePeak = Math.max(peak.lowbit, peak.pytorch);
process.stderr.write(`sgemm probes (GFLOP/s): lowbit ${routes(probes.lowbit)}; PyTorch ${routes(probes.pytorch)}; machine peak ${machinePeak.toFixed(1)}\n`);
const rows: object[] = [];
let slowestRow = 0;
for (const model of models) for (const variant of variants) for (const batch of batches) {
  const rowStart = performance.now();
  // --max-minutes: stop before a row that would likely end past the limit (the slowest row so far as its guess).
  if (maxMinutes > 0 && (rowStart - started + slowestRow) / 60000 > maxMinutes) { skipped.push(`${model} ${variant} b${batch}`); continue; }
  const runs: { lowbit: Side[]; pytorch: Side[] } = { lowbit: [], pytorch: [] };
  const rowSteps = modelSteps.get(model) ?? steps;
  for (let r = 0; r < reps; r++) {
    const order = r % 2 === 0 ? ['lowbit', 'pytorch'] as const : ['pytorch', 'lowbit'] as const;
    for (const side of order) {
      runs[side].push((side === 'lowbit' ? lowbitSide([model, variant, String(batch), rowSteps])
        : torchSide(['--model', model, '--variant', variant, '--batch', String(batch), '--steps', rowSteps, '--threads', threads, '--linear', linear])) as unknown as Side);
    }
  }
  const macs = runs.pytorch[0].macsPerImage ?? 0;
  const ips = { lowbit: median(runs.lowbit.map((s) => s.imagesPerSecond)), pytorch: median(runs.pytorch.map((s) => s.imagesPerSecond)) };
  const row = {
    model, variant, batch, steps: Number(rowSteps), lowbitImagesPerSecond: ips.lowbit, pytorchImagesPerSecond: ips.pytorch, ratio: ips.lowbit / ips.pytorch,
    lowbitPeakRssMB: Math.max(...runs.lowbit.map((s) => s.peakRssMB)), pytorchPeakRssMB: Math.max(...runs.pytorch.map((s) => s.peakRssMB)),
    macsPerImage: macs, lowbitGflops: (6 * macs * ips.lowbit) / 1e9, pytorchGflops: (6 * macs * ips.pytorch) / 1e9,
    wallSeconds: (performance.now() - rowStart) / 1000, runs,
  };
  rows.push(row);
  slowestRow = Math.max(slowestRow, performance.now() - rowStart);
  process.stderr.write(`${model.padEnd(15)} ${variant.padEnd(12)} b${String(batch).padEnd(4)} lowbit ${ips.lowbit.toFixed(0).padStart(6)} img/s  pytorch ${ips.pytorch.toFixed(0).padStart(6)} img/s  ratio ${row.ratio.toFixed(2)}  (${row.wallSeconds.toFixed(0)} s; ${((performance.now() - started) / 60000).toFixed(1)} min so far)\n`);
}
let commit = 'unknown';
try { commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim(); } catch { /* not a checkout */ }
const result = {
  command: `node dist/bench/vs-pytorch/driver.js ${process.argv.slice(2).join(' ')}`.trim(), commit, node: process.version,
  cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(), threads: Number(threads), reps, steps: Number(steps), linear,
  peakGflops: { ...peak, machine: machinePeak }, probes, wallSeconds: (performance.now() - started) / 1000,
  loadAverage: { start: loadAtStart, end: loadavg() },
  note: 'median img/s over reps, sides alternated per repetition, each run in its own process after 2 warm-up steps; lowbit: native backend, '
    + 'its training loop on MNIST batches; PyTorch: one random batch; GFLOP/s = 6 × forward MACs per image × img/s; '
    + '% of peak against the machine peak (best sgemm route of both probes)',
  rows, notCompared: NOT_COMPARED, maxMinutes: maxMinutes || null, skippedForTime: skipped,
};
mkdirSync('bench/results/vs-pytorch', { recursive: true });
writeFileSync(`bench/results/vs-pytorch/${name}.json`, `${JSON.stringify(result, null, 2)}\n`);
const f = (v: number, d = 0) => v.toFixed(d);
const md = [
  `# lowbit (native) vs PyTorch ${String((runs0(rows)))}`,
  '',
  `\`${result.command}\` — ${result.date}, commit ${commit}, ${result.cpu} (${result.cores} cores), ${f(result.wallSeconds / 60, 1)} min; `
    + `${reps} alternated repetitions of ${steps} steps${modelSteps.size > 0 ? ` (${[...modelSteps].map(([m, n]) => `${m} ${n}`).join(', ')})` : ''}; load average ${f(loadAtStart[0], 1)} at the start, ${f(loadavg()[0], 1)} at the end (2 cores).`,
  `Threads: lowbit ${String(probes.lowbit.threads)} (OMP_NUM_THREADS), PyTorch ${String(probes.pytorch.torchThreads)} (torch.get_num_threads(); `
    + `interop ${String(probes.pytorch.interopThreads)}). PyTorch ${String(probes.pytorch.torch)}: BLAS ${String(probes.pytorch.blasInfo)} `
    + `(${String(probes.pytorch.libblas)}), MKL ${probes.pytorch.mklAvailable ? 'yes' : 'no'}, MKL-DNN ${String(probes.pytorch.mkldnn)}; `
    + `its Linear layers ${linear === 'onednn' ? 'through oneDNN (1×1 conv)' : 'through its BLAS (nn.Linear)'}.`,
  `sgemm probes, M = N = K = 1024 float32, best of 20 (GFLOP/s): lowbit ${routes(probes.lowbit)}; PyTorch ${routes(probes.pytorch)}. `
    + `Machine peak ${f(machinePeak, 1)} GFLOP/s; "% peak" is against it.`,
  '',
  '| model | variant | batch | lowbit img/s | PyTorch img/s | lowbit / PyTorch | lowbit GFLOP/s (% peak) | PyTorch GFLOP/s (% peak) | peak RSS lowbit / PyTorch (MB) |',
  '|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const x = r as Record<string, number | string>;
    const g = (v: number) => `${f(v, 1)} (${f((100 * v) / machinePeak)} %)`;
    return `| ${x.model} | ${x.variant} | ${x.batch} | ${f(x.lowbitImagesPerSecond as number)} | ${f(x.pytorchImagesPerSecond as number)} | ${f(x.ratio as number, 2)}× | ${g(x.lowbitGflops as number)} | ${g(x.pytorchGflops as number)} | ${f(x.lowbitPeakRssMB as number)} / ${f(x.pytorchPeakRssMB as number)} |`;
  }),
  ...models.flatMap((m) => Object.keys(NOT_COMPARED).map((v) => `| ${m} | ${v} | — | not compared | not compared | — | — | — | — |`)),
  '',
  ...Object.entries(NOT_COMPARED).map(([v, why]) => `Not compared, ${v}: ${why}.`),
  ...(skipped.length > 0 ? ['', `**Incomplete:** --max-minutes ${maxMinutes} stopped the run before ${skipped.length} rows: ${skipped.join(', ')}.`] : []),
  '',
].join('\n');
function runs0(r: object[]): string { return r.length === 1 ? '(smoke run: one row)' : ''; }
writeFileSync(`bench/results/vs-pytorch/${name}.md`, md);
process.stderr.write(`wrote bench/results/vs-pytorch/${name}.json and .md\n`);
