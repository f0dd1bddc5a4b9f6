import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { AgentClient, allMessages, emptyState, inboxQueueName, newMessages, type InboxState, type MessageView } from '../../client';
import { h, replaceChildren, time } from './dom';
import type { DashboardAgent, DashboardConfig } from './types';

/**
 * One panel per seeded device. Switching a device online runs the real AgentCRM client in the
 * page: MQTT over WebSocket with the device's own client id, its SQS inbox drained on every
 * connect, claims as conditional UpdateItem calls, all against the local endpoints.
 */

type PanelState = 'offline' | 'connecting' | 'online';

interface AwsClients {
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
}

const HANDLED_SHOWN = 5;

const newest = (a: MessageView, b: MessageView) => Date.parse(b.createdAt) - Date.parse(a.createdAt);

export class DevicePanel {
  readonly element: HTMLElement;
  private client?: AgentClient;
  /** Kept across sessions, as an app keeps what it knew when the device went offline. */
  private state: InboxState = emptyState;
  private readonly toggle: HTMLInputElement;
  private readonly stateLabel: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly newList: HTMLElement;
  private readonly handledList: HTMLElement;
  private readonly handledCount: HTMLElement;
  private readonly answering = new Set<string>();

  constructor(
    private readonly config: DashboardConfig,
    private readonly agent: DashboardAgent,
    readonly clientId: string,
    private readonly aws: AwsClients,
  ) {
    this.toggle = h('input', { type: 'checkbox', 'data-testid': 'device-toggle', 'aria-label': `${clientId} online`, onchange: () => this.onToggle() });
    this.stateLabel = h('span', { class: 'device-state', 'data-testid': 'device-state' });
    this.notice = h('div', { class: 'device-notice', 'data-testid': 'device-notice', role: 'status' });
    this.newList = h('ul', { class: 'messages', 'data-testid': 'new-messages' });
    this.handledCount = h('span', {});
    this.handledList = h('ul', { class: 'messages handled', 'data-testid': 'handled-messages' });
    this.element = h(
      'div',
      { class: 'device', 'data-testid': `device-${clientId}`, 'data-client-id': clientId },
      h('div', { class: 'device-head' }, h('span', { class: 'device-name' }, clientId), h('label', { class: 'switch' }, this.toggle, h('span', { class: 'slider' }), this.stateLabel)),
      this.notice,
      this.newList,
      h('details', { class: 'handled-box' }, h('summary', {}, 'Handled ', this.handledCount), this.handledList),
    );
    this.setState('offline');
    this.render();
  }

  private setState(state: PanelState): void {
    this.element.dataset.state = state;
    this.stateLabel.textContent = state;
    this.toggle.checked = state !== 'offline';
  }

  private say(text: string, kind: 'info' | 'error' = 'info'): void {
    this.notice.textContent = text;
    this.notice.dataset.kind = kind;
  }

  private onToggle(): void {
    if (this.toggle.checked) this.goOnline();
    else void this.goOffline();
  }

  private goOnline(): void {
    if (this.client?.isOnline) return;
    const client = new AgentClient({
      clientId: this.clientId,
      agentId: this.agent.agentId,
      brokerUrl: this.config.endpoints.mqttWs,
      inbox: { sqs: this.aws.sqs, queueName: inboxQueueName(this.config.inboxQueueNamePrefix, this.clientId), waitTimeSeconds: 1 },
      claim: { dynamodb: this.aws.dynamodb, tableName: this.config.tables.convoHistory },
      initialState: this.state,
      reconnect: { initialDelayMs: 500, maxDelayMs: 5000 },
    });
    client.on('presence', (p) => {
      if (client !== this.client) return;
      if (p.state === 'online') {
        this.setState('online');
        this.say('');
      } else {
        this.setState(p.reason === 'stopped' ? 'offline' : 'connecting');
        if (p.reason !== 'stopped') this.say('connection lost; reconnecting', 'error');
      }
    });
    client.on('change', (s) => {
      if (client !== this.client) return;
      this.state = s;
      this.render();
    });
    client.on('error', (err) => {
      console.warn(`[${this.clientId}]`, err);
      this.say(`${err.name}: ${err.message}`, 'error');
    });
    this.client = client;
    this.setState('connecting');
    client.start();
  }

  private async goOffline(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.setState('offline');
    await client.stop();
    this.state = client.state;
    this.render();
  }

  private async answer(message: MessageView, button: HTMLButtonElement): Promise<void> {
    // A claim only needs DynamoDB, so even an offline device's stale view can try (and lose).
    const client = this.client;
    if (!client) return;
    this.answering.add(message.key);
    button.disabled = true;
    button.textContent = 'Answering…';
    try {
      const result = await client.claim({ conversationId: message.conversationId, messageId: message.messageId });
      this.say(result.won ? `${message.messageId}: answered by you (${result.handledBy})` : `${message.messageId}: already handled by ${result.handledBy}`, result.won ? 'info' : 'error');
    } catch (err) {
      this.say(`${message.messageId}: ${(err as Error).message}`, 'error');
    } finally {
      this.answering.delete(message.key);
      this.render();
    }
  }

  private render(): void {
    const fresh = newMessages(this.state).sort(newest);
    replaceChildren(
      this.newList,
      ...(fresh.length === 0
        ? [h('li', { class: 'empty' }, 'No new messages')]
        : fresh.map((m) => {
            const busy = this.answering.has(m.key);
            const button = h('button', { type: 'button', class: 'answer', 'data-testid': 'answer', disabled: busy }, busy ? 'Answering…' : 'Answer');
            button.addEventListener('click', () => void this.answer(m, button));
            return h(
              'li',
              { class: 'message', 'data-testid': 'new-message', 'data-message-id': m.messageId, 'data-conversation-id': m.conversationId },
              h('div', { class: 'message-main' }, h('span', { class: 'badge new' }, 'NEW'), h('span', { class: 'preview' }, m.preview)),
              h('div', { class: 'message-meta' }, `${m.senderId} · ${m.topic} · ${time(m.createdAt)} · ${m.messageId}`),
              button,
            );
          })),
    );
    const handled = allMessages(this.state)
      .filter((m) => !m.isNew)
      .sort(newest);
    this.handledCount.textContent = `(${handled.length})`;
    replaceChildren(
      this.handledList,
      ...handled.slice(0, HANDLED_SHOWN).map((m) =>
        h(
          'li',
          { class: 'message', 'data-testid': 'handled-message', 'data-message-id': m.messageId, 'data-handled-by': m.handledBy ?? '' },
          h('div', { class: 'message-main' }, h('span', { class: 'preview' }, m.preview)),
          h('div', { class: 'message-meta' }, `handled by ${m.handledBy ?? '?'}${m.handledAt ? ` at ${time(m.handledAt)}` : ''}`),
        ),
      ),
    );
    this.element.dataset.newCount = String(fresh.length);
  }

  async stop(): Promise<void> {
    await this.client?.stop();
  }
}

export const renderAgents = (container: HTMLElement, config: DashboardConfig): DevicePanel[] => {
  const aws: AwsClients = {
    sqs: new SQSClient({ endpoint: config.endpoints.sqs, region: config.region, credentials: config.credentials }),
    dynamodb: new DynamoDBClient({ endpoint: config.endpoints.dynamodb, region: config.region, credentials: config.credentials }),
  };
  const panels: DevicePanel[] = [];
  replaceChildren(
    container,
    ...config.agents.map((agent) => {
      const devices = agent.devices.map((clientId) => new DevicePanel(config, agent, clientId, aws));
      panels.push(...devices);
      const facts = [
        agent.teams.length ? `teams: ${agent.teams.join(', ')}` : '',
        agent.follows.length ? `follows: ${agent.follows.join(', ')}` : '',
      ].filter(Boolean);
      return h(
        'article',
        { class: 'agent', 'data-testid': `agent-${agent.agentId}` },
        h('header', {}, h('h3', {}, agent.name), h('span', { class: 'agent-id' }, agent.agentId), h('div', { class: 'agent-facts' }, facts.join(' · '))),
        ...devices.map((d) => d.element),
      );
    }),
  );
  return panels;
};
