/** `lowbit export DIR --format onnx|qdq|qdq4|qonnx|packed`: write an exported model next to the TF.js one. Node-only. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LowbitError } from '../../errors.js';
import { exportCapabilities, OnnxTarget } from '../../export/onnx-export.js';
import { writeOnnx, writePacked } from '../../export/files.js';
import { LOWBIT_JSON, loadModelDir, readLowbitJson } from '../../io/model-dir.js';
import { checkWritableDir } from '../../io/out-dir.js';
import { summary } from '../../report/summary.js';
import { parseChoice } from '../options.js';

export const exportFormats = ['onnx', 'qdq', 'qdq4', 'qonnx', 'packed'] as const;
export type ExportFormat = (typeof exportFormats)[number];
export const onnxTargetOf = (f: ExportFormat): OnnxTarget => (f === 'onnx' ? 'float' : (f as OnnxTarget));

export async function exportCommand(dir: string, o: { format: string; out?: string; dryRun?: boolean }): Promise<void> {
  const formats = o.format.split(',').map((f) => parseChoice(f.trim(), '--format', exportFormats));
  if (!existsSync(dir)) throw new LowbitError(`${dir} does not exist: pass a model directory written by lowbit`);
  const outDir = o.out ?? join(dir, 'export');
  if (!o.dryRun) checkWritableDir(outDir, o.out != null ? '--out' : 'the export directory');
  // What a deployment needs to know of the inputs and outputs: class names and normalisation, from the run record.
  const meta = existsSync(join(dir, LOWBIT_JSON)) ? readLowbitJson<{ classNames?: unknown; normalization?: unknown }>(dir) : {};
  const metadata: Record<string, string> = {
    ...(Array.isArray(meta.classNames) ? { 'lowbit.class_names': JSON.stringify(meta.classNames) } : {}),
    ...(meta.normalization != null ? { 'lowbit.normalization': JSON.stringify(meta.normalization) } : {}),
  };
  const model = await loadModelDir(dir);
  try {
    for (const format of formats) {
      if (format === 'packed') {
        const w = writePacked(model, outDir);
        const predicted = summary(model).totalBytes;
        process.stdout.write(`packed: ${w.path} — ${w.weightBytes} weight bytes (summary predicts ${predicted}, ` +
          `${(((w.weightBytes - predicted) / predicted) * 100).toFixed(2)}%), ${w.bytes} bytes with the manifest\n`);
        continue;
      }
      const target = onnxTargetOf(format);
      for (const note of exportCapabilities(model, target)) process.stderr.write(`lowbit: ${format}: ${note}\n`);
      if (o.dryRun) continue;
      const w = writeOnnx(model, target, outDir, metadata);
      process.stdout.write(`${format}: ${w.path} — ${w.bytes} bytes\n`);
    }
  } finally {
    model.dispose();
  }
}
