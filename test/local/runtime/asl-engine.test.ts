import { AslEngine, type EngineEvent } from '../../../local/runtime/asl-engine';
import type { MachineDef } from '../../../state-machines/workflows';
import { fixture } from '../../support/fixtures';

const IDENTITY = { region: 'eu-west-1', accountId: '111122223333', stateMachineName: 'engine-test' } as const;

/** A Map of Maps with one Task per item, the shape of the real workflow. */
const NESTED = fixture<MachineDef>('asl-engine', 'nested-map.asl');

/** One Task whose Parameters stringify the input's `n` and carry the execution id. */
const STRINGIFY: MachineDef = {
  StartAt: 'Publish',
  States: {
    Publish: {
      Type: 'Task',
      Resource: 'arn:aws:states:::sns:publish',
      Parameters: { 'Message.$': 'States.JsonToString($.n)', 'executionId.$': '$$.Execution.Id' },
      End: true,
    },
  },
};

const entered = (events: readonly EngineEvent[]) => events.filter((e) => e.type === 'StateEntered').length;

describe('AslEngine (the adapter over aws-local-stepfunctions)', () => {
  it('answers every Task by state name, nested Maps included, and keeps every nested event although the handler answers at once', async () => {
    const engine = new AslEngine(NESTED, IDENTITY);
    const called: string[] = [];
    const execution = engine.start(
      Array.from({ length: 4 }, () => ({ devices: [1, 2, 3, 4, 5] })),
      {
        task: ({ name }) => {
          called.push(name);
          return { MessageId: 'm' };
        },
      },
    );
    const result = await execution.done;
    expect(result.status).toBe('SUCCEEDED');
    expect(called).toEqual(Array(20).fill('Send'));
    expect(entered(execution.events)).toBe(1 + 4 * (2 + 5));
  });

  it('gives the Task the execution ARN as $$.Execution.Id and, with jsonToString aws, JSON that survives backslashes', async () => {
    const n = { preview: 'He said "refund" \\ twice\nthanks' };
    const inputs: unknown[] = [];
    const engine = new AslEngine(STRINGIFY, { ...IDENTITY, jsonToString: 'aws' });
    const execution = engine.start({ n }, { task: (_task, input) => (inputs.push(input), { MessageId: 'm' }), name: 'run-1' });
    await execution.done;
    expect(execution.executionArn).toMatch(/^arn:aws:states:eu-west-1:111122223333:express:engine-test:run-1:[0-9a-f-]{36}$/);
    expect(inputs).toEqual([{ Message: JSON.stringify(n), executionId: execution.executionArn }]);
    expect(JSON.parse((inputs[0] as { Message: string }).Message)).toEqual(n);
  });

  it('leaves States.JsonToString to the engine by default, which strips every backslash', async () => {
    const n = { preview: 'He said "refund"' };
    const inputs: { Message: string }[] = [];
    const engine = new AslEngine(STRINGIFY, IDENTITY);
    await engine.start({ n }, { task: (_task, input) => (inputs.push(input as { Message: string }), { MessageId: 'm' }) }).done;
    expect(inputs[0].Message).toBe(JSON.stringify(n).replaceAll('\\', ''));
  });

  it("answers a failed execution with the Task's own error, and replays the events so far to a late subscriber", async () => {
    const engine = new AslEngine(STRINGIFY, IDENTITY);
    const execution = engine.start(
      { n: 1 },
      {
        task: () => {
          const error = new Error('Topic does not exist');
          error.name = 'SNS.NotFoundException';
          throw error;
        },
      },
    );
    const result = await execution.done;
    expect(result).toMatchObject({ status: 'FAILED', error: { name: 'SNS.NotFoundException', message: 'Topic does not exist' } });
    const seen: string[] = [];
    execution.subscribe((e) => seen.push(e.type));
    expect(seen).toEqual(execution.events.map((e) => e.type));
    expect(seen).toContain('ExecutionFailed');
  });
});
