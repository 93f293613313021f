/**
 * DCQ sections (dcq.md §2.2–2.3): a model cut at named layers into consecutive sections, each
 * rebuilt as its own LayersModel that *shares* the original layers (and so their weights).
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';

type Sym = tf.SymbolicTensor;
interface GraphNode { inputTensors: Sym[] }

/** DCQ's cut points for lowbit's reference models (dcq.md §2.3 and §4.3). */
export const referenceCuts: Record<string, string[]> = {
  lenet5: ['pool2'],
  'lenet5-plain': ['pool2'],
  'vgg-small': ['pool1', 'pool2', 'pool3'],
  resnet20: ['s1b3_relu2', 's2b3_relu2', 's3b3_relu2'],
  'mobilenet-tiny': ['b1_concat', 'b2_concat'],
};

/** The cuts DCQ uses by default: the reference model's, else after every pooling layer that separates the graph. */
export function sectionCutPoints(model: tf.LayersModel, modelName?: string): string[] {
  const ref = modelName ? referenceCuts[modelName] : undefined;
  if (ref && ref.every((c) => model.layers.some((l) => l.name === c))) return ref;
  const pools = model.layers.filter((l) => /Pooling2D$/.test(l.getClassName()) && !/Global/.test(l.getClassName()));
  return pools.map((l) => l.name).filter((name) => {
    try {
      sectionGraphCheck(model, name);
      return true;
    } catch {
      return false;
    }
  });
}

function sectionGraphCheck(model: tf.LayersModel, cut: string): void {
  const t = model.getLayer(cut).output as Sym;
  // A cut separates the graph when the rest of the model reaches the input only through it.
  const seen = new Set<number>([t.id]);
  const visit = (s: Sym): void => {
    if (seen.has(s.id)) return;
    seen.add(s.id);
    if (s.sourceLayer.getClassName() === 'InputLayer') throw new LowbitError(`cut '${cut}' does not separate ${model.name}`);
    const node = (s.sourceLayer as unknown as { inboundNodes: GraphNode[] }).inboundNodes[s.nodeIndex];
    node.inputTensors.forEach(visit);
  };
  visit(model.outputs[0]);
}

export interface Section {
  /** 's1', 's2', … */
  name: string;
  /** Cut layer this section starts after (null: the model input). */
  from: string | null;
  /** Cut layer this section ends with (null: the model output). */
  to: string | null;
  model: tf.LayersModel;
}

/** Validates cut names against the model; errors name the culprit. */
export function checkCuts(model: tf.LayersModel, cuts: string[]): void {
  if (cuts.length === 0) throw new LowbitError(`no cut points for ${model.name}: name at least one layer (e.g. --sections pool2)`);
  const order = model.layers.map((l) => l.name);
  for (const c of cuts) {
    if (!order.includes(c)) throw new LowbitError(`cut '${c}' is not a layer of ${model.name} (layers: ${order.join(', ')})`);
    if (c === order[order.length - 1]) throw new LowbitError(`cut '${c}' is the model's last layer: nothing would follow it`);
  }
  const idx = cuts.map((c) => order.indexOf(c));
  if (idx.some((v, i) => i > 0 && v <= idx[i - 1])) throw new LowbitError(`cuts must be in network order: ${cuts.join(', ')}`);
  for (const c of cuts) sectionGraphCheck(model, c);
}

/**
 * Splits `model` at `cuts` into len(cuts)+1 sections. Each section re-applies the model's own
 * layers to a fresh input, so training a section trains the model.
 */
export function splitModel(model: tf.LayersModel, cuts: string[]): Section[] {
  checkCuts(model, cuts);
  // Take every boundary tensor before re-applying layers (which adds nodes to them).
  const bounds: Sym[] = [model.inputs[0], ...cuts.map((c) => model.getLayer(c).output as Sym), model.outputs[0]];
  const names: Array<string | null> = [null, ...cuts, null];
  const sections: Section[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const name = `s${i + 1}`;
    const input = tf.input({ shape: bounds[i].shape.slice(1) as number[], name: `${model.name}_${name}_input` });
    const memo = new Map<number, Sym>([[bounds[i].id, input]]);
    const visit = (t: Sym): Sym => {
      const hit = memo.get(t.id);
      if (hit) return hit;
      const layer = t.sourceLayer;
      const node = (layer as unknown as { inboundNodes: GraphNode[] }).inboundNodes[t.nodeIndex];
      const ins = node.inputTensors.map(visit);
      const out = layer.apply(ins.length === 1 ? ins[0] : ins) as Sym | Sym[];
      const result = Array.isArray(out) ? out[t.tensorIndex] : out;
      memo.set(t.id, result);
      return result;
    };
    sections.push({ name, from: names[i], to: names[i + 1], model: tf.model({ inputs: input, outputs: visit(bounds[i + 1]), name: `${model.name}_${name}` }) });
  }
  return sections;
}

/** The model's outputs at every cut, plus its final output (for caching teacher features). */
export function featureModel(model: tf.LayersModel, cuts: string[]): tf.LayersModel {
  checkCuts(model, cuts);
  return tf.model({ inputs: model.inputs, outputs: [...cuts.map((c) => model.getLayer(c).output as Sym), model.outputs[0]] });
}
