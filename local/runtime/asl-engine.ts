import './promise-with-resolvers';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { randomUUID } from 'node:crypto';
import { walkStates, type Catcher, type MachineDef, type Retrier } from '../../state-machines/workflows';

/**
 * The one adapter over aws-local-stepfunctions (pinned at 3.0.0: JSONPath only, Assign ignored),
 * under both the local runner (real handlers, local endpoints) and the ASL test harness (scripted
 * Tasks). It copes with the engine's behaviour listed in docs/workflow-contract.md (engine notes):
 *
 * - every Task state, nested Maps included, is answered by the caller by state name, so that no
 *   Task ever falls through to the engine's own call to real AWS Lambda;
 * - each answer comes on a later macrotask, because the engine drops the events of nested Map
 *   iterations that arrive after their parent finished;
 * - the context object carries the execution and state machine ARNs, which the engine's default
 *   lacks (`$$.Execution.Id` would fail);
 * - the engine validates (and annotates) what it is given, so it gets a copy, once;
 * - optionally, `States.JsonToString($.path)` is evaluated as AWS does: the engine strips every
 *   backslash from an intrinsic's string result;
 * - a failed execution is answered with its root error (the Task's, not the engine's wrapper).
 */

type EngineEventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

/** One entry of the engine's event log (the package does not export the type). */
export interface EngineEvent {
  type: EngineEventLog['type'];
  timestamp: number;
  /** The outermost Map iteration (the record), also on events forwarded from nested Maps. */
  index?: number;
  state?: { name: string; type: string; input: unknown; output?: unknown };
  parentState?: { name: string };
  retry?: { retrier: Retrier; attempt: number };
  catch?: { catcher: Catcher };
  Error?: string;
  Cause?: unknown;
}

export interface TaskState {
  name: string;
  resource: string;
}

/** Answers one Task: its effective input (after Parameters) → the service's response, or throws its error. */
export type TaskHandler = (task: TaskState, input: unknown) => unknown;

export interface AslEngineOptions {
  region: string;
  accountId: string;
  stateMachineName: string;
  /**
   * Who evaluates `States.JsonToString($.path)` in Task Parameters: `aws` takes the path's value
   * from the engine and stringifies it before the Task is called, which is what AWS produces;
   * `engine` leaves it to aws-local-stepfunctions, which strips every backslash of the result.
   *
   * @default 'engine'
   */
  jsonToString?: 'aws' | 'engine';
}

export interface StartOptions {
  /** Called for every Task the execution reaches. */
  task: TaskHandler;
  /** Pause of every Retry, in milliseconds; the definition's own backoff when unset. */
  retryIntervalMs?: number;
  /** Execution name. @default a random UUID */
  name?: string;
  roleArn?: string;
}

export interface EngineResult {
  status: 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  /** The root error of a failed execution: what the Task (or the Fail state) raised. */
  error?: Error;
  /** Set when reading the event log failed: the events are then incomplete. */
  eventLogError?: Error;
}

export interface EngineExecution {
  readonly executionArn: string;
  readonly name: string;
  /** The event log so far; complete once `done` has settled. */
  readonly events: readonly EngineEvent[];
  /** Hands `listener` the events logged so far, then each one as the engine logs it. */
  subscribe(listener: (event: EngineEvent) => void): void;
  /** Stops the execution; `done` then answers FAILED with the engine's ExecutionAbortedError. */
  abort(): void;
  readonly done: Promise<EngineResult>;
}

const JSON_TO_STRING = /^States\.JsonToString\((\$[^()]*)\)$/;

/**
 * Rewrites every `"key.$": "States.JsonToString($.path)"` of the Task Parameters in `machine` into
 * `"key.$": "$.path"` and answers, per Task, the (dotted) parameter keys to stringify.
 */
const takeOverJsonToString = (machine: MachineDef): Map<string, string[]> => {
  const found = new Map<string, string[]>();
  const walk = (params: Record<string, unknown>, prefix: string, keys: string[]) => {
    for (const [key, value] of Object.entries(params)) {
      if (typeof value === 'string' && key.endsWith('.$')) {
        const m = JSON_TO_STRING.exec(value);
        if (m) {
          params[key] = m[1];
          keys.push(`${prefix}${key.slice(0, -2)}`);
        }
      } else if (value && typeof value === 'object' && !Array.isArray(value)) {
        walk(value as Record<string, unknown>, `${prefix}${key}.`, keys);
      }
    }
  };
  for (const { name, state } of walkStates(machine)) {
    if (state.Type !== 'Task' || !state.Parameters) continue;
    const keys: string[] = [];
    walk(state.Parameters, '', keys);
    if (keys.length > 0) found.set(name, keys);
  }
  return found;
};

const stringifyAt = (input: unknown, dotted: string): void => {
  const parts = dotted.split('.');
  let target = input as Record<string, unknown> | undefined;
  for (const part of parts.slice(0, -1)) target = target?.[part] as Record<string, unknown> | undefined;
  const last = parts[parts.length - 1];
  if (target && typeof target === 'object' && target[last] !== undefined) target[last] = JSON.stringify(target[last]);
};

const clone = <T>(value: T): T => (value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T));

const nextMacrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

export class AslEngine {
  /** The definition as given (placeholders filled); the engine runs a copy of it. */
  readonly definition: MachineDef;
  /** Every Task state, nested Maps included, in file order. */
  readonly tasks: readonly TaskState[];
  private readonly retrying: readonly string[];
  private readonly machine: StateMachine;
  private readonly stringified: Map<string, string[]>;

  constructor(
    definition: MachineDef,
    private readonly options: AslEngineOptions,
  ) {
    this.definition = definition;
    const states = walkStates(definition);
    this.tasks = states.filter((s) => s.state.Type === 'Task' && s.state.Resource).map((s) => ({ name: s.name, resource: s.state.Resource! }));
    this.retrying = states.filter((s) => s.state.Retry).map((s) => s.name);
    const executable = clone(definition);
    this.stringified = options.jsonToString === 'aws' ? takeOverJsonToString(executable) : new Map();
    this.machine = new StateMachine(executable as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: true, checkPaths: true },
    });
  }

  get stateMachineArn(): string {
    return `arn:aws:states:${this.options.region}:${this.options.accountId}:stateMachine:${this.options.stateMachineName}`;
  }

  /** Starts an execution of `input`; it runs to its end on its own, `done` answers how it ended. */
  start(input: unknown, options: StartOptions): EngineExecution {
    const { region, accountId, stateMachineName } = this.options;
    const name = options.name ?? randomUUID();
    const executionArn = `arn:aws:states:${region}:${accountId}:express:${stateMachineName}:${name}:${randomUUID()}`;
    const taskResourceLocalHandlers = Object.fromEntries(
      this.tasks.map((task) => [
        task.name,
        async (engineInput: unknown) => {
          await nextMacrotask();
          const prepared = clone(engineInput);
          for (const key of this.stringified.get(task.name) ?? []) stringifyAt(prepared, key);
          try {
            return await options.task(task, prepared);
          } finally {
            await nextMacrotask();
          }
        },
      ]),
    );
    const retryIntervalOverrides =
      options.retryIntervalMs === undefined ? undefined : Object.fromEntries(this.retrying.map((s) => [s, options.retryIntervalMs!]));
    const execution = this.machine.run(clone(input) as never, {
      overrides: { taskResourceLocalHandlers: taskResourceLocalHandlers as never, retryIntervalOverrides },
      context: {
        Execution: { Id: executionArn, Name: name, ...(options.roleArn ? { RoleArn: options.roleArn } : {}) },
        StateMachine: { Id: this.stateMachineArn, Name: stateMachineName },
      },
    });
    const events: EngineEvent[] = [];
    const listeners: ((event: EngineEvent) => void)[] = [];
    const logging = (async () => {
      for await (const event of execution.eventLogs) {
        events.push(event as EngineEvent);
        for (const listener of listeners) listener(event as EngineEvent);
      }
    })();
    const subscribe = (listener: (event: EngineEvent) => void) => {
      for (const event of events) listener(event);
      listeners.push(listener);
    };
    const done = (async (): Promise<EngineResult> => {
      const result: EngineResult = { status: 'FAILED' };
      try {
        result.output = await execution.result;
        result.status = 'SUCCEEDED';
      } catch (err) {
        const e = err as Error & { cause?: unknown };
        result.error = e.cause instanceof Error ? e.cause : e;
      }
      try {
        await logging;
      } catch (err) {
        result.eventLogError = err as Error;
      }
      return result;
    })();
    return { executionArn, name, events, subscribe, abort: () => execution.abort(), done };
  }
}
