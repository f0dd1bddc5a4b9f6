import { randomUUID } from 'node:crypto';
import { AWS_LIMITS, payloadBytes } from '../../contracts/limits';
import { loadDefinition, NOTIFICATION_FANOUT_ASL, type MachineDef } from '../../state-machines/workflows';
import { AslEngine, type EngineEvent, type TaskState } from './asl-engine';

/**
 * Runs the real ASL file in aws-local-stepfunctions, through the engine adapter (asl-engine.ts),
 * with `States.JsonToString` evaluated as AWS does. Lambda Tasks call the real handler modules
 * in-process; every SDK integration (`arn:aws:states:::sqs:sendMessage`,
 * `arn:aws:states:::aws-sdk:<service>:<action>`, ...) is carried out by the real AWS SDK v3 client
 * against the local endpoints, mapped from the resource ARN and the Parameters, never one
 * hand-written function per state.
 *
 * Step Functions' payload quota is enforced as AWS enforces it: an execution input over the limit
 * is refused before anything runs (the StartExecution/StartSyncExecution `input` length
 * constraint), and a Task input, a Task result or any state's output over it fails the execution
 * with the terminal `States.DataLimitExceeded`, which neither Retry nor Catch (States.ALL) handles.
 */

export type LambdaHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** How one AWS service is reached from a Task: its SDK package and the prefixes of its error names. */
interface ServiceBinding {
  module: () => Record<string, unknown>;
  client: string;
  /** Error prefix of `aws-sdk:` integrations, e.g. `Sqs` → `Sqs.QueueDoesNotExistException`. */
  sdkErrorPrefix: string;
  /** Error prefix of optimized integrations, e.g. `SQS`. */
  optimizedErrorPrefix: string;
}

/* eslint-disable @typescript-eslint/no-require-imports */
const SERVICES: Record<string, ServiceBinding> = {
  sqs: { module: () => require('@aws-sdk/client-sqs'), client: 'SQSClient', sdkErrorPrefix: 'Sqs', optimizedErrorPrefix: 'SQS' },
  sns: { module: () => require('@aws-sdk/client-sns'), client: 'SNSClient', sdkErrorPrefix: 'Sns', optimizedErrorPrefix: 'SNS' },
  iotdataplane: {
    module: () => require('@aws-sdk/client-iot-data-plane'),
    client: 'IoTDataPlaneClient',
    sdkErrorPrefix: 'IotDataPlane',
    optimizedErrorPrefix: 'IotDataPlane',
  },
  dynamodb: {
    module: () => require('@aws-sdk/client-dynamodb'),
    client: 'DynamoDBClient',
    sdkErrorPrefix: 'DynamoDb',
    optimizedErrorPrefix: 'DynamoDB',
  },
};
/* eslint-enable @typescript-eslint/no-require-imports */

type SdkClient = { send(command: unknown): Promise<Record<string, unknown>>; destroy(): void };
type CommandCtor = new (input: unknown) => unknown;

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** How AWS names a Task in a DataLimitExceeded cause: the function for Lambda, else the integration. */
const resultLabel = (resource: string, input: Record<string, unknown>): string => {
  if (resource === 'arn:aws:states:::lambda:invoke' && typeof input.FunctionName === 'string') return input.FunctionName;
  const match = /^arn:aws:states:::((?:aws-sdk:)?[a-z0-9]+)/.exec(resource);
  return match ? match[1] : resource;
};

/**
 * Step Functions takes Parameters in PascalCase whatever the service's own member names are
 * (IoT's Publish members are `topic`, `qos`, `payload`); the SDK's operation schema says which.
 */
const toSdkInput = (mod: Record<string, unknown>, operation: string, params: Record<string, unknown>) => {
  const schema = mod[`${operation}Request$`] as unknown[] | undefined;
  const members = Array.isArray(schema) && Array.isArray(schema[4]) ? (schema[4] as string[]) : undefined;
  if (!members) return params;
  const byLower = new Map(members.map((m) => [m.toLowerCase(), m]));
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [byLower.get(k.toLowerCase()) ?? k, v]));
};

const stripMetadata = (out: Record<string, unknown>) => {
  const copy = { ...out };
  delete copy.$metadata;
  return copy;
};

export class TaskError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** The StartExecution answer to an input over the payload quota: no execution is started. */
export class ExecutionInputTooLargeError extends Error {
  constructor(readonly bytes: number) {
    super(
      `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${AWS_LIMITS.stepFunctionsPayloadBytes}`,
    );
    this.name = 'ValidationException';
  }
}

/**
 * `States.DataLimitExceeded`. The engine reads `isRetryable`/`isCatchable` off the error: AWS
 * documents this error as terminal, never matched by States.ALL.
 */
export class DataLimitExceededError extends TaskError {
  readonly isRetryable = false;
  readonly isCatchable = false;

  constructor(cause: string) {
    super('States.DataLimitExceeded', cause);
  }

  /** AWS's wording for a result over the quota; `what` is the state, or the resource for a Task result. */
  static result(what: string): DataLimitExceededError {
    return new DataLimitExceededError(`The state/task '${what}' returned a result with a size exceeding the maximum number of bytes service limit.`);
  }

  /**
   * A Task's effective input (after Parameters) over the quota, which AWS documents as the same
   * error; the wording is ours, modelled on the result's, as we found no sample of AWS's.
   */
  static input(state: string): DataLimitExceededError {
    return new DataLimitExceededError(`The state/task '${state}' was given an input with a size exceeding the maximum number of bytes service limit.`);
  }
}

const overQuota = (value: unknown) => payloadBytes(value ?? null) > AWS_LIMITS.stepFunctionsPayloadBytes;

/** The first payload-quota violation of one execution, seen either by a Task or in the event log. */
interface QuotaGuard {
  violation?: DataLimitExceededError;
}

export interface StateEvent {
  type: string;
  state?: string;
  at: number;
  input?: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
  attempt?: number;
  iteration?: number;
}

export interface ExecutionRecord {
  executionArn: string;
  name: string;
  input: unknown;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startedAt: number;
  endedAt?: number;
  durationMs?: number;
  output?: unknown;
  error?: { Error: string; Cause: string };
  /** State names in the order they were first entered. */
  path: string[];
  events: StateEvent[];
  replayOf?: string;
}

export interface WorkflowRunnerOptions {
  /** Every `${Placeholder}` of the definition (see `notificationFanoutSubstitutions`). */
  substitutions: Readonly<Record<string, string>>;
  /** Function ARN (as substituted into the definition) → handler. */
  lambdas: Record<string, LambdaHandler>;
  /** Service name as in the resource ARN (`sqs`, `sns`, `iotdataplane`) → endpoint URL. */
  endpoints: Record<string, string>;
  region?: string;
  accountId?: string;
  stateMachineName?: string;
  /** Retry pauses in milliseconds for every retrying state; the ASL's own backoff when unset. */
  retryIntervalMs?: number;
  /** How many finished executions to keep. @default 500 */
  keep?: number;
  /** @default NOTIFICATION_FANOUT_ASL */
  definitionPath?: string;
}

export class WorkflowRunner {
  readonly definition: MachineDef;
  private readonly engine: AslEngine;
  private readonly clients = new Map<string, SdkClient>();
  private readonly records: ExecutionRecord[] = [];
  private readonly listeners: ((r: ExecutionRecord) => void)[] = [];
  private readonly region: string;

  constructor(private readonly options: WorkflowRunnerOptions) {
    this.definition = loadDefinition(options.substitutions, options.definitionPath ?? NOTIFICATION_FANOUT_ASL);
    this.region = options.region ?? 'us-east-1';
    this.engine = new AslEngine(this.definition, {
      region: this.region,
      accountId: options.accountId ?? '000000000000',
      stateMachineName: options.stateMachineName ?? 'convo-notify-fanout',
      jsonToString: 'aws',
    });
    for (const task of this.engine.tasks) this.bindingFor(task.name, task.resource);
  }

  onExecution(listener: (r: ExecutionRecord) => void): void {
    this.listeners.push(listener);
  }

  executions(): ExecutionRecord[] {
    return [...this.records];
  }

  execution(name: string): ExecutionRecord | undefined {
    return this.records.find((r) => r.name === name);
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
  }

  private client(service: string): SdkClient {
    const existing = this.clients.get(service);
    if (existing) return existing;
    const binding = SERVICES[service];
    const endpoint = this.options.endpoints[service];
    if (!binding || !endpoint) throw new Error(`no local endpoint configured for service "${service}"`);
    const Ctor = binding.module()[binding.client] as new (config: unknown) => SdkClient;
    const client = new Ctor({
      endpoint,
      region: this.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    this.clients.set(service, client);
    return client;
  }

  /** One Task of one execution, carried out locally within the payload quota. */
  private async callTask(task: TaskState, input: unknown, called: Set<string>, guard: QuotaGuard): Promise<unknown> {
    // The engine adapter answers on a later macrotask, after the event log has seen every state
    // output so far: an oversized one stops the execution before this Task has any effect.
    if (guard.violation) throw guard.violation;
    called.add(task.name);
    // Measured after intrinsics, as AWS measures the effective input.
    if (overQuota(input)) throw (guard.violation = DataLimitExceededError.input(task.name));
    const result = await this.bindingFor(task.name, task.resource)(input);
    if (overQuota(result)) throw (guard.violation = DataLimitExceededError.result(resultLabel(task.resource, input as Record<string, unknown>)));
    return result;
  }

  /** Validates at start-up that every Task of the definition can be carried out locally. */
  private bindingFor(stateName: string, resource: string): (input: unknown) => Promise<unknown> {
    if (resource === 'arn:aws:states:::lambda:invoke') {
      return (input) => this.invokeLambda(stateName, input as { FunctionName: string; Payload: unknown });
    }
    const match = /^arn:aws:states:::(aws-sdk:)?([a-z0-9]+):([A-Za-z0-9]+)$/.exec(resource);
    if (!match || !SERVICES[match[2]]) {
      throw new Error(`Task ${stateName}: resource ${resource} has no local binding`);
    }
    const [, sdkPrefix, service, action] = match;
    return (input) => this.callService(service, action, !!sdkPrefix, input as Record<string, unknown>);
  }

  private async invokeLambda(stateName: string, input: { FunctionName: string; Payload: unknown }) {
    const handler = this.options.lambdas[input.FunctionName];
    if (!handler) throw new TaskError('Lambda.ResourceNotFoundException', `Task ${stateName}: no local function ${input.FunctionName}`);
    const event = JSON.parse(JSON.stringify(input.Payload ?? {}));
    const context = {
      functionName: input.FunctionName.split(':').pop(),
      invokedFunctionArn: input.FunctionName,
      awsRequestId: randomUUID(),
      getRemainingTimeInMillis: () => 30_000,
    };
    try {
      const result = await handler(event, context);
      return { ExecutedVersion: '$LATEST', Payload: JSON.parse(JSON.stringify(result ?? null)), StatusCode: 200 };
    } catch (err) {
      const e = err as Error;
      // Step Functions reports a function error as the error's name with a JSON Cause.
      throw new TaskError(
        e.name || 'Error',
        JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: (e.stack ?? '').split('\n') }),
      );
    }
  }

  private async callService(service: string, action: string, viaSdk: boolean, params: Record<string, unknown>) {
    const binding = SERVICES[service];
    const mod = binding.module();
    const operation = pascal(action);
    const Command = mod[`${operation}Command`] as CommandCtor | undefined;
    if (!Command) throw new TaskError('States.Runtime', `${service} has no action ${action}`);
    const input = toSdkInput(mod, operation, { ...params });
    if (!viaSdk) {
      // Optimized integrations serialise JSON bodies themselves.
      for (const key of ['MessageBody', 'Message']) {
        if (input[key] !== undefined && typeof input[key] !== 'string') input[key] = JSON.stringify(input[key]);
      }
    }
    try {
      return stripMetadata(await this.client(service).send(new Command(input)));
    } catch (err) {
      const e = err as Error;
      const base = e.name.endsWith('Exception') ? e.name : `${e.name}Exception`;
      const prefix = viaSdk ? binding.sdkErrorPrefix : binding.optimizedErrorPrefix;
      throw new TaskError(`${prefix}.${base}`, e.message);
    }
  }

  /**
   * Runs one execution to its end; a failed execution is recorded, not thrown. An input over the
   * payload quota is refused (thrown, nothing recorded), as StartExecution refuses it.
   */
  async run(input: unknown, options: { replayOf?: string } = {}): Promise<ExecutionRecord> {
    const inputBytes = payloadBytes(input ?? null);
    if (inputBytes > AWS_LIMITS.stepFunctionsPayloadBytes) throw new ExecutionInputTooLargeError(inputBytes);
    const called = new Set<string>();
    const guard: QuotaGuard = {};
    const execution = this.engine.start(input, {
      task: (task, taskInput) => this.callTask(task, taskInput, called, guard),
      retryIntervalMs: this.options.retryIntervalMs,
    });
    const record: ExecutionRecord = {
      executionArn: execution.executionArn,
      name: execution.name,
      input,
      status: 'RUNNING',
      startedAt: Date.now(),
      path: [],
      events: [],
      replayOf: options.replayOf,
    };
    const seen = new Set<string>();
    execution.subscribe((event) => {
      this.recordEvent(record, seen, event);
      // Pass, Choice and Map outputs never reach a Task: the event log is where they show.
      if (event.type === 'StateExited' && event.state && !guard.violation && overQuota(event.state.output)) {
        guard.violation = DataLimitExceededError.result(event.state.name);
        execution.abort();
      }
    });
    this.records.unshift(record);
    this.records.splice(this.options.keep ?? 500);

    const result = await execution.done;
    // The last state's output may be read from the log only after the engine has answered, so a
    // quota violation also fails an execution the engine reported as succeeded.
    const failure = guard.violation ?? result.error;
    if (result.status === 'SUCCEEDED' && !guard.violation) {
      record.status = 'SUCCEEDED';
      record.output = result.output;
    } else if (failure) {
      record.status = 'FAILED';
      record.error = { Error: failure.name, Cause: failure.message };
    }
    // Event logs of nested Maps are best effort; a Task that was called certainly ran.
    for (const name of called) if (!record.path.includes(name)) record.path.push(name);
    record.endedAt = Date.now();
    record.durationMs = record.endedAt - record.startedAt;
    for (const l of this.listeners) l(record);
    return record;
  }

  async replay(name: string): Promise<ExecutionRecord> {
    const original = this.execution(name);
    if (!original) throw new Error(`no execution named ${name}`);
    return this.run(original.input, { replayOf: name });
  }

  private recordEvent(record: ExecutionRecord, seen: Set<string>, e: EngineEvent): void {
    const stateName = e.state?.name;
    if (e.type === 'StateEntered' && stateName && !seen.has(stateName)) {
      seen.add(stateName);
      record.path.push(stateName);
    }
    record.events.push({
      type: e.type,
      state: stateName,
      at: e.timestamp,
      ...(e.state?.input !== undefined && e.type === 'StateEntered' ? { input: e.state.input } : {}),
      ...(e.state?.output !== undefined ? { output: e.state.output } : {}),
      ...(e.Error !== undefined ? { error: e.Error, cause: typeof e.Cause === 'string' ? e.Cause : JSON.stringify(e.Cause) } : {}),
      ...(e.retry ? { attempt: e.retry.attempt } : {}),
      ...(typeof e.index === 'number' ? { iteration: e.index } : {}),
    });
  }
}
