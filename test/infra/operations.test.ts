/**
 * The ops view: the operations dashboard (read from its DashboardBody, metric by metric), the alarms
 * on the task Lambdas’ metrics, the ops topic that every alarm notifies, and its output. Templates
 * only, so bundling is skipped.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { OpsNotifications } from '../../infra/constructs/ops-notifications';
import { AUTHORIZER_DECISIONS } from '../../infra/constructs/task-metrics';
import { METRIC_NAMES, METRICS_NAMESPACE } from '../../tasks/shared/metrics';
import { dashboardWidgets, logicalId, nagFindings, synthesize, type Synthesized } from './support/synth';

let s: Synthesized;
beforeAll(() => {
  s = synthesize({}, { bundle: false });
}, 120_000);

const id = (type: string, prefix: string) => logicalId(s.template, type, prefix);

interface GraphedMetric {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Record<string, string>;
  readonly stat?: string;
}

const widgets = () => dashboardWidgets(s.template);

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

/** The metric-math lines (SEARCH, SUM(SEARCH …)) of the graph titled `title`. */
const expressions = (title: string): { expression: string; label?: string }[] => {
  const graph = widgets().find((w) => w.type === 'metric' && w.properties.title === title);
  if (graph === undefined) throw new Error(`no graph titled ${title}`);
  return (graph.properties.metrics ?? [])
    .filter((entry) => typeof entry[0] === 'object' && entry[0] !== null && 'expression' in entry[0])
    .map((entry) => {
      const { expression, label } = entry[0] as { expression: string; label?: string };
      return { expression, label };
    });
};

/** How the dashboard reads a task metric: the sum of exactly these dimensions, as Powertools emits them. */
const taskPoint = (metricName: string, dimensions: Record<string, string>): GraphedMetric => ({ namespace: METRICS_NAMESPACE, metricName, dimensions, stat: 'Sum' });

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

  it('graphs the outcomes pipe’s invocations and its failed, throttled, timed-out and target failures by PipeName, and the age of the oldest outcome', () => {
    expect(graphed('Outcomes pipe')).toEqual(
      ['Invocations', 'ExecutionFailed', 'ExecutionThrottled', 'ExecutionTimeout', 'TargetStageFailed'].map((metricName) => ({
        namespace: 'AWS/EventBridge/Pipes',
        metricName,
        dimensions: { PipeName: 'convo-notify-outcomes-to-bus' },
        stat: 'Sum',
      })),
    );
    s.template.hasResourceProperties('AWS::Pipes::Pipe', { Name: 'convo-notify-outcomes-to-bus' });
    expect(graphed('Outcomes queue (age of oldest message, s)')).toEqual([
      {
        namespace: 'AWS/SQS',
        metricName: 'ApproximateAgeOfOldestMessage',
        dimensions: { QueueName: `{{${id('AWS::SQS::Queue', 'OutcomesQueue')}.QueueName}}` },
        stat: 'Maximum',
      },
    ]);
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

  it('graphs records normalized and quarantined, and devices resolved, skipped, online and offline, under the service dimension of their task', () => {
    expect(graphed('Records normalized and quarantined')).toEqual([
      taskPoint(METRIC_NAMES.recordsNormalized, { service: 'normalize-batch' }),
      taskPoint(METRIC_NAMES.recordsQuarantined, { service: 'normalize-batch' }),
    ]);
    expect(graphed('Devices resolved, online and offline')).toEqual([
      taskPoint(METRIC_NAMES.devicesResolved, { service: 'resolve-recipients' }),
      taskPoint(METRIC_NAMES.devicesSkipped, { service: 'resolve-recipients' }),
      taskPoint(METRIC_NAMES.devicesOnline, { service: 'check-presence' }),
      taskPoint(METRIC_NAMES.devicesOffline, { service: 'check-presence' }),
    ]);
  });

  it('graphs agent API requests summed over routes per status class, searching exactly the dimensions route, service and statusClass', () => {
    expect(expressions('Agent API requests by status class')).toEqual(
      ['2xx', '4xx', '5xx'].map((statusClass) => ({
        expression: `SUM(SEARCH('{ConvoNotify,route,service,statusClass} MetricName="ApiRequests" service="agent-api" statusClass="${statusClass}"', 'Sum', 300))`,
        label: statusClass,
      })),
    );
  });

  it('graphs the IoT authorizer’s decisions one line per decision and reason', () => {
    expect(expressions('IoT authorizer decisions by reason')).toEqual([
      {
        expression: `SEARCH('{ConvoNotify,decision,reason,service} MetricName="AuthorizerDecisions" service="iot-authorizer"', 'Sum', 300)`,
        label: "${PROP('Dim.decision')}: ${PROP('Dim.reason')}",
      },
    ]);
  });

  it('graphs presence events recorded and stale, and the ignored ones by reason', () => {
    expect(graphed('Presence events').filter((m) => m.namespace !== undefined)).toEqual([
      taskPoint(METRIC_NAMES.presenceRecorded, { service: 'record-presence' }),
      taskPoint(METRIC_NAMES.stalePresenceEvents, { service: 'record-presence' }),
    ]);
    expect(expressions('Presence events')).toEqual([
      {
        expression: `SEARCH('{ConvoNotify,reason,service} MetricName="PresenceEventsIgnored" service="record-presence"', 'Sum', 300)`,
        label: "ignored: ${PROP('Dim.reason')}",
      },
    ]);
  });

  it('reads task metrics only under service names that a function of the stack has as POWERTOOLS_SERVICE_NAME', () => {
    const deployed = new Set(
      Object.values(s.template.findResources('AWS::Lambda::Function')).map((fn) => fn.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME as string | undefined),
    );
    const titles = widgets().flatMap((w) => (w.type === 'metric' && w.properties.title !== undefined ? [w.properties.title] : []));
    const read = new Set([
      ...titles.flatMap((title) => graphed(title).filter((m) => m.namespace === METRICS_NAMESPACE).map((m) => m.dimensions.service)),
      ...titles.flatMap((title) => expressions(title).flatMap((e) => [...e.expression.matchAll(/service="([^"]+)"/g)].map((match) => match[1]))),
    ]);
    expect(read.size).toBeGreaterThanOrEqual(6);
    expect([...read].filter((service) => !deployed.has(service))).toEqual([]);
  });

  it('shows the state of every alarm, and how to see whether the pipe or the outcomes pipe stopped', () => {
    const alarmWidget = widgets().find((w) => w.type === 'alarm');
    const alarms = Object.keys(s.template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => `{{${alarm}.Arn}}`);
    expect([...(alarmWidget?.properties.alarms ?? [])].sort()).toEqual(alarms.sort());
    const text = widgets().find((w) => w.type === 'text');
    expect(text?.properties.markdown).toContain('aws pipes describe-pipe --name convo-notify-stream-to-workflow --query CurrentState');
    expect(text?.properties.markdown).toContain('aws pipes describe-pipe --name convo-notify-outcomes-to-bus --query CurrentState');
  });
});

describe('OperationsAlarms on the task Lambdas’ metrics', () => {
  type Query = { Id: string; Expression?: string; ReturnData?: boolean; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: string }[] }; Stat: string; Period: number } };
  const alarmNamed = (name: string) => {
    const found = Object.values(s.template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: name } }));
    expect(found).toHaveLength(1);
    return found[0].Properties as { Metrics: Query[]; Threshold: number; EvaluationPeriods: number; ComparisonOperator: string; TreatMissingData: string };
  };

  it('alarms when the IoT authorizer refuses more than half of at least 20 connection attempts, three five-minute periods running', () => {
    const alarm = alarmNamed('convo-notify-iot-authorizer-denials');
    expect(alarm).toMatchObject({ Threshold: 0.5, EvaluationPeriods: 3, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
    const [watched] = alarm.Metrics.filter((q) => q.ReturnData !== false);
    const denied = alarm.Metrics.filter((q) => q.Id.startsWith('denied')).map((q) => q.Id);
    const all = alarm.Metrics.filter((q) => q.MetricStat !== undefined).map((q) => q.Id);
    expect(watched.Expression).toBe(`IF(SUM([${all.join(', ')}]) >= 20, SUM([${denied.join(', ')}]) / SUM([${all.join(', ')}]), 0)`);
    const decisions = alarm.Metrics.flatMap((q) => (q.MetricStat === undefined ? [] : [q.MetricStat]));
    for (const stat of decisions) {
      expect({ namespace: stat.Metric.Namespace, name: stat.Metric.MetricName, stat: stat.Stat, period: stat.Period }).toEqual({
        namespace: METRICS_NAMESPACE,
        name: METRIC_NAMES.authorizerDecisions,
        stat: 'Sum',
        period: 300,
      });
    }
    const dims = decisions.map((stat) => Object.fromEntries(stat.Metric.Dimensions.map((d) => [d.Name, d.Value])));
    expect(dims).toEqual([
      ...AUTHORIZER_DECISIONS.allowed.map((reason) => ({ service: 'iot-authorizer', decision: 'allowed', reason })),
      ...AUTHORIZER_DECISIONS.denied.map((reason) => ({ service: 'iot-authorizer', decision: 'denied', reason })),
    ]);
  });

  it('alarms on any recipients row skipped as no device in five minutes', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'convo-notify-recipients-rows-skipped',
      Namespace: METRICS_NAMESPACE,
      MetricName: METRIC_NAMES.devicesSkipped,
      Dimensions: [{ Name: 'service', Value: 'resolve-recipients' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
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
