/**
 * The outcomes path of the default stack (issue 13): the outcomes queue and its DLQ, the event bus,
 * the pipe queue → bus with the dynamic DetailType, least privilege of the pipe's role, and the state
 * machine's grant to send outcomes. Templates only, so bundling is skipped.
 */
import { Match } from 'aws-cdk-lib/assertions';
import {
  OUTCOME_EVENT_SOURCE,
  OUTCOME_PIPE_DETAIL_TYPE_PATH,
  OUTCOME_PIPE_INPUT_TEMPLATE,
  outcomeEventBusName,
  outcomesQueueName,
} from '../../contracts/outcomes';
import { logicalId, nagFindings, roleStatements, synthesize, type Synthesized, arnOf, ref } from './support/synth';

let s: Synthesized;
beforeAll(() => {
  s = synthesize({}, { bundle: false });
}, 180_000);

const id = (type: string, prefix: string) => logicalId(s.template, type, prefix);
const queue = () => id('AWS::SQS::Queue', 'OutcomesQueue');
const dlq = () => id('AWS::SQS::Queue', 'OutcomesDeadLetterQueue');
const bus = () => id('AWS::Events::EventBus', 'OutcomesBus');
const pipe = () => s.template.findResources('AWS::Pipes::Pipe', { Properties: { Name: 'convo-notify-outcomes-to-bus' } });

describe('Outcomes', () => {
  it('creates the outcomes queue named by the contract, SSE-SQS, TLS only, dead-lettering after five receives', () => {
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: outcomesQueueName('convo-notify'),
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      VisibilityTimeout: 60,
      RedrivePolicy: { deadLetterTargetArn: arnOf(dlq()), maxReceiveCount: 5 },
    });
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: `${outcomesQueueName('convo-notify')}-dlq`,
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    for (const queueId of [queue(), dlq()]) {
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [ref(queueId)],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it('creates one event bus of the stack, <prefix>-events', () => {
    s.template.resourceCountIs('AWS::Events::EventBus', 1);
    s.template.hasResourceProperties('AWS::Events::EventBus', { Name: outcomeEventBusName('convo-notify') });
  });

  it('pipes the outcomes queue to the bus in batches of 10 (one PutEvents), without waiting', () => {
    expect(Object.keys(pipe())).toHaveLength(1);
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      Name: 'convo-notify-outcomes-to-bus',
      Source: arnOf(queue()),
      SourceParameters: { SqsQueueParameters: { BatchSize: 10, MaximumBatchingWindowInSeconds: 0 } },
      Target: arnOf(bus()),
    });
  });

  it('makes each message an event with the contract source, the body’s detailType as DetailType and the body as detail', () => {
    expect(OUTCOME_PIPE_DETAIL_TYPE_PATH).toBe('$.body.detailType');
    expect(OUTCOME_PIPE_INPUT_TEMPLATE).toBe('<$.body>');
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      Name: 'convo-notify-outcomes-to-bus',
      TargetParameters: {
        InputTemplate: OUTCOME_PIPE_INPUT_TEMPLATE,
        EventBridgeEventBusParameters: { Source: OUTCOME_EVENT_SOURCE, DetailType: OUTCOME_PIPE_DETAIL_TYPE_PATH },
      },
    });
  });

  it('logs errors, without execution data by default, to its own vended log group with the stack’s retention', () => {
    s.template.hasResourceProperties('AWS::Pipes::Pipe', {
      Name: 'convo-notify-outcomes-to-bus',
      LogConfiguration: {
        Level: 'ERROR',
        IncludeExecutionData: Match.absent(),
        CloudwatchLogsLogDestination: { LogGroupArn: arnOf(id('AWS::Logs::LogGroup', 'OutcomesPipeLogGroup')) },
      },
    });
    s.template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('^/aws/vendedlogs/pipes/convo-notify-outcomes-to-bus-')])] },
      RetentionInDays: 30,
    });
  });

  it('lets the pipe’s role read this queue and put events on this bus, nothing else', () => {
    expect(roleStatements(s.template, id('AWS::IAM::Role', 'OutcomesPipeRole'))).toEqual([
      {
        Sid: 'ReadOutcomesQueue',
        Effect: 'Allow',
        Action: ['sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'],
        Resource: arnOf(queue()),
      },
      { Sid: 'PutOutcomeEvents', Effect: 'Allow', Action: 'events:PutEvents', Resource: arnOf(bus()) },
    ]);
  });

  it('trusts pipes.amazonaws.com of this account only, and the pipe waits for the role’s policy', () => {
    const role = s.template.findResources('AWS::IAM::Role')[id('AWS::IAM::Role', 'OutcomesPipeRole')];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'pipes.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
      },
    ]);
    const [pipeResource] = Object.values(pipe());
    expect(pipeResource.DependsOn).toEqual(expect.arrayContaining([id('AWS::IAM::Policy', 'OutcomesPipeRoleDefaultPolicy')]));
  });

  it('lets the state machine send to the outcomes queue only', () => {
    const statements = roleStatements(s.template, id('AWS::IAM::Role', 'WorkflowStateMachineRole'));
    expect(statements.filter((st) => st.Sid === 'SendOutcomes')).toEqual([
      { Sid: 'SendOutcomes', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(queue()) },
    ]);
    const sendersToQueue = statements.filter((st) => JSON.stringify(st.Resource).includes(queue()));
    expect(sendersToQueue.map((st) => st.Sid)).toEqual(['SendOutcomes']);
  });

  it('hands the workflow the outcomes queue URL as ${OutcomesQueueUrl}', () => {
    const [machine] = Object.values(s.template.findResources('AWS::StepFunctions::StateMachine'));
    expect(machine.Properties.DefinitionSubstitutions.OutcomesQueueUrl).toEqual(ref(queue()));
  });

  it('alarms the ops topic when the outcomes DLQ holds a message', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'convo-notify-outcomes-dlq-not-empty',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq(), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [ref(id('AWS::SNS::Topic', 'OpsNotificationsTopic'))],
    });
  });

  it('alarms the ops topic when an outcome has waited more than five minutes in the outcomes queue', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'convo-notify-outcomes-oldest-message-age',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue(), 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 300,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [ref(id('AWS::SNS::Topic', 'OpsNotificationsTopic'))],
    });
  });

  it('outputs the bus name and ARN and the outcomes queue URLs', () => {
    const outputs = s.template.findOutputs('*');
    expect(outputs.EventBusName.Value).toEqual(ref(bus()));
    expect(outputs.EventBusArn.Value).toEqual(arnOf(bus()));
    expect(outputs.OutcomesQueueUrl.Value).toEqual(ref(queue()));
    expect(outputs.OutcomesDeadLetterQueueUrl.Value).toEqual(ref(dlq()));
  });

  it('leaves cdk-nag AwsSolutions with nothing unacknowledged on the outcomes resources', () => {
    expect(nagFindings(s.app).filter((f) => f.path.includes('/Outcomes/'))).toEqual([]);
  });
});
