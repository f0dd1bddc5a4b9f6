import { api, ApiRequestError } from './api';
import { h, replaceChildren } from './dom';
import { MESSAGE_BODY_MAX_CHARS } from './limits';
import type { Audience, DashboardConfig, PostMessageRequest, PostMessageResponse } from './types';

/** The form that writes a customer message to CONVO_HISTORY, as the chat product would. */

const AUDIENCES: { value: Audience; label: string }[] = [
  { value: 'team', label: 'Team' },
  { value: 'assigned', label: 'Assigned agent' },
  { value: 'sender', label: 'Followers of the sender' },
];

export const renderPostForm = (container: HTMLElement, config: DashboardConfig, onPosted: (r: PostMessageResponse) => void): void => {
  const radios = AUDIENCES.map((a, i) =>
    h('input', { type: 'radio', name: 'audience', value: a.value, checked: i === 0, 'data-testid': `audience-${a.value}` }),
  );
  const team = h(
    'select',
    { name: 'teamId', 'data-testid': 'team-select' },
    ...config.teams.map((t) => h('option', { value: t.teamId }, `${t.teamId} (${t.members.join(', ')})`)),
  );
  const agent = h(
    'select',
    { name: 'assignedAgentId', 'data-testid': 'agent-select' },
    ...config.agents.map((a) => h('option', { value: a.agentId }, `${a.name} (${a.agentId})`)),
  );
  const sender = h('input', { name: 'senderId', value: config.senders[0]?.senderId ?? 'customer-web', list: 'known-senders', 'data-testid': 'sender-input', required: true });
  const senders = h('datalist', { id: 'known-senders' }, ...config.senders.map((s) => h('option', { value: s.senderId })));
  const body = h('textarea', { name: 'body', rows: 3, placeholder: 'Hello, my order has not arrived…', 'data-testid': 'message-body', required: true, maxlength: MESSAGE_BODY_MAX_CHARS });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'post-submit' }, 'Post message');
  const hint = h('p', { class: 'hint', 'data-testid': 'audience-hint' });
  const result = h('div', { class: 'post-result', 'data-testid': 'post-result', role: 'status' });
  const teamRow = h('label', { class: 'row' }, h('span', {}, 'Team'), team);
  const agentRow = h('label', { class: 'row' }, h('span', {}, 'Agent'), agent);

  const audience = (): Audience => (radios.find((r) => r.checked)?.value ?? 'team') as Audience;
  const update = () => {
    const a = audience();
    teamRow.hidden = a !== 'team';
    agentRow.hidden = a !== 'assigned';
    const who =
      a === 'team'
        ? config.teams.find((t) => t.teamId === team.value)?.members
        : a === 'assigned'
          ? [agent.value]
          : config.senders.find((s) => s.senderId === sender.value.trim())?.followers;
    hint.textContent = who?.length
      ? `Notifies the devices of ${who.join(', ')} (topic ${a === 'assigned' ? 'direct' : a}).`
      : 'Nobody is concerned: the execution ends in SendToUnrouted.';
  };
  for (const el of [...radios, team, agent, sender]) el.addEventListener('input', update);

  const form = h(
    'form',
    { class: 'post-form', 'data-testid': 'post-form' },
    h('fieldset', { class: 'audiences' }, h('legend', {}, 'Audience'), ...AUDIENCES.map((a, i) => h('label', {}, radios[i], ` ${a.label}`))),
    teamRow,
    agentRow,
    h('label', { class: 'row' }, h('span', {}, 'Customer'), sender, senders),
    hint,
    h('label', { class: 'row stacked' }, h('span', {}, 'Message'), body),
    h('div', { class: 'actions' }, submit),
    result,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const a = audience();
    const request: PostMessageRequest = {
      audience: a,
      body: body.value,
      senderId: sender.value.trim(),
      ...(a === 'team' ? { teamId: team.value } : {}),
      ...(a === 'assigned' ? { assignedAgentId: agent.value } : {}),
    };
    submit.disabled = true;
    api
      .postMessage(request)
      .then((r) => {
        result.dataset.kind = 'ok';
        result.dataset.messageId = r.messageId;
        if (r.warning) result.dataset.warning = r.warning;
        else delete result.dataset.warning;
        replaceChildren(
          result,
          'Written ',
          h('code', {}, r.messageId),
          ' to CONVO_HISTORY; its execution appears below.',
          r.warning && h('p', { class: 'warning', 'data-testid': 'post-warning' }, `Warning: ${r.warning}.`),
        );
        body.value = '';
        onPosted(r);
      })
      .catch((err: unknown) => {
        result.dataset.kind = 'error';
        delete result.dataset.messageId;
        delete result.dataset.warning;
        const issues = err instanceof ApiRequestError ? err.body.issues : undefined;
        replaceChildren(
          result,
          ...(issues?.length
            ? ['Not posted:', h('ul', {}, ...issues.map((i) => h('li', {}, h('code', {}, i.field), ` ${i.message}`)))]
            : [`Not posted: ${(err as Error).message}`]),
        );
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  update();
  replaceChildren(container, form);
};
