/**
 * The one TF.js instance lowbit uses: tfjs-core plus tfjs-layers, with the cpu and wasm
 * backends registered. Every lowbit module imports `tf` from here, so a user who imports
 * `tf` from 'lowbit' shares the same engine, variables and kernel registry.
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { registerChainedOps } from './chained-ops.js';

export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';

registerChainedOps();
