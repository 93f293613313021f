/**
 * Lowers QONNX `Quant` and `BipolarQuant` nodes to standard ONNX ops so onnxruntime can run a
 * QONNX model (verification): Quant(x, s, z, b) = (clip(round(x/s + z), q_min, q_max) − z)·s with
 * round half to even; BipolarQuant(x, s) = s where x ≥ 0, −s elsewhere.
 */
import onnxProto from 'onnx-proto';
import { LowbitError } from '../errors.js';
import { integerRange } from '../quantizers/uniform.js';
import { DT, OnnxModel, QONNX_DOMAIN } from './onnx-builder.js';

type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;

function scalarValue(inits: Map<string, Tensor>, name: string): number {
  const t = inits.get(name);
  if (t?.rawData == null) throw new LowbitError(`QONNX node input ${name} is not a constant initializer: cannot lower it`);
  const raw = t.rawData;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + 4))[0];
}

function attr(node: Node, name: string): number | string | undefined {
  const a = node.attribute?.find((x) => x.name === name);
  if (a == null) return undefined;
  if (a.s != null && a.s.length > 0) return new TextDecoder().decode(a.s);
  return Number(a.i ?? 0);
}

export function lowerQonnx(model: OnnxModel): OnnxModel {
  const graph = model.graph!;
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const extra: Tensor[] = [];
  const constant = (name: string, v: number): string => {
    extra.push({ name, dims: [], dataType: DT.FLOAT, rawData: new Uint8Array(Float32Array.of(v).buffer) });
    return name;
  };
  const nodes: Node[] = [];
  for (const node of graph.node ?? []) {
    if (node.domain !== QONNX_DOMAIN) {
      nodes.push(node);
      continue;
    }
    const [x] = node.input!;
    const out = node.output![0];
    const p = node.name!;
    const mk = (op: string, inputs: string[], output: string): string => {
      nodes.push({ opType: op, input: inputs, output: [output], name: `${p}_${op}_${nodes.length}`, domain: '' });
      return output;
    };
    if (node.opType === 'BipolarQuant') {
      // The scale may be a scalar or a tensor broadcast over the output channels.
      const sName = node.input![1];
      const ge = mk('GreaterOrEqual', [x, constant(`${p}_zero`, 0)], `${p}_ge`);
      mk('Where', [ge, sName, mk('Neg', [sName], `${p}_neg`)], out);
    } else if (node.opType === 'Quant') {
      const [, sName, zName, bName] = node.input!;
      const bits = scalarValue(inits, bName);
      if (!Number.isInteger(bits)) throw new LowbitError(`${p}: non-integer bit-width ${bits} cannot be lowered`);
      const [qMin, qMax] = integerRange(bits, attr(node, 'signed') !== 0, attr(node, 'narrow') === 1);
      const mode = attr(node, 'rounding_mode') ?? 'ROUND';
      if (mode !== 'ROUND') throw new LowbitError(`${p}: rounding_mode ${mode} cannot be lowered (only ROUND)`);
      const v = mk('Add', [mk('Div', [x, sName], `${p}_div`), zName], `${p}_shift`);
      const q = mk('Clip', [mk('Round', [v], `${p}_round`), constant(`${p}_qmin`, qMin), constant(`${p}_qmax`, qMax)], `${p}_clip`);
      mk('Mul', [mk('Sub', [q, zName], `${p}_unshift`), sName], out);
    } else {
      throw new LowbitError(`QONNX op ${node.opType} (${p}) cannot be lowered`);
    }
  }
  const used = new Set(nodes.flatMap((n) => n.input ?? []));
  return {
    ...model,
    opsetImport: (model.opsetImport ?? []).filter((o) => o.domain !== QONNX_DOMAIN),
    graph: { ...graph, node: nodes, initializer: [...(graph.initializer ?? []), ...extra].filter((t) => used.has(t.name!)) },
  };
}
