/**
 * What an Express workflow writes to CloudWatch Logs for one execution, at each log setting,
 * modelled from the local runner's event log (local/runtime/workflow-runner.ts).
 *
 * Step Functions logs one CloudWatch event per execution history event, a JSON object:
 * `{ id, type, details, previous_event_id, event_timestamp, execution_arn, redrive_count }`, where
 * `details` holds the state name, the resource, errors and, only with `includeExecutionData`, the
 * data: `input`/`output`/`parameters` as JSON strings with their `inputDetails`/`outputDetails`
 * (`HistoryEvent`, `HistoryEventExecutionDataDetails` in the Step Functions API reference). The
 * level picks the events: `ALL` every one, `ERROR` the failures (`…Failed`, `…TimedOut`,
 * `…Aborted`), `FATAL` the execution's own end in failure, `OFF` none.
 *
 * The engine reports state entered / exited, Map iterations, retries and catches; the history
 * events AWS adds around them (TaskScheduled, TaskStarted, TaskSucceeded, MapStateStarted,
 * MapStateSucceeded) are derived here. What the events do not carry is estimated and stated:
 * a Task's effective parameters are taken as the state's input, the result of an SDK integration
 * as a fixed size, and a Lambda result as the state's output plus the invoke envelope.
 */

import { DEFAULT_CONFIG, type WorkflowLogLevel } from '../infra/config';
import type { StateEvent } from '../local/runtime/workflow-runner';

export interface LogSetting {
  level: WorkflowLogLevel;
  includeExecutionData: boolean;
}

/** The settings the bench prices, most logged first; infra's default is one of them (DEFAULT_LOG_SETTING). */
export const LOG_SETTINGS: readonly LogSetting[] = [
  { level: 'ALL', includeExecutionData: true },
  { level: 'ALL', includeExecutionData: false },
  { level: 'ERROR', includeExecutionData: false },
  { level: 'OFF', includeExecutionData: false },
];

export const describeSetting = (s: LogSetting): string => `${s.level}${s.level === 'OFF' ? '' : s.includeExecutionData ? ' with data' : ' without data'}`;

export class LogSettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogSettingError';
  }
}

/** The index in LOG_SETTINGS of `setting`; a setting the bench does not price is an error, not a missing column. */
export const logSettingIndexOf = (setting: LogSetting): number => {
  const index = LOG_SETTINGS.findIndex((s) => s.level === setting.level && s.includeExecutionData === setting.includeExecutionData);
  if (index < 0) throw new LogSettingError(`the bench does not price workflow logs ${describeSetting(setting)}: add it to LOG_SETTINGS`);
  return index;
};

/** The index in LOG_SETTINGS of what a deployment logs unless configured otherwise (infra/config.ts DEFAULT_CONFIG). */
export const DEFAULT_LOG_SETTING = logSettingIndexOf({ level: DEFAULT_CONFIG.workflowLogLevel, includeExecutionData: DEFAULT_CONFIG.logExecutionData });

/** The runner's event, as much as this model reads. */
export type RunnerEvent = Pick<StateEvent, 'type' | 'state' | 'at' | 'input' | 'output' | 'error' | 'cause'>;

export interface ExecutionLog {
  executionArn: string;
  input: unknown;
  events: readonly RunnerEvent[];
}

export interface StateInfo {
  type: string;
  resource?: string;
}

export interface LogModelOptions {
  /** State name → its type and resource, from the definition. */
  states: ReadonlyMap<string, StateInfo>;
  region: string;
  roleArn: string;
  /** TaskSucceeded output of an SDK integration, in bytes (see bench/prices.ts). */
  sdkTaskResultBytes: number;
  /** What lambda:invoke puts around the Payload, in bytes. */
  lambdaTaskResultOverheadBytes: number;
}

/** One history event as Step Functions logs it; `data` holds the execution-data fields of `details`. */
export interface HistoryLogEvent {
  type: string;
  timestamp: number;
  details: Record<string, unknown>;
  data: Record<string, string>;
}

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';

const json = (value: unknown): string => JSON.stringify(value ?? null);

/** A string of `bytes` characters: what the model knows of a result is its size. */
const filler = (bytes: number): string => 'x'.repeat(Math.max(0, bytes));

const resourceType = (resource: string | undefined): string => {
  const m = /^arn:aws:states:::(?:aws-sdk:)?([a-z0-9]+)/.exec(resource ?? '');
  return m ? m[1] : 'unknown';
};

/** The history events of one execution, in order, derived from the runner's events. */
export const historyEvents = (execution: ExecutionLog, options: LogModelOptions): HistoryLogEvent[] => {
  const out: HistoryLogEvent[] = [];
  const add = (type: string, timestamp: number, details: Record<string, unknown>, data: Record<string, string> = {}) =>
    out.push({ type, timestamp, details, data });
  for (const e of execution.events) {
    const info = e.state ? options.states.get(e.state) : undefined;
    const kind = info?.type ?? 'Pass';
    const task = kind === 'Task';
    const resource = info?.resource;
    const taskDetails = { resource: resource?.replace(/^arn:aws:states:::(?:aws-sdk:)?[a-z0-9]+:/, ''), resourceType: resourceType(resource) };
    switch (e.type) {
      case 'ExecutionStarted':
        add('ExecutionStarted', e.at, { inputDetails: { truncated: false }, roleArn: options.roleArn }, { input: json(execution.input) });
        break;
      case 'StateEntered':
        add(`${kind}StateEntered`, e.at, { name: e.state, inputDetails: { truncated: false } }, { input: json(e.input) });
        if (task) {
          add('TaskScheduled', e.at, { ...taskDetails, region: options.region, parametersDetails: { truncated: false } }, { parameters: json(e.input) });
          add('TaskStarted', e.at, taskDetails);
        }
        if (kind === 'Map') add('MapStateStarted', e.at, { length: 0 });
        break;
      case 'StateExited':
        if (task) {
          const result =
            resource === LAMBDA_INVOKE ? filler(json(e.output).length + options.lambdaTaskResultOverheadBytes) : filler(options.sdkTaskResultBytes);
          add('TaskSucceeded', e.at, { ...taskDetails, outputDetails: { truncated: false } }, { output: result });
        }
        if (kind === 'Map') add('MapStateSucceeded', e.at, {});
        add(`${kind}StateExited`, e.at, { name: e.state, outputDetails: { truncated: false } }, { output: json(e.output) });
        break;
      case 'MapIterationStarted':
      case 'MapIterationSucceeded':
      case 'MapIterationFailed':
        add(e.type, e.at, { name: e.state, index: 0 });
        break;
      case 'StateRetried':
        add('TaskFailed', e.at, { ...taskDetails, error: e.error, cause: e.cause });
        add('TaskScheduled', e.at, { ...taskDetails, region: options.region, parametersDetails: { truncated: false } }, { parameters: json(e.input) });
        add('TaskStarted', e.at, taskDetails);
        break;
      case 'StateCaught':
        add('TaskFailed', e.at, { ...taskDetails, error: e.error, cause: e.cause });
        add('TaskStateExited', e.at, { name: e.state, outputDetails: { truncated: false } }, { output: json(e.output) });
        break;
      case 'StateFailed':
        add(task ? 'TaskFailed' : `${kind}StateFailed`, e.at, { ...(task ? taskDetails : {}), error: e.error, cause: e.cause });
        break;
      case 'ExecutionSucceeded':
        add('ExecutionSucceeded', e.at, { outputDetails: { truncated: false } }, { output: json(e.output) });
        break;
      case 'ExecutionFailed':
      case 'ExecutionAborted':
      case 'ExecutionTimeout':
        add(e.type === 'ExecutionTimeout' ? 'ExecutionTimedOut' : e.type, e.at, { error: e.error, cause: e.cause });
        break;
      default:
        // An engine event without a history counterpart (none known today) is still one log event.
        add(e.type, e.at, { name: e.state });
    }
  }
  return out;
};

const FATAL_TYPES = new Set(['ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut']);

/** Whether a history event is logged at `level`. */
export const loggedAt = (type: string, level: WorkflowLogLevel): boolean => {
  switch (level) {
    case 'ALL':
      return true;
    case 'ERROR':
      return /(Failed|TimedOut|Aborted)$/.test(type);
    case 'FATAL':
      return FATAL_TYPES.has(type);
    case 'OFF':
      return false;
  }
};

/** The CloudWatch log event of one history event: its JSON text. */
export const logEventText = (event: HistoryLogEvent, id: number, executionArn: string, includeExecutionData: boolean): string =>
  JSON.stringify({
    id: String(id),
    type: event.type,
    details: includeExecutionData ? { ...event.details, ...event.data } : event.details,
    previous_event_id: String(id - 1),
    event_timestamp: String(event.timestamp),
    execution_arn: executionArn,
    redrive_count: '0',
  });

export interface LoggedBytes {
  events: number;
  /** UTF-8 bytes of the log events' messages plus the per-event overhead. */
  bytes: number;
}

/** What one execution logs at one setting. */
export const executionLogBytes = (
  execution: ExecutionLog,
  setting: LogSetting,
  options: LogModelOptions,
  eventOverheadBytes: number,
): LoggedBytes => {
  const history = historyEvents(execution, options);
  let events = 0;
  let bytes = 0;
  history.forEach((event, i) => {
    if (!loggedAt(event.type, setting.level)) return;
    events += 1;
    bytes += Buffer.byteLength(logEventText(event, i + 1, execution.executionArn, setting.includeExecutionData)) + eventOverheadBytes;
  });
  return { events, bytes };
};
