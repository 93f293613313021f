/** lowbit's Node-only API: datasets from disk, checkpoint files, model directories. */
export * from './index.js';
import { ensureBackend } from './backend/index.js';
export { nativeAddon, nativeKernelNames, NATIVE_HINT, NATIVE_ADDON_PATH } from './backend/native.js';
export * from './data/load.js';
export { FileCheckpointStore, CHECKPOINT_FILE, encodeCheckpoint, decodeCheckpoint } from './io/checkpoint-file.js';
export { saveModelDir, loadModelDir, modelDirHandler, MODEL_JSON, WEIGHTS_BIN, LOWBIT_JSON } from './io/model-dir.js';
export { writeFileAtomic } from './io/atomic.js';
export { runDcq } from './methods/dcq/run.js';
export type { DcqOptions, DcqResult } from './methods/dcq/run.js';
export { exportOnnx, exportCapabilities, onnxTargets } from './export/onnx-export.js';
export type { OnnxTarget, OnnxExport } from './export/onnx-export.js';
export { writeOnnx, writePacked, readPacked, onnxFileName } from './export/files.js';
export { onnxRunner, tfRunner, compareRunners } from './export/verify.js';
export type { Agreement, Runner, OrtOptimizations } from './export/verify.js';
export { dirStore } from './io/dir-store.js';
export { runInDir, readRunRecord } from './io/run-dir.js';
export type { DirRun } from './io/run-dir.js';
export { dcqMethod, dqFigureMethod } from './methods/node.js';
export type { DcqMethodOptions } from './methods/dcq/method.js';
export { openRunQueue, startRunWorker, queueJobId, checkRedis, QUEUE_NAME } from './recipes/queue.js';
export type { RunQueue, RunQueueOptions, RunWorker, RunWorkerOptions, QueuedRun } from './recipes/queue.js';

// Node loads the wasm binaries from disk, so 'lowbit/node' starts wasm at import as it always has
// (the browser-safe 'lowbit' starts nothing until setBackend or first use; docs/browser.md).
await ensureBackend();
