/* global document, window, ResizeObserver */
// Time-series charts on uPlot. A chart keeps its uPlot instance across refreshes and only swaps the
// data, so the page does not flicker; it is rebuilt only when its set of series changes.

const PALETTE = ['#1c7ed6', '#e8590c', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599', '#c2255c', '#5c940d', '#6741d9', '#868e96'];

export function colourOf(index) {
  return PALETTE[index % PALETTE.length];
}

const compact = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1, notation: 'compact' });
const plain = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const fine = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const size = Math.abs(value);
  if (size >= 10_000) return compact.format(value);
  return size < 1 ? fine.format(value) : plain.format(value);
}

export function formatTime(ms) {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

export class TimeChart {
  /**
   * `container` receives the chart; `unit` labels the y axis. Markers (`{ at, label, title, kind }`,
   * `at` in ms) are drawn as vertical lines over the plot, as DOM elements so they can carry a tooltip.
   */
  constructor(container, { unit, height = 200 }) {
    this.container = container;
    this.unit = unit;
    this.height = height;
    this.plot = undefined;
    this.signature = undefined;
    this.markers = [];
    this.resizeObserver = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.height });
    });
    this.resizeObserver.observe(container);
  }

  width() {
    return Math.max(280, this.container.clientWidth - 4);
  }

  /** `times` in ms; `series` as `[{ label, values, dash? }]`, values aligned with `times` (null for a gap). */
  update(times, series, markers = []) {
    this.markers = markers;
    const signature = JSON.stringify(series.map((s) => [s.label, Boolean(s.dash)]));
    const data = [times.map((t) => t / 1000), ...series.map((s) => s.values)];
    if (signature !== this.signature || !this.plot) {
      this.plot?.destroy();
      this.signature = signature;
      this.plot = new window.uPlot(this.options(series), data, this.container);
    } else {
      this.plot.setData(data);
    }
  }

  options(series) {
    return {
      width: this.width(),
      height: this.height,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } },
      axes: [
        { space: 80, values: (_u, ticks) => ticks.map((t) => formatTime(t * 1000)) },
        { label: this.unit, size: 60, values: (_u, ticks) => ticks.map(formatNumber) },
      ],
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : formatTime(v * 1000)) },
        ...series.map((s, index) => ({
          label: s.label,
          stroke: s.colour ?? colourOf(index),
          width: 1.5,
          dash: s.dash ? [6, 4] : undefined,
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => formatNumber(v),
        })),
      ],
      hooks: { draw: [(u) => this.placeMarkers(u)] },
    };
  }

  placeMarkers(u) {
    for (const old of u.over.querySelectorAll('.chart-marker')) old.remove();
    const [min, max] = [u.scales.x.min, u.scales.x.max];
    for (const marker of this.markers) {
      const seconds = marker.at / 1000;
      if (min === undefined || max === undefined || seconds < min || seconds > max) continue;
      const element = document.createElement('div');
      element.className = `chart-marker ${marker.kind ?? ''}`;
      element.style.left = `${u.valToPos(seconds, 'x')}px`;
      element.title = marker.title;
      element.dataset.label = marker.label;
      const badge = document.createElement('span');
      badge.textContent = marker.label;
      element.append(badge);
      u.over.append(element);
    }
  }

  destroy() {
    this.resizeObserver.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }
}
