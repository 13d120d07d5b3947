/* global document, window, history, location */
// The tracker's page: a topology list, a topology page and a container log, chosen by the URL's
// hash (#/, #/clusters/<c>/topologies/<t>, .../containers/<id>/log). Every view reads the REST API
// and refreshes itself on a timer; what the API could not answer is shown where it is missing.
import { api, setToken } from './api.js';
import { colourOf, formatNumber, formatTime, TimeChart } from './charts.js';
import { DagView, utilizationColour } from './dag.js';

const REFRESH_MS = 3000;
const LOG_POLL_MS = 2000;
const LOG_CHUNK_BYTES = 64 * 1024;
const LOG_KEEP_CHARS = 1024 * 1024;

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const refreshStatus = document.getElementById('refresh-status');

/** Builds an element: `h('td#id.count', { title }, 'text', child)`; an id after `#`, class names after dots. */
function h(spec, attributes = {}, ...children) {
  const [tag, ...marks] = spec.split(/(?=[.#])/);
  const element = document.createElement(tag);
  const classes = marks.filter((m) => m.startsWith('.')).map((m) => m.slice(1));
  const id = marks.find((m) => m.startsWith('#'));
  if (classes.length > 0) element.className = classes.join(' ');
  if (id) element.id = id.slice(1);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== undefined && child !== null && child !== false) element.append(child);
  return element;
}

function showError(slot, error) {
  if (!error) {
    slot.replaceChildren();
    slot.hidden = true;
    return;
  }
  slot.hidden = false;
  slot.replaceChildren(h('strong', {}, 'Could not load: '), error.message ?? String(error));
}

const topologyHref = (cluster, topology) => `#/clusters/${encodeURIComponent(cluster)}/topologies/${encodeURIComponent(topology)}`;

function stateBadge(state) {
  return h(`span.badge.state-${String(state ?? 'unknown').toLowerCase()}`, {}, String(state ?? 'unknown'));
}

/** The logical plan's components as a list, whether the API sends an array or a map by name. */
function componentsOf(plan) {
  const raw = plan?.components ?? [];
  if (Array.isArray(raw)) return raw;
  return Object.entries(raw).map(([name, component]) => ({ name, ...component }));
}

function listOf(body, key) {
  if (Array.isArray(body)) return body;
  return Array.isArray(body?.[key]) ? body[key] : [];
}

// ---------------------------------------------------------------------------------------------
// The topology list

class ListView {
  constructor(params) {
    this.cluster = params.get('cluster') ?? '';
    this.error = h('div.error', { hidden: true, role: 'alert' });
    this.filter = h(
      'select#cluster-filter',
      { 'aria-label': 'cluster', onchange: () => this.filterChanged() },
      h('option', { value: '' }, 'all clusters'),
    );
    this.body = h('tbody');
    this.empty = h('p.empty', { hidden: true });
    this.root = h(
      'section.card',
      {},
      h('div.card-head', {}, h('h2', {}, 'Topologies'), h('label', {}, 'Cluster ', this.filter)),
      this.error,
      h(
        'table#topologies',
        {},
        h(
          'thead',
          {},
          h('tr', {}, ...['Name', 'Cluster', 'State', 'Reliability', 'Components', 'Containers', 'Submitted'].map((t) => h('th', {}, t))),
        ),
        this.body,
      ),
      this.empty,
    );
    this.clustersKnown = '';
  }

  title() {
    return [];
  }

  filterChanged() {
    this.cluster = this.filter.value;
    const hash = this.cluster ? `#/?cluster=${encodeURIComponent(this.cluster)}` : '#/';
    history.replaceState(null, '', hash);
    void this.refresh();
  }

  async refresh() {
    const [clusters, topologies] = await Promise.allSettled([api('/clusters'), api('/topologies', { cluster: this.cluster || undefined })]);
    if (clusters.status === 'fulfilled') {
      const names = listOf(clusters.value, 'clusters').map((c) => (typeof c === 'string' ? c : c.name));
      if (names.join('\n') !== this.clustersKnown) {
        this.clustersKnown = names.join('\n');
        this.filter.replaceChildren(h('option', { value: '' }, 'all clusters'), ...names.map((n) => h('option', { value: n }, n)));
      }
      this.filter.value = this.cluster;
    }
    const failed = [clusters, topologies].find((r) => r.status === 'rejected');
    const clusterErrors = topologies.status === 'fulfilled' ? (topologies.value.errors ?? []) : [];
    showError(
      this.error,
      failed?.reason ??
        (clusterErrors.length > 0 ? new Error(clusterErrors.map((e) => `cluster ${e.cluster}: ${e.error}`).join('\n')) : undefined),
    );
    if (topologies.status !== 'fulfilled') return false;
    const rows = listOf(topologies.value, 'topologies')
      .slice()
      .sort((a, b) => a.cluster.localeCompare(b.cluster) || a.name.localeCompare(b.name));
    this.body.replaceChildren(
      ...rows.map((t) =>
        h(
          'tr',
          { dataset: { cluster: t.cluster, topology: t.name } },
          h('td', {}, h('a', { href: topologyHref(t.cluster, t.name) }, t.name)),
          h('td', {}, t.cluster),
          h('td', {}, stateBadge(t.state)),
          h('td', {}, t.reliability ?? '–'),
          h('td.num', {}, String(typeof t.components === 'number' ? t.components : (t.components?.length ?? '–'))),
          h('td.num', {}, String(typeof t.containers === 'number' ? t.containers : (t.containers?.length ?? '–'))),
          h('td', {}, t.submittedAt ? new Date(t.submittedAt).toLocaleString() : '–'),
        ),
      ),
    );
    this.empty.hidden = rows.length > 0;
    this.empty.textContent = this.cluster
      ? `No topology runs on cluster ${this.cluster}. Submit one with: ardea submit ${this.cluster} <package>`
      : 'No topology runs on any cluster the tracker knows. Submit one with: ardea submit <cluster> <package>';
    return failed === undefined && clusterErrors.length === 0;
  }

  destroy() {}
}

// ---------------------------------------------------------------------------------------------
// A topology

/** The time series of one value for each key, aligned with the points (null where a key has none). */
function seriesOf(points, keys, read) {
  return keys.map((key) => points.map((point) => read(point, key) ?? null));
}

function instanceNames(points, component) {
  const names = new Set();
  for (const point of points) for (const name of Object.keys(point.components?.[component]?.instances ?? {})) names.add(name);
  return [...names].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
}

function actionTitle(action) {
  const predicted = Object.entries(action.predictedEffect ?? {})
    .map(([k, v]) => `${k} ${formatNumber(v)}`)
    .join(', ');
  const observed = Object.entries(action.observedEffect ?? {})
    .map(([k, v]) => `${k} ${formatNumber(v)}`)
    .join(', ');
  return [
    action.description,
    predicted && `predicted: ${predicted}`,
    `verdict: ${action.verdict ?? 'pending'}${observed ? ` (observed: ${observed})` : ''}`,
  ]
    .filter(Boolean)
    .join('\n');
}

class TopologyView {
  constructor(cluster, topology) {
    this.cluster = cluster;
    this.topology = topology;
    this.selected = undefined;
    this.components = [];
    this.query = { cluster, topology };

    this.summary = h('dl.summary');
    this.summaryError = h('div.error', { hidden: true, role: 'alert' });

    this.dagError = h('div.error', { hidden: true, role: 'alert' });
    this.dagHolder = h('div#dag.dag-holder');
    this.dag = new DagView(this.dagHolder, (name) => this.select(name));

    this.chartsError = h('div.error', { hidden: true, role: 'alert' });
    this.chartsEmpty = h('p.empty', { hidden: true });
    this.throughput = new TimeChart(h('div.chart#chart-throughput'), { unit: 'tuples/s', height: 240 });
    this.latency = new TimeChart(h('div.chart#chart-latency'), { unit: 'ms' });
    this.backpressure = new TimeChart(h('div.chart#chart-backpressure'), { unit: 'ms/s' });
    this.lastValues = h('table#throughput-last.compact');
    this.lastAt = h('span.muted#throughput-last-at');

    this.healthError = h('div.error', { hidden: true, role: 'alert' });
    this.healthList = h('ol#health-actions.health-actions');
    this.healthEmpty = h('p.empty#health-empty', { hidden: true });

    this.instanceTitle = h('h3#instance-title', {}, 'Instances');
    this.instanceHint = h('p.empty', {}, 'Click a component in the graph to see its instances.');
    this.instanceThroughput = new TimeChart(h('div.chart#chart-instance-throughput'), { unit: 'tuples/s' });
    this.instanceLatency = new TimeChart(h('div.chart#chart-instance-latency'), { unit: 'ms' });
    this.instanceBackpressure = new TimeChart(h('div.chart#chart-instance-backpressure'), { unit: 'ms/s' });
    this.instanceCharts = h(
      'div.grid3',
      { hidden: true },
      h('figure', {}, h('figcaption', {}, 'Throughput'), this.instanceThroughput.container),
      h('figure', {}, h('figcaption', {}, 'Execute latency'), this.instanceLatency.container),
      h('figure', {}, h('figcaption', {}, 'Backpressure'), this.instanceBackpressure.container),
    );

    this.containersError = h('div.error', { hidden: true, role: 'alert' });
    this.containersBody = h('tbody');
    this.containersEmpty = h('p.empty', { hidden: true }, 'The scheduler reports no containers for this topology.');

    this.exceptionsError = h('div.error', { hidden: true, role: 'alert' });
    this.exceptionsBody = h('tbody');
    this.exceptionsEmpty = h('p.empty#exceptions-empty', { hidden: true });

    const legend = h(
      'div.legend',
      {},
      h('span', {}, 'utilization'),
      h('span.legend-gradient', {
        style: `background: linear-gradient(to right, ${utilizationColour(0)}, ${utilizationColour(0.5)}, ${utilizationColour(1)})`,
      }),
      h('span.muted', {}, '0% → 100% busy'),
      h('span.legend-swatch.legend-backpressure'),
      h('span', {}, 'backpressure in the last interval'),
      h('span.legend-swatch.legend-nodata'),
      h('span', {}, 'no metrics yet'),
    );

    this.root = h(
      'div.topology',
      {},
      h(
        'section.card',
        {},
        h('div.card-head', {}, h('h2#topology-name', {}, topology), h('span.muted', {}, `on ${cluster}`)),
        this.summaryError,
        this.summary,
      ),
      h('section.card', {}, h('div.card-head', {}, h('h2', {}, 'Logical plan'), legend), this.dagError, this.dagHolder),
      h(
        'section.card',
        {},
        h('div.card-head', {}, h('h2', {}, 'Metrics'), h('span.muted#interval')),
        this.chartsError,
        this.chartsEmpty,
        h(
          'figure.wide',
          {},
          h('figcaption', {}, 'Throughput per component (solid: executed/s, dashed: emitted/s) with the health manager’s actions'),
          this.throughput.container,
        ),
        h('div.last-values', {}, h('span', {}, 'Last interval ', this.lastAt), this.lastValues),
        h('h3', {}, 'Health manager timeline'),
        this.healthError,
        this.healthEmpty,
        this.healthList,
        h(
          'div.grid2',
          {},
          h('figure', {}, h('figcaption', {}, 'Execute latency per bolt'), this.latency.container),
          h(
            'figure',
            {},
            h('figcaption', {}, 'Backpressure per component (ms above the high watermark per second)'),
            this.backpressure.container,
          ),
        ),
        this.instanceTitle,
        this.instanceHint,
        this.instanceCharts,
      ),
      h(
        'section.card',
        {},
        h('div.card-head', {}, h('h2', {}, 'Containers')),
        this.containersError,
        h(
          'table#containers',
          {},
          h(
            'thead',
            {},
            h('tr', {}, ...['Container', 'State', 'Pool handle', 'Host', 'Restarts', 'Message', 'Log'].map((t) => h('th', {}, t))),
          ),
          this.containersBody,
        ),
        this.containersEmpty,
      ),
      h(
        'section.card',
        {},
        h('div.card-head', {}, h('h2', {}, 'Exceptions')),
        this.exceptionsError,
        h(
          'table#exceptions',
          {},
          h('thead', {}, h('tr', {}, ...['Instance', 'Component', 'Container', 'Errors', 'Last error', 'At'].map((t) => h('th', {}, t)))),
          this.exceptionsBody,
        ),
        this.exceptionsEmpty,
      ),
    );
  }

  title() {
    return [h('a', { href: topologyHref(this.cluster, this.topology) }, `${this.cluster} / ${this.topology}`)];
  }

  select(name) {
    this.selected = this.selected === name ? undefined : name;
    this.dag.markSelected(this.selected);
    void this.refresh();
  }

  async refresh() {
    const q = this.query;
    const results = await Promise.allSettled([
      api('/topologies/info', q),
      api('/topologies/logicalplan', q),
      api('/topologies/metrics/timeline', { ...q, instances: this.selected ? 'true' : undefined }),
      api('/topologies/health', q),
      api('/topologies/containers', q),
      api('/topologies/exceptions', q),
    ]);
    const [info, plan, timeline, health, containers, exceptions] = results;
    this.renderSummary(info);
    if (plan.status === 'fulfilled') this.components = componentsOf(plan.value);
    showError(this.dagError, plan.status === 'rejected' ? plan.reason : undefined);
    const points = timeline.status === 'fulfilled' ? (timeline.value.points ?? []) : [];
    const last = points.at(-1)?.components ?? {};
    if (this.components.length > 0) this.dag.render(this.components, last);
    const actions = this.renderHealth(health);
    this.renderCharts(timeline, actions);
    this.renderContainers(containers);
    this.renderExceptions(exceptions);
    return results.every((r) => r.status === 'fulfilled');
  }

  renderSummary(info) {
    if (info.status === 'rejected') return showError(this.summaryError, info.reason);
    const entry = info.value;
    const runtime = entry.runtime;
    showError(this.summaryError, entry.runtimeError ? new Error(`container 0 did not say what it runs: ${entry.runtimeError}`) : undefined);
    const items = [
      ['State', stateBadge(entry.state)],
      ['Reliability', entry.reliability ?? '–'],
      ['Containers', String(entry.containers ?? '–')],
      ['Id', entry.id ?? '–'],
      [
        'Submitted',
        entry.submittedAt ? `${new Date(entry.submittedAt).toLocaleString()}${entry.submittedBy ? ` by ${entry.submittedBy}` : ''}` : '–',
      ],
      ['Scheduler', entry.scheduler ? `${entry.scheduler.plugin} (${entry.scheduler.mode})` : '–'],
      ['Master host', runtime?.host ?? '–'],
      ['Runs', runtime ? `Ardea ${runtime.ardeaVersion}, Node ${runtime.nodeVersion}` : '–'],
      ['Master up since', runtime?.startedAt ? new Date(runtime.startedAt).toLocaleString() : '–'],
    ];
    this.summary.replaceChildren(...items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  /** The health log's actions, numbered oldest first, listed under the throughput chart; returns them as chart markers. */
  renderHealth(health) {
    if (health.status === 'rejected') {
      showError(this.healthError, health.reason);
      return [];
    }
    showError(this.healthError, undefined);
    const rounds = health.value.rounds ?? [];
    const actions = rounds.flatMap((round) => (round.actions ?? []).map((action) => ({ round, action })));
    const firstPoint = this.firstPointAt;
    this.healthList.replaceChildren(
      ...actions.map(({ round, action }, index) => {
        const verdict = action.verdict ?? 'pending';
        const predicted = Object.entries(action.predictedEffect ?? {}).map(([k, v]) => `${k} ${formatNumber(v)}`);
        const observed = Object.entries(action.observedEffect ?? {}).map(([k, v]) => `${k} ${formatNumber(v)}`);
        return h(
          'li',
          { dataset: { index: String(index + 1), type: action.type, verdict, at: String(round.at) } },
          h('span.marker-badge', {}, String(index + 1)),
          h('span.time', {}, formatTime(round.at)),
          h('span.description', {}, action.description),
          h('span.muted', {}, ` (${action.diagnosis?.type ?? 'no diagnosis'} of ${action.diagnosis?.component ?? '?'})`),
          h('div.effect', {}, `predicted: ${predicted.join(', ') || 'nothing stated'}`),
          h(`div.verdict.verdict-${verdict}`, {}, `verdict: ${verdict}${observed.length > 0 ? ` — observed ${observed.join(', ')}` : ''}`),
          firstPoint !== undefined && round.at < firstPoint ? h('div.muted', {}, 'before the start of the chart') : undefined,
        );
      }),
    );
    this.healthEmpty.hidden = actions.length > 0;
    const errors = rounds.filter((r) => r.error).length;
    this.healthEmpty.textContent =
      rounds.length === 0
        ? 'No health-manager round is logged yet. A round is logged once it found a problem and its action (if any) is done; ' +
          'the manager may also be off (topology.healthManager=false).'
        : `The health manager has taken no action in ${rounds.length} round(s)` +
          `${errors > 0 ? `; ${errors} round(s) failed: ${rounds.findLast((r) => r.error).error}` : ''}.`;
    return actions.map(({ round, action }, index) => ({
      at: round.at,
      label: String(index + 1),
      title: `${formatTime(round.at)} ${actionTitle(action)}`,
      kind: `verdict-${action.verdict ?? 'pending'}`,
    }));
  }

  renderCharts(timeline, markers) {
    if (timeline.status === 'rejected') {
      showError(this.chartsError, timeline.reason);
      return;
    }
    showError(this.chartsError, undefined);
    const { points = [], intervalMs } = timeline.value;
    document.getElementById('interval').textContent = intervalMs ? `one point per ${formatNumber(intervalMs / 1000)} s` : '';
    this.chartsEmpty.hidden = points.length > 0;
    this.chartsEmpty.textContent = 'No metrics yet: the metrics cache has not received a sample from the containers.';
    this.firstPointAt = points[0]?.timestamp;
    const times = points.map((p) => p.timestamp);
    const kinds = new Map(this.components.map((c) => [c.name, c.kind]));
    const names = [...new Set([...this.components.map((c) => c.name), ...points.flatMap((p) => Object.keys(p.components ?? {}))])];
    const colour = new Map(names.map((n, i) => [n, colourOf(i)]));
    const bolts = names.filter((n) => kinds.get(n) !== 'spout');
    const perSecond = (ms) => (intervalMs ? (ms * 1000) / intervalMs : ms);

    const executed = seriesOf(points, bolts, (p, c) => p.components?.[c]?.executeRate);
    const emitted = seriesOf(points, names, (p, c) => p.components?.[c]?.emitRate);
    this.throughput.update(
      times,
      [
        ...bolts.map((c, i) => ({ label: `${c} executed/s`, values: executed[i], colour: colour.get(c) })),
        ...names.map((c, i) => ({ label: `${c} emitted/s`, values: emitted[i], colour: colour.get(c), dash: true })),
      ],
      markers,
    );
    const latency = seriesOf(points, bolts, (p, c) => p.components?.[c]?.executeLatencyMs);
    this.latency.update(
      times,
      bolts.map((c, i) => ({ label: c, values: latency[i], colour: colour.get(c) })),
    );
    const pressure = seriesOf(points, names, (p, c) => {
      const ms = p.components?.[c]?.backpressureMs;
      return ms === undefined ? undefined : perSecond(ms);
    });
    this.backpressure.update(
      times,
      names.map((c, i) => ({ label: c, values: pressure[i], colour: colour.get(c) })),
    );

    const last = points.at(-1);
    this.lastAt.textContent = last ? `(ending ${formatTime(last.timestamp)})` : '';
    this.lastValues.replaceChildren(
      h(
        'thead',
        {},
        h('tr', {}, ...['Component', 'Executed/s', 'Emitted/s', 'Busy', 'Backpressure ms/s', 'Instances'].map((t) => h('th', {}, t))),
      ),
      h(
        'tbody',
        {},
        ...names.map((c) => {
          const v = last?.components?.[c];
          return h(
            'tr',
            { dataset: { component: c } },
            h('td', {}, h('span.swatch', { style: `background:${colour.get(c)}` }), c),
            h(
              'td.num.execute-rate',
              { dataset: { value: String(v?.executeRate ?? '') } },
              kinds.get(c) === 'spout' ? '–' : formatNumber(v?.executeRate),
            ),
            h('td.num.emit-rate', { dataset: { value: String(v?.emitRate ?? '') } }, formatNumber(v?.emitRate)),
            h('td.num', {}, v ? `${Math.round(v.busyFraction * 100)}%` : '–'),
            h('td.num', {}, v ? formatNumber(perSecond(v.backpressureMs)) : '–'),
            h('td.num', {}, v ? String(v.instanceCount) : '–'),
          );
        }),
      ),
    );

    this.renderInstances(points, times, kinds, perSecond);
  }

  renderInstances(points, times, kinds, perSecond) {
    const component = this.selected;
    this.instanceHint.hidden = component !== undefined;
    this.instanceCharts.hidden = component === undefined;
    this.instanceTitle.textContent = component ? `Instances of ${component}` : 'Instances';
    if (!component) return;
    const instances = instanceNames(points, component);
    const read = (field) => (p, name) => p.components?.[component]?.instances?.[name]?.[field];
    const rate = kinds.get(component) === 'spout' ? 'emitRate' : 'executeRate';
    const chart = (target, values) =>
      target.update(
        times,
        instances.map((name, i) => ({ label: name, values: values[i] })),
      );
    chart(this.instanceThroughput, seriesOf(points, instances, read(rate)));
    chart(this.instanceLatency, seriesOf(points, instances, read('executeLatencyMs')));
    chart(
      this.instanceBackpressure,
      seriesOf(points, instances, (p, name) => {
        const ms = read('backpressureMs')(p, name);
        return ms === undefined ? undefined : perSecond(ms);
      }),
    );
  }

  renderContainers(result) {
    if (result.status === 'rejected') return showError(this.containersError, result.reason);
    showError(this.containersError, undefined);
    const containers = listOf(result.value, 'containers')
      .slice()
      .sort((a, b) => a.containerId - b.containerId);
    this.containersBody.replaceChildren(
      ...containers.map((c) =>
        h(
          'tr',
          { dataset: { container: String(c.containerId), state: c.state } },
          h('td.num', {}, String(c.containerId)),
          h('td', {}, stateBadge(c.state)),
          h('td', {}, c.handle ?? '–'),
          h('td', {}, c.host ?? '–'),
          h('td.num', {}, String(c.restarts ?? 0)),
          h('td.message', {}, c.message ?? ''),
          h('td', {}, h('a', { href: `${topologyHref(this.cluster, this.topology)}/containers/${c.containerId}/log` }, 'log')),
        ),
      ),
    );
    this.containersEmpty.hidden = containers.length > 0;
  }

  renderExceptions(result) {
    if (result.status === 'rejected') return showError(this.exceptionsError, result.reason);
    showError(this.exceptionsError, undefined);
    const all = result.value.instances ?? [];
    const failing = all.filter((i) => i.count > 0).sort((a, b) => b.count - a.count || a.instance.localeCompare(b.instance));
    const open = new Set([...this.exceptionsBody.querySelectorAll('details[open]')].map((d) => d.dataset.instance));
    this.exceptionsBody.replaceChildren(
      ...failing.map((i) =>
        h(
          'tr',
          { dataset: { instance: i.instance } },
          h('td', {}, i.instance),
          h('td', {}, i.component),
          h('td.num', {}, String(i.containerId)),
          h('td.num', {}, formatNumber(i.count)),
          h(
            'td.exception',
            {},
            i.last
              ? h(
                  'details',
                  { dataset: { instance: i.instance }, open: open.has(i.instance) },
                  h('summary', {}, i.last.message),
                  h('pre', {}, i.last.stack ?? 'no stack trace was reported'),
                )
              : h('span.muted', {}, 'not reported'),
          ),
          h('td', {}, i.last ? formatTime(i.last.at) : '–'),
        ),
      ),
    );
    this.exceptionsEmpty.hidden = failing.length > 0;
    this.exceptionsEmpty.textContent =
      all.length === 0
        ? 'No instance has reported metrics yet, so there are no error counts.'
        : `None of the ${all.length} instances has reported an error.`;
  }

  destroy() {
    for (const chart of [
      this.throughput,
      this.latency,
      this.backpressure,
      this.instanceThroughput,
      this.instanceLatency,
      this.instanceBackpressure,
    ])
      chart.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// A container's log, followed

class LogView {
  constructor(cluster, topology, containerId) {
    this.cluster = cluster;
    this.topology = topology;
    this.containerId = containerId;
    this.offset = undefined;
    this.lastSource = undefined;
    this.error = h('div.error', { hidden: true, role: 'alert' });
    this.source = h('span.muted#log-source');
    this.follow = h('input', { type: 'checkbox', checked: true, id: 'log-follow' });
    this.text = h('pre#log-text.log');
    this.root = h(
      'section.card',
      {},
      h('div.card-head', {}, h('h2', {}, `Container ${containerId} log`), this.source, h('label', {}, this.follow, ' follow')),
      this.error,
      this.text,
    );
  }

  title() {
    return [
      h('a', { href: topologyHref(this.cluster, this.topology) }, `${this.cluster} / ${this.topology}`),
      h('span', {}, `container ${this.containerId} log`),
    ];
  }

  pollMs() {
    return LOG_POLL_MS;
  }

  async refresh() {
    let chunk;
    try {
      chunk = await api('/topologies/container/log', {
        cluster: this.cluster,
        topology: this.topology,
        container: this.containerId,
        fromOffset: this.offset,
        maxBytes: LOG_CHUNK_BYTES,
      });
    } catch (error) {
      showError(this.error, error);
      return false;
    }
    showError(this.error, undefined);
    if (this.offset !== undefined && chunk.source !== this.lastSource) {
      // Another source is another log (a restarted container's new file, a rotation): what was read
      // at the old offset belongs to the middle of it, so it is read again from its start.
      this.text.append(`\n—— the log is now ${chunk.source}; reading it from the start ——\n`);
      this.lastSource = chunk.source;
      this.offset = 0;
      return true;
    }
    if (this.offset === undefined && chunk.start > 0) this.text.textContent = `… ${formatNumber(chunk.start)} earlier bytes not shown\n`;
    this.offset = chunk.end;
    this.lastSource = chunk.source;
    this.source.textContent = chunk.source ? `from ${chunk.source}` : '';
    if (chunk.text) {
      this.text.append(chunk.text);
      if (this.text.textContent.length > LOG_KEEP_CHARS) this.text.textContent = this.text.textContent.slice(-LOG_KEEP_CHARS);
      if (this.follow.checked) this.text.scrollTop = this.text.scrollHeight;
    }
    this.text.dataset.empty = this.text.textContent === '' ? 'the log is empty so far' : '';
    return true;
  }

  destroy() {}
}

// ---------------------------------------------------------------------------------------------
// Routing and refreshing

let current;
let timer;
let generation = 0;

function route() {
  const raw = location.hash.replace(/^#/, '');
  const tokenMatch = /(?:^|[&?/])token=([^&]*)/.exec(raw);
  if (tokenMatch) {
    // The token stays in this tab's session storage, not in the address bar or its history.
    setToken(decodeURIComponent(tokenMatch[1]));
    const rest = raw.replace(/[&?]?token=[^&]*/, '');
    history.replaceState(null, '', `#${rest.startsWith('/') ? rest : '/'}`);
    return route();
  }
  const [path, search = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] === 'clusters' && parts[2] === 'topologies' && parts[3]) {
    if (parts[4] === 'containers' && parts[5] !== undefined && parts[6] === 'log') return new LogView(parts[1], parts[3], parts[5]);
    return new TopologyView(parts[1], parts[3]);
  }
  return new ListView(new URLSearchParams(search));
}

async function tick(view, mine) {
  const started = Date.now();
  let ok;
  try {
    ok = await view.refresh();
  } catch (error) {
    // A bug in rendering must not stop the refreshes; it is shown, and the console keeps the stack.
    refreshStatus.textContent = `page error: ${error.message}`;
    refreshStatus.className = 'failed';
    throw error;
  } finally {
    if (mine === generation) {
      const delay = Math.max(500, (view.pollMs?.() ?? REFRESH_MS) - (Date.now() - started));
      timer = setTimeout(() => void tick(view, mine), delay);
    }
  }
  if (mine !== generation) return;
  refreshStatus.textContent = ok ? `updated ${formatTime(Date.now())}` : `some requests failed at ${formatTime(Date.now())}`;
  refreshStatus.className = ok ? '' : 'failed';
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes ?? 0) + 1);
}

function show() {
  clearTimeout(timer);
  current?.destroy();
  generation += 1;
  document.body.dataset.refreshes = '0';
  current = route();
  crumbs.replaceChildren(...current.title());
  main.replaceChildren(current.root);
  void tick(current, generation);
}

window.addEventListener('hashchange', show);
show();
