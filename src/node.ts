/** lowbit's Node-only API: datasets from disk, checkpoint files, model directories. */
export * from './index.js';
export { nativeAddon, nativeKernelNames, NATIVE_HINT, NATIVE_ADDON_PATH } from './backend/native.js';
export * from './data/load.js';
export { FileCheckpointStore, CHECKPOINT_FILE, encodeCheckpoint, decodeCheckpoint } from './io/checkpoint-file.js';
export { saveModelDir, loadModelDir, modelDirHandler, MODEL_JSON, WEIGHTS_BIN, LOWBIT_JSON } from './io/model-dir.js';
export { writeFileAtomic } from './io/atomic.js';
