/**
 * Escalation in the default stack (issue 13): the escalation topic and its key, the markers table, the
 * escalate and answer-timer tasks with exactly their grants, the bus rules with the contract's
 * patterns, the answer timer's schedule group and scheduler role, the alarms; and the stack with
 * `answerWithinMinutes=0`, which has no timer at all. Templates only, so bundling is skipped.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  ANSWER_TIMER_ENV,
  ANSWER_WITHIN_MINUTES,
  ESCALATE_ENV,
  ESCALATION_MARKERS_TABLE,
  escalationRules,
  scheduleGroupNameOf,
} from '../../contracts/escalation';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { ConfigError, DEFAULT_CONFIG, readConfigFrom } from '../../infra/config';
import { escalationRuleConstructIdOf } from '../../infra/constructs/escalation';
import { AnswerTimer, AnswerWithinMinutesError } from '../../infra/constructs/escalation-timer';
import { METRIC_NAMES, METRICS_NAMESPACE } from '../../tasks/shared/metrics';
import { dashboardWidgets, logicalId, nagFindings, roleStatements, synthesize, type Synthesized, arnOf, ref } from './support/synth';

const idIn = (template: Template) => (type: string, prefix: string) => logicalId(template, type, prefix);
// Resource "*" is X-Ray's, which the task construct grants every function; the log group is its own.
const taskGrants = (template: Template, rolePrefix: string) =>
  roleStatements(template, logicalId(template, 'AWS::IAM::Role', rolePrefix)).filter(
    (st) => st.Resource !== '*' && !(Array.isArray(st.Action) && st.Action.includes('logs:PutLogEvents')),
  );

describe('Escalation', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize({}, { bundle: false });
  }, 180_000);
  const id = (type: string, prefix: string) => idIn(s.template)(type, prefix);
  const escalateFn = () => id('AWS::Lambda::Function', 'EscalationEscalateFunction');
  const timerFn = () => id('AWS::Lambda::Function', 'EscalationAnswerTimerFunction');
  const topic = () => id('AWS::SNS::Topic', 'EscalationTopic');
  const markers = () => id('AWS::DynamoDB::Table', 'EscalationMarkersTable');
  const schedulerRole = () => id('AWS::IAM::Role', 'EscalationAnswerTimerSchedulerRole');
  const timerDlq = () => id('AWS::SQS::Queue', 'EscalationAnswerTimerDeadLetterQueue');
  const failureQueue = () => id('AWS::SQS::Queue', 'EscalationFailureQueue');
  const ruleDlq = () => id('AWS::SQS::Queue', 'EscalationRuleDeadLetterQueue');

  it('encrypts the escalation topic with a rotated key of its own and refuses non-TLS access', () => {
    const key = id('AWS::KMS::Key', 'EscalationKey');
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true, Description: 'convo-notify: encrypts the escalation topic' });
    s.template.hasResourceProperties('AWS::SNS::Topic', { TopicName: 'convo-notify-escalations', KmsMasterKeyId: arnOf(key) });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [ref(topic())],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    expect(s.template.findOutputs('EscalationTopicArn').EscalationTopicArn.Value).toEqual(ref(topic()));
  });

  it('keeps markers in a table of its own keyed by the contract, with TTL, PITR and encryption', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: ESCALATION_MARKERS_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: ESCALATION_MARKERS_TABLE.partitionKey, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: ESCALATION_MARKERS_TABLE.timeToLiveAttribute, Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(s.template.findOutputs('EscalationMarkersTableName').EscalationMarkersTableName.Value).toEqual(ref(markers()));
  });

  it('gives escalate the environment of the contract', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'convo-notify task: escalate',
      Environment: {
        Variables: Match.objectLike({
          [ESCALATE_ENV.topicArn]: ref(topic()),
          [ESCALATE_ENV.markersTableName]: ref(markers()),
          [ESCALATE_ENV.convoHistoryTableName]: ref(id('AWS::DynamoDB::Table', 'ConvoHistoryTable')),
        }),
      },
    });
  });

  it('lets escalate publish to its topic, put and delete markers and read only whether a message is handled: nothing else', () => {
    expect(taskGrants(s.template, 'EscalationEscalateRole')).toEqual([
      { Sid: 'PublishEscalations', Effect: 'Allow', Action: 'sns:Publish', Resource: ref(topic()) },
      {
        Sid: 'UseEscalationTopicKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Resource: arnOf(id('AWS::KMS::Key', 'EscalationKey')),
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['sns.', ref('AWS::Region'), '.', ref('AWS::URLSuffix')]] } } },
      },
      { Sid: 'WriteEscalationMarkers', Effect: 'Allow', Action: ['dynamodb:DeleteItem', 'dynamodb:PutItem'], Resource: arnOf(markers()) },
      {
        Sid: 'ReadWhetherHandled',
        Effect: 'Allow',
        Action: 'dynamodb:GetItem',
        Resource: arnOf(id('AWS::DynamoDB::Table', 'ConvoHistoryTable')),
        Condition: {
          'ForAllValues:StringEquals': {
            'dynamodb:Attributes': [CONVO_HISTORY_TABLE.partitionKey, CONVO_HISTORY_TABLE.sortKey, CONVO_HISTORY_TABLE.claim.handledBy],
          },
          StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      },
      { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: arnOf(failureQueue()) },
    ]);
  });

  it('creates one rule per contract rule on the stack’s bus, with the contract’s pattern exactly', () => {
    const rules = escalationRules(DEFAULT_CONFIG.answerWithinMinutes);
    expect(rules.map((r) => r.id)).toEqual(['escalate-nobody-online', 'escalate-unrouted', 'answer-timer-start', 'answer-timer-stop']);
    s.template.resourceCountIs('AWS::Events::Rule', rules.length + 1); // + the daily stale-device sweep (default bus)
    for (const rule of rules) {
      const fn = rule.target === 'escalate' ? escalateFn() : timerFn();
      const resource = s.template.findResources('AWS::Events::Rule')[id('AWS::Events::Rule', `Escalation${escalationRuleConstructIdOf(rule.id)}`)];
      expect(resource.Properties).toMatchObject({
        Name: `convo-notify-${rule.id}`,
        EventBusName: ref(id('AWS::Events::EventBus', 'OutcomesBus')),
        State: 'ENABLED',
        Targets: [
          {
            Arn: arnOf(fn),
            RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 },
            DeadLetterConfig: { Arn: arnOf(ruleDlq()) },
          },
        ],
      });
      expect(resource.Properties.EventPattern).toEqual(JSON.parse(JSON.stringify(rule.eventPattern)));
      expect(resource.Properties.Targets[0].Input).toBeUndefined();
      expect(resource.Properties.Targets[0].InputTransformer).toBeUndefined();
    }
  });

  it('lets each rule invoke its task, limited to that rule', () => {
    for (const rule of escalationRules(DEFAULT_CONFIG.answerWithinMinutes)) {
      s.template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(rule.target === 'escalate' ? escalateFn() : timerFn()),
        Principal: 'events.amazonaws.com',
        SourceArn: arnOf(id('AWS::Events::Rule', `Escalation${escalationRuleConstructIdOf(rule.id)}`)),
      });
    }
  });

  it('retries a failed task invocation twice, then keeps it on the escalation-failures queue', () => {
    for (const fn of [escalateFn(), timerFn()]) {
      s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        FunctionName: ref(fn),
        Qualifier: '$LATEST',
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 6 * 3600,
        DestinationConfig: { OnFailure: { Destination: arnOf(failureQueue()) } },
      });
    }
  });

  it('creates the answer timers’ schedule group named by the contract', () => {
    s.template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
    s.template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: scheduleGroupNameOf('convo-notify') });
  });

  it('has a scheduler role trusted by scheduler.amazonaws.com of this account only, which may only invoke escalate and dead-letter', () => {
    const role = s.template.findResources('AWS::IAM::Role')[schedulerRole()];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') } },
      },
    ]);
    expect(roleStatements(s.template, schedulerRole())).toEqual([
      { Sid: 'InvokeEscalate', Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: arnOf(escalateFn()) },
      { Sid: 'DeadLetterUndeliveredTimers', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: arnOf(timerDlq()) },
    ]);
    expect(role.Properties.Policies).toBeUndefined();
  });

  it('lets answer-timer create and delete schedules of its group only, and pass only the scheduler role, only to the Scheduler', () => {
    expect(taskGrants(s.template, 'EscalationAnswerTimerRole')).toEqual([
      {
        Sid: 'ManageAnswerTimers',
        Effect: 'Allow',
        Action: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule'],
        Resource: {
          'Fn::Join': [
            '',
            ['arn:', ref('AWS::Partition'), ':scheduler:', ref('AWS::Region'), ':', ref('AWS::AccountId'), `:schedule/${scheduleGroupNameOf('convo-notify')}/*`],
          ],
        },
      },
      {
        Sid: 'PassSchedulerRole',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: arnOf(schedulerRole()),
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      },
      { Effect: 'Allow', Action: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'], Resource: arnOf(failureQueue()) },
    ]);
  });

  it('gives answer-timer the group, the escalate target, the scheduler role, the standard DLQ and the minutes', () => {
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'convo-notify task: answer-timer',
      Environment: {
        Variables: Match.objectLike({
          [ANSWER_TIMER_ENV.groupName]: scheduleGroupNameOf('convo-notify'),
          [ANSWER_TIMER_ENV.targetArn]: arnOf(escalateFn()),
          [ANSWER_TIMER_ENV.roleArn]: arnOf(schedulerRole()),
          [ANSWER_TIMER_ENV.dlqArn]: arnOf(timerDlq()),
          [ANSWER_TIMER_ENV.answerWithinMinutes]: String(ANSWER_WITHIN_MINUTES.default),
        }),
      },
    });
    s.template.hasResourceProperties('AWS::SQS::Queue', {
      QueueName: 'convo-notify-answer-timer-dlq',
      SqsManagedSseEnabled: true,
      FifoQueue: Match.absent(),
    });
  });

  it('alarms on any escalate or answer-timer error and on every escalation holding queue', () => {
    for (const [name, fn] of [
      ['escalate', escalateFn()],
      ['answer-timer', timerFn()],
    ]) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `convo-notify-${name}-errors`,
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: ref(fn) }],
        Statistic: 'Sum',
        Threshold: 1,
      });
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: `convo-notify-${name}-destination-delivery-failures` });
    }
    for (const [queue, name] of [
      [ruleDlq(), 'escalation-rule-dlq'],
      [failureQueue(), 'escalation-failures'],
      [timerDlq(), 'answer-timer-dlq'],
    ]) {
      s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `convo-notify-${name}-not-empty`,
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queue, 'QueueName'] } }],
      });
    }
  });

  it('graphs escalations published, the tasks’ errors and the escalations published and skipped by reason on the operations dashboard', () => {
    const widgets = dashboardWidgets(s.template);
    const graph = widgets.find((w) => w.properties.title === 'Escalations');
    expect(graph?.properties.metrics?.map((m) => m.slice(0, 4))).toEqual([
      ['AWS/SNS', 'NumberOfMessagesPublished', 'TopicName', `{{${topic()}.TopicName}}`],
      ['AWS/Lambda', 'Errors', 'FunctionName', `{{${escalateFn()}}}`],
      ['AWS/Lambda', 'Errors', 'FunctionName', `{{${timerFn()}}}`],
    ]);
    const byReason = widgets.find((w) => w.properties.title === 'Escalations by reason');
    // Exactly the dimension sets the escalate task emits (test/escalation/escalate.test.ts), nothing else of the namespace.
    expect(byReason?.properties.metrics).toEqual([
      [
        expect.objectContaining({
          expression: `SEARCH('{${METRICS_NAMESPACE},reason,service} MetricName="${METRIC_NAMES.escalationsPublished}" service="escalate"', 'Sum', 300)`,
          label: 'published',
        }),
      ],
      [
        expect.objectContaining({
          expression: `SEARCH('{${METRICS_NAMESPACE},reason,service,skipped} MetricName="${METRIC_NAMES.escalationsSkipped}" service="escalate"', 'Sum', 300)`,
          label: 'skipped',
        }),
      ],
    ]);
  });

  it('outputs the schedule group and the escalation queues', () => {
    const outputs = s.template.findOutputs('*');
    expect(outputs.AnswerTimerScheduleGroupName.Value).toBe(scheduleGroupNameOf('convo-notify'));
    expect(outputs.AnswerTimerDeadLetterQueueUrl.Value).toEqual(ref(timerDlq()));
    expect(outputs.EscalationFailureQueueUrl.Value).toEqual(ref(failureQueue()));
    expect(outputs.EscalationRuleDeadLetterQueueUrl.Value).toEqual(ref(ruleDlq()));
  });

  it('leaves cdk-nag AwsSolutions with nothing unacknowledged on the escalation resources', () => {
    expect(nagFindings(s.app).filter((f) => f.path.includes('/Escalation/'))).toEqual([]);
  });
});

describe('Escalation with answerWithinMinutes=0', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthesize({ answerWithinMinutes: 0 }, { bundle: false });
  }, 180_000);

  it('creates no answer timer: no task, schedule group, scheduler role, timer DLQ or timer rules', () => {
    s.template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 0);
    const descriptions = Object.values(s.template.findResources('AWS::Lambda::Function')).map((fn) => fn.Properties.Description);
    expect(descriptions).toContain('convo-notify task: escalate');
    expect(descriptions).not.toContain('convo-notify task: answer-timer');
    const trusted = Object.values(s.template.findResources('AWS::IAM::Role')).map((r) => JSON.stringify(r.Properties.AssumeRolePolicyDocument));
    expect(trusted.filter((t) => t.includes('scheduler.amazonaws.com'))).toEqual([]);
    expect(s.template.findResources('AWS::SQS::Queue', { Properties: { QueueName: 'convo-notify-answer-timer-dlq' } })).toEqual({});
    expect(s.template.findOutputs('AnswerTimerScheduleGroupName')).toEqual({});
  });

  it('still escalates nobody-online and unrouted messages, by the two contract rules', () => {
    const names = Object.values(s.template.findResources('AWS::Events::Rule'))
      .map((r) => r.Properties.Name as string | undefined)
      .filter((n) => n?.startsWith('convo-notify-'));
    expect(names.sort()).toEqual(escalationRules(0).map((r) => `convo-notify-${r.id}`).sort());
    expect(escalationRules(0).every((r) => r.target === 'escalate')).toBe(true);
  });

  it('stays cdk-nag clean', () => {
    expect(nagFindings(s.app).filter((f) => f.path.includes('/Escalation/'))).toEqual([]);
  });
});

describe('answerWithinMinutes', () => {
  it('defaults to the contract’s 5 minutes and accepts 0 (off) up to the contract’s maximum', () => {
    expect(readConfigFrom(() => undefined).answerWithinMinutes).toBe(ANSWER_WITHIN_MINUTES.default);
    expect(readConfigFrom((key) => (key === 'answerWithinMinutes' ? '0' : undefined)).answerWithinMinutes).toBe(0);
    expect(readConfigFrom((key) => (key === 'answerWithinMinutes' ? ANSWER_WITHIN_MINUTES.max : undefined)).answerWithinMinutes).toBe(ANSWER_WITHIN_MINUTES.max);
  });

  it.each([-1, ANSWER_WITHIN_MINUTES.max + 1, '2.5', 'five'])('refuses %p, naming the key', (value) => {
    expect(() => readConfigFrom((key) => (key === 'answerWithinMinutes' ? value : undefined))).toThrow(ConfigError);
    expect(() => readConfigFrom((key) => (key === 'answerWithinMinutes' ? value : undefined))).toThrow(/"answerWithinMinutes"/);
  });

  it.each([0, 1.5, ANSWER_WITHIN_MINUTES.max + 1])('is refused by the AnswerTimer construct as %p: the stack creates none for 0', (minutes) => {
    const stack = new Stack(new App(), 'TimerOnly');
    const escalateFunction = lambda.Function.fromFunctionArn(stack, 'Escalate', 'arn:aws:lambda:eu-west-1:123456789012:function:escalate');
    expect(() => new AnswerTimer(stack, 'AnswerTimer', { prefix: 'p', escalateFunction, answerWithinMinutes: minutes })).toThrow(AnswerWithinMinutesError);
  });
});
