/**
 * The DQ comparison (dq.md §6): the 2-level DQ auto-encoder on Fashion-MNIST at equal codebook
 * memory and equal decoder width — M ∈ {1, 2, 4, 8} groups of K codes with D = 32 / M (so
 * M·K·D = 32·K floats per level and M·D = 32 channels); M = 1 is plain VQ. 3 seeds each.
 * Reports decoder bits/dim, the full bound with the uniform-prior code cost, MSE, perplexity per
 * group, parameters, and the bottom level's channel vs spatial correlation. The learning rate
 * (2e-3, constant) and budget are fixed from dq.md §6.4, not tuned.
 * Writes bench/results/dq-fashion-mnist.json.
 *
 *   node dist/bench/dq.js [--groups 1,2,4,8] [--codes 32] [--seeds 0,1,2] [--epochs 3] [--subset 12000] [--parallel 2]
 */
import { writeFileSync } from 'node:fs';
import { arg, Job, meanStd, runJobs } from './runner.js';

const groups = arg('groups', '1,2,4,8').split(',');
const codes = arg('codes', '32');
const seeds = arg('seeds', '0,1,2').split(',');
const epochs = arg('epochs', '3');
const trainSubset = arg('subset', '12000');
const parallel = Number(arg('parallel', '2'));

const job = (m: string, seed: string): Job => ({
  out: `runs/dq/m${m}-k${codes}-e${epochs}-n${trainSubset}-s${seed}`,
  args: ['dq', 'train', '--dataset', 'fashion-mnist', '--groups', m, '--codes', codes, '--levels', '2', '--embed', '32', '--width', '32',
    '--epochs', epochs, '--batch', '64', '--lr', '2e-3', '--train-subset', trainSubset, '--seed', seed],
});
const runs = await runJobs(groups.flatMap((m) => seeds.map((s) => job(m, s))), parallel);
const rows = groups.map((m) => {
  const mine = runs.filter((r) => String(r.meta.dq.groups) === m);
  const t = (f: (x: any) => number) => meanStd(mine.map((r) => f(r.meta.test))); // eslint-disable-line @typescript-eslint/no-explicit-any
  return {
    groups: Number(m), codes: Number(codes), dimPerGroup: 32 / Number(m),
    codebookFloats: mine[0].meta.test.codebookFloats, params: mine[0].meta.test.params, codeBitsPerImage: mine[0].meta.test.codeBitsPerImage,
    bpdDecoder: t((e) => e.bpdDecoder), bpdFull: t((e) => e.bpdFull), mse: t((e) => e.mse),
    perplexityPerGroup: mine[0].meta.test.levels.map((l: { level: string }, i: number) => ({
      level: l.level, mean: meanStd(mine.flatMap((r) => r.meta.test.levels[i].perplexity)) })),
    correlation: {
      channelMeanAbs: meanStd(mine.map((r) => r.meta.correlation.channelMeanAbs)),
      spatialMeanAbs: meanStd(mine.map((r) => r.meta.correlation.spatialMeanAbs)),
      spatialNeighbourMeanAbs: meanStd(mine.map((r) => r.meta.correlation.spatialNeighbourMeanAbs)),
      ...(Number(m) > 1 ? { groupNormalizedMI: meanStd(mine.map((r) => r.meta.correlation.groupNormalizedMI)) } : {}),
    },
    wallSeconds: meanStd(mine.map((r) => r.meta.wallSeconds)),
    runs: mine.map((r) => ({ command: r.command, seed: r.meta.seed, bpdDecoder: r.meta.test.bpdDecoder, bpdFull: r.meta.test.bpdFull, mse: r.meta.test.mse, commit: r.meta.commit })),
  };
});
const vq = rows.find((r) => r.groups === 1)!;
const claim = rows.filter((r) => r.groups > 1).map((r) => ({
  groups: r.groups,
  mseBetter: r.mse.mean < vq.mse.mean, bpdDecoderBetter: r.bpdDecoder.mean < vq.bpdDecoder.mean, bpdFullBetter: r.bpdFull.mean < vq.bpdFull.mean,
  mseDelta: r.mse.mean - vq.mse.mean, bpdDecoderDelta: r.bpdDecoder.mean - vq.bpdDecoder.mean, bpdFullDelta: r.bpdFull.mean - vq.bpdFull.mean,
}));
writeFileSync('bench/results/dq-fashion-mnist.json', `${JSON.stringify({
  command: `node dist/bench/dq.js ${process.argv.slice(2).join(' ')}`.trim(),
  claim: { text: 'dq issue: DQ with M > 1 beats M = 1 (plain VQ) on reconstruction MSE and decoder bits/dim at equal codebook memory', byGroups: claim,
    met: claim.every((c) => c.mseBetter && c.bpdDecoderBetter) },
  note: 'Fashion-MNIST 28×28 padded to 32×32; bits/dim over the 784 original pixels; test split (10,000 images). Paper numbers (CIFAR/ImageNet) are unverified and not comparable.',
  rows,
}, null, 2)}\n`);
for (const r of rows) {
  process.stdout.write(`M=${r.groups} D=${r.dimPerGroup}: decoder ${r.bpdDecoder.mean.toFixed(4)} ± ${r.bpdDecoder.std.toFixed(4)} bpd, full ${r.bpdFull.mean.toFixed(4)}, MSE ${r.mse.mean.toFixed(5)} ± ${r.mse.std.toFixed(5)}, ${r.codebookFloats} codebook floats\n`);
}
