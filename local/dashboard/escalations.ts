/**
 * The dashboard's escalation panel (docs/escalation.md): the outcome events of each execution as the
 * local bus received them, with the rules they matched and what each delivery did, the answer timers
 * of the local Scheduler, and the escalations as the escalation topic receives them.
 *
 * One file for both sides, like types.ts: the server half (`escalationsSnapshot`,
 * `startEscalationFeed`) reads the stack and imports nothing at run time, so the page's bundle can
 * hold the browser half (`EscalationsView`).
 */
import type { ReceivedEvent } from '../emulators/eventbridge';
import type { SchedulerActivity } from '../emulators/scheduler';
import type { LocalEscalation } from '../runtime/escalation';
import type { LocalStack } from '../runtime/stack';
import { h, replaceChildren, time } from './dom';

// --- the API shapes ------------------------------------------------------------------------------

export interface OutcomeEventView {
  readonly id: string;
  readonly receivedAt: number;
  readonly detailType: string;
  readonly kind?: string;
  readonly conversationId?: string;
  readonly messageId?: string;
  /** The execution's name, as the executions list shows it. */
  readonly execution?: string;
  readonly counts?: Record<string, number>;
  readonly deliveries: readonly { rule: string; status: string; attempts: number; error?: string }[];
}

export interface EscalationView {
  readonly snsMessageId: string;
  readonly reason: string;
  readonly tenantId: string;
  readonly conversationId?: string;
  readonly messageId?: string;
  /** The SNS subject, else the body's first line: how long the customer has waited and why. */
  readonly summary: string;
  readonly message: string;
}

export interface TimerView {
  readonly type: SchedulerActivity['type'];
  readonly name: string;
  readonly at: number;
  readonly dueAt: number;
}

/** GET /api/escalations. */
export interface EscalationsSnapshot {
  /** 0 when the answer timer is off. */
  readonly answerWithinSeconds: number;
  /** Schedules waiting to fire. */
  readonly pendingTimers: number;
  readonly outcomes: readonly OutcomeEventView[];
  readonly escalations: readonly EscalationView[];
  readonly timers: readonly TimerView[];
}

/** What the page keeps of each list (newest). */
export const ESCALATION_PANEL_ROWS = 200;

// --- the server half -----------------------------------------------------------------------------

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export const outcomeViewOf = (received: ReceivedEvent): OutcomeEventView => {
  const detail = (typeof received.event.detail === 'object' && received.event.detail !== null ? received.event.detail : {}) as Record<string, unknown>;
  const keys = (detail.keys ?? {}) as Record<string, unknown>;
  const executionId = text(detail.executionId);
  const counts = detail.counts as Record<string, number> | undefined;
  return {
    id: received.event.id,
    receivedAt: received.receivedAt,
    detailType: received.event['detail-type'],
    kind: text(detail.kind),
    conversationId: text(detail.conversationId) ?? text(keys.conversationId),
    messageId: text(detail.messageId) ?? text(keys.messageId),
    // `$$.Execution.Id` is the execution's ARN, which ends with its name.
    execution: executionId?.slice(executionId.lastIndexOf(':') + 1),
    ...(counts ? { counts } : {}),
    deliveries: received.deliveries.map((d) => ({ rule: d.rule, status: d.status, attempts: d.attempts, ...(d.error ? { error: d.error } : {}) })),
  };
};

export const escalationViewOf = (e: LocalEscalation): EscalationView => ({
  snsMessageId: e.snsMessageId,
  reason: e.reason,
  tenantId: e.tenantId,
  conversationId: e.conversationId,
  messageId: e.messageId,
  summary: e.subject ?? e.message.split('\n')[0] ?? '',
  message: e.message,
});

const timerViewOf = (a: SchedulerActivity): TimerView => ({ type: a.type, name: a.name, at: a.at, dueAt: a.dueAt });

export const escalationsSnapshot = (stack: LocalStack): EscalationsSnapshot => ({
  answerWithinSeconds: stack.escalation.answerWithinSeconds,
  pendingTimers: stack.escalation.scheduler.list(stack.escalation.scheduleGroupName).length,
  outcomes: stack.eventBus.events.slice(-ESCALATION_PANEL_ROWS).map(outcomeViewOf),
  escalations: stack.escalation.escalations().slice(-ESCALATION_PANEL_ROWS).map(escalationViewOf),
  timers: stack.escalation.scheduler.activity.slice(-ESCALATION_PANEL_ROWS).map(timerViewOf),
});

/** How often the feed looks for new escalations and for deliveries that changed. */
const FEED_INTERVAL_MS = 300;

/**
 * Sends `outcome` (new, or its deliveries changed), `escalation` and `timer` events to the page's
 * event stream as they happen. Returns the function that stops it.
 */
export const startEscalationFeed = (stack: LocalStack, send: (event: 'outcome' | 'escalation' | 'timer', data: unknown) => void): (() => void) => {
  const sent = new Map<string, string>();
  let escalationsSent = stack.escalation.escalations().length;
  for (const received of stack.eventBus.events) sent.set(received.event.id, JSON.stringify(received.deliveries));
  const unsubscribe = stack.escalation.scheduler.onActivity((activity) => send('timer', timerViewOf(activity)));
  const tick = setInterval(() => {
    for (const received of stack.eventBus.events) {
      const signature = JSON.stringify(received.deliveries);
      if (sent.get(received.event.id) === signature) continue;
      sent.set(received.event.id, signature);
      send('outcome', outcomeViewOf(received));
    }
    // The bus keeps a bounded log: forget what it dropped.
    if (sent.size > stack.eventBus.events.length * 2) {
      const kept = new Set(stack.eventBus.events.map((r) => r.event.id));
      for (const id of sent.keys()) if (!kept.has(id)) sent.delete(id);
    }
    const escalations = stack.escalation.escalations();
    for (const e of escalations.slice(escalationsSent)) send('escalation', escalationViewOf(e));
    escalationsSent = escalations.length;
  }, FEED_INTERVAL_MS);
  tick.unref();
  return () => {
    clearInterval(tick);
    unsubscribe();
  };
};

// --- the browser half ----------------------------------------------------------------------------

/** GET /api/escalations from the page. */
export const fetchEscalations = async (): Promise<EscalationsSnapshot> => {
  const res = await fetch('/api/escalations');
  if (!res.ok) throw new Error(`GET /api/escalations answered HTTP ${res.status}`);
  return (await res.json()) as EscalationsSnapshot;
};

const REASON_LABELS: Record<string, string> = { 'nobody-online': 'nobody online', unrouted: 'unrouted', unanswered: 'unanswered' };

const countsText = (c: Record<string, number> | undefined): string =>
  c === undefined ? '' : `${c.devices ?? 0} devices · ${c.online ?? 0} online · ${c.pushed ?? 0} pushed${c.pushFailures ? ` · ${c.pushFailures} push failures` : ''} · ${c.inboxed ?? 0} inboxed`;

const ruleText = (d: OutcomeEventView['deliveries'][number]): string =>
  `${d.rule.replace(/^.*?-(escalate-|answer-timer-)/, '$1')}: ${d.status}${d.attempts > 1 ? ` after ${d.attempts} attempts` : ''}${d.error ? ` (${d.error})` : ''}`;

/** The panel: escalations as they fire, the answer timers, and the outcome events grouped by execution. */
export class EscalationsView {
  private outcomes = new Map<string, OutcomeEventView>();
  private escalations: EscalationView[] = [];
  private timers: TimerView[] = [];
  private answerWithinSeconds = 0;
  private pendingTimers = 0;

  constructor(
    private readonly escalationList: HTMLElement,
    private readonly outcomeList: HTMLElement,
    private readonly timerInfo: HTMLElement,
  ) {}

  load(snapshot: EscalationsSnapshot): void {
    this.answerWithinSeconds = snapshot.answerWithinSeconds;
    this.pendingTimers = snapshot.pendingTimers;
    this.outcomes = new Map(snapshot.outcomes.map((o) => [o.id, o]));
    this.escalations = [...snapshot.escalations];
    this.timers = [...snapshot.timers];
    this.render();
  }

  addOutcome(outcome: OutcomeEventView): void {
    this.outcomes.set(outcome.id, outcome);
    while (this.outcomes.size > ESCALATION_PANEL_ROWS) this.outcomes.delete(this.outcomes.keys().next().value as string);
    this.renderOutcomes();
  }

  addEscalation(escalation: EscalationView): void {
    this.escalations = [...this.escalations, escalation].slice(-ESCALATION_PANEL_ROWS);
    this.renderEscalations();
  }

  addTimer(timer: TimerView): void {
    this.timers = [...this.timers, timer].slice(-ESCALATION_PANEL_ROWS);
    if (timer.type === 'created') this.pendingTimers += 1;
    if (timer.type === 'deleted') this.pendingTimers = Math.max(0, this.pendingTimers - 1);
    this.renderTimers();
  }

  private render(): void {
    this.renderEscalations();
    this.renderOutcomes();
    this.renderTimers();
  }

  private renderEscalations(): void {
    if (this.escalations.length === 0) {
      replaceChildren(this.escalationList, h('li', { class: 'hint' }, 'No escalation yet. Post a message to a team whose devices are all offline, or leave one unanswered.'));
      return;
    }
    replaceChildren(
      this.escalationList,
      ...[...this.escalations].reverse().map((e) =>
        h(
          'li',
          { class: 'escalation', 'data-testid': 'escalation', 'data-reason': e.reason },
          h('span', { class: `badge escalation-${e.reason}` }, REASON_LABELS[e.reason] ?? e.reason),
          h('strong', {}, e.summary),
          h('div', { class: 'hint' }, `tenant ${e.tenantId} · conversation ${e.conversationId ?? '?'} · message ${e.messageId ?? '?'}`),
          h('details', {}, h('summary', {}, 'message'), h('pre', {}, e.message)),
        ),
      ),
    );
  }

  private renderOutcomes(): void {
    const byExecution = new Map<string, OutcomeEventView[]>();
    for (const o of this.outcomes.values()) {
      const key = o.execution ?? '(no execution id)';
      byExecution.set(key, [...(byExecution.get(key) ?? []), o]);
    }
    if (byExecution.size === 0) {
      replaceChildren(this.outcomeList, h('li', { class: 'hint' }, 'No outcome event yet.'));
      return;
    }
    replaceChildren(
      this.outcomeList,
      ...[...byExecution.entries()].reverse().map(([execution, events]) =>
        h(
          'li',
          { class: 'outcome-execution', 'data-testid': 'outcome-execution', 'data-execution': execution },
          h('div', {}, h('code', {}, execution), h('span', { class: 'hint' }, ` · ${time(events[0].receivedAt)}`)),
          h(
            'ul',
            {},
            ...events.map((o) =>
              h(
                'li',
                { 'data-testid': 'outcome-event' },
                h('strong', {}, o.detailType),
                ` ${o.kind ?? ''} ${o.conversationId ?? '?'}/${o.messageId ?? '?'} `,
                h('span', { class: 'hint' }, countsText(o.counts)),
                o.deliveries.length === 0 ? h('div', { class: 'hint' }, 'no rule matched') : h('div', { class: 'hint' }, o.deliveries.map(ruleText).join(' · ')),
              ),
            ),
          ),
        ),
      ),
    );
  }

  private renderTimers(): void {
    const last = this.timers.at(-1);
    replaceChildren(
      this.timerInfo,
      this.answerWithinSeconds === 0
        ? 'Answer timer off.'
        : `Answer timer: ${this.answerWithinSeconds} s after a message is sent (npm start -- --answer-within-seconds N). ${this.pendingTimers} waiting.`,
      last ? h('span', { class: 'hint' }, ` Last: ${last.name.slice(0, 24)}… ${last.type} at ${time(last.at)}.`) : '',
    );
  }
}
