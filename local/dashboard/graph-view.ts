import { h, svg } from './dom';
import { edgeKey, type Graph, type GraphNode } from './graph';

/**
 * Draws a workflow graph: states are HTML boxes laid out in rows (one per layer, nested Map
 * states as groups holding their own rows), and edges are orthogonal SVG paths measured from the
 * laid-out boxes. HTML does the sizing and wrapping; SVG only connects what HTML placed.
 */

export interface Highlight {
  /** States the execution entered. */
  visited: Set<string>;
  /** Keys (`edgeKey`) of the transitions it took. */
  taken: Set<string>;
  /** States that raised an error: `caught` when a Catch or Retry handled it. */
  errors: Map<string, 'caught' | 'failed'>;
}

/** Space between a row and the horizontal run of the edges entering it, in px. */
const RUN = 16;
const LANE_GAP = 8;

interface Drawn {
  graph: Graph;
  element: HTMLElement;
  canvas: SVGSVGElement;
}

export class GraphView {
  readonly element: HTMLElement;
  private readonly boxes = new Map<string, HTMLElement>();
  private readonly drawn: Drawn[] = [];
  private selected?: string;
  private highlight: Highlight = { visited: new Set(), taken: new Set(), errors: new Map() };

  constructor(
    graph: Graph,
    private readonly onSelect: (state: string) => void,
  ) {
    const markers = svg('svg', { class: 'markers', width: 0, height: 0, 'aria-hidden': 'true' });
    markers.append(arrowMarker('arrow'), arrowMarker('arrow-taken'));
    this.element = h('div', { class: 'workflow', 'data-testid': 'workflow-graph' }, markers, this.renderGraph(graph));
  }

  private renderGraph(graph: Graph): HTMLElement {
    const canvas = svg('svg', { class: 'edges' });
    const loops = graph.edges.filter((e) => e.back).length;
    const element = h(
      'div',
      { class: `graph${loops ? ` loops-${loops > 2 ? 'many' : loops}` : ''}` },
      canvas,
      ...graph.layers.map((layer) =>
        h('div', { class: 'layer' }, ...layer.map((name) => (name in graph.dummies ? h('div', { class: 'dummy', 'data-dummy': name }) : this.renderNode(graph.nodes[name])))),
      ),
    );
    this.drawn.push({ graph, element, canvas });
    return element;
  }

  private renderNode(node: GraphNode): HTMLElement {
    const head = h(
      'div',
      { class: 'state-head' },
      h('span', { class: 'state-name' }, node.name),
      h('span', { class: 'state-type' }, node.type + (node.end ? ' · end' : '')),
    );
    const box = h(
      'div',
      {
        class: `state type-${node.type.toLowerCase()}${node.children.length ? ' group' : ''}`,
        'data-testid': `state-${node.name}`,
        'data-state': node.name,
        title: node.comment,
        tabindex: 0,
        role: 'button',
      },
      head,
      ...node.children.map((child) => this.renderGraph(child)),
    );
    const select = (event: Event) => {
      event.stopPropagation();
      this.select(node.name);
      this.onSelect(node.name);
    };
    // Clicks inside a group's nested states select those, not the group.
    head.addEventListener('click', select);
    if (!node.children.length) box.addEventListener('click', select);
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') select(e);
    });
    this.boxes.set(node.name, box);
    return box;
  }

  select(state: string | undefined): void {
    if (this.selected) this.boxes.get(this.selected)?.classList.remove('selected');
    this.selected = state;
    if (state) this.boxes.get(state)?.classList.add('selected');
  }

  setHighlight(highlight: Highlight): void {
    this.highlight = highlight;
    for (const [name, box] of this.boxes) {
      const visited = highlight.visited.has(name);
      box.classList.toggle('taken', visited);
      box.dataset.taken = String(visited);
      const error = highlight.errors.get(name);
      box.classList.toggle('caught', error === 'caught');
      box.classList.toggle('failed', error === 'failed');
      if (error) box.dataset.error = error;
      else delete box.dataset.error;
    }
    this.draw();
  }

  /** Measures the boxes and (re)draws every edge; call after the view is attached or resized. */
  draw(): void {
    // Inner graphs first does not matter: every graph measures only its own rows.
    for (const d of this.drawn) this.drawEdges(d);
  }

  private drawEdges({ graph, element, canvas }: Drawn): void {
    const origin = element.getBoundingClientRect();
    if (origin.width === 0) return;
    canvas.setAttribute('width', String(origin.width));
    canvas.setAttribute('height', String(origin.height));
    canvas.replaceChildren();
    const rect = (el: Element | null | undefined) => {
      const r = (el ?? element).getBoundingClientRect();
      const x = r.left - origin.left;
      const y = r.top - origin.top;
      return { x, y, cx: x + r.width / 2, cy: y + r.height / 2, right: x + r.width, bottom: y + r.height };
    };
    const box = (name: string) =>
      rect(name in graph.dummies ? element.querySelector(`:scope > .layer > [data-dummy="${CSS.escape(name)}"]`) : this.boxes.get(name));
    let backLanes = 0;

    for (const e of graph.edges) {
      const taken = this.highlight.taken.has(edgeKey(e));
      const from = box(e.from);
      const to = box(e.to);
      let d: string;
      let labelAt: { x: number; y: number; anchor: 'start' | 'end' };
      if (e.back) {
        // Loops go up along the right-hand margin, one lane each.
        const lane = origin.width - 12 - LANE_GAP * backLanes++;
        d = `M ${from.right} ${from.cy} H ${lane} V ${to.cy} H ${to.right}`;
        labelAt = { x: lane - 4, y: (from.cy + to.cy) / 2, anchor: 'end' };
      } else {
        const stops = [...e.via.map(box), to];
        d = `M ${from.cx} ${from.bottom}`;
        for (const s of stops) d += ` V ${s.y - RUN} H ${s.cx}`;
        d += ` V ${to.y}`;
        // Labels sit on the outer side of the drop into the target, so fanned-out labels do not collide.
        const leftward = stops[0].cx < from.cx - 1;
        labelAt = { x: stops[0].cx + (leftward ? -5 : 5), y: stops[0].y - 4, anchor: leftward ? 'end' : 'start' };
      }
      const path = svg('path', { d, class: `edge edge-${e.kind}${taken ? ' taken' : ''}`, 'marker-end': `url(#${taken ? 'arrow-taken' : 'arrow'})` });
      path.dataset.edge = edgeKey(e);
      path.append(Object.assign(svg('title'), { textContent: `${e.from} → ${e.to}${e.label ? `: ${e.label}` : ''}` }));
      canvas.append(path);
      if (e.label) canvas.append(edgeLabel(e.label, labelAt, taken));
    }
  }
}

const arrowMarker = (id: string): SVGDefsElement => {
  const defs = svg('defs');
  const marker = svg('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: id }));
  defs.append(marker);
  return defs;
};

const edgeLabel = (label: string, at: { x: number; y: number; anchor: 'start' | 'end' }, taken: boolean): SVGTextElement => {
  const text = svg('text', { x: at.x, y: at.y, class: `edge-label${taken ? ' taken' : ''}`, 'text-anchor': at.anchor });
  text.textContent = label;
  return text;
};
