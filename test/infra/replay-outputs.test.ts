import { STACK_OUTPUT_KEYS } from '../../contracts/stack-outputs';
import { logicalId, synthesize, type Synthesized } from './support/synth';

/** What `npm run replay` reads from `cdk deploy --outputs-file`: one output per key of contracts/stack-outputs.ts. */
describe('stack outputs for the replay CLI', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize({}, { bundle: false });
  }, 180_000);

  it('outputs every location the replay CLI reads, under the shared key names', () => {
    const outputs = s.template.findOutputs('*');
    for (const key of Object.values(STACK_OUTPUT_KEYS)) expect(Object.keys(outputs)).toContain(key);
  });

  it('outputs the CONVO_HISTORY stream ARN the pipe reads and the state machine it starts', () => {
    const table = logicalId(s.template, 'AWS::DynamoDB::Table', 'ConvoHistory');
    expect(s.template.findOutputs(STACK_OUTPUT_KEYS.convoHistoryStreamArn)[STACK_OUTPUT_KEYS.convoHistoryStreamArn].Value).toEqual({
      'Fn::GetAtt': [table, 'StreamArn'],
    });
    const pipes = Object.values(s.template.findResources('AWS::Pipes::Pipe')) as { Properties: { Source: unknown; Target: unknown } }[];
    const fromStream = pipes.filter((p) => JSON.stringify(p.Properties.Source) === JSON.stringify({ 'Fn::GetAtt': [table, 'StreamArn'] }));
    expect(fromStream).toHaveLength(1);
    const pipe = fromStream[0];
    expect(s.template.findOutputs(STACK_OUTPUT_KEYS.stateMachineArn)[STACK_OUTPUT_KEYS.stateMachineArn].Value).toEqual(pipe.Properties.Target);
  });
});
