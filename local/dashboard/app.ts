import { api } from './api';
import { renderAgents } from './devices';
import { h, replaceChildren } from './dom';
import { EscalationsView, fetchEscalations, type EscalationView, type OutcomeEventView, type TimerView } from './escalations';
import { ExecutionsView } from './executions';
import { renderPostForm } from './post-form';
import type { ExecutionSummary } from './types';

/** The dashboard page: agents' devices, the message form, and the executions view. */

const byId = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el;
};

const start = async () => {
  const [config, definition] = await Promise.all([api.config(), api.definition()]);

  replaceChildren(
    byId('stack-info'),
    h('span', {}, 'tenant ', h('code', {}, config.tenantId)),
    h('span', {}, 'agent API ', h('code', {}, config.apiUrl)),
    h('span', {}, 'MQTT ', h('code', {}, config.iotEndpoint), ' via ', h('code', {}, config.authorizerName)),
    h('span', {}, 'sign-in ', h('code', {}, config.tokenUrl)),
  );

  const panels = renderAgents(byId('agents'), config, byId('os-notifications') as HTMLInputElement);
  // A leader tab hands its devices' connections to another tab of this browser as it goes.
  window.addEventListener('pagehide', () => {
    for (const p of panels) void p.leave();
  });

  const executions = new ExecutionsView(byId('execution-list'), byId('execution-detail'), definition);
  renderPostForm(byId('post'), config, () => undefined);

  const events = new EventSource('/api/events');
  events.addEventListener('execution', (e) => executions.add(JSON.parse((e as MessageEvent<string>).data) as ExecutionSummary));
  // (Re)connected: executions that finished while the stream was down are in the list.
  events.addEventListener('open', () => void executions.reload());
  // Outcome events per execution, answer timers and escalations as they fire (docs/escalation.md).
  const escalations = new EscalationsView(byId('escalation-list'), byId('outcome-list'), byId('timer-info'));
  const data = <T>(e: Event) => JSON.parse((e as MessageEvent<string>).data) as T;
  events.addEventListener('outcome', (e) => escalations.addOutcome(data<OutcomeEventView>(e)));
  events.addEventListener('escalation', (e) => escalations.addEscalation(data<EscalationView>(e)));
  events.addEventListener('timer', (e) => escalations.addTimer(data<TimerView>(e)));
  events.addEventListener('open', () => void fetchEscalations().then((snapshot) => escalations.load(snapshot), (err: unknown) => console.error(err)));
  // Colour alone says nothing to a reader who does not know what red means here, or cannot see it.
  const status = byId('connection-status');
  const setConnected = (connected: boolean) => {
    document.body.classList.toggle('disconnected', !connected);
    status.textContent = connected ? '' : 'disconnected from the local runtime — retrying…';
    status.hidden = connected;
  };
  events.addEventListener('error', () => setConnected(events.readyState === EventSource.OPEN));
  events.addEventListener('open', () => setConnected(true));

  document.body.dataset.ready = 'true';
};

start().catch((err: unknown) => {
  console.error(err);
  replaceChildren(byId('fatal'), `The dashboard could not start: ${(err as Error).message}`);
  byId('fatal').hidden = false;
});
