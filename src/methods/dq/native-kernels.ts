/**
 * The DQ auto-encoder's native kernels (native/dq.cc, part of the oneDNN addon), registered on the
 * native backend by src/backend/native.ts; TF.js-free like src/backend/addon.ts. Where the addon
 * was not built the list is empty and every caller keeps the tfjs-ops reference
 * (src/methods/dq/mixture.ts mixtureNllReference).
 *
 * LowbitDqMixtureNll: inputs params [N, Hp, Wp, 3·nMix], x [N, H, W, 1]; attrs nMix, top, left (the crop
 *   offset); output the NLL per image [N] in nats (mixtureNll of mixture.ts on the crop).
 * LowbitDqMixtureNllGrad: inputs dy [N], params, x; same attrs; outputs [∂params, ∂x].
 * LowbitDqNearestCode: inputs z [..., M·D], codebooks [M, K, D]; attr stats (whether to make the EMA
 *   statistics); outputs [indices [n, M] int32, codewords [..., M·D]] and with stats also
 *   [counts [M, K], per-code sums of z [M, K, D]] (n = positions). No gradient: the quantizer runs it
 *   off the tape (src/layers/depthwise-quantizer.ts).
 */
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { loadNativeAddon } from '../../backend/addon.js';

import { MIXTURE_NLL, MIXTURE_NLL_GRAD, NEAREST_CODE, type MixtureNllAttrs } from './kernel-names.js';

interface DqAddon {
  mixtureNll(heap: ArrayBuffer, params: Int32Array): void;
  nearestCode(heap: ArrayBuffer, params: Int32Array): void;
}

interface WasmBackend extends KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): TensorInfo;
}
type Args = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };

let dqAddon: DqAddon | null | undefined;

/** The addon's DQ functions, or null when the addon is absent or disabled (LOWBIT_NATIVE=0). */
export function loadDqAddon(): DqAddon | null {
  if (dqAddon !== undefined) return dqAddon;
  const a = loadNativeAddon() as Partial<DqAddon> | null;
  dqAddon = a != null && typeof a.mixtureNll === 'function' && typeof a.nearestCode === 'function' ? a as DqAddon : null;
  return dqAddon;
}

const offset = (b: WasmBackend, t: TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;
const heap = (b: WasmBackend) => b.wasm.HEAPU8.buffer as ArrayBuffer;

function mixtureParams(pass: 0 | 1, params: TensorInfo, x: TensorInfo, attrs: MixtureNllAttrs, offsets: number[]): Int32Array {
  const [n, hp, wp] = params.shape;
  const [, h, w] = x.shape;
  return Int32Array.from([pass, n, hp, wp, h, w, attrs.nMix, attrs.top, attrs.left, ...offsets]);
}

function mixtureNllForward({ inputs, backend, attrs }: Args): TensorInfo {
  const { params, x } = inputs;
  const out = backend.makeOutput([params.shape[0]], 'float32');
  dqAddon!.mixtureNll(heap(backend), mixtureParams(0, params, x, attrs as unknown as MixtureNllAttrs, [params, x, out].map((t) => offset(backend, t))));
  return out;
}

function mixtureNllBackward({ inputs, backend, attrs }: Args): TensorInfo[] {
  const { dy, params, x } = inputs;
  const dparams = backend.makeOutput(params.shape, 'float32');
  const dx = backend.makeOutput(x.shape, 'float32');
  dqAddon!.mixtureNll(heap(backend), mixtureParams(1, params, x, attrs as unknown as MixtureNllAttrs, [params, x, dparams, dy, dx].map((t) => offset(backend, t))));
  return [dparams, dx];
}

function nearestCode({ inputs, backend, attrs }: Args): TensorInfo[] {
  const { z, codebooks } = inputs;
  const [m, k, d] = codebooks.shape;
  const n = z.shape.reduce((a, b) => a * b, 1) / (m * d);
  const outs = [backend.makeOutput([n, m], 'int32'), backend.makeOutput(z.shape, 'float32')];
  if (attrs.stats === true) outs.push(backend.makeOutput([m, k], 'float32'), backend.makeOutput([m, k, d], 'float32'));
  const offs = outs.map((t) => offset(backend, t));
  dqAddon!.nearestCode(heap(backend), Int32Array.from([n, m, k, d, offset(backend, z), offset(backend, codebooks), offs[0], offs[1], offs[2] ?? -1, offs[3] ?? -1]));
  return outs;
}

/** [kernel name, kernel] pairs for the native backend (on the wasm heap), or none without the addon. */
export function dqNativeKernels(): Array<[string, (args: Args) => TensorInfo | TensorInfo[]]> {
  if (loadDqAddon() == null) return [];
  return [[MIXTURE_NLL, mixtureNllForward], [MIXTURE_NLL_GRAD, mixtureNllBackward], [NEAREST_CODE, nearestCode]];
}
