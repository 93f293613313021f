/**
 * Kernel-level timing of SRQ's fused kernels on native, per configuration: forward alone and
 * tf.grad (forward + backward) of relaxedQuantize over 1M float32 elements, best of 8, in process
 * CPU time (user + system: a time slice lost to another process does not count; meant for
 * OMP_NUM_THREADS=1, where CPU time is the kernel's own time). With no
 * argument it runs each configuration in child processes with the lane path of native/relaxed.cc
 * off and on (LOWBIT_RELAXED_LANES=0/1), alternated, 3 rounds, and prints ns per element and the
 * ratio; on a shared machine run it under `quiet` and read the ratios.
 *   npm run build && OMP_NUM_THREADS=1 node bench/relaxed-srq-micro.mjs
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CONFIGS = {
  // name: [bits, signed, α, σ/α, x generator]
  'w2-signed (W=3)': [2, true, 0.05, 1 / 3, 'normal:0.06'],
  'a2-unsigned (W=3)': [2, false, 0.3, 1 / 3, 'relu:0.5'],
  'a2-unsigned wide σ (W=4, whole grid)': [2, false, 0.3, 0.7, 'relu:0.5'],
  'w4-signed (W=7)': [4, true, 0.02, 0.7, 'normal:0.06'],
};

if (process.argv[2] === '--child') {
  const [bits, signed, alpha, ratio, gen] = CONFIGS[process.argv[3]];
  const { tf, setBackend } = await import('../dist/src/node.js');
  const { relaxedQuantize } = await import('../dist/src/quantizers/relaxed.js');
  await setBackend('native');
  const n = 1 << 20;
  const [kind, sd] = gen.split(':');
  const z = tf.randomNormal([n], 0, Number(sd), 'float32', 1);
  const x = kind === 'relu' ? tf.relu(z) : z;
  const a = tf.scalar(alpha), s = tf.scalar(alpha * ratio);
  const o = { method: 'srq', bits, signed, training: true };
  const g = tf.grad((xx) => tf.sum(relaxedQuantize(xx, a, s, o)));
  let fw = Infinity, bw = Infinity;
  const cpuMs = (c) => (c.user + c.system) / 1000;
  for (let r = 0; r < 8; r++) {
    let t = process.cpuUsage(); const y = relaxedQuantize(x, a, s, o); y.dataSync(); fw = Math.min(fw, cpuMs(process.cpuUsage(t))); y.dispose();
    t = process.cpuUsage(); const d = g(x); d.dataSync(); bw = Math.min(bw, cpuMs(process.cpuUsage(t))); d.dispose();
  }
  console.log(JSON.stringify({ fw: (fw * 1e6) / n, grad: (bw * 1e6) / n }));
} else {
  const self = fileURLToPath(import.meta.url);
  const best = {};
  for (let round = 0; round < 3; round++) {
    for (const name of Object.keys(CONFIGS)) {
      for (const lanes of ['0', '1']) {
        const out = JSON.parse(execFileSync(process.execPath, [self, '--child', name], { env: { ...process.env, LOWBIT_RELAXED_LANES: lanes } }).toString());
        const k = `${name}|${lanes}`;
        best[k] = { fw: Math.min(best[k]?.fw ?? Infinity, out.fw), grad: Math.min(best[k]?.grad ?? Infinity, out.grad) };
      }
    }
  }
  console.log(`threads ${process.env.OMP_NUM_THREADS ?? '(default)'}, load ${(await import('node:os')).loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  console.log('config | forward CPU ns/elem off → on | grad (fwd+bwd) CPU ns/elem off → on | grad speed-up');
  for (const name of Object.keys(CONFIGS)) {
    const off = best[`${name}|0`], on = best[`${name}|1`];
    console.log(`${name} | ${off.fw.toFixed(1)} → ${on.fw.toFixed(1)} | ${off.grad.toFixed(1)} → ${on.grad.toFixed(1)} | ${(off.grad / on.grad).toFixed(2)}×`);
  }
}
