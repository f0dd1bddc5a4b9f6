import { api } from './api';
import { h, json, replaceChildren, time } from './dom';
import { buildGraph, takenTransitions, type AslStates, type Graph } from './graph';
import { GraphView, type Highlight } from './graph-view';
import type { ExecutionRecord, ExecutionSummary, StateEvent } from './types';

/**
 * The executions view, in the spirit of the Step Functions console: the list of executions, and
 * for the selected one the workflow graph with the path it took, its input and output, each
 * state's events (input, output, errors) on click, and Replay.
 */

const MAX_LISTED = 200;
const MAX_EVENTS_SHOWN = 60;

/** One entry of the batch: kind, whom it addresses and the start of the message, so rows can be told apart. */
const describeRecord = (r: ExecutionSummary['records'][number]): string => {
  const who = r.audience ?? (r.topic ? `topic ${r.topic}` : undefined);
  const preview = r.preview ? `“${r.preview}”` : r.messageId;
  return [r.kind, who && `→ ${who}`, preview].filter(Boolean).join(' ');
};

const describeRecords = (s: ExecutionSummary): string => {
  const parts = s.records.map(describeRecord);
  return parts.length > 2 ? `${parts.slice(0, 2).join(', ')} +${parts.length - 2}` : parts.join(', ') || '(empty batch)';
};

/** Which states raised errors, and whether the workflow dealt with them (Retry, Catch) or died of them. */
export const stateErrors = (record: ExecutionRecord): Highlight['errors'] => {
  const errors: Highlight['errors'] = new Map();
  record.events.forEach((ev, i) => {
    if (ev.type !== 'StateFailed' || !ev.state) return;
    const handled = record.events.slice(i + 1).some((later) => later.state === ev.state && later.type !== 'StateFailed');
    if (errors.get(ev.state) !== 'failed') errors.set(ev.state, handled || record.status !== 'FAILED' ? 'caught' : 'failed');
  });
  return errors;
};

export class ExecutionsView {
  private readonly graph: Graph;
  private readonly pinToggle: HTMLButtonElement;
  private summaries: ExecutionSummary[] = [];
  private selectedName?: string;
  /** Until the user picks one, the newest execution is shown as it arrives. */
  private pinned = false;
  private view?: GraphView;
  private record?: ExecutionRecord;
  private inspector?: HTMLElement;
  private loadSeq = 0;

  constructor(
    private readonly list: HTMLElement,
    private readonly detail: HTMLElement,
    definition: AslStates,
  ) {
    this.graph = buildGraph(definition);
    this.pinToggle = h('button', { type: 'button', class: 'pin-toggle', 'data-testid': 'pin-toggle', onclick: () => this.setPinned(!this.pinned) });
    (this.list.parentElement ?? this.list).before(this.pinToggle);
    this.renderPin();
    replaceChildren(this.detail, h('p', { class: 'placeholder' }, 'Post a message: its execution appears here.'));
    let pending = 0;
    window.addEventListener('resize', () => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(() => this.view?.draw());
    });
  }

  /** Unpinning goes back to the newest execution and follows again. */
  setPinned(pinned: boolean): void {
    this.pinned = pinned;
    this.renderPin();
    if (!pinned && this.summaries[0] && this.summaries[0].name !== this.selectedName) void this.select(this.summaries[0].name, false);
  }

  private renderPin(): void {
    this.pinToggle.dataset.pinned = String(this.pinned);
    this.pinToggle.setAttribute('aria-pressed', String(this.pinned));
    this.pinToggle.textContent = this.pinned ? '📌 Pinned: click to follow new executions' : 'Following new executions: click to pin this one';
  }

  async reload(): Promise<void> {
    this.summaries = (await api.executions()).slice(0, MAX_LISTED);
    this.renderList();
    if (!this.pinned && this.summaries[0] && this.summaries[0].name !== this.selectedName) void this.select(this.summaries[0].name, false);
  }

  add(summary: ExecutionSummary): void {
    this.summaries = [summary, ...this.summaries.filter((s) => s.name !== summary.name)].slice(0, MAX_LISTED);
    this.renderList();
    if (!this.pinned) void this.select(summary.name, false);
  }

  private renderList(): void {
    replaceChildren(
      this.list,
      ...(this.summaries.length === 0
        ? [h('li', { class: 'empty' }, 'No executions yet')]
        : this.summaries.map((s) =>
            h(
              'li',
              {
                class: `execution${s.name === this.selectedName ? ' selected' : ''}`,
                'data-testid': 'execution-item',
                'data-name': s.name,
                'data-status': s.status,
                'data-message-ids': s.records.map((r) => r.messageId ?? '').join(' '),
                'data-kinds': s.records.map((r) => r.kind).join(' '),
                'data-replay-of': s.replayOf,
                tabindex: 0,
                onclick: () => void this.select(s.name, true),
                onkeydown: (e: Event) => {
                  if ((e as KeyboardEvent).key === 'Enter') void this.select(s.name, true);
                },
              },
              h('span', { class: `status status-${s.status.toLowerCase()}`, title: s.status }),
              h('span', { class: 'execution-what' }, describeRecords(s)),
              h(
                'span',
                { class: 'execution-meta' },
                `${time(s.startedAt)} · ${s.durationMs ?? '…'} ms · ${s.path.length} states`,
                s.replayOf && h('span', { class: 'badge replay' }, 'replay'),
              ),
            ),
          )),
    );
  }

  async select(name: string, byUser: boolean): Promise<void> {
    if (byUser && !this.pinned) {
      this.pinned = true;
      this.renderPin();
    }
    this.selectedName = name;
    this.renderList();
    const seq = ++this.loadSeq;
    const record = await api.execution(name);
    // A later selection may have finished first.
    if (seq !== this.loadSeq) return;
    this.record = record;
    this.renderDetail(record);
  }

  private renderDetail(record: ExecutionRecord): void {
    const view = new GraphView(this.graph, (state) => this.inspect(state));
    this.view = view;
    this.inspector = h('div', { class: 'inspector', 'data-testid': 'state-inspector' });
    const replay = h('button', { type: 'button', 'data-testid': 'replay' }, 'Replay');
    replay.addEventListener('click', () => {
      replay.disabled = true;
      replay.textContent = 'Replaying…';
      api
        .replay(record.name)
        .then((s) => {
          // The replay is the newest execution: show it and keep following, as after a post.
          this.pinned = false;
          this.renderPin();
          this.add(s);
        })
        .catch((err: unknown) => alert(`Replay failed: ${(err as Error).message}`))
        .finally(() => {
          replay.disabled = false;
          replay.textContent = 'Replay';
        });
    });
    replaceChildren(
      this.detail,
      h(
        'div',
        { class: 'execution-head', 'data-testid': 'execution-head', 'data-name': record.name },
        h('span', { class: `pill status-${record.status.toLowerCase()}`, 'data-testid': 'execution-status' }, record.status),
        h('code', { class: 'execution-name', title: record.executionArn }, record.name),
        h('span', { class: 'execution-meta' }, `started ${time(record.startedAt)} · ${record.durationMs ?? '…'} ms`),
        record.replayOf &&
          h(
            'a',
            {
              href: '#',
              class: 'replay-of',
              onclick: (e: Event) => {
                e.preventDefault();
                void this.select(record.replayOf!, true);
              },
            },
            `replay of ${record.replayOf.slice(0, 8)}…`,
          ),
        h('span', { class: 'spacer' }),
        replay,
      ),
      record.error && h('div', { class: 'execution-error', 'data-testid': 'execution-error' }, h('strong', {}, record.error.Error), ' ', record.error.Cause),
      h('div', { class: 'execution-body' }, h('div', { class: 'graph-scroll' }, view.element), this.inspector),
    );
    view.setHighlight({ visited: new Set(record.path), taken: takenTransitions(this.graph, record.events), errors: stateErrors(record) });
    // The boxes only have a size once attached and laid out.
    requestAnimationFrame(() => view.draw());
    this.inspect(undefined);
  }

  private inspect(state: string | undefined): void {
    const record = this.record;
    const inspector = this.inspector;
    if (!record || !inspector) return;
    this.view?.select(state);
    if (!state) {
      replaceChildren(
        inspector,
        h('h4', {}, 'Execution'),
        h('p', { class: 'hint' }, 'Click a state to see its input, output and errors. Highlighted states are the path taken.'),
        h('details', { open: true, 'data-testid': 'execution-input' }, h('summary', {}, 'Input'), h('pre', {}, json(record.input))),
        record.output !== undefined && h('details', {}, h('summary', {}, 'Output'), h('pre', {}, json(record.output))),
      );
      inspector.dataset.state = '';
      return;
    }
    const events = record.events.filter((e) => e.state === state);
    const node = this.findNode(state);
    inspector.dataset.state = state;
    replaceChildren(
      inspector,
      h('div', { class: 'inspector-head' }, h('h4', {}, state), h('button', { type: 'button', class: 'link', onclick: () => this.inspect(undefined) }, 'execution input')),
      node?.comment && h('p', { class: 'hint' }, node.comment),
      events.length === 0
        ? h('p', { class: 'hint', 'data-testid': 'state-not-entered' }, 'Not entered by this execution.')
        : h(
            'div',
            { class: 'events' },
            ...events.slice(0, MAX_EVENTS_SHOWN).map((e, i) => this.renderEvent(e, record.startedAt, i === 0)),
            events.length > MAX_EVENTS_SHOWN && h('p', { class: 'hint' }, `… and ${events.length - MAX_EVENTS_SHOWN} more events`),
          ),
    );
  }

  private renderEvent(e: StateEvent, start: number, open: boolean): HTMLElement {
    const body =
      e.error !== undefined
        ? h('pre', { class: 'error' }, `${e.error}\n${e.cause ?? ''}`)
        : e.input !== undefined
          ? h('pre', {}, json(e.input))
          : e.output !== undefined
            ? h('pre', {}, json(e.output))
            : null;
    const what = e.error !== undefined ? 'error' : e.input !== undefined ? 'input' : e.output !== undefined ? 'output' : '';
    return h(
      'details',
      { class: `event event-${e.type}`, open: open && body !== null, 'data-testid': 'state-event', 'data-type': e.type },
      h('summary', {}, h('span', { class: 'event-type' }, e.type), ` +${Math.max(0, e.at - start)} ms`, e.attempt !== undefined && ` · attempt ${e.attempt}`, what && h('span', { class: 'event-what' }, what)),
      body,
    );
  }

  private findNode(name: string, graph: Graph = this.graph): Graph['nodes'][string] | undefined {
    if (graph.nodes[name]) return graph.nodes[name];
    for (const n of Object.values(graph.nodes)) {
      for (const c of n.children) {
        const found = this.findNode(name, c);
        if (found) return found;
      }
    }
    return undefined;
  }
}
