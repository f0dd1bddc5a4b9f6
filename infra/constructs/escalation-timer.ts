import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ANSWER_TIMER_ENV, ANSWER_WITHIN_MINUTES, scheduleGroupNameOf } from '../../contracts/escalation';
import { secureQueue } from './queues';
import { TaskFunction } from './task-function';

const SCHEDULER = 'scheduler.amazonaws.com';

export interface AnswerTimerProps {
  /**
   * Resource name prefix: schedule group `<prefix>-answer-timers` (`scheduleGroupNameOf`), DLQ
   * `<prefix>-answer-timer-dlq`.
   */
  readonly prefix: string;
  /** The escalate task: the target of every schedule, and the only thing the Scheduler may invoke. */
  readonly escalateFunction: lambda.IFunction;
  /**
   * Minutes a created message may stay unclaimed (context `answerWithinMinutes`, 1 to
   * ANSWER_WITHIN_MINUTES.max). The stack creates no timer at all for 0.
   */
  readonly answerWithinMinutes: number;
}

export class AnswerWithinMinutesError extends Error {
  constructor(minutes: number) {
    super(`answerWithinMinutes must be an integer from 1 to ${ANSWER_WITHIN_MINUTES.max} for the answer timer (0 turns it off and creates no timer), got ${minutes}`);
    this.name = 'AnswerWithinMinutesError';
  }
}

/**
 * The unanswered-message timer (docs/escalation.md): the `answer-timer` task, invoked by the bus
 * rules on created and handled messages, creates or deletes one one-time EventBridge Scheduler
 * schedule per message in the schedule group `<prefix>-answer-timers`; a schedule that fires invokes
 * the escalate task with the `unanswered` reason.
 *
 * Least privilege:
 * - answer-timer may `scheduler:CreateSchedule` and `scheduler:DeleteSchedule` on schedules of this
 *   group only, and pass the scheduler role (to the Scheduler only), nothing else;
 * - the scheduler role trusts `scheduler.amazonaws.com` of this account only, may invoke the
 *   escalate function and send to the timer DLQ (the Scheduler writes dead-letter events with the
 *   schedule's execution role), nothing else.
 */
export class AnswerTimer extends Construct {
  public readonly function: TaskFunction;
  public readonly scheduleGroup: scheduler.CfnScheduleGroup;
  public readonly scheduleGroupName: string;
  /** The role every schedule runs as. */
  public readonly schedulerRole: iam.Role;
  /** Standard queue (the Scheduler takes no FIFO DLQ) for timers whose escalate invocation failed. */
  public readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: AnswerTimerProps) {
    super(scope, id);
    const { answerWithinMinutes } = props;
    if (!Number.isInteger(answerWithinMinutes) || answerWithinMinutes < 1 || answerWithinMinutes > ANSWER_WITHIN_MINUTES.max) {
      throw new AnswerWithinMinutesError(answerWithinMinutes);
    }

    this.scheduleGroupName = scheduleGroupNameOf(props.prefix);
    this.scheduleGroup = new scheduler.CfnScheduleGroup(this, 'ScheduleGroup', { name: this.scheduleGroupName });

    this.deadLetterQueue = secureQueue(this, 'DeadLetterQueue', {
      queueName: `${props.prefix}-answer-timer-dlq`,
      noDeadLetterQueueReason:
        'This queue is the dead-letter queue of the answer-timer schedules (their DeadLetterConfig is set by the answer-timer task at CreateSchedule, which cdk-nag cannot see), the terminal holding place (alarmed) for timers the Scheduler could not deliver; a DLQ behind it would only duplicate it.',
    });

    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal(SCHEDULER, {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
      description: 'convo-notify answer timers: the EventBridge Scheduler invokes the escalate task',
    });
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'InvokeEscalate',
        actions: ['lambda:InvokeFunction'],
        resources: [props.escalateFunction.functionArn],
      }),
    );
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DeadLetterUndeliveredTimers',
        actions: ['sqs:SendMessage'],
        resources: [this.deadLetterQueue.queueArn],
      }),
    );

    this.function = new TaskFunction(this, 'AnswerTimer', {
      taskName: 'answer-timer',
      environment: {
        [ANSWER_TIMER_ENV.groupName]: this.scheduleGroupName,
        [ANSWER_TIMER_ENV.targetArn]: props.escalateFunction.functionArn,
        [ANSWER_TIMER_ENV.roleArn]: this.schedulerRole.roleArn,
        [ANSWER_TIMER_ENV.dlqArn]: this.deadLetterQueue.queueArn,
        [ANSWER_TIMER_ENV.answerWithinMinutes]: String(answerWithinMinutes),
      },
    });
    const schedulesOfGroup = Stack.of(this).formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.scheduleGroupName}/*`,
    });
    this.function.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ManageAnswerTimers',
        actions: ['scheduler:CreateSchedule', 'scheduler:DeleteSchedule'],
        resources: [schedulesOfGroup],
      }),
    );
    this.function.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PassSchedulerRole',
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': SCHEDULER } },
      }),
    );
    Validations.of(this.function.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${this.scheduleGroupName}/*]`,
      reason:
        'One schedule per created message, named at run time from a hash of its identity (scheduleNameOf), so the names cannot be listed in advance; the pattern covers the schedules of this stack\'s answer-timers group and nothing else.',
    });
  }
}
