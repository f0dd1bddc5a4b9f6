import { CfnOutput, Duration, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { ConvoNotifyConfig } from './config';
import { STACK_OUTPUT_KEYS } from '../contracts/stack-outputs';
import { AgentApi } from './constructs/agent-api';
import { AgentIdentity } from './constructs/agent-identity';
import { ConvoHistoryTable } from './constructs/convo-history-table';
import { DeviceLifecycle } from './constructs/device-lifecycle';
import { DeviceRegistry } from './constructs/device-registry';
import { Escalation } from './constructs/escalation';
import { Inboxes } from './constructs/inboxes';
import { NotificationTopics } from './constructs/notification-topics';
import { NotificationWorkflow } from './constructs/notification-workflow';
import { OperationsAlarms } from './constructs/operations-alarms';
import { OperationsDashboard } from './constructs/operations-dashboard';
import { OpsNotifications } from './constructs/ops-notifications';
import { Outcomes } from './constructs/outcomes';
import { IotAuthorizer } from './constructs/iot-authorizer';
import { Presence } from './constructs/presence';
import { RecipientsDatabase } from './constructs/recipients-database';
import { RecipientsSchema } from './constructs/recipients-schema';
import { StreamPipe } from './constructs/stream-pipe';
import { TaskEventLogging } from './constructs/task-function';
import { WorkflowTasks } from './constructs/workflow-tasks';

export interface ConvoNotifyStackProps extends StackProps {
  /** The validated app configuration (`readConfig`). */
  readonly config: ConvoNotifyConfig;
}

/**
 * convo-notify: CONVO_HISTORY stream → EventBridge Pipe → Express state machine → SNS topics,
 * Aurora Data API recipients, IoT push and SQS inboxes; plus the IoT presence path, and agent
 * access (docs/access.md): the identity, the agent API, the IoT custom authorizer, the device
 * lifecycle sweep and the schema applied at deploy.
 *
 * Environment-agnostic: nothing is looked up at synth time, so `cdk synth` works offline and the
 * same template deploys to any account and region.
 */
export class ConvoNotifyStack extends Stack {
  public readonly convoHistory: ConvoHistoryTable;
  public readonly inboxes: Inboxes;
  public readonly topics: NotificationTopics;
  public readonly database: RecipientsDatabase;
  public readonly registry: DeviceRegistry;
  public readonly presence: Presence;
  public readonly tasks: WorkflowTasks;
  public readonly workflow: NotificationWorkflow;
  public readonly streamPipe: StreamPipe;
  public readonly outcomes: Outcomes;
  public readonly escalation: Escalation;
  public readonly alarms: OperationsAlarms;
  public readonly opsNotifications: OpsNotifications;
  public readonly dashboard: OperationsDashboard;
  public readonly identity: AgentIdentity;
  public readonly agentApi: AgentApi;
  public readonly iotAuthorizer: IotAuthorizer;
  public readonly deviceLifecycle: DeviceLifecycle;
  public readonly schema: RecipientsSchema;

  constructor(scope: Construct, id: string, props: ConvoNotifyStackProps) {
    super(scope, id, {
      description: 'convo-notify: push notifications for CONVO_HISTORY messages (pipe, Express workflow, IoT, SQS inboxes)',
      ...props,
    });
    const { config } = props;
    Tags.of(this).add('project', 'convo-notify');
    Tags.of(this).add('convo-notify:prefix', config.prefix);
    // The task Lambdas follow the workflow's and the pipe's rule: events (customer text) only with execution data.
    TaskEventLogging.applyTo(this, config.logExecutionData);

    this.convoHistory = new ConvoHistoryTable(this, 'ConvoHistory', { existing: config.existingTable });

    this.inboxes = new Inboxes(this, 'Inboxes', {
      prefix: config.prefix,
      inboxRetention: Duration.days(config.inboxRetentionDays),
    });

    this.topics = new NotificationTopics(this, 'Topics');

    this.database = new RecipientsDatabase(this, 'RecipientsDatabase', {
      prefix: config.prefix,
      databaseName: config.dbName,
      existing: config.existingDatabase,
    });

    this.registry = new DeviceRegistry(this, 'DeviceRegistry');
    this.presence = new Presence(this, 'Presence', { prefix: config.prefix, registry: this.registry });

    this.tasks = new WorkflowTasks(this, 'Tasks', {
      database: this.database,
      presence: this.presence,
      inboxQueueNamePrefix: this.inboxes.inboxQueueNamePrefix,
      recipientsPageSize: config.recipientsPageSize,
    });

    this.outcomes = new Outcomes(this, 'Outcomes', { prefix: config.prefix, includeExecutionData: config.logExecutionData });
    this.escalation = new Escalation(this, 'Escalation', {
      prefix: config.prefix,
      bus: this.outcomes.bus,
      convoHistoryTable: this.convoHistory.table,
      answerWithinMinutes: config.answerWithinMinutes,
    });

    this.workflow = new NotificationWorkflow(this, 'Workflow', {
      prefix: config.prefix,
      tasks: this.tasks,
      topics: this.topics,
      inboxes: this.inboxes,
      outcomes: this.outcomes,
      logLevel: sfn.LogLevel[config.workflowLogLevel],
      includeExecutionData: config.logExecutionData,
    });

    this.streamPipe = new StreamPipe(this, 'StreamPipe', {
      prefix: config.prefix,
      streamArn: this.convoHistory.streamArn,
      stateMachine: this.workflow.stateMachine,
      enrichment: this.tasks.normalizeBatch.function,
      deadLetterQueue: this.inboxes.pipeDeadLetterQueue,
      batchSize: config.pipeBatchSize,
      parallelizationFactor: config.pipeParallelization,
      includeExecutionData: config.logExecutionData,
    });

    this.schema = new RecipientsSchema(this, 'RecipientsSchema', { database: this.database });

    this.identity = new AgentIdentity(this, 'AgentIdentity', {
      prefix: config.prefix,
      external: config.identityProvider,
      agentIdClaim: config.agentIdClaim,
    });

    this.agentApi = new AgentApi(this, 'AgentApi', {
      prefix: config.prefix,
      identity: this.identity,
      database: this.database,
      inboxes: this.inboxes,
      convoHistoryTable: this.convoHistory.table,
      presenceTable: this.presence.table,
      registry: this.registry,
      reservedConcurrency: config.agentApiConcurrency,
      throttle: { rateLimit: config.agentApiRateLimit, burstLimit: config.agentApiBurstLimit },
      corsOrigins: config.agentApiCorsOrigins,
    });

    this.iotAuthorizer = new IotAuthorizer(this, 'IotAuthorizer', {
      prefix: config.prefix,
      identity: this.identity,
      reservedConcurrency: config.iotAuthorizerConcurrency,
    });

    this.deviceLifecycle = new DeviceLifecycle(this, 'DeviceLifecycle', {
      database: this.database,
      registry: this.registry,
      staleDeviceDays: config.staleDeviceDays,
    });

    const holdingQueues = {
      'pipe-dlq': this.inboxes.pipeDeadLetterQueue,
      'presence-rule-errors': this.presence.ruleErrorQueue,
      'presence-failures': this.presence.failureQueue,
      quarantine: this.inboxes.quarantineQueue,
      unrouted: this.inboxes.unroutedQueue,
      'device-lifecycle-dlq': this.deviceLifecycle.deadLetterQueue,
      'outcomes-dlq': this.outcomes.deadLetterQueue,
      'escalation-rule-dlq': this.escalation.ruleDeadLetterQueue,
      'escalation-failures': this.escalation.failureQueue,
      ...(this.escalation.answerTimer ? { 'answer-timer-dlq': this.escalation.answerTimer.deadLetterQueue } : {}),
    };
    const escalationFunctions = Object.fromEntries(Object.entries(this.escalation.functions).map(([name, task]) => [name, task.function]));
    this.alarms = new OperationsAlarms(this, 'Alarms', {
      prefix: config.prefix,
      stateMachine: this.workflow.stateMachine,
      queues: holdingQueues,
      // Outcomes drive escalations: a stopped outcomes pipe must not leave them waiting unseen.
      drainedQueues: { outcomes: this.outcomes.queue },
      destinationFunctions: { 'record-presence': this.presence.recordPresence.function, ...escalationFunctions },
      errorFunctions: escalationFunctions,
    });

    // Every alarm of the stack, wherever it is created, notifies the ops topic.
    this.opsNotifications = new OpsNotifications(this, 'OpsNotifications', { prefix: config.prefix });
    this.opsNotifications.notifyOnEveryAlarmIn(this);

    this.dashboard = new OperationsDashboard(this, 'OperationsDashboard', {
      prefix: config.prefix,
      stateMachine: this.workflow.stateMachine,
      pipeName: this.streamPipe.pipeName,
      outcomes: { pipeName: this.outcomes.pipeName, queue: this.outcomes.queue },
      holdingQueues,
      agentApi: this.agentApi.httpApi,
      authorizerFunction: this.iotAuthorizer.function.function,
      alarms: this.alarms.alarms,
      escalation: { topic: this.escalation.topic, functions: escalationFunctions },
    });

    const output = (id: string, value: string, description: string) =>
      new CfnOutput(this, id, { value, description });
    output(STACK_OUTPUT_KEYS.convoHistoryTableName, this.convoHistory.table.tableName, 'the table whose stream feeds the pipe');
    output(STACK_OUTPUT_KEYS.convoHistoryStreamArn, this.convoHistory.streamArn, 'the CONVO_HISTORY stream the pipe reads (npm run replay -- --dlq reads it too)');
    output(STACK_OUTPUT_KEYS.stateMachineArn, this.workflow.stateMachine.stateMachineArn, 'the notification fan-out workflow');
    output('PipeArn', this.streamPipe.pipe.attrArn, 'CONVO_HISTORY stream to workflow');
    output('OpsTopicArn', this.opsNotifications.topic.topicArn, 'every alarm notifies this topic: subscribe the team to it');
    output(STACK_OUTPUT_KEYS.pipeDlqUrl, this.inboxes.pipeDeadLetterQueue.queueUrl, 'batches the pipe gave up on');
    output(STACK_OUTPUT_KEYS.quarantineQueueUrl, this.inboxes.quarantineQueue.queueUrl, 'records that failed validation');
    output('UnroutedQueueUrl', this.inboxes.unroutedQueue.queueUrl, 'notifications without recipients');
    output('InboxQueueUrlPrefix', this.inboxes.inboxQueueUrlPrefix, 'inbox URL = prefix + clientId + .fifo');
    output('DirectTopicArn', this.topics.topics.direct.topicArn, 'messages with an assigned agent');
    output('TeamTopicArn', this.topics.topics.team.topicArn, 'messages for a team');
    output('SenderTopicArn', this.topics.topics.sender.topicArn, 'messages for the agents subscribed to the sender');
    output(STACK_OUTPUT_KEYS.presenceTableName, this.presence.table.tableName, 'clientId to connected / disconnected');
    output('DeviceRegistryTableName', this.registry.table.tableName, 'registered client ids (agentId, registeredAt), written by the agent API, read by record-presence');
    output('PresenceRuleErrorQueueUrl', this.presence.ruleErrorQueue.queueUrl, 'lifecycle events record-presence could not take');
    output('PresenceFailureQueueUrl', this.presence.failureQueue.queueUrl, 'record-presence invocations that failed after retries (Lambda invocation records)');
    output('AgentDevicePolicyName', this.presence.devicePolicy.ref, 'IoT policy to attach to AgentCRM device certificates');
    output('RecipientsClusterArn', this.database.clusterArn, 'Aurora cluster (Data API) with the recipients schema');
    output('RecipientsSecretArn', this.database.secretArn, 'secret the Data API uses for the recipients database');
    output('RecipientsDatabaseName', this.database.databaseName, 'database that holds the recipients schema');
    output(STACK_OUTPUT_KEYS.agentApiUrl, this.agentApi.stage.url, 'agent API base URL (routes in docs/access.md)');
    output('AgentTokenIssuer', this.identity.issuer, 'iss of the agent tokens both authorizers accept');
    output('AgentTokenAudience', this.identity.audience, 'aud (or Cognito client_id) of the agent tokens');
    output(STACK_OUTPUT_KEYS.iotAuthorizerName, this.iotAuthorizer.authorizerName, 'x-amz-customauthorizer-name of the MQTT-over-WebSocket URL');
    output('EventBusName', this.outcomes.bus.eventBusName, 'outcome events (Notification Fanned Out / Quarantined / Unrouted, contracts/outcomes.ts): subscribe with rules on this bus');
    output('EventBusArn', this.outcomes.bus.eventBusArn, 'the outcome events bus');
    output('OutcomesQueueUrl', this.outcomes.queue.queueUrl, 'each workflow entry sends its outcome here; the outcomes pipe puts it on the bus');
    output('OutcomesDeadLetterQueueUrl', this.outcomes.deadLetterQueue.queueUrl, 'outcomes the pipe could not put on the bus');
    output('EscalationTopicArn', this.escalation.topic.topicArn, 'escalations (nobody online, unrouted, unanswered): subscribe the support team to it');
    output('EscalationMarkersTableName', this.escalation.markersTable.tableName, 'one item per escalated (message, reason): keeps each to one escalation');
    output('EscalationFailureQueueUrl', this.escalation.failureQueue.queueUrl, 'escalate / answer-timer invocations that failed after retries (Lambda invocation records)');
    output('EscalationRuleDeadLetterQueueUrl', this.escalation.ruleDeadLetterQueue.queueUrl, 'outcome events a rule could not hand to its task');
    if (this.escalation.answerTimer) {
      output('AnswerTimerScheduleGroupName', this.escalation.answerTimer.scheduleGroupName, 'EventBridge Scheduler group of the unanswered-message timers');
      output('AnswerTimerDeadLetterQueueUrl', this.escalation.answerTimer.deadLetterQueue.queueUrl, 'answer timers the Scheduler could not deliver to escalate');
    }
    if (this.identity.userPool) output('AgentUserPoolId', this.identity.userPool.userPoolId, 'Cognito user pool of the agents (created because no oidcIssuer was given)');
    if (this.identity.userPoolClient) output('AgentUserPoolClientId', this.identity.userPoolClient.userPoolClientId, 'app client of the AgentCRM browser app');
  }
}
