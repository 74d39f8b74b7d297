// The graph representation: a typed mirror of the parts of ONNX we use.
import { DType, Tensor } from './tensor.js';

/** A dimension: a number, a symbolic name, or null when unknown. */
export type Dim = number | string | null;

export interface ValueInfo {
  name: string;
  dtype: DType;
  /** undefined when even the rank is unknown */
  shape?: Dim[];
}

export type Attr =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] };

/** Attribute constructors, since a JS number does not say whether it is an int or a float. */
export const attr = {
  float: (value: number): Attr => ({ type: 'float', value }),
  int: (value: number): Attr => ({ type: 'int', value }),
  string: (value: string): Attr => ({ type: 'string', value }),
  tensor: (value: Tensor): Attr => ({ type: 'tensor', value }),
  floats: (value: number[]): Attr => ({ type: 'floats', value }),
  ints: (value: number[]): Attr => ({ type: 'ints', value }),
  strings: (value: string[]): Attr => ({ type: 'strings', value }),
};

export interface Node {
  name: string;
  op: string;
  /** '' (the default ONNX domain) unless set */
  domain?: string;
  /** '' marks an omitted optional input */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface Graph {
  name: string;
  /** default-domain opset version */
  opset: number;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Map<string, Tensor>;
  nodes: Node[];
}

export function attrInt(node: Node, name: string, fallback?: number): number {
  const a = node.attrs[name];
  if (!a) {
    if (fallback === undefined) throw new Error(`node ${node.name} (${node.op}) lacks attribute ${name}`);
    return fallback;
  }
  if (a.type !== 'int') throw new Error(`node ${node.name} (${node.op}): attribute ${name} is not an int`);
  return a.value;
}

export function attrFloat(node: Node, name: string, fallback?: number): number {
  const a = node.attrs[name];
  if (!a) {
    if (fallback === undefined) throw new Error(`node ${node.name} (${node.op}) lacks attribute ${name}`);
    return fallback;
  }
  if (a.type !== 'float' && a.type !== 'int') throw new Error(`node ${node.name} (${node.op}): attribute ${name} is not a float`);
  return a.value;
}

export function attrInts(node: Node, name: string, fallback?: number[]): number[] {
  const a = node.attrs[name];
  if (!a) {
    if (fallback === undefined) throw new Error(`node ${node.name} (${node.op}) lacks attribute ${name}`);
    return fallback;
  }
  if (a.type !== 'ints') throw new Error(`node ${node.name} (${node.op}): attribute ${name} is not a list of ints`);
  return a.value;
}

export function attrString(node: Node, name: string, fallback?: string): string {
  const a = node.attrs[name];
  if (!a) {
    if (fallback === undefined) throw new Error(`node ${node.name} (${node.op}) lacks attribute ${name}`);
    return fallback;
  }
  if (a.type !== 'string') throw new Error(`node ${node.name} (${node.op}): attribute ${name} is not a string`);
  return a.value;
}

/** A shallow copy whose node list, io lists and initializer map can be changed freely. */
export function cloneGraph(g: Graph): Graph {
  return {
    name: g.name,
    opset: g.opset,
    inputs: g.inputs.map((v) => ({ ...v, shape: v.shape?.slice() })),
    outputs: g.outputs.map((v) => ({ ...v, shape: v.shape?.slice() })),
    initializers: new Map(g.initializers),
    nodes: g.nodes.map((n) => ({ ...n, inputs: n.inputs.slice(), outputs: n.outputs.slice(), attrs: { ...n.attrs } })),
  };
}

/** Map from each value name to the node producing it. */
export function producers(g: Graph): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/**
 * Nodes in an order where every node comes after the producers of its inputs.
 * Throws on a cycle or on an input that nothing defines.
 */
export function topoSort(g: Graph): Node[] {
  const defined = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.keys(), '']);
  const prod = producers(g);
  const state = new Map<Node, number>();
  const order: Node[] = [];
  const visit = (root: Node) => {
    const stack: [Node, number][] = [[root, 0]];
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      if (i === 0) {
        if (state.get(n) === 2) {
          stack.pop();
          continue;
        }
        state.set(n, 1);
      }
      if (i < n.inputs.length) {
        top[1]++;
        const name = n.inputs[i];
        if (defined.has(name)) continue;
        const p = prod.get(name);
        if (!p) throw new Error(`node ${n.name} (${n.op}) reads '${name}', which no node, input or initializer defines`);
        const s = state.get(p);
        if (s === 1) throw new Error(`graph ${g.name} has a cycle through node ${p.name}`);
        if (s !== 2) stack.push([p, 0]);
        continue;
      }
      state.set(n, 2);
      order.push(n);
      stack.pop();
    }
  };
  for (const n of g.nodes) visit(n);
  return order;
}

/** Drops nodes whose outputs nothing needs for the graph outputs, and unused initializers. */
export function pruneGraph(g: Graph): Graph {
  const prod = producers(g);
  const needed = new Set<string>(g.outputs.map((o) => o.name));
  const keep = new Set<Node>();
  const stack = [...needed];
  while (stack.length) {
    const name = stack.pop()!;
    const n = prod.get(name);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    for (const i of n.inputs) if (i && !needed.has(i)) {
      needed.add(i);
      stack.push(i);
    }
  }
  const out = cloneGraph(g);
  out.nodes = out.nodes.filter((n, i) => keep.has(g.nodes[i]));
  for (const k of [...out.initializers.keys()]) if (!needed.has(k)) out.initializers.delete(k);
  return out;
}
