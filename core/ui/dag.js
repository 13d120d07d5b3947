/* global document, window */
// The logical plan as a graph: dagre lays it out once per plan shape, and each refresh only
// recolours the nodes, so the picture does not jump while the topology runs.

const SVG = 'http://www.w3.org/2000/svg';
const NODE_WIDTH = 168;
const NODE_HEIGHT = 58;

function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** `fields(word)`, `shuffle`, `custom(name)`: how an edge's tuples are spread over the consumer's instances. */
export function groupingLabel(grouping) {
  if (!grouping || typeof grouping !== 'object') return String(grouping ?? '?');
  if (grouping.type === 'fields') return `fields(${(grouping.fields ?? []).join(', ')})`;
  if (grouping.type === 'custom') return `custom(${grouping.name ?? ''})`;
  return grouping.type;
}

/** Green through yellow to red as a component's instances spend more of their time in user code. */
export function utilizationColour(busy) {
  if (busy === undefined || busy === null || Number.isNaN(busy)) return '#e9ecef';
  const clamped = Math.max(0, Math.min(1, busy));
  return `hsl(${Math.round(120 * (1 - clamped))}, 70%, 82%)`;
}

function shapeOf(components) {
  return JSON.stringify(
    components.map((c) => [c.name, c.kind, (c.inputs ?? []).map((i) => [i.component, i.stream, groupingLabel(i.grouping)])]),
  );
}

export class DagView {
  /** `onSelect(component)` runs when a node is clicked; the selected node is drawn with a thick outline. */
  constructor(container, onSelect) {
    this.container = container;
    this.onSelect = onSelect;
    this.shape = undefined;
    this.nodes = new Map();
    this.selected = undefined;
  }

  /** Draws `components` (the logical plan's), laying them out again only when the graph itself changed. */
  render(components, live) {
    const shape = shapeOf(components);
    if (shape !== this.shape) {
      this.layout(components);
      this.shape = shape;
    }
    for (const component of components) this.update(component, live[component.name]);
  }

  layout(components) {
    const graph = new window.dagre.graphlib.Graph({ multigraph: true });
    graph.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 90, marginx: 16, marginy: 16 });
    graph.setDefaultEdgeLabel(() => ({}));
    for (const component of components) graph.setNode(component.name, { width: NODE_WIDTH, height: NODE_HEIGHT });
    const known = new Set(components.map((c) => c.name));
    for (const component of components) {
      for (const input of component.inputs ?? []) {
        if (!known.has(input.component)) continue;
        const label =
          input.stream && input.stream !== 'default' ? `${input.stream}: ${groupingLabel(input.grouping)}` : groupingLabel(input.grouping);
        graph.setEdge(
          input.component,
          component.name,
          { label, width: Math.max(40, label.length * 6.6), height: 16, labelpos: 'c' },
          input.stream,
        );
      }
    }
    window.dagre.layout(graph);
    const { width, height } = graph.graph();
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'logical plan' });
    root.classList.add('dag');
    const defs = svg('defs');
    const marker = svg('marker', {
      id: 'arrow',
      viewBox: '0 0 10 10',
      refX: 9,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse',
    });
    marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'dag-arrow' }));
    defs.append(marker);
    root.append(defs);
    for (const edge of graph.edges()) {
      const { points, label, x, y } = graph.edge(edge);
      const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
      const group = svg('g', { class: 'dag-edge', 'data-from': edge.v, 'data-to': edge.w });
      group.append(svg('path', { d, 'marker-end': 'url(#arrow)' }));
      group.append(svg('text', { x, y: y + 4, 'text-anchor': 'middle', class: 'dag-edge-label' }, label));
      root.append(group);
    }
    this.nodes.clear();
    for (const component of components) {
      const { x, y } = graph.node(component.name);
      const group = svg('g', {
        class: 'dag-node',
        'data-component': component.name,
        transform: `translate(${x - NODE_WIDTH / 2}, ${y - NODE_HEIGHT / 2})`,
        tabindex: 0,
      });
      const box = svg('rect', { width: NODE_WIDTH, height: NODE_HEIGHT, rx: 8 });
      const title = svg('text', { x: 10, y: 20, class: 'dag-node-name' }, component.name);
      const detail = svg('text', { x: 10, y: 37, class: 'dag-node-detail' });
      const pressure = svg('text', { x: 10, y: 51, class: 'dag-node-pressure' });
      const tooltip = svg('title');
      group.append(tooltip, box, title, detail, pressure);
      const select = () => this.onSelect(component.name);
      group.addEventListener('click', select);
      group.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ') select();
      });
      root.append(group);
      this.nodes.set(component.name, { group, box, detail, pressure, tooltip });
    }
    this.container.replaceChildren(root);
    this.markSelected(this.selected);
  }

  update(component, values) {
    const node = this.nodes.get(component.name);
    if (!node) return;
    const busy = values?.busyFraction;
    const backpressure = values?.backpressureMs ?? 0;
    node.box.setAttribute('fill', utilizationColour(busy));
    node.group.classList.toggle('backpressure', backpressure > 0);
    node.group.dataset.busy = busy === undefined ? '' : String(busy);
    node.group.dataset.parallelism = String(component.parallelism);
    const utilization = busy === undefined ? 'no data yet' : `busy ${Math.round(busy * 100)}%`;
    node.detail.textContent = `${component.kind} ×${component.parallelism} · ${utilization}`;
    node.pressure.textContent = backpressure > 0 ? `⚠ backpressure ${Math.round(backpressure)} ms` : '';
    node.tooltip.textContent =
      `${component.name} (${component.kind}), ${component.parallelism} instance(s)\n` +
      (values
        ? `busy ${Math.round((busy ?? 0) * 100)}%, ${Math.round(values.executeRate)} executed/s, ` +
          `${Math.round(values.emitRate)} emitted/s, ` +
          `backpressure ${Math.round(backpressure)} ms in the last interval`
        : 'no metrics yet');
  }

  markSelected(name) {
    this.selected = name;
    for (const [component, node] of this.nodes) node.group.classList.toggle('selected', component === name);
  }
}
