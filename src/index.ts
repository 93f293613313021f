/**
 * lowbit: quantization-aware training for TensorFlow.js — the browser-safe core.
 * Node-only parts (dataset files, checkpoints on disk, model directories) are in 'lowbit/node'.
 */
export { tf, setBackend, ensureBackend, getBackendName, backendAvailable, backendNames, wasmTrainingKernelNames, registerWasmTrainingKernels } from './backend/index.js';
export type { BackendName } from './backend/index.js';
export { LowbitError } from './errors.js';
export { Rng, mulberry32 } from './random.js';
export * from './data/index.js';
export { buildModel, modelNames, modelRegistry, ModelBuilder } from './models/index.js';
export type { ModelOptions } from './models/index.js';
export * from './train/index.js';
