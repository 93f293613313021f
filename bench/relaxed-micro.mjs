/**
 * Kernel-level timing of the fused relaxed kernels on native (native/relaxed.cc) for RQ, RQ-ST,
 * SRQ + DropBits and SRQ with learned bit gates (bench/relaxed-srq-micro.mjs covers plain SRQ):
 * forward alone and tf.grad (forward + backward) of relaxedQuantize over 256k float32 elements,
 * best of 6, in process CPU time (user + system; meant for OMP_NUM_THREADS=1, where CPU time is
 * the kernel's own). The forward includes the op's random draws (RQ's Gumbel uniforms, n·W of
 * them; DropBits' gates), which both arms pay alike. With no argument it runs each configuration
 * in child processes with the lane path off and on (LOWBIT_RELAXED_LANES=0/1), alternated,
 * 3 rounds, prints ns per element and the ratio, and with --out PREFIX writes PREFIX.{txt,json}
 * (commit, /proc/loadavg before and after).
 *   npm run build && OMP_NUM_THREADS=1 node bench/relaxed-micro.mjs [--out bench/results/relaxed-fused/rq-lanes-micro]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CONFIGS = {
  // name: options, α, σ/α, x generator. σ = α/3 (the kinds' initial σ): local windows of W = 3.
  'rq w2-signed λ=1 (W=3)': [{ method: 'rq', bits: 2, signed: true, temperature: 1 }, 0.05, 1 / 3, 'normal:0.06'],
  'rq a2-unsigned λ=1 (W=3)': [{ method: 'rq', bits: 2, signed: false, temperature: 1 }, 0.3, 1 / 3, 'relu:0.5'],
  'rq w3-signed λ=1 (W=3)': [{ method: 'rq', bits: 3, signed: true, temperature: 1 }, 0.03, 1 / 3, 'normal:0.06'],
  'rq w2-signed λ=0.5 wide σ (W=4, whole grid)': [{ method: 'rq', bits: 2, signed: true, temperature: 0.5 }, 0.05, 0.7, 'normal:0.06'],
  'rq-st w2-signed λ=1 (W=3)': [{ method: 'rq-st', bits: 2, signed: true, temperature: 1 }, 0.05, 1 / 3, 'normal:0.06'],
  'rq-st w3-signed λ=1 (W=3)': [{ method: 'rq-st', bits: 3, signed: true, temperature: 1 }, 0.03, 1 / 3, 'normal:0.06'],
  'srq+dropbits w2-signed p=0.1 (W=3)': [{ method: 'srq', bits: 2, signed: true, dropBits: 0.1 }, 0.05, 1 / 3, 'normal:0.06'],
  'srq+dropbits w3-signed p=0.1 (W=3)': [{ method: 'srq', bits: 3, signed: true, dropBits: 0.1 }, 0.03, 1 / 3, 'normal:0.06'],
  'srq gates w4-signed (W=3, 2 gates)': [{ method: 'srq', bits: 4, signed: true, gates: [1.5, 0.3] }, 0.02, 1 / 3, 'normal:0.06'],
};

if (process.argv[2] === '--child') {
  const [opts, alpha, ratio, gen] = CONFIGS[process.argv[3]];
  const { tf, setBackend } = await import('../dist/src/node.js');
  const { relaxedQuantize } = await import('../dist/src/quantizers/relaxed.js');
  await setBackend('native');
  const n = 1 << 18;
  const [kind, sd] = gen.split(':');
  const z = tf.randomNormal([n], 0, Number(sd), 'float32', 1);
  const x = kind === 'relu' ? tf.relu(z) : z;
  const a = tf.scalar(alpha), s = tf.scalar(alpha * ratio);
  const { gates, ...rest } = opts;
  const o = { ...rest, training: true, bitGates: gates?.map((g) => tf.scalar(g)) };
  const g = tf.grad((xx) => tf.sum(relaxedQuantize(xx, a, s, o)));
  let fw = Infinity, bw = Infinity;
  const cpuMs = (c) => (c.user + c.system) / 1000;
  for (let r = 0; r < 6; r++) {
    let t = process.cpuUsage(); const y = relaxedQuantize(x, a, s, o); y.dataSync(); fw = Math.min(fw, cpuMs(process.cpuUsage(t))); y.dispose();
    t = process.cpuUsage(); const d = g(x); d.dataSync(); bw = Math.min(bw, cpuMs(process.cpuUsage(t))); d.dispose();
  }
  console.log(JSON.stringify({ fw: (fw * 1e6) / n, grad: (bw * 1e6) / n }));
} else {
  const self = fileURLToPath(import.meta.url);
  const outAt = process.argv.indexOf('--out');
  const prefix = outAt > 0 ? process.argv[outAt + 1] : null;
  const only = process.argv.indexOf('--only') > 0 ? process.argv[process.argv.indexOf('--only') + 1] : null;
  const names = Object.keys(CONFIGS).filter((k) => only == null || k.startsWith(only));
  const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
  const clean = execFileSync('git', ['status', '--porcelain', '--untracked-files=no']).toString().trim() === '';
  const loadBefore = loadavg();
  const best = {};
  const runs = [];
  for (let round = 0; round < 3; round++) {
    for (const name of names) {
      for (const lanes of ['0', '1']) {
        const out = JSON.parse(execFileSync(process.execPath, [self, '--child', name], { env: { ...process.env, LOWBIT_RELAXED_LANES: lanes } }).toString());
        runs.push({ round, name, lanes, ...out });
        const k = `${name}|${lanes}`;
        best[k] = { fw: Math.min(best[k]?.fw ?? Infinity, out.fw), grad: Math.min(best[k]?.grad ?? Infinity, out.grad) };
      }
    }
  }
  const lines = [
    `commit ${commit}${clean ? '' : ' (dirty)'}; OMP_NUM_THREADS ${process.env.OMP_NUM_THREADS ?? '(default)'}; /proc/loadavg before: ${loadBefore}; after: ${loadavg()}`,
    'config | forward CPU ns/elem lanes off → on | grad (fwd+bwd) CPU ns/elem off → on | grad speed-up',
  ];
  const table = names.map((name) => {
    const off = best[`${name}|0`], on = best[`${name}|1`];
    lines.push(`${name} | ${off.fw.toFixed(1)} → ${on.fw.toFixed(1)} | ${off.grad.toFixed(1)} → ${on.grad.toFixed(1)} | ${(off.grad / on.grad).toFixed(2)}×`);
    return { name, off, on, gradSpeedup: off.grad / on.grad, fwSpeedup: off.fw / on.fw };
  });
  console.log(lines.join('\n'));
  if (prefix) {
    writeFileSync(`${prefix}.txt`, `${lines.join('\n')}\n`);
    writeFileSync(`${prefix}.json`, `${JSON.stringify({ commit, clean, threads: process.env.OMP_NUM_THREADS ?? null, loadBefore, loadAfter: loadavg(), elements: 1 << 18, bestOf: 6, rounds: 3, table, runs }, null, 1)}\n`);
  }
}
