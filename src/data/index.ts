/** Browser-safe data utilities. File-based loaders live in './load.js' (Node-only). */
export * from './dataset.js';
export * from './arrays.js';
