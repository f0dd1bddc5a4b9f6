import { allEdges, allStateNames, buildGraph, describeRule, edgeKey, takenTransitions, type AslStates, type Graph } from '../../local/dashboard/graph';
import { readDefinitionText } from '../../state-machines/workflows';

const definition = JSON.parse(readDefinitionText()) as AslStates;

const edge = (graph: Graph, from: string, to: string) => allEdges(graph).find((e) => e.from === from && e.to === to);

/** The graph of a Map state, by the state's name, at any depth. */
const inner = (graph: Graph, name: string): Graph => {
  for (const n of Object.values(graph.nodes)) {
    if (n.name === name) return n.children[0];
    for (const c of n.children) {
      try {
        return inner(c, name);
      } catch {
        // not in this branch
      }
    }
  }
  throw new Error(`no Map state ${name}`);
};

describe('dashboard workflow graph', () => {
  const graph = buildGraph(definition);

  it('draws every state of the definition once, with the Map states as groups', () => {
    const names = allStateNames(graph);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['ForEachStreamRecord', 'Valid?', 'FanOut', 'PushToDevice', 'RetrySendToInbox']));
    expect(Object.keys(graph.nodes)).toEqual(['ForEachStreamRecord']);
    expect(Object.keys(inner(graph, 'ForEachStreamRecord').nodes)).toContain('FanOut');
    expect(Object.keys(inner(graph, 'FanOut').nodes)).toEqual(
      expect.arrayContaining(['DeviceOnline?', 'PushToDevice', 'SendToInbox', 'CreateInboxQueue', 'UseExistingInboxQueue', 'RetrySendToInbox']),
    );
  });

  it('follows Next, Choices, Default and Catch, with readable labels', () => {
    expect(edge(graph, 'ChooseTopic', 'UseDirectTopic')).toMatchObject({ kind: 'choice', label: 'topic = direct' });
    expect(edge(graph, 'ChooseTopic', 'UseSenderTopic')).toMatchObject({ kind: 'default' });
    expect(edge(graph, 'Valid?', 'QuarantineRecord')).toMatchObject({ kind: 'choice', label: 'quarantine is present' });
    expect(edge(graph, 'AnyRecipients?', 'SendToUnrouted')).toMatchObject({ label: 'count = 0 & cursor is null' });
    expect(edge(graph, 'DeviceOnline?', 'PushToDevice')).toMatchObject({ label: 'online = true' });
  });

  it('labels a Next and a Catch to the same state as one edge naming both', () => {
    const tiny = buildGraph({
      StartAt: 'Push',
      States: {
        Push: { Type: 'Task', Resource: 'arn:aws:states:::aws-sdk:iotdataplane:publish', Next: 'Inbox', Catch: [{ ErrorEquals: ['States.ALL'], Next: 'Inbox' }] },
        Inbox: { Type: 'Succeed' },
      },
    } as AslStates);
    expect(allEdges(tiny)).toEqual([expect.objectContaining({ from: 'Push', to: 'Inbox', kind: 'next', label: 'next / catch: any error' })]);
  });

  it('draws the successful push to the inbox as a plain next, and only the failed push as a catch', () => {
    expect(allEdges(graph).filter((e) => e.from === 'PushToDevice').map((e) => [e.to, e.kind, e.label ?? ''])).toEqual(
      expect.arrayContaining([
        ['SendToInbox', 'next', ''],
        ['RecordPushFailure', 'catch', 'any error'],
      ]),
    );
    expect(allEdges(graph).filter((e) => e.from === 'PushToDevice' && e.to === 'SendToInbox')).toHaveLength(1);
  });

  it('puts the ends of the paging loop last in their rows, so the loop crosses no other state', () => {
    const g = inner(graph, 'ForEachStreamRecord');
    const loop = g.edges.filter((e) => e.back);
    expect(loop.map(edgeKey)).toEqual(['NextRecipientPage→ResolveRecipients']);
    for (const name of [loop[0].from, loop[0].to]) {
      const row = g.layers.find((l) => l.includes(name))!;
      expect({ name, after: row.slice(row.indexOf(name) + 1) }).toEqual({ name, after: [] });
    }
  });

  it('lays states out top to bottom; only the paging loop goes back up', () => {
    for (const g of [inner(graph, 'ForEachStreamRecord'), inner(graph, 'FanOut')]) {
      for (const e of g.edges) {
        const down = g.nodes[e.to].layer > g.nodes[e.from].layer;
        expect({ edge: edgeKey(e), down: down || e.back }).toEqual({ edge: edgeKey(e), down: true });
        // Long edges keep a placeholder in every layer they cross.
        if (!e.back) expect(e.via).toHaveLength(g.nodes[e.to].layer - g.nodes[e.from].layer - 1);
      }
    }
    expect(allEdges(graph).filter((e) => e.back).map(edgeKey)).toEqual(['NextRecipientPage→ResolveRecipients']);
    const fanout = inner(graph, 'ForEachStreamRecord');
    expect(fanout.layers[0]).toEqual(['Valid?']);
    expect(fanout.layers.flat().filter((n) => !(n in fanout.dummies))).toHaveLength(Object.keys(fanout.nodes).length);
  });

  it('describes choice rules briefly', () => {
    expect(describeRule({ Variable: '$.a.b', NumericGreaterThanEquals: 3 })).toBe('b ≥ 3');
    expect(describeRule({ Not: { Variable: '$.x', StringEquals: 'y' } })).toBe('not (x = y)');
    expect(describeRule({ Or: [{ Variable: '$.x', IsNull: true }, { Variable: '$.y', IsPresent: false }] })).toBe('x is null | y is absent');
    expect(describeRule({ Variable: '$.x', StringEqualsPath: '$.other.y' })).toBe('x = y');
  });

  it('finds the transitions an execution took from its state inputs and outputs', () => {
    const small = buildGraph({
      StartAt: 'Pick',
      States: {
        Pick: { Type: 'Choice', Choices: [{ Variable: '$.go', BooleanEquals: true, Next: 'Yes' }], Default: 'No' },
        Yes: { Type: 'Pass', End: true },
        No: { Type: 'Pass', End: true },
      },
    });
    const at = 0;
    const taken = takenTransitions(small, [
      { type: 'StateEntered', state: 'Pick', at, input: { go: true, n: 1 } },
      { type: 'StateExited', state: 'Pick', at, output: { n: 1, go: true } },
      { type: 'StateEntered', state: 'Yes', at, input: { go: true, n: 1 } },
      { type: 'StateExited', state: 'Yes', at, output: { go: true, n: 1 } },
    ]);
    expect([...taken]).toEqual(['Pick→Yes']);
  });
});
