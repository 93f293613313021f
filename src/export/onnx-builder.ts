/** A small typed builder over onnx-proto (protobufjs): nodes, initializers, attributes, encoding. */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export type OnnxModel = onnxProto.onnx.IModelProto;

export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT64: 7, UINT4: 21, INT4: 22 } as const;
export const QONNX_DOMAIN = 'qonnx.custom_op.general';

type AttrValue = number | number[] | string | { ints: number[] } | { floats: number[] };

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  return { name, type: T.INTS, ints: v.ints };
}

export interface GraphIO { name: string; shape: Array<number | string>; elemType?: number }

export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();
  private counter = 0;
  readonly domains = new Set<string>();

  /** A fresh, unique tensor name. */
  name(base: string): string {
    let n = base.replace(/[^A-Za-z0-9_./]/g, '_');
    while (this.used.has(n)) n = `${base}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  node(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { outputs?: number; domain?: string; name?: string; output?: string } = {}): string[] {
    const outputs = opts.output != null ? [this.name(opts.output)] : Array.from({ length: opts.outputs ?? 1 }, () => this.name(`${opts.name ?? opType}_out`));
    if (opts.domain) this.domains.add(opts.domain);
    this.nodes.push({
      opType, input: inputs, output: outputs, name: this.name(opts.name ?? opType), domain: opts.domain ?? '',
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** op with one output. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, opts: { domain?: string; name?: string; output?: string } = {}): string {
    return this.node(opType, inputs, attrs, opts)[0];
  }

  /** A constant tensor; float32, int8, uint8 or int64 data. */
  constant(base: string, data: Float32Array | Int8Array | Uint8Array | BigInt64Array | number[], dims: number[], dataType: number = DT.FLOAT): string {
    const name = this.name(base);
    const arr = Array.isArray(data) ? (dataType === DT.INT64 ? BigInt64Array.from(data.map(BigInt)) : Float32Array.from(data)) : data;
    const rawData = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).slice();
    this.initializers.push({ name, dims, dataType, rawData });
    return name;
  }

  /** A constant int4 tensor (ONNX IR 10): two values per byte, the first in the low nibble. */
  constantInt4(base: string, values: ArrayLike<number>, dims: number[]): string {
    const name = this.name(base);
    const rawData = new Uint8Array(Math.ceil(values.length / 2));
    for (let i = 0; i < values.length; i++) {
      if (values[i] < -8 || values[i] > 7 || !Number.isInteger(values[i])) throw new Error(`int4 value ${values[i]} out of range`);
      rawData[i >> 1] |= (values[i] & 0xf) << ((i & 1) * 4);
    }
    this.initializers.push({ name, dims, dataType: DT.INT4, rawData });
    return name;
  }

  /** The model: graph inputs and outputs (float32 unless elemType says otherwise) at `opset`. */
  build(input: GraphIO | GraphIO[], output: GraphIO | GraphIO[], opset: number): OnnxModel {
    const vi = (io: GraphIO) => ({
      name: io.name, type: { tensorType: { elemType: io.elemType ?? DT.FLOAT, shape: { dim: io.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    });
    const list = (x: GraphIO | GraphIO[]) => (Array.isArray(x) ? x : [x]).map(vi);
    return {
      irVersion: opset >= 21 ? 10 : 8, producerName: 'lowbit', producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: opset }, ...[...this.domains].map((domain) => ({ domain, version: 1 }))],
      graph: { name: 'lowbit', node: this.nodes, initializer: this.initializers, input: list(input), output: list(output) },
    };
  }
}

export function encodeModel(model: OnnxModel): Uint8Array {
  return onnx.ModelProto.encode(onnx.ModelProto.create(model as onnxProto.onnx.ModelProto)).finish();
}

export function decodeModel(bytes: Uint8Array): OnnxModel {
  return onnx.ModelProto.decode(bytes);
}
