/**
 * The ops view: the operations dashboard (read from its DashboardBody, metric by metric), the ops
 * topic that every alarm notifies, and its output. Templates only, so bundling is skipped.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { OpsNotifications } from '../../infra/constructs/ops-notifications';
import { logicalId, nagFindings, synthesize, type Synthesized } from './support/synth';

let s: Synthesized;
beforeAll(() => {
  s = synthesize({}, { bundle: false });
}, 120_000);

const id = (type: string, prefix: string) => logicalId(s.template, type, prefix);

type BodyPart = string | { Ref: string } | { 'Fn::GetAtt': [string, string] };
// Tokens become `{{LogicalId}}` / `{{LogicalId.Attribute}}`, so the body parses as the JSON it is.
const placeholder = (part: BodyPart): string =>
  typeof part === 'string' ? part : 'Ref' in part ? `{{${part.Ref}}}` : `{{${part['Fn::GetAtt'].join('.')}}}`;

interface Widget {
  readonly type: string;
  readonly properties: { readonly title?: string; readonly markdown?: string; readonly alarms?: string[]; readonly metrics?: unknown[][] };
}
interface GraphedMetric {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, string>;
  readonly stat?: string;
}

const widgets = (): Widget[] => {
  const dashboards = Object.values(s.template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const [, parts] = dashboards[0].Properties.DashboardBody['Fn::Join'] as [string, BodyPart[]];
  return (JSON.parse(parts.map(placeholder).join('')) as { widgets: Widget[] }).widgets;
};

/** The metrics of the graph titled `title`: `[namespace, name, dim, value, …, { stat, … }]` each. */
const graphed = (title: string): GraphedMetric[] => {
  const graph = widgets().find((w) => w.type === 'metric' && w.properties.title === title);
  if (graph === undefined) throw new Error(`no graph titled ${title}`);
  return (graph.properties.metrics ?? []).map((entry) => {
    const options = typeof entry[entry.length - 1] === 'object' ? (entry[entry.length - 1] as { stat?: string }) : {};
    const [namespace, metricName, ...rest] = entry.filter((e) => typeof e === 'string') as string[];
    const dimensions: Record<string, string> = {};
    for (let i = 0; i < rest.length; i += 2) dimensions[rest[i]] = rest[i + 1];
    return { namespace, metricName, dimensions, stat: options.stat };
  });
};

describe('OperationsDashboard', () => {
  it('is one dashboard named <prefix>-operations', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    s.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'convo-notify-operations' });
  });

  it('graphs the workflow’s started, succeeded, failed and timed-out executions, and their duration', () => {
    const stateMachine = { StateMachineArn: `{{${id('AWS::StepFunctions::StateMachine', 'WorkflowStateMachine')}}}` };
    expect(graphed('Workflow executions')).toEqual(
      ['ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsFailed', 'ExecutionsTimedOut'].map((metricName) => ({
        namespace: 'AWS/States',
        metricName,
        dimensions: stateMachine,
        stat: 'Sum',
      })),
    );
    expect(graphed('Workflow duration (ms)')).toEqual(
      ['p50', 'p99', 'Maximum'].map((stat) => ({ namespace: 'AWS/States', metricName: 'ExecutionTime', dimensions: stateMachine, stat })),
    );
  });

  it('graphs the depth of the pipe DLQ, quarantine, unrouted, presence failures, presence rule errors, device-lifecycle DLQ and the outcomes and escalation queues', () => {
    const queues = [
      'InboxesPipeDeadLetterQueue',
      'PresenceRuleErrorQueue',
      'PresenceFailureQueue',
      'InboxesQuarantineQueue',
      'InboxesUnroutedQueue',
      'DeviceLifecycleDeadLetterQueue',
      'OutcomesDeadLetterQueue',
      'EscalationRuleDeadLetterQueue',
      'EscalationFailureQueue',
      'EscalationAnswerTimerDeadLetterQueue',
    ];
    expect(graphed('Holding queues (messages visible)')).toEqual(
      queues.map((queue) => ({
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: `{{${id('AWS::SQS::Queue', queue)}.QueueName}}` },
        stat: 'Maximum',
      })),
    );
  });

  it('graphs the pipe’s invocations and its failed, throttled, timed-out, enrichment and target failures by PipeName', () => {
    expect(graphed('Pipe')).toEqual(
      ['Invocations', 'ExecutionFailed', 'ExecutionThrottled', 'ExecutionTimeout', 'EnrichmentStageFailed', 'TargetStageFailed'].map(
        (metricName) => ({
          namespace: 'AWS/EventBridge/Pipes',
          metricName,
          dimensions: { PipeName: 'convo-notify-stream-to-workflow' },
          stat: 'Sum',
        }),
      ),
    );
    s.template.hasResourceProperties('AWS::Pipes::Pipe', { Name: 'convo-notify-stream-to-workflow' });
  });

  it('graphs the agent API’s requests, 4xx and 5xx by its API id', () => {
    const api = { ApiId: `{{${id('AWS::ApiGatewayV2::Api', 'AgentApi')}}}` };
    expect(graphed('Agent API')).toEqual(
      ['Count', '4xx', '5xx'].map((metricName) => ({ namespace: 'AWS/ApiGateway', metricName, dimensions: api, stat: 'Sum' })),
    );
  });

  it('graphs the IoT authorizer function’s invocations, errors and throttles', () => {
    const fn = { FunctionName: `{{${id('AWS::Lambda::Function', 'IotAuthorizerFunction')}}}` };
    expect(graphed('IoT authorizer')).toEqual(
      ['Invocations', 'Errors', 'Throttles'].map((metricName) => ({ namespace: 'AWS/Lambda', metricName, dimensions: fn, stat: 'Sum' })),
    );
  });

  it('shows the state of every alarm, and how to see whether the pipe stopped itself', () => {
    const alarmWidget = widgets().find((w) => w.type === 'alarm');
    const alarms = Object.keys(s.template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => `{{${alarm}.Arn}}`);
    expect([...(alarmWidget?.properties.alarms ?? [])].sort()).toEqual(alarms.sort());
    const text = widgets().find((w) => w.type === 'text');
    expect(text?.properties.markdown).toContain('aws pipes describe-pipe --name convo-notify-stream-to-workflow --query CurrentState');
  });
});

describe('OpsNotifications', () => {
  const opsTopic = () => id('AWS::SNS::Topic', 'OpsNotificationsTopic');

  it('is the alarm action of every alarm of the stack', () => {
    const alarms = Object.values(s.template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    for (const alarm of alarms) {
      expect({ alarm: alarm.Properties.AlarmName, actions: alarm.Properties.AlarmActions }).toEqual({
        alarm: alarm.Properties.AlarmName,
        actions: [{ Ref: opsTopic() }],
      });
    }
  });

  it('is encrypted with a rotated key of its own that CloudWatch may use, and refuses non-TLS publishing', () => {
    const key = id('AWS::KMS::Key', 'OpsNotificationsKey');
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [key, 'Arn'] } });
    s.template.hasResource('AWS::KMS::Key', {
      Properties: Match.objectLike({
        EnableKeyRotation: true,
        KeyPolicy: Match.objectLike({
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            }),
          ]),
        }),
      }),
    });
    expect(Object.keys(s.template.findResources('AWS::KMS::Key', { Properties: { Description: Match.stringLikeRegexp('ops topic') } }))).toEqual([key]);
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: opsTopic() }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
  });

  it('lets CloudWatch publish only for alarms of this account and region named <prefix>-…', () => {
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: opsTopic() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: {
              StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, ':alarm:convo-notify-*']],
                },
              },
            },
          }),
        ]),
      },
    });
    for (const alarm of Object.values(s.template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmName).toMatch(/^convo-notify-/);
    }
  });

  it('is given as the OpsTopicArn output', () => {
    expect(s.template.findOutputs('OpsTopicArn')).toEqual({ OpsTopicArn: expect.objectContaining({ Value: { Ref: opsTopic() } }) });
  });

  it('fails the synth for an alarm whose name the topic policy would refuse', () => {
    const stack = new Stack(new App(), 'Probe');
    const ops = new OpsNotifications(stack, 'Ops', { prefix: 'convo-notify' });
    const metric = new cloudwatch.Metric({ namespace: 'Probe', metricName: 'Probe' });
    metric.createAlarm(stack, 'Unnamed', { threshold: 1, evaluationPeriods: 1 });
    metric.createAlarm(stack, 'OtherPrefix', { alarmName: 'other-alarm', threshold: 1, evaluationPeriods: 1 });
    metric.createAlarm(stack, 'Named', { alarmName: 'convo-notify-probe', threshold: 1, evaluationPeriods: 1 });
    ops.notifyOnEveryAlarmIn(stack);
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('/Probe/Unnamed', Match.stringLikeRegexp('must be named "convo-notify-'))).toHaveLength(1);
    expect(annotations.findError('/Probe/OtherPrefix', Match.stringLikeRegexp('must be named "convo-notify-'))).toHaveLength(1);
    expect(annotations.findError('/Probe/Named', Match.anyValue())).toEqual([]);
  });

  it('keeps cdk-nag clean', () => {
    expect(nagFindings(s.app)).toEqual([]);
  });
});
