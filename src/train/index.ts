export * from './checkpoint.js';
export * from './evaluate.js';
export * from './loop.js';
export * from './optimizer.js';
export * from './schedule.js';
export { reestimateBatchNorm } from './batchnorm.js';
export * from './fingerprint.js';
