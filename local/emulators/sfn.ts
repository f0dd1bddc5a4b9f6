import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionRecord, WorkflowRunner } from '../runtime/workflow-runner';
import { handlePreflight, LocalServiceError, readBody, sendJson } from './http-util';

/**
 * Local Step Functions endpoint (AWS JSON 1.0, `X-Amz-Target: AWSStepFunctions.<Op>`) over the
 * local WorkflowRunner: StartSyncExecution (what the pipe and `npm run replay` call on the Express
 * workflow), StartExecution, DescribeExecution and ListExecutions. On AWS, StartSyncExecution goes
 * to a `sync-` host prefix; a client of this endpoint sets `disableHostPrefix: true`.
 *
 * The runner names its executions itself, so a `name` in the request is refused (InvalidName)
 * rather than silently replaced. Timestamps are epoch seconds, as the JSON protocol sends them.
 */

/**
 * A local-only request header: the name of the execution a start replays (the dashboard's Replay
 * button sets it), recorded as the new execution's `replayOf` from its start.
 */
export const LOCAL_REPLAY_OF_HEADER = 'x-convo-notify-replay-of';

const JSON_10 = 'application/x-amz-json-1.0';
const LIST_MAX_RESULTS = 1_000;

export class SfnError extends LocalServiceError {}

export interface LocalStepFunctionsOptions {
  runner: WorkflowRunner;
  /** The state machine's ARN, as the outputs file gives it. */
  stateMachineArn: string;
}

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

export class LocalStepFunctions {
  private readonly runner: WorkflowRunner;
  readonly stateMachineArn: string;
  /** Executions started asynchronously (StartExecution) that have not finished yet. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(options: LocalStepFunctionsOptions) {
    this.runner = options.runner;
    this.stateMachineArn = options.stateMachineArn;
  }

  /** Resolves when every StartExecution so far has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private checkMachine(arn: unknown): void {
    if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw new SfnError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
    if (arn !== this.stateMachineArn) throw new SfnError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${arn}'`);
  }

  private parseInput(input: Record<string, unknown>): unknown {
    if (input.name !== undefined) {
      throw new SfnError('InvalidName', 'the local Step Functions endpoint names executions itself: leave name unset');
    }
    const text = input.input ?? '{}';
    if (typeof text !== 'string') throw new SfnError('InvalidExecutionInput', 'input must be a JSON text');
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new SfnError('InvalidExecutionInput', `Invalid State Machine Execution Input: '${(error as Error).message}'`);
    }
  }

  private async run(input: unknown, replayOf: string | undefined): Promise<ExecutionRecord> {
    try {
      return await this.runner.run(input, { replayOf });
    } catch (error) {
      // The runner refuses an input over the payload quota as StartExecution does.
      const e = error as Error;
      if (e.name === 'ValidationException') throw new SfnError('ValidationException', e.message);
      throw error;
    }
  }

  private async startSyncExecution(input: Record<string, unknown>, replayOf: string | undefined) {
    this.checkMachine(input.stateMachineArn);
    const record = await this.run(this.parseInput(input), replayOf);
    return {
      executionArn: record.executionArn,
      stateMachineArn: this.stateMachineArn,
      name: record.name,
      startDate: seconds(record.startedAt),
      stopDate: seconds(record.endedAt),
      status: record.status,
      input: JSON.stringify(record.input),
      inputDetails: { included: true },
      ...(record.output !== undefined && { output: JSON.stringify(record.output), outputDetails: { included: true } }),
      ...(record.error && { error: record.error.Error, cause: record.error.Cause }),
      billingDetails: { billedMemoryUsedInMB: 64, billedDurationInMilliseconds: Math.max(100, Math.ceil((record.durationMs ?? 0) / 100) * 100) },
    };
  }

  private async startExecution(input: Record<string, unknown>, replayOf: string | undefined) {
    this.checkMachine(input.stateMachineArn);
    const parsed = this.parseInput(input);
    const startDate = Date.now();
    const running = this.run(parsed, replayOf);
    // The runner records the execution synchronously at its start; the newest one is this one.
    const record = this.runner.executions()[0];
    const settled: Promise<unknown> = running.catch(() => undefined).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
    if (!record || record.input !== parsed) {
      // The input was refused before any execution started: that refusal is the answer.
      await running;
      throw new SfnError('InternalFailure', 'the execution did not start', 500);
    }
    return { executionArn: record.executionArn, startDate: seconds(startDate) };
  }

  private find(arn: unknown): ExecutionRecord {
    const record = typeof arn === 'string' ? this.runner.executions().find((r) => r.executionArn === arn) : undefined;
    if (!record) {
      if (typeof arn !== 'string' || !arn.startsWith('arn:')) throw new SfnError('InvalidArn', `Invalid Arn: '${String(arn)}'`);
      throw new SfnError('ExecutionDoesNotExist', `Execution Does Not Exist: '${arn}'`);
    }
    return record;
  }

  private describeExecution(input: Record<string, unknown>) {
    const record = this.find(input.executionArn);
    return {
      executionArn: record.executionArn,
      stateMachineArn: this.stateMachineArn,
      name: record.name,
      status: record.status,
      startDate: seconds(record.startedAt),
      ...(record.endedAt !== undefined && { stopDate: seconds(record.endedAt) }),
      input: JSON.stringify(record.input),
      inputDetails: { included: true },
      ...(record.output !== undefined && { output: JSON.stringify(record.output), outputDetails: { included: true } }),
      ...(record.error && { error: record.error.Error, cause: record.error.Cause }),
    };
  }

  private listExecutions(input: Record<string, unknown>) {
    this.checkMachine(input.stateMachineArn);
    const max = input.maxResults === undefined || input.maxResults === 0 ? 100 : Number(input.maxResults);
    if (!Number.isInteger(max) || max < 0 || max > LIST_MAX_RESULTS) throw new SfnError('ValidationException', `maxResults must be from 0 to ${LIST_MAX_RESULTS}`);
    const filter = input.statusFilter;
    if (filter !== undefined && !['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE'].includes(String(filter))) {
      throw new SfnError('ValidationException', `statusFilter ${String(filter)} is not an execution status`);
    }
    const all = this.runner.executions().filter((r) => filter === undefined || r.status === filter);
    const start = input.nextToken === undefined ? 0 : Number.parseInt(Buffer.from(String(input.nextToken), 'base64').toString('utf8'), 10);
    if (!Number.isInteger(start) || start < 0) throw new SfnError('InvalidToken', 'Invalid Token');
    const page = all.slice(start, start + max);
    const next = start + max < all.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
    return {
      executions: page.map((r) => ({
        executionArn: r.executionArn,
        stateMachineArn: this.stateMachineArn,
        name: r.name,
        status: r.status,
        startDate: seconds(r.startedAt),
        ...(r.endedAt !== undefined && { stopDate: seconds(r.endedAt) }),
      })),
      ...(next !== undefined && { nextToken: next }),
    };
  }

  /** The endpoint's request listener. */
  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (handlePreflight(req, res)) return;
    const body = await readBody(req);
    const [service, op] = String(req.headers['x-amz-target'] ?? '').split('.');
    const replayHeader = req.headers[LOCAL_REPLAY_OF_HEADER];
    const replayOf = typeof replayHeader === 'string' && replayHeader !== '' ? replayHeader : undefined;
    try {
      if (service !== 'AWSStepFunctions') throw new SfnError('UnknownOperationException', 'expected X-Amz-Target AWSStepFunctions.<Operation>');
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(body.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        throw new SfnError('SerializationException', 'the request body is not JSON');
      }
      const operations: Record<string, (i: Record<string, unknown>) => Promise<unknown> | unknown> = {
        StartSyncExecution: (i) => this.startSyncExecution(i, replayOf),
        StartExecution: (i) => this.startExecution(i, replayOf),
        DescribeExecution: (i) => this.describeExecution(i),
        ListExecutions: (i) => this.listExecutions(i),
      };
      const run = operations[op ?? ''];
      if (!run) throw new SfnError('UnknownOperationException', `${op || '(none)'} is not implemented by the local Step Functions endpoint`);
      sendJson(res, 200, await run(input), JSON_10);
    } catch (error) {
      const e = error instanceof SfnError ? error : new SfnError('InternalFailure', (error as Error).message, 500);
      sendJson(res, e.status, { __type: e.code, message: e.message }, JSON_10);
    }
  };
}
