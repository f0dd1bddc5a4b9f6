import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Audience, Device, NotificationEnvelope } from '../../contracts/envelope';
import { AslEngine, type EngineEvent } from '../../local/runtime/asl-engine';
import {
  loadDefinition,
  notificationFanoutSubstitutions,
  walkStates,
  type MachineDef,
  type StateDef,
} from '../../state-machines/workflows';
import { TaskFailure } from './aws-shapes';

/**
 * Runs the REAL state machine file (state-machines/notification-fanout.asl.json) in
 * aws-local-stepfunctions, through the engine adapter the local runtime uses too
 * (local/runtime/asl-engine.ts), with every Task overridden by a script of the test:
 *
 * - `${Placeholder}`s are filled by state-machines/workflows.ts, as CDK's definitionSubstitutions
 *   are; one left over is an error;
 * - every Task state of the definition (nested Maps included) gets an override, so nothing ever
 *   reaches AWS; a Task the test did not script fails the test loudly;
 * - every Retry pauses 0 ms;
 * - every Task call is recorded (state, exact input, attempt, result or error) in call order;
 * - the engine's event log is kept, and the states entered per record / per device come from it;
 * - what each run exercised (Choice branches, Retry and Catch entries) is added to a coverage set
 *   that the workflow tests compare with the definition.
 *
 * `States.JsonToString` is left to the engine, whose quirks the workflow tests pin.
 */

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const STATE_MACHINE_NAME = 'convo-notify-fanout';

/** What CDK's definitionSubstitutions put in, for a stack named convo-notify in us-east-1. */
export const SUBSTITUTIONS = notificationFanoutSubstitutions({
  ResolveRecipientsFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:convo-notify-resolve-recipients`,
  CheckPresenceFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:convo-notify-check-presence`,
  DirectTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:convo-notify-direct`,
  TeamTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:convo-notify-team`,
  SenderTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:convo-notify-sender`,
  QuarantineQueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/convo-notify-quarantine`,
  UnroutedQueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/convo-notify-unrouted`,
  OutcomesQueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/convo-notify-outcomes`,
  InboxQueueUrlPrefix: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/convo-notify-inbox-`,
  InboxQueueNamePrefix: 'convo-notify-inbox-',
  InboxRetentionSeconds: '345600',
});

/** The definition every run uses (placeholders filled with SUBSTITUTIONS). */
export const DEFINITION: MachineDef = loadDefinition(SUBSTITUTIONS);
const ENTRIES = walkStates(DEFINITION);
export const stateNamed = (name: string): StateDef => {
  const entry = ENTRIES.find((e) => e.name === name);
  if (!entry) throw new Error(`no state named ${name} in the definition`);
  return entry.state;
};

/** The two Maps: one iteration per entry of the batch (one per stream record), and inside it one per device. */
export const RECORD_MAP = 'ForEachStreamRecord';
export const DEVICE_MAP = 'FanOut';
const RECORD_LEVEL = new Set(ENTRIES.filter((e) => e.scope.at(-1) === RECORD_MAP).map((e) => e.name));
const DEVICE_LEVEL = new Set(ENTRIES.filter((e) => e.scope.at(-1) === DEVICE_MAP).map((e) => e.name));

// ---------------------------------------------------------------------------------------------
// What each Task receives (after Parameters), by state name

export interface LambdaInvokeInput<P> {
  FunctionName: string;
  Payload: P;
}
export interface SqsSendMessageInput {
  QueueUrl: string;
  MessageBody: unknown;
  MessageGroupId?: string;
  MessageDeduplicationId?: string;
}
export interface SnsPublishInput {
  TopicArn: string;
  Message: string;
  MessageAttributes: Record<string, { DataType: string; StringValue: string }>;
}
export interface IotPublishInput {
  Topic: string;
  Qos: number;
  Payload: string;
}
export interface CreateQueueInput {
  QueueName: string;
  Attributes: Record<string, string>;
}

export interface TaskInputs {
  QuarantineRecord: SqsSendMessageInput;
  SendQuarantineOutcome: SqsSendMessageInput;
  PublishToTopic: SnsPublishInput;
  ResolveRecipients: LambdaInvokeInput<{ audience: Audience; cursor: string | null }>;
  SendToUnrouted: SqsSendMessageInput;
  CheckPresence: LambdaInvokeInput<{ devices: Device[] }>;
  PushToDevice: IotPublishInput;
  SendToInbox: SqsSendMessageInput;
  CreateInboxQueue: CreateQueueInput;
  RetrySendToInbox: SqsSendMessageInput;
  SendOutcome: SqsSendMessageInput;
}
export type TaskName = keyof TaskInputs;
/** Kept equal to the Task states of the definition by test/asl/harness.test.ts. */
export const TASK_NAMES: readonly TaskName[] = [
  'QuarantineRecord',
  'SendQuarantineOutcome',
  'PublishToTopic',
  'ResolveRecipients',
  'SendToUnrouted',
  'CheckPresence',
  'PushToDevice',
  'SendToInbox',
  'CreateInboxQueue',
  'RetrySendToInbox',
  'SendOutcome',
];

export interface ScriptContext {
  /** 1 for the first call with this exact input, 2 for its first retry, ... */
  attempt: number;
}
/** What a Task does in a test: return the service's response, or throw a TaskFailure. */
export type Script<I> = (input: I, ctx: ScriptContext) => unknown;
export type Scripts = { [K in TaskName]?: Script<TaskInputs[K]> };

export interface RecordedCall<K extends TaskName = TaskName> {
  seq: number;
  state: K;
  input: TaskInputs[K];
  attempt: number;
  result?: unknown;
  error?: { name: string; cause: string };
}

/** A failure of the test set-up, never a Task error: the engine can neither retry nor catch it. */
export class HarnessError extends Error {
  readonly isRetryable = false;
  readonly isCatchable = false;
  constructor(message: string) {
    super(message);
    this.name = 'HarnessError';
  }
}

// ---------------------------------------------------------------------------------------------
// Coverage: what the runs exercised, against what the definition has

const observed = new Set<string>();

export const choiceItem = (choice: string, next: string) => `Choice ${choice} -> ${next}`;
export const retryItem = (state: string, index: number) => `Retry ${state}#${index} [${stateNamed(state).Retry?.[index]?.ErrorEquals.join(', ')}]`;
export const catchItem = (state: string, index: number) => `Catch ${state}#${index} [${stateNamed(state).Catch?.[index]?.ErrorEquals.join(', ')}] -> ${stateNamed(state).Catch?.[index]?.Next}`;

/** Every Choice branch (each rule's Next and the Default), every Retry entry and every Catch entry of the file. */
export const requiredCoverage = (machine: MachineDef = DEFINITION): string[] =>
  walkStates(machine).flatMap(({ name, state }) => [
    ...(state.Type === 'Choice'
      ? [...new Set([...(state.Choices ?? []).map((c) => c.Next as string), ...(state.Default ? [state.Default] : [])])].map((n) => choiceItem(name, n))
      : []),
    ...(state.Retry ?? []).map((_r, i) => retryItem(name, i)),
    ...(state.Catch ?? []).map((_c, i) => catchItem(name, i)),
  ]);

export const observedCoverage = (): Set<string> => new Set(observed);

// ---------------------------------------------------------------------------------------------
// A run

export type RunStatus = 'SUCCEEDED' | 'FAILED';

export class Run {
  constructor(
    readonly executionArn: string,
    readonly status: RunStatus,
    readonly output: unknown,
    readonly error: { name: string; cause: string } | undefined,
    readonly calls: readonly RecordedCall[],
    readonly events: readonly EngineEvent[],
  ) {}

  callsTo<K extends TaskName>(state: K): RecordedCall<K>[] {
    return this.calls.filter((c): c is RecordedCall<K> => c.state === state);
  }

  inputsTo<K extends TaskName>(state: K): TaskInputs[K][] {
    return this.callsTo(state).map((c) => c.input);
  }

  /** Task states called, in call order (Map iterations interleave: compare per record / device). */
  taskSequence(): string[] {
    return this.calls.map((c) => c.state);
  }

  private entered(): EngineEvent[] {
    return this.events.filter((e) => e.type === 'StateEntered' && e.state !== undefined);
  }

  /** States of one record's iteration entered, in order (the FanOut iterations left out). */
  path(recordIndex = 0): string[] {
    return this.entered()
      .filter((e) => e.index === recordIndex && RECORD_LEVEL.has(e.state!.name))
      .map((e) => e.state!.name);
  }

  /** States of the FanOut iteration(s) of one device, in order. */
  devicePath(clientId: string, recordIndex = 0): string[] {
    return this.entered()
      .filter((e) => e.index === recordIndex && DEVICE_LEVEL.has(e.state!.name) && deviceOf(e.state!.input) === clientId)
      .map((e) => e.state!.name);
  }

  /** Retry entries used, as `{ state, retrier index }`, in event order. */
  retries(state?: string): { state: string; retrier: number; attempt: number }[] {
    return this.events
      .filter((e) => e.type === 'StateRetried' && (!state || e.state?.name === state))
      .map((e) => ({ state: e.state!.name, retrier: indexOfEntry(stateNamed(e.state!.name).Retry, e.retry!.retrier), attempt: e.retry!.attempt }));
  }

  /** Catch entries used, in event order. */
  catches(state?: string): { state: string; catcher: number; next: string }[] {
    return this.events
      .filter((e) => e.type === 'StateCaught' && (!state || e.state?.name === state))
      .map((e) => ({ state: e.state!.name, catcher: indexOfEntry(stateNamed(e.state!.name).Catch, e.catch!.catcher), next: e.catch!.catcher.Next }));
  }

  /** Consecutive states entered within one record iteration or one device iteration. */
  transitions(): [string, string][] {
    const sequences = new Map<string, string[]>();
    for (const e of this.entered()) {
      const name = e.state!.name;
      const key = RECORD_LEVEL.has(name) ? `r${e.index}` : DEVICE_LEVEL.has(name) ? `r${e.index}/d${deviceOf(e.state!.input)}` : 'root';
      sequences.set(key, [...(sequences.get(key) ?? []), name]);
    }
    return [...sequences.values()].flatMap((seq) => seq.slice(1).map((next, i): [string, string] => [seq[i], next]));
  }
}

const deviceOf = (input: unknown): string | undefined => (input as { device?: { clientId?: string } } | null)?.device?.clientId;

const indexOfEntry = <T>(entries: T[] | undefined, entry: T): number => (entries ?? []).findIndex((x) => isDeepStrictEqual(x, entry));

const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

let executionCounter = 0;

let engine: AslEngine | undefined;
/** One engine for all runs (constructing validates the definition, which takes a while); runs are independent. */
const machine = (): AslEngine => {
  engine ??= new AslEngine(DEFINITION, { region: REGION, accountId: ACCOUNT, stateMachineName: STATE_MACHINE_NAME, jsonToString: 'engine' });
  return engine;
};

export interface RunOptions {
  /** Execution name; a fresh one per run by default. */
  name?: string;
}

/**
 * Runs the real definition on `batch` (what the Pipe sends after its enrichment: normalize-batch's
 * array of entries, one per stream record; see `batchOf` in fixtures.ts).
 * A failed execution is returned (status FAILED, error = the States error), not thrown;
 * a harness problem (unscripted Task, a script throwing something else than a TaskFailure,
 * an incomplete event log) is thrown.
 */
export const runWorkflow = async (batch: readonly unknown[], scripts: Scripts, options: RunOptions = {}): Promise<Run> => {
  for (const name of Object.keys(scripts)) {
    if (!TASK_NAMES.includes(name as TaskName)) throw new Error(`script for ${name}, which is not a Task state of the definition`);
  }
  const calls: RecordedCall[] = [];
  const harnessErrors: HarnessError[] = [];
  const fail = (message: string) => {
    const error = new HarnessError(message);
    harnessErrors.push(error);
    return error;
  };

  const answer = async ({ name }: { name: string }, input: unknown) => {
    const attempt = calls.filter((c) => c.state === name && isDeepStrictEqual(c.input, input)).length + 1;
    const call: RecordedCall = { seq: calls.length + 1, state: name as TaskName, input: clone(input) as never, attempt };
    calls.push(call);
    const script = scripts[name as TaskName] as Script<unknown> | undefined;
    if (!script) throw fail(`no override for Task ${name}: the test did not script it (without an override the engine would call real AWS Lambda)`);
    let result: unknown;
    try {
      result = await script(clone(input), { attempt });
    } catch (err) {
      if (err instanceof TaskFailure) {
        call.error = { name: err.name, cause: err.message };
        throw err;
      }
      throw fail(`the script for Task ${name} threw ${String(err)}; scripts throw TaskFailure (test/asl/aws-shapes.ts) to fail a Task`);
    }
    if (result === undefined) throw fail(`the script for Task ${name} returned nothing; return the service's response`);
    call.result = clone(result);
    return clone(result);
  };

  const execution = machine().start(batch, {
    task: answer,
    retryIntervalMs: 0,
    name: options.name ?? `exec-${++executionCounter}-${randomUUID().slice(0, 8)}`,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/convo-notify-fanout-role`,
  });
  const { status, output, error, eventLogError } = await execution.done;
  if (harnessErrors.length > 0) throw new Error(harnessErrors.map((e) => e.message).join('\n'));
  if (eventLogError) throw new Error(`the engine's event log could not be read: ${eventLogError.message}`);
  if (status === 'SUCCEEDED') assertCompleteEventLog(execution.events);

  const failure = error && { name: error.name, cause: error.message };
  const run = new Run(execution.executionArn, status, output, failure, calls, execution.events);
  for (const [from, to] of run.transitions()) if (stateNamed(from).Type === 'Choice') observed.add(choiceItem(from, to));
  for (const r of run.retries()) observed.add(retryItem(r.state, r.retrier));
  for (const c of run.catches()) observed.add(catchItem(c.state, c.catcher));
  return run;
};

/**
 * aws-local-stepfunctions forwards the events of Map iterations asynchronously and drops those
 * that arrive after the parent has finished. Paths and coverage come from the events, so a
 * succeeded run whose log is incomplete is a harness failure, not a silent gap.
 */
const assertCompleteEventLog = (events: readonly EngineEvent[]) => {
  const tally = new Map<string, number>();
  const bump = (key: string, by: number) => tally.set(key, (tally.get(key) ?? 0) + by);
  for (const e of events) {
    if (e.type === 'StateEntered') bump(`state ${e.state!.name}`, 1);
    if (e.type === 'StateExited') bump(`state ${e.state!.name}`, -1);
    if (e.type === 'MapIterationStarted') bump(`iteration of ${e.parentState!.name}`, 1);
    if (e.type === 'MapIterationSucceeded') bump(`iteration of ${e.parentState!.name}`, -1);
  }
  const unbalanced = [...tally].filter(([, n]) => n !== 0).map(([k, n]) => `${k} (${n > 0 ? 'entered' : 'exited'} ${Math.abs(n)} more)`);
  if (unbalanced.length > 0 || events.at(-1)?.type !== 'ExecutionSucceeded') {
    throw new Error(`the engine's event log is incomplete: ${unbalanced.join('; ') || 'no ExecutionSucceeded at the end'}`);
  }
};

/** The notification a Task input carries as JSON (PublishToTopic.Message, SendToInbox.MessageBody, ...). */
export const parseEnvelopeJson = (json: unknown): NotificationEnvelope => {
  if (typeof json !== 'string') throw new Error(`expected a JSON string, got ${typeof json}`);
  return JSON.parse(json) as NotificationEnvelope;
};
