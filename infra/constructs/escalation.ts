import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ESCALATE_ENV, ESCALATION_MARKERS_TABLE, escalationRules, type EscalationRuleTarget } from '../../contracts/escalation';
import type { EventPattern } from '../../contracts/event-pattern';
import { CONVO_HISTORY_TABLE } from '../../contracts/tables';
import { grantPublishToEncryptedTopics } from './encrypted-topic';
import { AnswerTimer } from './escalation-timer';
import { secureQueue } from './queues';
import { TaskFunction } from './task-function';

/**
 * A rule target that fails (throttled, function missing) is retried by EventBridge for up to this
 * long, then dead-lettered. Past it, an escalation is stale news: the DLQ alarm tells people instead.
 */
const RULE_TARGET_MAX_EVENT_AGE = Duration.hours(2);
const RULE_TARGET_RETRY_ATTEMPTS = 8;
/**
 * The tasks are invoked asynchronously (by the rules and the Scheduler); a failed invocation is
 * retried twice by Lambda, then kept on the escalation-failures queue.
 */
const TASK_RETRY_ATTEMPTS = 2;
const TASK_MAX_EVENT_AGE = Duration.hours(6);
/** The attributes of a CONVO_HISTORY item escalate may read: the key, and whether it is handled. */
export const ESCALATE_READS_OF_CONVO_HISTORY = [
  CONVO_HISTORY_TABLE.partitionKey,
  CONVO_HISTORY_TABLE.sortKey,
  CONVO_HISTORY_TABLE.claim.handledBy,
] as const;

export interface EscalationProps {
  /**
   * Resource name prefix: rules `<prefix>-<rule id>`, queues `<prefix>-escalation-rule-dlq` and
   * `<prefix>-escalation-failures`, and the names of the answer timer's resources.
   */
  readonly prefix: string;
  /** The stack's event bus, where the outcome events arrive (Outcomes). */
  readonly bus: events.IEventBus;
  /** CONVO_HISTORY: escalate reads the message (is it handled already?) before it publishes. */
  readonly convoHistoryTable: dynamodb.ITable;
  /**
   * Minutes a created message may stay unclaimed before it escalates as `unanswered` (context
   * `answerWithinMinutes`); 0 creates no answer timer, no timer rules and no scheduler resources.
   */
  readonly answerWithinMinutes: number;
}

export class EscalationRuleTargetError extends Error {
  constructor(ruleId: string, target: EscalationRuleTarget, answerWithinMinutes: number) {
    super(`escalation rule ${ruleId} targets the ${target} task, which the stack does not create with answerWithinMinutes ${answerWithinMinutes}`);
    this.name = 'EscalationRuleTargetError';
  }
}

/** The contract's patterns use the event's own field names; the CDK's EventPattern spells `detail-type` as `detailType`. */
const cdkEventPattern = (pattern: EventPattern): events.EventPattern => {
  const { 'detail-type': detailType, ...rest } = pattern;
  return { ...rest, ...(detailType === undefined ? {} : { detailType }) } as events.EventPattern;
};

const pascal = (id: string): string => id.replace(/(^|-)([a-z])/g, (_all, _dash, ch: string) => ch.toUpperCase());

/** The construct id of the rule `ruleId` of escalationRules (under the Escalation construct). */
export const escalationRuleConstructIdOf = (ruleId: string): string => `${pascal(ruleId)}Rule`;

/**
 * Escalation (docs/escalation.md), on the outcome events of the bus:
 *
 * - the escalation topic (output `EscalationTopicArn`: subscribe the support team), encrypted with
 *   a rotated customer managed key of its own, TLS only;
 * - the markers table (`ESCALATION_MARKERS_TABLE`: one item per escalated (identity, reason), TTL,
 *   PITR, AWS managed encryption) that keeps each message to one escalation per reason;
 * - the `escalate` task: `sns:Publish` on the topic (and the key, through SNS only),
 *   `dynamodb:PutItem` / `dynamodb:DeleteItem` on the markers table, `dynamodb:GetItem` on
 *   CONVO_HISTORY limited to the key and `handledBy` (ESCALATE_READS_OF_CONVO_HISTORY), nothing else;
 * - the rules of `escalationRules(answerWithinMinutes)` (contracts/escalation.ts) on the bus, each
 *   targeting its task with retries and the escalation rule DLQ;
 * - with `answerWithinMinutes` > 0, the answer timer (AnswerTimer).
 *
 * Both tasks retry a failed invocation twice and then keep it on the escalation-failures queue: an
 * escalation is never dropped silently.
 */
export class Escalation extends Construct {
  public readonly topic: sns.Topic;
  public readonly encryptionKey: kms.Key;
  public readonly markersTable: dynamodb.Table;
  public readonly escalate: TaskFunction;
  /** Absent when `answerWithinMinutes` is 0. */
  public readonly answerTimer?: AnswerTimer;
  public readonly rules: Readonly<Record<string, events.Rule>>;
  /** Events a rule could not hand to its task after the retries. */
  public readonly ruleDeadLetterQueue: sqs.Queue;
  /** On-failure destination of both tasks: Lambda invocation records of failed escalations and timers. */
  public readonly failureQueue: sqs.Queue;
  /** The Lambda functions of escalation, by task name (the rules' targets; for alarms and the dashboard). */
  public readonly functions: Readonly<Partial<Record<EscalationRuleTarget, TaskFunction>>>;

  constructor(scope: Construct, id: string, props: EscalationProps) {
    super(scope, id);

    this.encryptionKey = new kms.Key(this, 'Key', {
      description: 'convo-notify: encrypts the escalation topic',
      enableKeyRotation: true,
    });
    this.topic = new sns.Topic(this, 'Topic', {
      topicName: `${props.prefix}-escalations`,
      displayName: `${props.prefix} escalations`,
      masterKey: this.encryptionKey,
      enforceSSL: true,
    });

    this.markersTable = new dynamodb.Table(this, 'MarkersTable', {
      partitionKey: { name: ESCALATION_MARKERS_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: ESCALATION_MARKERS_TABLE.timeToLiveAttribute,
      // Markers only suppress repeats; a new stack starts without them, like PRESENCE.
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.escalate = new TaskFunction(this, 'Escalate', {
      taskName: 'escalate',
      environment: {
        [ESCALATE_ENV.topicArn]: this.topic.topicArn,
        [ESCALATE_ENV.markersTableName]: this.markersTable.tableName,
        [ESCALATE_ENV.convoHistoryTableName]: props.convoHistoryTable.tableName,
      },
    });
    const role = this.escalate.role;
    grantPublishToEncryptedTopics(role, [this.topic], this.encryptionKey, { publish: 'PublishEscalations', key: 'UseEscalationTopicKey' });
    // A conditional put claims the escalation; a conditional delete gives it back when the publish
    // failed, so that the retry can escalate. A marker is never read or updated.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WriteEscalationMarkers',
        actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [this.markersTable.tableArn],
      }),
    );
    // Whether the message is handled, and nothing else of it: no customer text can be read.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ReadWhetherHandled',
        actions: ['dynamodb:GetItem'],
        resources: [props.convoHistoryTable.tableArn],
        conditions: {
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...ESCALATE_READS_OF_CONVO_HISTORY] },
          StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
        },
      }),
    );

    this.failureQueue = secureQueue(this, 'FailureQueue', {
      queueName: `${props.prefix}-escalation-failures`,
      noDeadLetterQueueReason:
        'This queue is the on-failure destination of the escalate and answer-timer tasks, the terminal holding place (alarmed) for invocations that failed after Lambda retried; a DLQ behind it would only duplicate it.',
    });
    this.ruleDeadLetterQueue = secureQueue(this, 'RuleDeadLetterQueue', {
      queueName: `${props.prefix}-escalation-rule-dlq`,
      noDeadLetterQueueReason:
        'This queue is the dead-letter queue of the escalation rule targets, the terminal holding place (alarmed) for outcome events EventBridge could not hand to a task; a DLQ behind it would only duplicate it.',
    });

    if (props.answerWithinMinutes > 0) {
      this.answerTimer = new AnswerTimer(this, 'AnswerTimer', {
        prefix: props.prefix,
        escalateFunction: this.escalate.function,
        answerWithinMinutes: props.answerWithinMinutes,
      });
    }

    this.functions = this.answerTimer === undefined ? { escalate: this.escalate } : { escalate: this.escalate, 'answer-timer': this.answerTimer.function };
    for (const task of Object.values(this.functions)) {
      task.function.configureAsyncInvoke({
        retryAttempts: TASK_RETRY_ATTEMPTS,
        maxEventAge: TASK_MAX_EVENT_AGE,
        onFailure: new destinations.SqsDestination(this.failureQueue),
      });
    }

    const rules: Record<string, events.Rule> = {};
    for (const rule of escalationRules(props.answerWithinMinutes)) {
      const task = this.functions[rule.target];
      if (task === undefined) throw new EscalationRuleTargetError(rule.id, rule.target, props.answerWithinMinutes);
      rules[rule.id] = new events.Rule(this, escalationRuleConstructIdOf(rule.id), {
        eventBus: props.bus,
        ruleName: `${props.prefix}-${rule.id}`,
        description: `convo-notify: ${rule.description}`,
        eventPattern: cdkEventPattern(rule.eventPattern),
        targets: [
          new targets.LambdaFunction(task.function, {
            retryAttempts: RULE_TARGET_RETRY_ATTEMPTS,
            maxEventAge: RULE_TARGET_MAX_EVENT_AGE,
            deadLetterQueue: this.ruleDeadLetterQueue,
          }),
        ],
      });
    }
    this.rules = rules;
  }
}
