/**
 * The presence path of the default stack: record-presence's asynchronous invocations are retried
 * and then kept on an encrypted, alarmed presence-failures queue; both lifecycle topic trees
 * (connections and subscriptions) reach record-presence.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { nagFindings, roleStatements, logicalId, synthesize, type Synthesized, arnOf, ref } from './support/synth';

let s: Synthesized;
beforeAll(() => {
  s = synthesize({}, { bundle: false });
}, 180_000);

const id = (type: string, prefix: string) => logicalId(s.template, type, prefix);
const recordPresence = () => id('AWS::Lambda::Function', 'PresenceRecordPresenceFunction');
const failureQueue = () => id('AWS::SQS::Queue', 'PresenceFailureQueue');

describe('Presence', () => {
  it('retries a failed record-presence invocation twice, for at most an hour, then sends it to the presence-failures queue', () => {
    // The escalation tasks have theirs (test/infra/escalation.test.ts).
    expect(Object.keys(s.template.findResources('AWS::Lambda::EventInvokeConfig', { Properties: { FunctionName: ref(recordPresence()) } }))).toHaveLength(1);
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: ref(recordPresence()),
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: arnOf(failureQueue()) } },
    });
  });

  it('names the presence-failures queue after the prefix, encrypts it like the other queues and refuses non-TLS access', () => {
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'convo-notify-presence-failures',
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(failureQueue())],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('lets record-presence read and conditionally update PRESENCE, read the device registry and send to its failure queue, nothing else', () => {
    // Resource "*" is X-Ray's, which the task construct grants every function.
    const statements = roleStatements(s.template, id('AWS::IAM::Role', 'PresenceRecordPresenceRole')).filter((st) => st.Resource !== '*');
    expect(statements).toEqual([
      { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: arnOf(id('AWS::Logs::LogGroup', 'PresenceRecordPresenceLogGroup')) },
      { Sid: 'RecordPresence', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:UpdateItem'], Resource: arnOf(id('AWS::DynamoDB::Table', 'PresenceTable')) },
      { Sid: 'LookUpRegisteredDevice', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: arnOf(id('AWS::DynamoDB::Table', 'DeviceRegistryTable')) },
      { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: arnOf(failureQueue()) },
    ]);
  });

  it('alarms when the presence-failures queue holds a message, and when Lambda could not deliver a record to it', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'convo-notify-presence-failures-not-empty',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [failureQueue(), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'convo-notify-record-presence-destination-delivery-failures',
      MetricName: 'DestinationDeliveryFailures',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: ref(recordPresence()) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('outputs the presence-failures queue URL', () => {
    expect(s.template.findOutputs('PresenceFailureQueueUrl')).toEqual({
      PresenceFailureQueueUrl: expect.objectContaining({ Value: ref(failureQueue()) }),
    });
  });

  it('routes the subscription lifecycle events to record-presence by a second rule, with the same error action', () => {
    const rules = Object.values(s.template.findResources('AWS::IoT::TopicRule')).map((r) => r.Properties.TopicRulePayload);
    expect(rules.map((r) => r.Sql).sort()).toEqual(["SELECT * FROM '$aws/events/presence/+/+'", "SELECT * FROM '$aws/events/subscriptions/+/+'"]);
    for (const rule of rules) {
      expect(rule).toMatchObject({
        AwsIotSqlVersion: '2016-03-23',
        RuleDisabled: false,
        Actions: [{ Lambda: { FunctionArn: arnOf(recordPresence()) } }],
        ErrorAction: { Sqs: { QueueUrl: ref(id('AWS::SQS::Queue', 'PresenceRuleErrorQueue')), UseBase64: false } },
      });
    }
  });

  it('lets each of the two rules, and nothing else, invoke record-presence', () => {
    const permissions = Object.values(s.template.findResources('AWS::Lambda::Permission')).filter(
      (p) => JSON.stringify(p.Properties.FunctionName) === JSON.stringify(arnOf(recordPresence())),
    );
    expect(permissions).toHaveLength(2);
    for (const rule of ['PresenceLifecycleRule', 'PresenceSubscriptionRule']) {
      s.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(recordPresence()),
        Principal: 'iot.amazonaws.com',
        SourceArn: arnOf(id('AWS::IoT::TopicRule', rule)),
        SourceAccount: ref('AWS::AccountId'),
      });
    }
  });

  it('leaves cdk-nag AwsSolutions with nothing unacknowledged on the presence resources', () => {
    expect(nagFindings(s.app).filter((f) => f.path.includes('/Presence/') || f.path.includes('/Alarms/'))).toEqual([]);
  });
});
