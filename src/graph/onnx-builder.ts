/**
 * A small ONNX graph builder: named values, nodes with attributes, constants, and initializers
 * whose data stays in external files (byte ranges of the checkpoint's safetensors).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const enum ElemType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
  BFLOAT16 = 16,
}

type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { graph: onnxProto.onnx.IGraphProto };
export type Dim = number | string;

const OPSET = 17;
const CONTRIB_DOMAIN = 'com.microsoft';
const IR_VERSION = 8;

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly overridable = new Set<string>();
  private counter = 0;
  private usesContrib = false;
  private readonly constCache = new Map<string, string>();
  /** Outer values a node's subgraph reads (they count as its inputs when pruning). */
  private readonly implicitInputs = new Map<onnxProto.onnx.INodeProto, string[]>();

  /** `prefix` starts every generated name (a subgraph's names must not shadow its parent's). */
  constructor(private readonly prefix = '') {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${this.prefix}${prefix}__${this.counter++}`;
  }

  /**
   * A graph input. `overridable`: an initializer of the same name gives its value unless a run
   * feeds one; ORT then treats it as non-constant (no folding, no prepacking). Overridable inputs
   * are not listed in `inputNames` (nothing needs to feed them).
   */
  input(name: string, elemType: ElemType, dims: Dim[], opts: { overridable?: boolean } = {}): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    if (opts.overridable) this.overridable.add(name);
    return name;
  }

  output(name: string, elemType: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** Makes `value` a graph output called `name`. */
  expose(value: string, name: string, elemType: ElemType, dims: Dim[]): void {
    this.op('Identity', [value], {}, name);
    this.output(name, elemType, dims);
  }

  get inputNames(): string[] {
    return this.inputs.map((i) => i.name!).filter((n) => !this.overridable.has(n));
  }

  get outputNames(): string[] {
    return this.outputs.map((o) => o.name!);
  }

  /** Adds a node; returns its first output name (outputs named from `out` or generated). */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    return this.opMulti(opType, inputs, 1, attrs, out ? [out] : undefined)[0]!;
  }

  /** A node of ONNX Runtime's contrib domain (com.microsoft), e.g. MatMulNBits. */
  contribOp(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    this.usesContrib = true;
    return this.opMulti(opType, inputs, 1, attrs, undefined, CONTRIB_DOMAIN)[0]!;
  }

  opMulti(
    opType: string,
    inputs: string[],
    nOutputs: number,
    attrs: Record<string, AttrValue> = {},
    outs?: string[],
    domain?: string,
  ): string[] {
    const outputs = outs ?? Array.from({ length: nOutputs }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      ...(domain ? { domain } : {}),
      opType,
      input: inputs,
      output: outputs,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    return outputs;
  }

  /**
   * ONNX Scan over axis 0 of `scanInputs` (no loop state): `body` gets one slice of each and returns
   * the values stacked into the outputs. The body may read this graph's values by name; list those
   * in `outerInputs` so that pruning keeps them.
   */
  scan(
    scanInputs: Array<{ value: string; elemType: ElemType; sliceDims: Dim[] }>,
    outputs: Array<{ elemType: ElemType; sliceDims: Dim[] }>,
    outerInputs: string[],
    body: (sub: GraphBuilder, slices: string[]) => string[],
  ): string[] {
    const sub = new GraphBuilder(this.fresh('scan'));
    const slices = scanInputs.map((x, i) => sub.input(sub.fresh(`slice${i}`), x.elemType, x.sliceDims));
    const results = body(sub, slices);
    results.forEach((r, i) => sub.expose(r, sub.fresh(`out${i}`), outputs[i]!.elemType, outputs[i]!.sliceDims));
    if (sub.usesContrib) this.usesContrib = true;
    const outs = this.opMulti('Scan', scanInputs.map((x) => x.value), outputs.length, { num_scan_inputs: scanInputs.length, body: { graph: sub.graph('body') } });
    this.implicitInputs.set(this.nodes.at(-1)!, outerInputs);
    return outs;
  }

  /** An int64 constant (cached by value). */
  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('c_i64');
    this.initializers.push({ name, dataType: ElemType.INT64, dims, int64Data: values });
    this.constCache.set(key, name);
    return name;
  }

  /** A uint8 constant (cached by value). */
  u8(values: number[], dims: number[] = [values.length]): string {
    const key = `u8:${dims.join(',')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const name = this.fresh('c_u8');
    this.initializers.push({ name, dataType: ElemType.UINT8, dims, rawData: Uint8Array.from(values) });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 constant (small ones cached by value). */
  f32(values: ArrayLike<number>, dims: number[] = [values.length]): string {
    const data = Float32Array.from(values);
    const small = data.length <= 16;
    const key = small ? `f32:${dims.join(',')}:${Array.from(data).join(',')}` : '';
    if (small && this.constCache.has(key)) return this.constCache.get(key)!;
    const name = this.fresh('c_f32');
    this.initializers.push({
      name,
      dataType: ElemType.FLOAT,
      dims,
      rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    });
    if (small) this.constCache.set(key, name);
    return name;
  }

  /** An initializer whose bytes live at [offset, offset+length) of `location` (relative to the model folder). */
  external(name: string, elemType: ElemType, dims: number[], location: string, offset: number, length: number): string {
    this.initializers.push({
      name,
      dataType: elemType,
      dims,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    return name;
  }

  /** An initializer with inline raw little-endian bytes. */
  raw(name: string, elemType: ElemType, dims: number[], bytes: Uint8Array): string {
    this.initializers.push({ name, dataType: elemType, dims, rawData: bytes });
    return name;
  }

  /**
   * Encodes the model, keeping only the nodes and initializers that some output depends on: the
   * builder may describe the whole model, and a plan that needs only early layers (or no LM head)
   * gets a graph without the rest. Graph inputs stay declared even when unused.
   */
  build(graphName: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'lape',
      opsetImport: [{ domain: '', version: OPSET }, ...(this.usesContrib ? [{ domain: CONTRIB_DOMAIN, version: 1 }] : [])],
      graph: this.graph(graphName),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  /** The pruned graph (see build). */
  private graph(graphName: string): onnxProto.onnx.IGraphProto {
    const needed = new Set(this.outputs.map((o) => o.name!));
    const producer = new Map<string, onnxProto.onnx.INodeProto>();
    for (const n of this.nodes) for (const o of n.output ?? []) producer.set(o, n);
    const kept = new Set<onnxProto.onnx.INodeProto>();
    const stack = [...needed];
    while (stack.length) {
      const n = producer.get(stack.pop()!);
      if (!n || kept.has(n)) continue;
      kept.add(n);
      for (const i of [...(n.input ?? []), ...(this.implicitInputs.get(n) ?? [])]) {
        if (i && !needed.has(i)) {
          needed.add(i);
          stack.push(i);
        }
      }
    }
    return {
      name: graphName,
      node: this.nodes.filter((n) => kept.has(n)),
      initializer: this.initializers.filter((t) => needed.has(t.name!)),
      // Overridable inputs whose initializer was pruned would be inputs nobody feeds: drop them.
      input: this.inputs.filter((i) => !this.overridable.has(i.name!) || needed.has(i.name!)),
      output: this.outputs,
    };
  }
}

function valueInfo(name: string, elemType: ElemType, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return { name, type: T.INT, i: v };
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('graph' in v) return { name, type: T.GRAPH, g: v.graph };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.FLOATS, floats: v.floats };
}
