/** `lowbit verify DIR`: run exported models in onnxruntime-node (or TF.js for packed) against the TF.js model. Node-only. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dataForModel, dataLabel, loadChoice } from '../../data/load.js';
import { LowbitError } from '../../errors.js';
import { onnxFileName, PACKED_DIR, readPacked } from '../../export/files.js';
import { compareRunners, onnxRunner, tfRunner } from '../../export/verify.js';
import { LOWBIT_JSON, loadModelDir, readLowbitJson, writeJsonAtomic } from '../../io/model-dir.js';
import { parseChoice, parseFraction, parseInteger, parsePositive } from '../options.js';
import { checkWritableFile } from '../../io/out-dir.js';
import { useBackend, parseBackend } from '../backend-choice.js';
import { ExportFormat, exportFormats, onnxTargetOf } from './export.js';
import { loadRuntime, nativeKernelsAvailable, runtimeKernelNames, runtimeKernels } from '../../runtime/node.js';

export async function verifyCommand(dir: string, o: { format?: string; images: string; dataset?: string; dataDir?: string; data?: string;
  maxDelta: string; minAgreement: string; backend: string; json?: string; ortOptimizations: string; runtime?: boolean; runtimeKernels?: string }): Promise<void> {
  if (!existsSync(dir)) throw new LowbitError(`${dir} does not exist: pass a model directory written by lowbit`);
  const images = parseInteger(o.images, '--images', 1);
  const maxDelta = parsePositive(o.maxDelta, '--max-delta');
  const optimizations = parseChoice(o.ortOptimizations, '--ort-optimizations', ['disabled', 'basic', 'extended', 'all'] as const);
  const minAgreement = parseFraction(o.minAgreement, '--min-agreement');
  if (o.json) checkWritableFile(o.json, '--json');
  const exportDir = join(dir, 'export');
  const path = (f: ExportFormat) => (f === 'packed' ? join(exportDir, PACKED_DIR) : join(exportDir, onnxFileName(onnxTargetOf(f))));
  if (o.runtimeKernels != null && !o.runtime) throw new LowbitError('--runtime-kernels needs --runtime');
  if (o.runtime) {
    if (o.format) throw new LowbitError('--runtime checks the packed export in the bitwise runtime: leave out --format (verify other formats in a separate run)');
    return verifyRuntime(dir, path('packed'), o, { images, maxDelta, minAgreement });
  }
  const formats = o.format
    ? o.format.split(',').map((f) => parseChoice(f.trim(), '--format', exportFormats))
    : exportFormats.filter((f) => existsSync(path(f)));
  if (formats.length === 0) throw new LowbitError(`${exportDir} holds no exported model: run 'lowbit export ${dir} --format qdq' (or onnx, qonnx, packed) first`);
  for (const f of formats) if (!existsSync(path(f))) throw new LowbitError(`${path(f)} does not exist: run 'lowbit export ${dir} --format ${f}' first`);
  const meta = existsSync(join(dir, LOWBIT_JSON)) ? readLowbitJson<{ dataset?: unknown; data?: unknown }>(dir) : {};
  const choice = dataForModel(o, meta, dir);
  const datasetName = dataLabel(choice);
  const data = loadChoice(choice, { dataDir: o.dataDir });
  await useBackend(parseBackend(o.backend), true);
  const model = await loadModelDir(dir);
  const reference = tfRunner(model);
  const results: Record<string, unknown> = {};
  let failed = false;
  for (const f of formats) {
    const candidate = f === 'packed' ? tfRunner(await readPacked(path(f))) : await onnxRunner(path(f), optimizations);
    const a = await compareRunners(candidate, reference, data, images);
    const ok = a.top1Agreement >= minAgreement && a.maxAbsDelta <= maxDelta;
    failed ||= !ok;
    results[f] = { ...a, ok, bytes: bytesOf(path(f)), runtime: f === 'packed' ? 'tfjs' : `onnxruntime-node (graph optimizations: ${optimizations})` };
    process.stdout.write(`${f.padEnd(6)} ${ok ? 'ok  ' : 'FAIL'} top-1 agreement ${(a.top1Agreement * 100).toFixed(2)}%  max|Δlogit| ${a.maxAbsDelta.toExponential(2)}  ` +
      `accuracy ${(a.accuracy * 100).toFixed(2)}% (TF.js ${(a.referenceAccuracy * 100).toFixed(2)}%) on ${a.images} ${datasetName} test images\n`);
  }
  if (o.json) writeJsonAtomic(o.json, { dir, dataset: datasetName, images, maxDelta, minAgreement, results });
  model.dispose();
  if (failed) throw new LowbitError(`verification failed: top-1 agreement below ${minAgreement * 100}% or max|Δlogit| above ${maxDelta}`, 1);
}

/** `lowbit verify DIR --runtime`: the packed export in the bitwise runtime against the TF.js model. */
async function verifyRuntime(dir: string, packedDir: string, o: Parameters<typeof verifyCommand>[1], limits: { images: number; maxDelta: number; minAgreement: number }): Promise<void> {
  const kernelName = o.runtimeKernels == null ? (nativeKernelsAvailable() ? 'native' : 'js') : parseChoice(o.runtimeKernels, '--runtime-kernels', runtimeKernelNames);
  if (!existsSync(packedDir)) throw new LowbitError(`${packedDir} does not exist: run 'lowbit export ${dir} --format packed' first`);
  // Everything is checked (manifest, weights, layers, kernels) before data or models load.
  const kernels = await runtimeKernels(kernelName);
  const rt = loadRuntime(packedDir, { kernels });
  const meta = existsSync(join(dir, LOWBIT_JSON)) ? readLowbitJson<{ dataset?: unknown; data?: unknown }>(dir) : {};
  const choice = dataForModel(o, meta, dir);
  const datasetName = dataLabel(choice);
  const data = loadChoice(choice, { dataDir: o.dataDir });
  await useBackend(parseBackend(o.backend), true);
  const model = await loadModelDir(dir);
  const a = await compareRunners(async (x, shape) => rt.run(x, shape[0]), tfRunner(model), data, limits.images);
  const ok = a.top1Agreement >= limits.minAgreement && a.maxAbsDelta <= limits.maxDelta;
  const kernelsUsed = [...new Set(rt.steps.map((s) => s.kernel).filter((k) => k != null))].join('/');
  process.stdout.write(`runtime ${ok ? 'ok  ' : 'FAIL'} top-1 agreement ${(a.top1Agreement * 100).toFixed(2)}%  max|Δlogit| ${a.maxAbsDelta.toExponential(2)}  ` +
    `accuracy ${(a.accuracy * 100).toFixed(2)}% (TF.js ${(a.referenceAccuracy * 100).toFixed(2)}%) on ${a.images} ${datasetName} test images ` +
    `(${kernels.name} kernels; layers on ${kernelsUsed})\n`);
  if (o.json) {
    writeJsonAtomic(o.json, { dir, dataset: datasetName, images: limits.images, maxDelta: limits.maxDelta, minAgreement: limits.minAgreement,
      results: { runtime: { ...a, ok, bytes: bytesOf(packedDir), runtime: `lowbit runtime (${kernels.name} kernels)`, steps: rt.steps } } });
  }
  model.dispose();
  if (!ok) throw new LowbitError(`verification failed: top-1 agreement below ${limits.minAgreement * 100}% or max|Δlogit| above ${limits.maxDelta}`, 1);
}

/** A file's size, or the total of a directory's files (the packed export). */
function bytesOf(path: string): number {
  return statSync(path).isDirectory() ? readdirSync(path).reduce((a, f) => a + statSync(join(path, f)).size, 0) : statSync(path).size;
}
