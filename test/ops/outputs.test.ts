import { STACK_OUTPUT_KEYS } from '../../contracts/stack-outputs';
import { localOutputsDocument, OutputsError, parseOutputsFile, requireOutput, resolveLocations } from '../../ops/outputs';

const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:convo-notify-fanout';
const cdkFile = (stacks: Record<string, Record<string, string>>) => JSON.stringify(stacks);

describe('ops/outputs: where the deployment is', () => {
  it('reads a cdk deploy --outputs-file by the stack output keys, and the region from the state machine ARN', () => {
    const locations = parseOutputsFile(
      cdkFile({ ConvoNotify: { StateMachineArn: ARN, ConvoHistoryTableName: 'CONVO_HISTORY', PipeDeadLetterQueueUrl: 'https://sqs/dlq', OpsTopicArn: 'x' } }),
      'outputs.json',
    );
    expect(locations).toEqual({
      outputs: { stateMachineArn: ARN, convoHistoryTableName: 'CONVO_HISTORY', pipeDlqUrl: 'https://sqs/dlq' },
      endpoints: {},
      region: 'eu-west-1',
      stackName: 'ConvoNotify',
    });
  });

  it('needs --stack for a file with several stacks and names them', () => {
    const text = cdkFile({ A: { StateMachineArn: ARN }, B: { StateMachineArn: ARN } });
    expect(() => parseOutputsFile(text, 'outputs.json')).toThrow(new OutputsError('outputs.json holds several stacks (A, B): choose one with --stack'));
    expect(parseOutputsFile(text, 'outputs.json', 'B').stackName).toBe('B');
    expect(() => parseOutputsFile(text, 'outputs.json', 'C')).toThrow('outputs.json has no stack "C" (it has A, B)');
  });

  it('refuses a file that is not JSON or not an outputs file, naming the file', () => {
    expect(() => parseOutputsFile('{', 'o.json')).toThrow(/^o\.json is not JSON/);
    expect(() => parseOutputsFile('[1]', 'o.json')).toThrow('o.json is not an outputs file');
    expect(() => parseOutputsFile(JSON.stringify({ S: { StateMachineArn: ARN }, endpoints: { sfn: 'nope' } }), 'o.json')).toThrow('"endpoints" must map');
  });

  it('reads back what the local runtime writes: outputs, region and endpoints', () => {
    const endpoints = {
      sfn: 'http://127.0.0.1:1',
      dynamodb: 'http://127.0.0.1:2',
      dynamodbStreams: 'http://127.0.0.1:3',
      sqs: 'http://127.0.0.1:4',
      agentApi: 'http://127.0.0.1:5',
      mqttWs: 'ws://127.0.0.1:6/mqtt',
      tokenIssuer: 'http://127.0.0.1:7',
    };
    const outputs = {
      stateMachineArn: ARN,
      convoHistoryTableName: 't',
      convoHistoryStreamArn: 's',
      pipeDlqUrl: 'd',
      quarantineQueueUrl: 'q',
      agentApiUrl: 'http://127.0.0.1:5',
      iotAuthorizerName: 'a',
      presenceTableName: 'p',
    };
    const document = localOutputsDocument('Local', outputs, 'us-east-1', endpoints);
    expect(document.Local).toEqual(Object.fromEntries(Object.entries(STACK_OUTPUT_KEYS).map(([field, key]) => [key, outputs[field as keyof typeof outputs]])));
    expect(parseOutputsFile(JSON.stringify(document), 'local')).toEqual({ outputs, endpoints, region: 'us-east-1', stackName: 'Local' });
  });

  it('lets flags win over the file, and names the output key and the flag of what is missing', () => {
    const file = parseOutputsFile(cdkFile({ S: { StateMachineArn: ARN, ConvoHistoryTableName: 'from-file' } }), 'o.json');
    const resolved = resolveLocations(file, { outputs: { convoHistoryTableName: 'from-flag', pipeDlqUrl: undefined } });
    expect(resolved.outputs).toEqual({ stateMachineArn: ARN, convoHistoryTableName: 'from-flag' });
    expect(() => requireOutput(resolved, 'pipeDlqUrl', '--dlq-url')).toThrow('no PipeDeadLetterQueueUrl: pass --outputs <cdk outputs file> or --dlq-url');
    expect(resolveLocations(undefined, { outputs: { stateMachineArn: ARN } }).region).toBe('eu-west-1');
  });
});
