/**
 * The workflow graph drawn by the dashboard, computed from the ASL definition alone: states as
 * nodes, transitions (Next, Choices, Default, Catch) as edges, Map states as groups holding their
 * own graph, and a layered order (top to bottom) for drawing. Pure data, no DOM, so it is tested
 * in Node and bundled for the page.
 */
import type { ChoiceRule, MachineDef, StateDef } from '../../state-machines/workflows';
import type { StateEvent } from '../runtime/workflow-runner';

/** The definition as the page gets it from GET /api/definition, in the project's one set of ASL types. */
export type AslState = StateDef;
export type AslStates = MachineDef;

export type EdgeKind = 'next' | 'choice' | 'default' | 'catch';

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  /** Short text drawn on the edge (choice condition, caught errors). */
  label?: string;
  /** Goes back to an earlier layer (a loop, e.g. paging). */
  back: boolean;
  /** Placeholders (see `Graph.dummies`) the edge passes through, top to bottom. */
  via: string[];
}

export interface GraphNode {
  name: string;
  type: string;
  comment?: string;
  layer: number;
  end: boolean;
  /** The graphs run by a Map (one) or a Parallel (one per branch) state. */
  children: Graph[];
}

export interface Graph {
  startAt: string;
  nodes: Record<string, GraphNode>;
  /** Node names per layer, in drawing order, with the placeholders of long edges. */
  layers: string[][];
  /** Placeholder name → the key of the long edge it carries through its layer. */
  dummies: Record<string, string>;
  edges: GraphEdge[];
}

/** `$.notification.topic` → `topic`: the last path segment says enough on a drawn edge. */
const leaf = (path: string | undefined): string => (path ?? '?').split('.').pop() ?? '?';

const COMPARISONS: Record<string, string> = {
  StringEquals: '=',
  NumericEquals: '=',
  BooleanEquals: '=',
  TimestampEquals: '=',
  NumericLessThan: '<',
  NumericGreaterThan: '>',
  NumericLessThanEquals: '≤',
  NumericGreaterThanEquals: '≥',
  StringLessThan: '<',
  StringGreaterThan: '>',
  StringMatches: '~',
};

const predicate = (rule: ChoiceRule): string => {
  for (const [key, value] of Object.entries(rule)) {
    if (key === 'Variable' || key === 'Next') continue;
    if (key === 'IsPresent') return value ? 'is present' : 'is absent';
    if (key.startsWith('Is')) return `is ${value ? '' : 'not '}${key.slice(2).toLowerCase()}`;
    const op = COMPARISONS[key.replace(/Path$/, '')];
    if (op) return `${op} ${key.endsWith('Path') ? leaf(String(value)) : String(value)}`;
  }
  return '?';
};

/** A short text for a Choice rule, e.g. `count = 0 & cursor is null`. */
export const describeRule = (rule: ChoiceRule): string => {
  if (rule.And) {
    // `IsPresent` only guards the test that follows on the same variable; the test says enough.
    const tested = rule.And.filter((r) => r.IsPresent === undefined).map((r) => r.Variable);
    return rule.And.filter((r) => !(r.IsPresent === true && tested.includes(r.Variable)))
      .map(describeRule)
      .join(' & ');
  }
  if (rule.Or) return rule.Or.map(describeRule).join(' | ');
  if (rule.Not) return `not (${describeRule(rule.Not)})`;
  return `${leaf(rule.Variable)} ${predicate(rule)}`;
};

const catchLabel = (errors: string[]): string => (errors.includes('States.ALL') ? 'any error' : errors.join(', '));

/** Transitions of one state, in the order they are tried: choices, default, next, catchers. */
export const transitionsOf = (name: string, state: AslState): Omit<GraphEdge, 'back' | 'via'>[] => [
  ...(state.Choices ?? []).flatMap((rule) => (rule.Next ? [{ from: name, to: rule.Next, kind: 'choice' as const, label: describeRule(rule) }] : [])),
  ...(state.Default ? [{ from: name, to: state.Default, kind: 'default' as const, label: 'default' }] : []),
  ...(state.Next ? [{ from: name, to: state.Next, kind: 'next' as const }] : []),
  ...(state.Catch ?? []).map((c) => ({ from: name, to: c.Next, kind: 'catch' as const, label: catchLabel(c.ErrorEquals) })),
];

const subgraphsOf = (state: AslState): AslStates[] => [
  ...(state.ItemProcessor ? [state.ItemProcessor] : []),
  ...(state.Iterator ? [state.Iterator] : []),
  ...(state.Branches ?? []),
];

export const buildGraph = (definition: AslStates): Graph => {
  const names = Object.keys(definition.States);
  // Two transitions between the same states (Next and a Catch to the same target) are drawn as one
  // edge whose label names each of them, so the success path is not mistaken for the error path.
  const byKey = new Map<string, Omit<GraphEdge, 'back' | 'via'>>();
  const merged = new Map<string, string[]>();
  const labelOf = (e: Omit<GraphEdge, 'back' | 'via'>): string => (e.kind === 'catch' ? `catch: ${e.label}` : (e.label ?? e.kind));
  for (const e of names.flatMap((n) => transitionsOf(n, definition.States[n]))) {
    if (!(e.to in definition.States)) continue;
    const seen = byKey.get(edgeKey(e));
    if (seen) {
      const labels = merged.get(edgeKey(e)) ?? [labelOf(seen)];
      labels.push(labelOf(e));
      merged.set(edgeKey(e), labels);
      seen.label = labels.join(' / ');
    } else byKey.set(edgeKey(e), { ...e });
  }
  const raw = [...byKey.values()];
  const outgoing = new Map(names.map((n) => [n, raw.filter((e) => e.from === n)]));

  // Depth-first from StartAt (then any unreachable state): an edge to a state still on the stack closes a loop.
  const order: string[] = [];
  const onStack = new Set<string>();
  const done = new Set<string>();
  const backEdges = new Set<Omit<GraphEdge, 'back' | 'via'>>();
  const visit = (n: string) => {
    onStack.add(n);
    order.push(n);
    for (const e of outgoing.get(n) ?? []) {
      if (onStack.has(e.to)) backEdges.add(e);
      else if (!done.has(e.to)) visit(e.to);
    }
    onStack.delete(n);
    done.add(n);
  };
  for (const start of [definition.StartAt, ...names]) if (!done.has(start) && start in definition.States) visit(start);

  // Longest path from the start over the forward edges: every edge points down at least one layer.
  const layerOf = new Map<string, number>(order.map((n) => [n, 0]));
  const forward = raw.filter((e) => !backEdges.has(e));
  for (let changed = true, rounds = 0; changed && rounds <= names.length; rounds += 1) {
    changed = false;
    for (const e of forward) {
      const next = (layerOf.get(e.from) ?? 0) + 1;
      if (next > (layerOf.get(e.to) ?? 0)) {
        layerOf.set(e.to, next);
        changed = true;
      }
    }
  }

  // An edge spanning several layers gets a placeholder in each layer between, so the drawing keeps
  // a free slot for it instead of crossing the states of those layers.
  const dummies: Record<string, string> = {};
  const edges: GraphEdge[] = raw.map((e) => {
    const back = backEdges.has(e);
    const via: string[] = [];
    if (!back) {
      for (let l = (layerOf.get(e.from) ?? 0) + 1; l < (layerOf.get(e.to) ?? 0); l += 1) {
        const dummy = `${edgeKey(e)}#${l}`;
        dummies[dummy] = edgeKey(e);
        layerOf.set(dummy, l);
        via.push(dummy);
      }
    }
    return { ...e, back, via };
  });
  const preds = new Map<string, string[]>();
  for (const e of edges.filter((x) => !x.back)) {
    const chain = [e.from, ...e.via, e.to];
    for (let i = 1; i < chain.length; i += 1) preds.set(chain[i], [...(preds.get(chain[i]) ?? []), chain[i - 1]]);
  }

  const layers: string[][] = [];
  for (const n of [...order, ...Object.keys(dummies)]) (layers[layerOf.get(n) ?? 0] ??= []).push(n);
  const discovered = (n: string) => (n in dummies ? order.length + Object.keys(dummies).indexOf(n) : order.indexOf(n));
  // One barycentre pass: a state sits under the mean position of the states leading to it.
  const position = new Map<string, number>();
  const loopEnds = new Set([...backEdges].flatMap((e) => [e.from, e.to]));
  layers.forEach((layer, i) => {
    if (i > 0) {
      const weight = (n: string) => {
        const ps = (preds.get(n) ?? []).filter((p) => position.has(p)).map((p) => position.get(p)!);
        return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : Number.MAX_SAFE_INTEGER;
      };
      layer.sort((a, b) => weight(a) - weight(b) || discovered(a) - discovered(b));
    }
    // Loops run along the right-hand margin: their ends sit last in their rows, so the horizontal
    // runs to the margin cross no other state (an end state beside the loop would look like it loops).
    const ends = layer.filter((n) => loopEnds.has(n));
    if (ends.length) layer.splice(0, layer.length, ...layer.filter((n) => !loopEnds.has(n)), ...ends);
    layer.forEach((n, j) => position.set(n, j - (layer.length - 1) / 2));
  });

  const nodes: Record<string, GraphNode> = {};
  for (const n of order) {
    const s = definition.States[n];
    nodes[n] = {
      name: n,
      type: s.Type,
      comment: s.Comment,
      layer: layerOf.get(n) ?? 0,
      end: s.End === true || s.Type === 'Succeed' || s.Type === 'Fail',
      children: subgraphsOf(s).map(buildGraph),
    };
  }
  return {
    startAt: definition.StartAt,
    nodes,
    layers: layers.filter(Boolean),
    dummies,
    edges,
  };
};

/** Every state name of a graph and of its nested graphs. */
export const allStateNames = (graph: Graph): string[] =>
  Object.values(graph.nodes).flatMap((n) => [n.name, ...n.children.flatMap(allStateNames)]);

/** Every edge of a graph and of its nested graphs. */
export const allEdges = (graph: Graph): GraphEdge[] => [
  ...graph.edges,
  ...Object.values(graph.nodes).flatMap((n) => n.children.flatMap(allEdges)),
];

export const edgeKey = (e: { from: string; to: string }): string => `${e.from}→${e.to}`;

/** JSON with sorted keys, so equal values compare equal as strings. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );

/**
 * The transitions an execution actually took. The recorded events do not say which branch a
 * Choice took, and iterations of a Map interleave, but a state's output is exactly the next
 * state's input; so an edge was taken when some output of its source equals some input of its
 * target. (A Catch passes the caught state's output too, with the error at its ResultPath.)
 */
export const takenTransitions = (graph: Graph, events: StateEvent[]): Set<string> => {
  const outputs = new Map<string, Set<string>>();
  const inputs = new Map<string, Set<string>>();
  for (const ev of events) {
    if (!ev.state) continue;
    if (ev.type === 'StateExited' && ev.output !== undefined) {
      (outputs.get(ev.state) ?? outputs.set(ev.state, new Set()).get(ev.state)!).add(canonical(ev.output));
    }
    if (ev.type === 'StateEntered' && ev.input !== undefined) {
      (inputs.get(ev.state) ?? inputs.set(ev.state, new Set()).get(ev.state)!).add(canonical(ev.input));
    }
  }
  const taken = new Set<string>();
  for (const e of allEdges(graph)) {
    const out = outputs.get(e.from);
    const inp = inputs.get(e.to);
    if (out && inp && [...out].some((o) => inp.has(o))) taken.add(edgeKey(e));
  }
  return taken;
};
