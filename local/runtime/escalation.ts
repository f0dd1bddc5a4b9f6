import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  ANSWER_TIMER_ENV,
  ANSWER_WITHIN_MINUTES,
  ESCALATE_ENV,
  ESCALATION_MESSAGE_ATTRIBUTES,
  escalationIdsOf,
  escalationRules,
  scheduleGroupNameOf,
  type EscalationReason,
} from '../../contracts/escalation';
import { escalationMarkersTableInput } from '../emulators/dynamodb';
import type { FailedDelivery, LocalEventBridge } from '../emulators/eventbridge';
import { listen } from '../emulators/listen';
import { LocalScheduler } from '../emulators/scheduler';
import type { LocalSns } from '../emulators/sns';
import type { LocalSqs } from '../emulators/sqs';

/**
 * The escalation half of issue 13 on the local runtime (docs/escalation.md): the marker table in the
 * local DynamoDB, the escalation topic on the local SNS, the local EventBridge Scheduler with its
 * DLQ, the escalate and answer-timer handlers with the environment the CDK gives them, and the
 * rules of contracts/escalation.ts on the local event bus with their targets' DLQ,
 * `<prefix>-escalation-rule-dlq`. local/runtime/stack.ts calls it once the other endpoints are up.
 */

/** The local bus's rule registry: in-process targets. */
export type LocalRuleRegistry = Pick<LocalEventBridge, 'putRule'>;

/** An escalation as the escalation topic received it. */
export interface LocalEscalation {
  readonly snsMessageId: string;
  readonly reason: EscalationReason;
  readonly tenantId: string;
  readonly subject?: string;
  readonly message: string;
  /** The message the escalation is about, as its body names it; absent when the body names none. */
  readonly conversationId?: string;
  readonly messageId?: string;
}

export interface LocalEscalationSetup {
  readonly escalationTopicArn: string;
  readonly markersTable: string;
  readonly scheduleGroupName: string;
  readonly scheduleDlqUrl: string;
  /** `<prefix>-escalation-rule-dlq`: the events a rule's target failed on every attempt, each as its body. */
  readonly ruleDlqUrl: string;
  /** 0 when the timer is off. */
  readonly answerWithinSeconds: number;
  readonly schedulerEndpoint: string;
  readonly scheduler: LocalScheduler;
  /** Everything published on the escalation topic so far, oldest first. */
  escalations(): LocalEscalation[];
  close(): Promise<void>;
}

export interface LocalEscalationOptions {
  readonly prefix: string;
  readonly region: string;
  readonly accountId: string;
  readonly ddb: DynamoDBClient;
  readonly sns: LocalSns;
  readonly snsEndpoint: string;
  readonly sqs: LocalSqs;
  readonly sqsClient: SQSClient;
  /** @default DEFAULT_CONFIG.answerWithinMinutes × 60 (0 turns the timer off) */
  readonly answerWithinSeconds?: number;
  /** Real milliseconds per scheduled millisecond (LocalScheduler). @default 1 */
  readonly schedulerTimeScale?: number;
  readonly schedulerPort?: number;
  readonly log: (message: string) => void;
}

/**
 * Step 1, before the task handlers are loaded: the resources and the environment. Returns what
 * step 2 (`attachEscalation`) needs.
 */
export const prepareEscalation = async (options: LocalEscalationOptions) => {
  const { prefix, region, accountId, log } = options;
  const answerWithinSeconds = options.answerWithinSeconds ?? ANSWER_WITHIN_MINUTES.default * 60;
  if (!(answerWithinSeconds >= 0) || !Number.isFinite(answerWithinSeconds)) {
    throw new RangeError(`answerWithinSeconds must be 0 (off) or a positive number, got ${answerWithinSeconds}`);
  }
  const markersTable = `${prefix}-escalation-markers`;
  await options.ddb.send(new CreateTableCommand(escalationMarkersTableInput(markersTable)));
  const escalationTopicArn = `arn:aws:sns:${region}:${accountId}:${prefix}-escalations`;
  const scheduleDlqUrl = options.sqs.createQueue({ QueueName: `${prefix}-schedule-dlq` }).QueueUrl;
  const ruleDlqUrl = options.sqs.createQueue({ QueueName: `${prefix}-escalation-rule-dlq` }).QueueUrl;
  const scheduleGroupName = scheduleGroupNameOf(prefix);
  const escalateArn = `arn:aws:lambda:${region}:${accountId}:function:${prefix}-escalate`;

  const scheduler = new LocalScheduler({
    region,
    accountId,
    groups: [scheduleGroupName],
    timeScale: options.schedulerTimeScale,
    log,
    deadLetter: async (letter) => {
      log(`scheduler: ${letter.scheduleArn} gave up after ${letter.attempts} attempts: kept in the schedule DLQ`);
      await options.sqsClient.send(new SendMessageCommand({ QueueUrl: scheduleDlqUrl, MessageBody: JSON.stringify(letter) }));
    },
  });
  const endpoint = await listen(scheduler.handle, options.schedulerPort, 'the Scheduler endpoint');

  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SNS: options.snsEndpoint,
    AWS_ENDPOINT_URL_SCHEDULER: endpoint.url,
    [ESCALATE_ENV.topicArn]: escalationTopicArn,
    [ESCALATE_ENV.markersTableName]: markersTable,
    [ANSWER_TIMER_ENV.groupName]: scheduleGroupName,
    [ANSWER_TIMER_ENV.targetArn]: escalateArn,
    [ANSWER_TIMER_ENV.roleArn]: `arn:aws:iam::${accountId}:role/${prefix}-scheduler`,
    [ANSWER_TIMER_ENV.dlqArn]: `arn:aws:sqs:${region}:${accountId}:${prefix}-schedule-dlq`,
    // Fractions of a minute: at() has whole seconds, and the demo's timer is seconds long.
    [ANSWER_TIMER_ENV.answerWithinMinutes]: String(answerWithinSeconds / 60),
  });

  return { ...options, answerWithinSeconds, markersTable, escalationTopicArn, scheduleDlqUrl, ruleDlqUrl, scheduleGroupName, escalateArn, scheduler, endpoint };
};

type Prepared = Awaited<ReturnType<typeof prepareEscalation>>;
type Handler = (event: unknown) => Promise<unknown>;

/**
 * Step 2, once CONVO_HISTORY_TABLE_NAME and the rest of the environment are set: loads the two
 * handlers, makes escalate the scheduler's target and puts the rules on the bus.
 */
export const attachEscalation = (prepared: Prepared, bus: LocalRuleRegistry): LocalEscalationSetup => {
  const { scheduler, endpoint, sns, escalationTopicArn, ruleDlqUrl, sqsClient, log } = prepared;
  if (!process.env[ESCALATE_ENV.convoHistoryTableName]) throw new Error(`${ESCALATE_ENV.convoHistoryTableName} must be set before the escalate handler loads`);
  /* eslint-disable @typescript-eslint/no-require-imports */
  const escalate = (require('../../tasks/escalate/handler') as { handler: Handler }).handler;
  const answerTimer = (require('../../tasks/answer-timer/handler') as { handler: Handler }).handler;
  /* eslint-enable @typescript-eslint/no-require-imports */
  scheduler.setTarget(prepared.escalateArn, async (input) => {
    await escalate(input);
  });

  const handlers = { escalate, 'answer-timer': answerTimer } as const;
  // The bus retries a failing target, then keeps the event in the targets' DLQ, as EventBridge
  // writes it there: the event itself is the message body. The local SQS keeps no message
  // attributes, so EventBridge's ERROR_CODE, RULE_ARN and the rest are only logged.
  const deadLetter = async (failure: FailedDelivery): Promise<void> => {
    log(`eventbridge: rule ${failure.rule} gave up on event ${failure.event.id} after ${failure.attempts} attempt(s) (${failure.error}): kept in the escalation rule DLQ`);
    await sqsClient.send(new SendMessageCommand({ QueueUrl: ruleDlqUrl, MessageBody: JSON.stringify(failure.event) }));
  };
  for (const rule of escalationRules(prepared.answerWithinSeconds / 60)) {
    bus.putRule({ name: `${prepared.prefix}-${rule.id}`, eventPattern: rule.eventPattern, target: handlers[rule.target], deadLetter });
  }

  return {
    escalationTopicArn,
    markersTable: prepared.markersTable,
    scheduleGroupName: prepared.scheduleGroupName,
    scheduleDlqUrl: prepared.scheduleDlqUrl,
    ruleDlqUrl,
    answerWithinSeconds: prepared.answerWithinSeconds,
    schedulerEndpoint: endpoint.url,
    scheduler,
    escalations: () =>
      sns.byTopic(escalationTopicArn).map((p) => ({
        snsMessageId: p.messageId,
        reason: p.attributes[ESCALATION_MESSAGE_ATTRIBUTES.reason] as EscalationReason,
        tenantId: p.attributes[ESCALATION_MESSAGE_ATTRIBUTES.tenantId],
        subject: p.subject,
        message: p.message,
        ...escalationIdsOf(p.message),
      })),
    close: async () => {
      await scheduler.close();
      await endpoint.close();
    },
  };
};
