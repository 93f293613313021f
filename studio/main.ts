/**
 * The studio page: plain DOM. Collects the model, data, method and backend, starts the training
 * worker, draws its progress (loss per step, validation accuracy per epoch, kernel histograms,
 * bits per layer) and offers the results as downloads made in the page (Blob URLs).
 */
import { unzipSync } from 'fflate';
import type { ByteSplit, FromWorker, StartMessage, StudioData, StudioResult, UserModelFiles } from './protocol.js';
import { probeInput } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });

/** What tests and scripts read: the last result, and the run's state. */
interface StudioState { state: 'idle' | 'running' | 'paused' | 'done' | 'error'; error?: string; result?: StudioResult; losses: number[]; accuracies: number[] }
const studio: StudioState = { state: 'idle', losses: [], accuracies: [] };
(window as unknown as { studio: StudioState }).studio = studio;

let userModel: UserModelFiles | null = null;
let zipData: StudioData | null = null;

// ---- plots -------------------------------------------------------------------------------
function plotLine(canvas: HTMLCanvasElement, ys: number[], color: string, fixed?: [number, number]): void {
  const g = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  g.clearRect(0, 0, w, h);
  if (ys.length === 0) return;
  const lo = fixed ? fixed[0] : Math.min(...ys);
  const hi = fixed ? fixed[1] : Math.max(...ys);
  const pad = 28;
  const x = (i: number) => pad + (ys.length === 1 ? 0 : (i / (ys.length - 1)) * (w - 2 * pad));
  const y = (v: number) => h - pad - ((v - lo) / ((hi - lo) || 1)) * (h - 2 * pad);
  g.strokeStyle = '#ccd'; g.beginPath(); g.moveTo(pad, pad); g.lineTo(pad, h - pad); g.lineTo(w - pad, h - pad); g.stroke();
  g.fillStyle = '#556'; g.font = '12px sans-serif';
  g.fillText(hi.toPrecision(3), 2, pad - 6); g.fillText(lo.toPrecision(3), 2, h - 8);
  g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
  ys.forEach((v, i) => (i === 0 ? g.moveTo(x(i), y(v)) : g.lineTo(x(i), y(v))));
  g.stroke();
  if (ys.length < 20) { g.fillStyle = color; ys.forEach((v, i) => { g.beginPath(); g.arc(x(i), y(v), 3, 0, 7); g.fill(); }); }
}

function plotBars(canvas: HTMLCanvasElement, series: { label: string; values: number[] }[], max?: number): void {
  const g = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  g.clearRect(0, 0, w, h);
  const colors = ['#3366cc', '#dc3912', '#ff9900', '#109618', '#990099', '#0099c6', '#dd4477'];
  const rowH = (h - 10) / Math.max(1, series.length);
  series.forEach((s, r) => {
    const top = 5 + r * rowH;
    const m = max ?? Math.max(...s.values, 1);
    const bw = (w - 90) / s.values.length;
    g.fillStyle = '#334'; g.font = '11px sans-serif'; g.fillText(s.label, 2, top + rowH / 2 + 4);
    g.fillStyle = colors[r % colors.length];
    s.values.forEach((v, i) => { const bh = (v / m) * (rowH - 4); g.fillRect(88 + i * bw, top + rowH - 2 - bh, Math.max(1, bw - 1), bh); });
    if (max != null) { g.fillStyle = '#334'; s.values.forEach((v, i) => g.fillText(String(v), 90 + i * bw + bw - 22, top + rowH / 2 + 4)); }
  });
}

/** One bar per layer with a kernel, its height the kernel's bits (of 32), labelled with the bits and the layer. */
function plotBits(canvas: HTMLCanvasElement, bits: { layer: string; bits: number }[]): void {
  const g = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  g.clearRect(0, 0, w, h);
  const bw = (w - 20) / Math.max(1, bits.length);
  g.font = '13px sans-serif'; g.textAlign = 'center';
  bits.forEach((b, i) => {
    const bh = (Math.log2(b.bits) / 5) * (h - 60) + 4;
    const x = 10 + i * bw;
    g.fillStyle = b.bits < 32 ? '#dc3912' : '#99a3b5';
    g.fillRect(x + bw * 0.2, h - 30 - bh, bw * 0.6, bh);
    g.fillStyle = '#223';
    g.fillText(`${b.bits} bit`, x + bw / 2, h - 36 - bh);
    g.fillText(b.layer, x + bw / 2, h - 12);
  });
  g.textAlign = 'start';
}

// ---- data --------------------------------------------------------------------------------
async function mnistSample(): Promise<StudioData> {
  const meta = await (await fetch('./mnist-sample.json')).json() as { counts: { train: number; val: number; test: number }; description: string };
  const bytes = new Uint8Array(await (await fetch('./mnist-sample.bin')).arrayBuffer());
  let o = 0;
  const split = (count: number): ByteSplit => {
    const images = bytes.slice(o, o + count * 784); o += count * 784;
    const labels = bytes.slice(o, o + count); o += count;
    return { bytes: images, labels, count };
  };
  const train = split(meta.counts.train);
  const val = split(meta.counts.val);
  const test = split(meta.counts.test);
  return { name: 'mnist-sample', description: meta.description, shape: [28, 28, 1], numClasses: 10, train, val, test };
}

/** A zip of class folders (class/xxx.png|jpg): decoded by the browser, resized to the first image's size, split 80/10/10 per class (seeded). */
async function zipImages(file: File): Promise<StudioData> {
  const entries = unzipSync(new Uint8Array(await file.arrayBuffer()));
  const items = Object.entries(entries).filter(([p, b]) => b.length > 0 && /\.(png|jpe?g)$/i.test(p) && p.split('/').length >= 2)
    .map(([p, b]) => ({ cls: p.split('/').at(-2)!, bytes: b })).sort((a, b) => a.cls.localeCompare(b.cls));
  if (items.length === 0) throw new Error('the zip holds no class-folder images: put each class\'s PNG/JPEG files in a folder named after the class');
  const classNames = [...new Set(items.map((i) => i.cls))];
  const bitmaps = await Promise.all(items.map((i) => createImageBitmap(new Blob([i.bytes.slice().buffer]))));
  const W = bitmaps[0].width; const H = bitmaps[0].height;
  const canvas = new OffscreenCanvas(W, H);
  const g = canvas.getContext('2d', { willReadFrequently: true })!;
  const rgba = bitmaps.map((b) => { g.clearRect(0, 0, W, H); g.drawImage(b, 0, 0, W, H); return g.getImageData(0, 0, W, H).data; });
  const gray = rgba.every((d) => { for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return false; return true; });
  const C = gray ? 1 : 3;
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const parts: Record<'train' | 'val' | 'test', number[]> = { train: [], val: [], test: [] };
  classNames.forEach((c) => {
    const idx = items.map((it, i) => (it.cls === c ? i : -1)).filter((i) => i >= 0).sort(() => rand() - 0.5);
    const nt = Math.max(1, Math.round(idx.length * 0.1));
    parts.test.push(...idx.slice(0, nt)); parts.val.push(...idx.slice(nt, 2 * nt)); parts.train.push(...idx.slice(2 * nt));
  });
  const split = (ids: number[]): ByteSplit => {
    const bytes = new Uint8Array(ids.length * W * H * C);
    ids.forEach((id, k) => { const d = rgba[id]; for (let p = 0; p < W * H; p++) for (let c = 0; c < C; c++) bytes[(k * W * H + p) * C + c] = d[p * 4 + c]; });
    return { bytes, labels: Uint8Array.from(ids, (id) => classNames.indexOf(items[id].cls)), count: ids.length };
  };
  return { name: file.name, description: `${items.length} images from ${file.name}, ${classNames.length} classes, ${H}×${W}×${C}, split 80/10/10 per class`,
    shape: [H, W, C], numClasses: classNames.length, classNames, train: split(parts.train), val: split(parts.val), test: split(parts.test) };
}

// ---- model files -------------------------------------------------------------------------
async function readModelFiles(files: FileList | File[]): Promise<void> {
  const list = [...files];
  const json = list.find((f) => f.name.endsWith('.json'));
  if (json == null) { $('modelInfo').textContent = 'drop model.json together with its weight files'; return; }
  const weights: Record<string, ArrayBuffer> = {};
  for (const f of list) if (f !== json) weights[f.name] = await f.arrayBuffer();
  userModel = { modelJson: await json.text(), weights };
  $('modelInfo').textContent = `your model: ${json.name} + ${Object.keys(weights).length} weight file(s)`;
  ($('model') as HTMLSelectElement).value = 'user';
}

// ---- run ---------------------------------------------------------------------------------
function methodChoice(): { method: string; options: Record<string, string | number | boolean> } {
  const m = ($('method') as HTMLSelectElement).value;
  const wbits = Number(($('wbits') as HTMLInputElement).value);
  const abits = Number(($('abits') as HTMLInputElement).value);
  if (m === 'dorefa-w1') return { method: 'dorefa', options: { wbits: 1, abits } };
  if (m === 'float') return { method: 'float', options: {} };
  return { method: m, options: { wbits, abits } };
}

function download(name: string, data: BlobPart, type: string): HTMLAnchorElement {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([data], { type }));
  a.download = name; a.textContent = name; a.id = `dl-${name.replace(/\W/g, '-')}`;
  return a;
}

function showResult(r: StudioResult): void {
  const rec = r.record as { test?: { accuracy: number }; size?: { bytes: number; floatBytes: number; compression: number }; method: string };
  $('summary').textContent = `${rec.method}: test accuracy ${rec.test ? (100 * rec.test.accuracy).toFixed(1) + '%' : '–'}` +
    (rec.size ? `, ${(rec.size.bytes / 1024).toFixed(1)} KiB at its bit-widths vs ${(rec.size.floatBytes / 1024).toFixed(1)} KiB float (${rec.size.compression.toFixed(1)}×)` : '') +
    `; packed file ${(r.packedBin.byteLength / 1024).toFixed(1)} KiB`;
  const d = $('downloads');
  d.replaceChildren(
    download('model.json', r.modelJson, 'application/json'), download('weights.bin', r.weightsBin, 'application/octet-stream'),
    download('packed.json', r.packedJson, 'application/json'), download('packed.bin', r.packedBin, 'application/octet-stream'),
    download('lowbit.json', JSON.stringify(r.record, null, 2), 'application/json'),
  );
  plotBars($('histPlot') as HTMLCanvasElement, r.histograms.map((h) => ({ label: h.layer, values: h.counts })));
  plotBits($('bitsPlot') as HTMLCanvasElement, r.bits.filter((b) => r.histograms.some((h) => h.layer === b.layer)));
}

function log(line: string): void { $('log').textContent += `${line}\n`; }

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'models': {
      const sel = $('model') as HTMLSelectElement;
      sel.replaceChildren(...m.names.map((n) => new Option(`${n} (reference, seeded init)`, n)), new Option('your model (drop files below)', 'user'));
      sel.value = m.names.includes('lenet5') ? 'lenet5' : m.names[0];
      break;
    }
    case 'ready': $('status').textContent = `on ${m.backend}`; break;
    case 'log': log(m.line); break;
    case 'step': {
      studio.losses.push(m.loss);
      const done = ((m.epoch - 1) * m.stepsPerEpoch + m.step) / (m.epochs * m.stepsPerEpoch);
      ($('progress') as HTMLProgressElement).value = done;
      $('status').textContent = `epoch ${m.epoch}/${m.epochs}, step ${m.step}/${m.stepsPerEpoch}, loss ${m.loss.toFixed(4)}`;
      plotLine($('lossPlot') as HTMLCanvasElement, studio.losses, '#3366cc');
      break;
    }
    case 'epoch':
      studio.accuracies.push(m.valAccuracy);
      log(`epoch ${m.epoch}: train loss ${m.trainLoss.toFixed(4)}, validation accuracy ${(100 * m.valAccuracy).toFixed(1)}%`);
      plotLine($('accPlot') as HTMLCanvasElement, studio.accuracies, '#109618', [0, 1]);
      break;
    case 'paused': studio.state = 'paused'; $('pause').textContent = 'Resume'; log('paused'); break;
    case 'resumed': studio.state = 'running'; $('pause').textContent = 'Pause'; log('resumed'); break;
    case 'done':
      studio.result = m.result; studio.state = 'done';
      ($('progress') as HTMLProgressElement).value = 1;
      showResult(m.result);
      ($('start') as HTMLButtonElement).disabled = false; ($('pause') as HTMLButtonElement).disabled = true;
      break;
    case 'error':
      studio.state = 'error'; studio.error = m.message; log(`error: ${m.message}`);
      ($('start') as HTMLButtonElement).disabled = false; ($('pause') as HTMLButtonElement).disabled = true;
      break;
  }
};

$('start').onclick = async () => {
  try {
    const dataChoice = ($('data') as HTMLSelectElement).value;
    const data = dataChoice === 'zip' ? zipData : await mnistSample();
    if (data == null) throw new Error('choose a zip of class-folder images first');
    const modelChoice = ($('model') as HTMLSelectElement).value;
    if (modelChoice === 'user' && userModel == null) throw new Error('drop a model.json and its weight files first');
    const { method, options } = methodChoice();
    studio.losses = []; studio.accuracies = []; studio.state = 'running'; studio.result = undefined; studio.error = undefined;
    $('log').textContent = ''; $('downloads').replaceChildren();
    ($('start') as HTMLButtonElement).disabled = true; ($('pause') as HTMLButtonElement).disabled = false;
    const num = (id: string) => Number(($(id) as HTMLInputElement).value);
    const msg: StartMessage = {
      type: 'start', wasmPaths: new URL('./wasm/', location.href).href, backend: ($('backend') as HTMLSelectElement).value as StartMessage['backend'],
      model: modelChoice === 'user' ? { files: userModel! } : { name: modelChoice }, data, method, options,
      train: { epochs: num('epochs'), batchSize: num('batch'), learningRate: num('lr'), maxStepsPerEpoch: num('steps'), seed: 0 },
      probe: probeInput(data.shape),
    };
    log(`${method} ${JSON.stringify(options)} on ${data.name}: ${data.train.count} train / ${data.val.count} val / ${data.test.count} test`);
    worker.postMessage(msg);
  } catch (e) {
    studio.state = 'error'; studio.error = (e as Error).message; log(`error: ${(e as Error).message}`);
  }
};
$('pause').onclick = () => worker.postMessage({ type: studio.state === 'paused' ? 'resume' : 'pause' });
$('modelFiles').onchange = (e) => void readModelFiles((e.target as HTMLInputElement).files!);
const drop = $('drop');
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove('over'); void readModelFiles(e.dataTransfer!.files); };
$('data').onchange = () => { if (($('data') as HTMLSelectElement).value === 'zip') $('zipFile').click(); };
$('zipFile').onchange = async (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (!f) return;
  try { zipData = await zipImages(f); $('dataInfo').textContent = zipData.description; } catch (err) { $('dataInfo').textContent = (err as Error).message; }
};
$('method').onchange = () => {
  const m = ($('method') as HTMLSelectElement).value;
  ($('wbits') as HTMLInputElement).value = m === 'dorefa-w1' ? '1' : m === 'ptq' ? '8' : m === 'float' ? '32' : '4';
  ($('abits') as HTMLInputElement).value = m === 'ptq' ? '8' : m === 'dorefa-w1' || m === 'float' ? '32' : '4';
};
