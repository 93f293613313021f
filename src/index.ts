/** lowbit: quantization-aware training for TensorFlow.js. */
export { tf, setBackend, ensureBackend, backendNames, wasmTrainingKernelNames, registerWasmTrainingKernels } from './backend/index.js';
export type { BackendName } from './backend/index.js';
export { LowbitError } from './errors.js';
export { Rng, mulberry32 } from './random.js';
