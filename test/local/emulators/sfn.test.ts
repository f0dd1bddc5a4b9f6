import {
  DescribeExecutionCommand,
  ExecutionDoesNotExist,
  InvalidExecutionInput,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { join } from 'node:path';
import { listen, type Listening } from '../../../local/emulators/listen';
import { LOCAL_REPLAY_OF_HEADER, LocalStepFunctions } from '../../../local/emulators/sfn';
import { WorkflowRunner } from '../../../local/runtime/workflow-runner';
import { AWS_LIMITS } from '../../../contracts/limits';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:echo';

describe('local Step Functions endpoint (real @aws-sdk/client-sfn)', () => {
  let endpoint: Listening;
  let sfn: SFNClient;
  let local: LocalStepFunctions;
  let runner: WorkflowRunner;

  beforeAll(async () => {
    runner = new WorkflowRunner({
      substitutions: {},
      lambdas: {},
      endpoints: {},
      stateMachineName: 'echo',
      definitionPath: join(__dirname, '../../fixtures/sfn/echo.asl.json'),
    });
    local = new LocalStepFunctions({ runner, stateMachineArn: STATE_MACHINE_ARN });
    endpoint = await listen(local.handle);
    // disableHostPrefix: without it the SDK sends StartSyncExecution to sync-127.0.0.1.
    sfn = new SFNClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, disableHostPrefix: true });
  });
  afterAll(async () => {
    sfn.destroy();
    await endpoint.close();
  });

  it('runs StartSyncExecution to its end and answers status, output and dates as the SDK parses them', async () => {
    const out = await sfn.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify({ hello: 'world' }) }));
    expect(out).toMatchObject({ status: 'SUCCEEDED', stateMachineArn: STATE_MACHINE_ARN, output: JSON.stringify({ hello: 'world' }) });
    expect(out.executionArn).toMatch(/^arn:aws:states:us-east-1:000000000000:express:echo:/);
    expect(out.startDate).toBeInstanceOf(Date);
    expect(out.stopDate!.getTime()).toBeGreaterThanOrEqual(out.startDate!.getTime());
  });

  it('answers a failed execution with status FAILED, its error and its cause', async () => {
    const out = await sfn.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify({ fail: true }) }));
    expect(out).toMatchObject({ status: 'FAILED', error: 'Replay.Failed', cause: 'the input asked for a failure' });
    expect(out.output).toBeUndefined();
  });

  it('refuses an unknown state machine, input that is not JSON and input over the payload quota with the SDK error classes', async () => {
    await expect(sfn.send(new StartSyncExecutionCommand({ stateMachineArn: `${STATE_MACHINE_ARN}-other`, input: '{}' }))).rejects.toBeInstanceOf(
      StateMachineDoesNotExist,
    );
    await expect(sfn.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{not json' }))).rejects.toBeInstanceOf(InvalidExecutionInput);
    const big = JSON.stringify({ body: 'x'.repeat(AWS_LIMITS.stepFunctionsPayloadBytes) });
    await expect(sfn.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: big }))).rejects.toMatchObject({ name: 'ValidationException' });
  });

  it('refuses a name rather than ignoring it, since the local runner names its executions', async () => {
    await expect(sfn.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, name: 'mine', input: '{}' }))).rejects.toMatchObject({
      name: 'InvalidName',
    });
  });

  it('starts an execution with StartExecution and describes it once it has finished', async () => {
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: JSON.stringify({ n: 1 }) }));
    expect(started.executionArn).toMatch(/:express:echo:/);
    await local.idle();
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    expect(described).toMatchObject({ executionArn: started.executionArn, status: 'SUCCEEDED', input: JSON.stringify({ n: 1 }), output: JSON.stringify({ n: 1 }) });
    await expect(sfn.send(new DescribeExecutionCommand({ executionArn: `${started.executionArn}-missing` }))).rejects.toBeInstanceOf(ExecutionDoesNotExist);
  });

  it('records the execution named by the local replay header as the one the new execution replays', async () => {
    const original = await sfn.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"n":2}' }));
    const originalName = original.executionArn!.split(':')[7];
    const replaying = new SFNClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, disableHostPrefix: true });
    replaying.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers[LOCAL_REPLAY_OF_HEADER] = originalName;
        return next(args);
      },
      { step: 'build' },
    );
    const replayed: (string | undefined)[] = [];
    runner.onExecution((record) => replayed.push(record.replayOf));
    const out = await replaying.send(new StartSyncExecutionCommand({ stateMachineArn: STATE_MACHINE_ARN, input: '{"n":2}' }));
    replaying.destroy();
    expect(runner.executions().find((r) => r.executionArn === out.executionArn)?.replayOf).toBe(originalName);
    // Known from the start: the listeners of the finished execution already see it.
    expect(replayed).toEqual([originalName]);
  });

  it('lists executions newest first, by status, in pages with a next token', async () => {
    const failed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, statusFilter: 'FAILED' }));
    expect(failed.executions!.map((e) => e.status)).toEqual(['FAILED']);
    const first = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, maxResults: 2 }));
    expect(first.executions).toHaveLength(2);
    expect(first.nextToken).toBeDefined();
    const rest = await sfn.send(new ListExecutionsCommand({ stateMachineArn: STATE_MACHINE_ARN, maxResults: 2, nextToken: first.nextToken }));
    const all = [...first.executions!, ...rest.executions!];
    expect(new Set(all.map((e) => e.executionArn)).size).toBe(all.length);
    expect(all[0].startDate!.getTime()).toBeGreaterThanOrEqual(all[all.length - 1].startDate!.getTime());
  });
});
