import aslValidator from 'asl-validator';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadDefinition,
  placeholdersIn,
  readDefinitionText,
  walkStates,
  type MachineDef,
  type Retrier,
  type StateDef,
} from '../../state-machines/workflows';
import { RECIPIENTS_PAGE_SIZE } from '../../contracts/recipients-page';
import { DEFINITION, SUBSTITUTIONS } from './harness';

/*
 * Static checks of state-machines/notification-fanout.asl.json and of its contract page
 * docs/workflow-contract.md. The behaviour of the file is tested in workflow.test.ts.
 */

const CONTRACT = readFileSync(join(__dirname, '..', '..', 'docs', 'workflow-contract.md'), 'utf8');
const RAW_TEXT = readDefinitionText();
const RAW: MachineDef = JSON.parse(RAW_TEXT) as MachineDef;
const STATES = walkStates(DEFINITION);
const TASKS = STATES.filter((s) => s.state.Type === 'Task');
const stateOf = (name: string): StateDef => STATES.find((s) => s.name === name)!.state;

/** The rows of the markdown table in the section whose heading starts with `heading`. */
const tableRows = (heading: string): string[][] => {
  const start = CONTRACT.indexOf(`\n## ${heading}`);
  if (start < 0) throw new Error(`docs/workflow-contract.md has no section "${heading}"`);
  const end = CONTRACT.indexOf('\n## ', start + 1);
  return CONTRACT.slice(start, end < 0 ? undefined : end)
    .split('\n')
    .filter((line) => line.trim().startsWith('|'))
    .map((line) => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim()))
    .slice(2); // header and separator
};
const backticked = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);

/** Every string anywhere in a JSON value. */
const stringsIn = (value: unknown): string[] =>
  typeof value === 'string'
    ? [value]
    : Array.isArray(value)
      ? value.flatMap(stringsIn)
      : value !== null && typeof value === 'object'
        ? Object.entries(value).flatMap(([k, v]) => [k, ...stringsIn(v)])
        : [];

describe('the definition is valid ASL', () => {
  it('validates with asl-validator, JSONPaths and ARNs checked, once its placeholders are filled', () => {
    // The validator writes QueryLanguage into every state of what it is given: give it a copy.
    const result = aslValidator(loadDefinition(SUBSTITUTIONS), { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('validates as written too (placeholders only sit inside strings)', () => {
    const result = aslValidator(JSON.parse(RAW_TEXT), { checkPaths: true, checkArn: true });
    expect(result.errorsText('\n')).toBe('');
  });

  it('has no duplicate keys that JSON.parse would silently drop', () => {
    for (const { name } of STATES) {
      const occurrences = RAW_TEXT.split(`"${name}": {`).length - 1;
      expect({ name, occurrences }).toEqual({ name, occurrences: 1 });
    }
  });

  it('names every state uniquely, across the nested Maps too', () => {
    const names = STATES.map((s) => s.name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
  });

  it('reaches every state from its StartAt, and every transition stays inside its own Map', () => {
    const machines: MachineDef[] = [DEFINITION, ...STATES.flatMap((s) => (s.state.ItemProcessor ? [s.state.ItemProcessor] : []))];
    for (const machine of machines) {
      const targets = (s: StateDef) => [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next), ...(s.Catch ?? []).map((c) => c.Next)].filter((t): t is string => !!t);
      const seen = new Set<string>();
      const visit = (name: string) => {
        if (seen.has(name)) return;
        expect(Object.keys(machine.States)).toContain(name);
        seen.add(name);
        targets(machine.States[name]).forEach(visit);
      };
      visit(machine.StartAt);
      expect([...seen].sort()).toEqual(Object.keys(machine.States).sort());
    }
  });
});

describe('the query language is JSONPath everywhere', () => {
  it('declares JSONPath at the top and never anything else in a state or a Map processor', () => {
    expect(RAW.QueryLanguage).toBe('JSONPath');
    for (const { name, state } of walkStates(RAW)) {
      expect({ name, QueryLanguage: state.QueryLanguage ?? 'JSONPath' }).toEqual({ name, QueryLanguage: 'JSONPath' });
      if (state.ItemProcessor) expect(state.ItemProcessor.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
    }
  });

  it('uses no JSONata-only field and no {% expression %}', () => {
    for (const { name, state } of walkStates(RAW)) {
      for (const field of ['Arguments', 'Output', 'Items', 'Assign']) expect({ name, field, present: field in state }).toEqual({ name, field, present: false });
      for (const rule of state.Choices ?? []) expect(rule).not.toHaveProperty('Condition');
    }
    expect(stringsIn(RAW).filter((s) => s.includes('{%'))).toEqual([]);
  });
});

describe('definitionSubstitutions: the file and docs/workflow-contract.md agree', () => {
  const documented = tableRows('`definitionSubstitutions`').flatMap((row) => backticked(row[0]));

  it('documents every ${Placeholder} of the file', () => {
    expect(documented.length).toBeGreaterThan(0);
    const used = placeholdersIn(RAW_TEXT);
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((p) => !documented.includes(p))).toEqual([]);
  });

  it('uses every documented placeholder', () => {
    expect(documented.filter((p) => !placeholdersIn(RAW_TEXT).includes(p))).toEqual([]);
  });

  it('calls each task Lambda through the placeholder named after its state', () => {
    for (const { name, state } of walkStates(RAW).filter((s) => s.state.Resource === 'arn:aws:states:::lambda:invoke')) {
      expect({ name, FunctionName: (state.Parameters as { FunctionName?: string }).FunctionName }).toEqual({ name, FunctionName: `\${${name}FunctionArn}` });
    }
  });
});

describe('the states table of docs/workflow-contract.md describes the file', () => {
  const rows = tableRows('States and what each Task receives');
  const kindOf = new Map(rows.map((r) => [backticked(r[0])[0], r[1]]));

  it('lists every Task state with its integration', () => {
    expect(kindOf.size).toBeGreaterThan(TASKS.length);
    for (const { name, state } of TASKS) {
      const integration = state.Resource!.replace('arn:aws:states:::', '');
      expect({ name, kind: kindOf.get(name) ?? 'missing' }).toEqual({ name, kind: expect.stringContaining(`\`${integration}\``) });
    }
  });

  it('mentions every state of the file', () => {
    expect(STATES.map((s) => s.name).filter((n) => !CONTRACT.includes(`\`${n}\``))).toEqual([]);
  });

  it('lists no state that the file does not have', () => {
    expect([...kindOf.keys()].filter((n) => !STATES.some((s) => s.name === n))).toEqual([]);
  });
});

/** Seconds a Retry entry can wait in all: each pause at its cap (full jitter waits between 0 and it). */
const worstWait = (r: Retrier) =>
  Array.from({ length: r.MaxAttempts ?? 3 }, (_, k) => Math.min((r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k, r.MaxDelaySeconds ?? Infinity)).reduce((a, b) => a + b, 0);
const sum = (a: number, b: number) => a + b;
/** Seconds a state's retriers can wait in all (each retrier counts its own attempts). */
const worstWaitOf = (name: string) => (stateOf(name).Retry ?? []).map(worstWait).reduce(sum, 0);
/** How long an Express execution may run. */
const EXPRESS_MAX_SECONDS = 5 * 60;

/** Tasks that may have no Retry, and why. */
const NO_RETRY: Record<string, string> = {
  SendToInbox: 'its Catch sends every failure through CreateInboxQueue (idempotent) to RetrySendToInbox, which retries',
};

describe('error handling is declared on every Task', () => {
  it('gives every Task a Retry or a Catch', () => {
    expect(TASKS.filter((t) => !t.state.Retry?.length && !t.state.Catch?.length).map((t) => t.name)).toEqual([]);
  });

  it('gives every Task a Retry, except the justified ones', () => {
    expect(TASKS.filter((t) => !t.state.Retry?.length).map((t) => t.name)).toEqual(Object.keys(NO_RETRY));
  });

  it('keeps the state input in every Catch (ResultPath into a field, never replacing the state)', () => {
    for (const { name, state } of STATES) {
      for (const c of state.Catch ?? []) expect({ name, ResultPath: c.ResultPath }).toEqual({ name, ResultPath: expect.stringMatching(/^\$\.[A-Za-z]+$/) });
    }
  });

  it('backs off with full jitter and a bounded number of attempts in every Retry', () => {
    for (const { name, state } of STATES) {
      for (const r of state.Retry ?? []) {
        expect({ name, r }).toEqual({
          name,
          r: expect.objectContaining({ IntervalSeconds: expect.any(Number), MaxAttempts: expect.any(Number), BackoffRate: expect.any(Number), JitterStrategy: 'FULL' }),
        });
        expect(r.MaxAttempts).toBeGreaterThanOrEqual(1);
        expect(r.MaxAttempts).toBeLessThanOrEqual(6);
      }
    }
  });

  it("keeps every state's worst-case retry backoff within a minute, well inside the 5-minute Express limit", () => {
    for (const { name } of STATES) {
      const total = worstWaitOf(name);
      expect({ name, total: total <= 60 }).toEqual({ name, total: true });
    }
  });

  it('keeps the worst-case retry waits of each entry path (one page of the default size) under the 5-minute Express limit, and documents them', () => {
    const waves = Math.ceil(RECIPIENTS_PAGE_SIZE.default / (stateOf('FanOut').MaxConcurrency as number));
    const device = ['PushToDevice', 'CreateInboxQueue', 'RetrySendToInbox'].map(worstWaitOf).reduce(sum, 0);
    const paths = {
      quarantined: ['QuarantineRecord', 'SendQuarantineOutcome'].map(worstWaitOf).reduce(sum, 0),
      unrouted: ['PublishToTopic', 'ResolveRecipients', 'SendToUnrouted', 'SendOutcome'].map(worstWaitOf).reduce(sum, 0),
      notified: ['PublishToTopic', 'ResolveRecipients', 'CheckPresence', 'SendOutcome'].map(worstWaitOf).reduce(sum, waves * device),
    };
    for (const [path, seconds] of Object.entries(paths)) {
      expect({ path, underTheLimit: seconds < EXPRESS_MAX_SECONDS }).toEqual({ path, underTheLimit: true });
      expect({ path, documented: CONTRACT.includes(`${path} ${seconds} s`) }).toEqual({ path, documented: true });
    }
  });

  it('never retries an invalid record: each record starts at Valid?, which sends a quarantine entry straight to QuarantineRecord', () => {
    const perRecord = stateOf('ForEachStreamRecord').ItemProcessor!;
    expect(perRecord.StartAt).toBe('Valid?');
    expect(stateOf('Valid?')).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.quarantine', IsPresent: true, Next: 'QuarantineRecord' }],
      Default: 'ChooseTopic',
    });
    expect(STATES.flatMap((s) => [...(s.state.Retry ?? []), ...(s.state.Catch ?? [])]).filter((r) => r.ErrorEquals.includes('InvalidRecordError'))).toEqual([]);
  });
});

describe('every entry ends with its outcome send', () => {
  const perRecord = stateOf('ForEachStreamRecord').ItemProcessor!;
  const RAW_PER_RECORD = (RAW.States.ForEachStreamRecord as StateDef).ItemProcessor!;
  const ends = Object.entries(RAW_PER_RECORD.States).filter(([, state]) => state.End);
  const outcomeSends = ends.filter(([, state]) => state.Type === 'Task' && (state.Parameters as { QueueUrl?: string }).QueueUrl === '${OutcomesQueueUrl}');
  const into = (target: string) =>
    Object.entries(perRecord.States)
      .filter(([, st]) => [st.Next, st.Default, ...(st.Choices ?? []).map((c) => c.Next), ...(st.Catch ?? []).map((c) => c.Next)].includes(target))
      .map(([name]) => name);

  it('ends every path of a record in a send to ${OutcomesQueueUrl}; the only other way out is the Fail state OutcomeNotSent', () => {
    expect(outcomeSends.map(([name]) => name).sort()).toEqual(['SendOutcome', 'SendQuarantineOutcome']);
    expect(ends.filter(([name]) => !outcomeSends.some(([n]) => n === name))).toEqual([]);
    expect(STATES.filter((s) => s.state.Type === 'Fail' || s.state.Type === 'Succeed').map((s) => s.name)).toEqual(['OutcomeNotSent']);
    expect(stateOf('OutcomeNotSent')).toEqual(expect.objectContaining({ Type: 'Fail', Error: 'OutcomeNotSent', CausePath: expect.stringMatching(/^\$\.[A-Za-z.]+$/) }));
  });

  it('reaches OutcomeNotSent only from an outcome send that failed for good, through a Pass that writes its Cause', () => {
    const describers = into('OutcomeNotSent').sort();
    expect(describers).toEqual(['DescribeOutcomeNotSent', 'DescribeQuarantineOutcomeNotSent']);
    for (const [send, describer] of [['SendOutcome', 'DescribeOutcomeNotSent'], ['SendQuarantineOutcome', 'DescribeQuarantineOutcomeNotSent']]) {
      expect(stateOf(send).Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: describer })]);
      expect(into(describer)).toEqual([send]);
      expect(stateOf(describer)).toEqual(expect.objectContaining({ Type: 'Pass', Next: 'OutcomeNotSent' }));
      expect(stateOf('OutcomeNotSent').CausePath).toBe(`${stateOf(describer).ResultPath as string}.cause`);
    }
  });

  it('retries an outcome send longer than the other sends, with exponential backoff and full jitter, and documents its worst-case wait', () => {
    const [retrier, ...others] = stateOf('SendOutcome').Retry!;
    expect(others).toEqual([]);
    expect(stateOf('SendQuarantineOutcome').Retry).toEqual([retrier]);
    expect(retrier).toEqual(expect.objectContaining({ ErrorEquals: ['States.ALL'], JitterStrategy: 'FULL', MaxDelaySeconds: expect.any(Number) }));
    expect(retrier.BackoffRate).toBeGreaterThan(1);
    const otherSends = ['QuarantineRecord', 'SendToUnrouted', 'PublishToTopic', 'RetrySendToInbox'].map(worstWaitOf);
    expect(worstWait(retrier)).toBeGreaterThan(Math.max(...otherSends));
    expect(CONTRACT).toContain(`${1 + retrier.MaxAttempts!} attempts, at most ${worstWait(retrier)} s of waits`);
  });

  it('keeps the per-record result as the output of every end state, so the execution output does not depend on the outcome send', () => {
    for (const [name, state] of ends) expect({ name, OutputPath: state.OutputPath }).toEqual({ name, OutputPath: '$.result' });
  });
});

describe('Comments', () => {
  it('explains every Task and every Map in a Comment', () => {
    const missing = STATES.filter((s) => ['Task', 'Map'].includes(s.state.Type) && !(s.state.Comment ?? '').trim()).map((s) => s.name);
    expect(missing).toEqual([]);
  });

  it('has a Comment on the state machine', () => {
    expect((RAW.Comment ?? '').length).toBeGreaterThan(20);
  });
});
