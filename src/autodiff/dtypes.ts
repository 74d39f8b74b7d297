// Element types of every value in a graph, worked out from the inputs, the initializers and each op's rule.
import { Graph, Node, attrInt } from '../graph/graph.js';
import { DType, DTYPE_FROM_ONNX } from '../graph/tensor.js';

const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);

function fromCode(node: Node, code: number): DType {
  const t = DTYPE_FROM_ONNX[code];
  if (!t) throw new Error(`node ${node.name} (${node.op}): unknown data type code ${code}`);
  return t;
}

/** The dtypes of a node's outputs, given a lookup for its inputs. */
export function nodeOutputDtypes(n: Node, dtypeOf: (v: string) => DType | undefined): (DType | undefined)[] {
  const inp = (i: number) => (n.inputs[i] ? dtypeOf(n.inputs[i]) : undefined);
  const all = (t: DType | undefined) => n.outputs.map(() => t);
  if (n.domain && n.domain !== 'ai.onnx') return all(inp(0));
  if (BOOL_OPS.has(n.op)) return all('bool');
  if (INT64_OPS.has(n.op)) return all('int64');
  switch (n.op) {
    case 'Cast':
      return all(fromCode(n, attrInt(n, 'to')));
    case 'CastLike':
      return all(inp(1));
    case 'Constant': {
      const a = n.attrs.value ?? n.attrs.sparse_value;
      if (a?.type === 'tensor') return all(a.value.dtype);
      if (n.attrs.value_float || n.attrs.value_floats) return all('float32');
      if (n.attrs.value_int || n.attrs.value_ints) return all('int64');
      return all(undefined);
    }
    case 'ConstantOfShape': {
      const a = n.attrs.value;
      return all(a?.type === 'tensor' ? a.value.dtype : 'float32');
    }
    case 'EyeLike':
    case 'RandomNormalLike':
    case 'RandomUniformLike':
      return all(n.attrs.dtype ? fromCode(n, attrInt(n, 'dtype')) : inp(0));
    case 'RandomNormal':
    case 'RandomUniform':
      return all(n.attrs.dtype ? fromCode(n, attrInt(n, 'dtype')) : 'float32');
    case 'Where':
      return all(inp(1));
    case 'OneHot':
      return all(inp(2));
    case 'LayerNormalization': {
      const stash = fromCode(n, attrInt(n, 'stash_type', 1));
      return ([inp(0), stash, stash] as (DType | undefined)[]).slice(0, n.outputs.length);
    }
    case 'TopK':
    case 'MaxPool':
      return ([inp(0), 'int64'] as (DType | undefined)[]).slice(0, n.outputs.length);
    case 'Dropout':
      return ([inp(0), 'bool'] as (DType | undefined)[]).slice(0, n.outputs.length);
    case 'Unique':
      return ([inp(0), 'int64', 'int64', 'int64'] as (DType | undefined)[]).slice(0, n.outputs.length);
    case 'DynamicQuantizeLinear':
      return (['uint8', 'float32', 'uint8'] as DType[]).slice(0, n.outputs.length);
    default:
      return all(inp(0));
  }
}

/** Map from every input, initializer and node output to its dtype. Nodes must be in topological order. */
export function inferDtypes(g: Graph, nodes: Node[] = g.nodes): Map<string, DType> {
  const m = new Map<string, DType>();
  for (const v of g.inputs) m.set(v.name, v.dtype);
  for (const [k, t] of g.initializers) m.set(k, t.dtype);
  for (const n of nodes) {
    const ts = nodeOutputDtypes(n, (v) => m.get(v));
    n.outputs.forEach((o, i) => {
      if (!o) return;
      const t = ts[i];
      if (!t) throw new Error(`graph ${g.name}: cannot tell the data type of '${o}' (node ${n.name}, ${n.op})`);
      m.set(o, t);
    });
  }
  return m;
}
