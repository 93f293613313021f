/**
 * The studio's training worker: starts the chosen backend, builds or loads the model, runs the
 * chosen method with lowbit's run engine (`runMethod` with a MemoryStore — the one training loop),
 * posts progress, waits on the pause flag between steps (the loop awaits `onStep`), and sends back
 * the TF.js model, the packed low-bit model and the logits of a probe input. Nothing leaves the machine.
 */
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import {
  buildModel, getBackendName, modelNames, MemoryStore, packModel, runMethod, setBackend, summary, tf, unpackModel,
} from '../dist/src/index.js';
import type { DatasetSplits } from '../dist/src/index.js';
import type { FromWorker, StartMessage, StudioResult, ToWorker, UserModelFiles } from './protocol.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let paused = false;
let stopped = false;
let resume: (() => void) | null = null;

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'start') void start(m);
  else if (m.type === 'pause') { paused = true; }
  else if (m.type === 'resume') { paused = false; resume?.(); resume = null; }
  else if (m.type === 'stop') { stopped = true; paused = false; resume?.(); resume = null; }
};

post({ type: 'models', names: [...modelNames] });

/** What the training loop awaits after each step: nothing, or the user's resume. */
async function betweenSteps(): Promise<void> {
  if (paused) {
    post({ type: 'paused' });
    await new Promise<void>((r) => { resume = r; });
    post({ type: 'resumed' });
  }
  if (stopped) throw new Error('stopped by the user');
}

async function loadUserModel(files: UserModelFiles): Promise<tf.LayersModel> {
  const json = JSON.parse(files.modelJson) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const parts: ArrayBuffer[] = [];
  for (const path of json.weightsManifest.flatMap((g) => g.paths)) {
    const name = path.split('/').pop()!;
    const buf = files.weights[name];
    if (buf == null) throw new Error(`model.json names the weight file ${name}: add it with model.json`);
    parts.push(buf);
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const weightData = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { weightData.set(new Uint8Array(p), o); o += p.byteLength; }
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: weightData.buffer }));
}

function toSplits(d: StartMessage['data']): DatasetSplits {
  const set = (s: StartMessage['data']['train']) => ({ images: { bytes: s.bytes }, labels: s.labels, count: s.count });
  return { name: d.name, description: d.description, shape: d.shape, numClasses: d.numClasses, train: set(d.train), val: set(d.val), test: set(d.test),
    ...(d.classNames ? { classNames: d.classNames } : {}) };
}

function histograms(model: tf.LayersModel): StudioResult['histograms'] {
  const out: StudioResult['histograms'] = [];
  for (const layer of model.layers) {
    const kernel = layer.weights.find((w) => /kernel$/.test(w.originalName));
    if (kernel == null) continue;
    const v = kernel.read().dataSync() as Float32Array;
    let min = Infinity; let max = -Infinity;
    for (const x of v) { if (x < min) min = x; if (x > max) max = x; }
    const bins = 40;
    const counts = new Array<number>(bins).fill(0);
    const w = (max - min) || 1;
    for (const x of v) counts[Math.min(bins - 1, Math.floor(((x - min) / w) * bins))]++;
    out.push({ layer: layer.name, min, max, counts });
  }
  return out;
}

async function start(m: StartMessage): Promise<void> {
  try {
    await setBackend(m.backend, m.backend === 'wasm' ? { wasmPaths: m.wasmPaths } : {});
    post({ type: 'ready', backend: getBackendName() ?? m.backend });
    const data = toSplits(m.data);
    const reference = 'name' in m.model ? m.model.name : null;
    const teacher = reference != null ? buildModel(reference, { seed: m.train.seed, inputShape: data.shape as [number, number, number], numClasses: data.numClasses }) : await loadUserModel((m.model as { files: UserModelFiles }).files);
    const epochs = m.train.epochs;
    const options = m.method === 'float' ? { ...m.options, model: reference ?? 'lenet5' } : m.options;
    if (m.method === 'float' && reference == null) throw new Error('float training builds a reference model: pick one, or pick a quantization method for your model');
    const store = new MemoryStore('studio');
    const result = await runMethod(m.method, options, {
      data, teacher, modelName: reference, store, log: (line) => post({ type: 'log', line }),
      train: { epochs, batchSize: m.train.batchSize, learningRate: m.train.learningRate, seed: m.train.seed, schedule: { name: 'constant' },
        ...(m.train.maxStepsPerEpoch ? { maxStepsPerEpoch: m.train.maxStepsPerEpoch } : {}) },
      hooks: {
        onStep: (s) => { post({ type: 'step', epoch: s.epoch, step: s.step, stepsPerEpoch: s.stepsPerEpoch, epochs, loss: s.loss }); return betweenSteps(); },
        onEpoch: (r) => post({ type: 'epoch', epoch: r.epoch, valAccuracy: r.valAccuracy, valLoss: r.valLoss, trainLoss: r.trainLoss }),
      },
    });
    teacher.dispose();
    const model = result.model;
    const artifacts = store.model!;
    const weightsBin = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData!)).slice();
    const modelJson = JSON.stringify({
      format: artifacts.format, generatedBy: artifacts.generatedBy, convertedBy: artifacts.convertedBy,
      modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs }],
    });
    const packed = packModel(model);
    const unpacked = await unpackModel(packed.manifest, packed.data);
    let probeLogits: number[] | undefined;
    if (m.probe) {
      const n = m.probe.length / m.data.shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(m.probe, [n, ...m.data.shape]);
      const y = model.predict(x) as tf.Tensor;
      probeLogits = Array.from(await y.data());
      tf.dispose([x, y]);
    }
    const res: StudioResult = {
      record: result.record, modelJson, weightsBin, packedJson: JSON.stringify(packed.manifest), packedBin: packed.data, probeLogits,
      bits: summary(model).layers.map((l) => ({ layer: l.name, bits: l.kernelBits })), histograms: histograms(unpacked),
    };
    unpacked.dispose();
    model.dispose();
    post({ type: 'done', result: res }, [res.weightsBin.buffer as ArrayBuffer, res.packedBin.buffer as ArrayBuffer]);
  } catch (e) {
    post({ type: 'error', message: (e as Error).message ?? String(e) });
  }
}
