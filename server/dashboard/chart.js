/**
 * The overview's two charts, drawn as SVG by hand: bars of tasks finished per interval (failed
 * stacked on completed) and a line of the failure rate. A chart library would weigh more than
 * the page; this is a hundred lines. Every value is an attribute or a text node (no markup), and
 * colours come from classes in dashboard.css (the CSP allows no inline style), so dark mode
 * follows the system.
 */

const SVG = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const HEIGHT = 160;
/** Room for the axis labels. */
const LEFT = 44;
const BOTTOM = 20;
const TOP = 8;

/**
 * @typedef {{ start: string, completed: number, failed: number }} Interval
 * @typedef {{ since: string, intervalMs: number, intervals: Interval[] }} Throughput
 */

/**
 * An SVG element with attributes and children (text children become text nodes).
 * @param {string} tag
 * @param {Record<string, string | number>} [attributes]
 * @param {...(Node | string)} children
 * @returns {SVGElement}
 */
function svg(tag, attributes = {}, ...children) {
  const element = /** @type {SVGElement} */ (document.createElementNS(SVG, tag));
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/** A round number at or above `max`, so the axis reads 0 … 50, not 0 … 47. */
function niceCeiling(/** @type {number} */ max) {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 2.5, 5, 10].find((s) => s * power >= max) ?? 10;
  return step * power;
}

/** The time labels under a chart: its first interval's start, its middle, and now. */
function timeAxis(/** @type {Throughput} */ data) {
  const first = new Date(data.since);
  const minutes = Math.round((Date.now() - first.getTime()) / 60_000);
  const y = HEIGHT - 4;
  return svg(
    'g',
    { class: 'chart-axis', 'aria-hidden': 'true' },
    svg('text', { x: LEFT, y, 'text-anchor': 'start' }, `${minutes} min ago`),
    svg('text', { x: (LEFT + WIDTH) / 2, y, 'text-anchor': 'middle' }, `${Math.round(minutes / 2)} min ago`),
    svg('text', { x: WIDTH, y, 'text-anchor': 'end' }, 'now'),
  );
}

/** The value labels beside a chart, and its grid lines: 0, half, top. */
function valueAxis(/** @type {number} */ top, /** @type {(v: number) => string} */ label) {
  const plotHeight = HEIGHT - BOTTOM - TOP;
  return svg(
    'g',
    { class: 'chart-axis', 'aria-hidden': 'true' },
    ...[0, 0.5, 1].flatMap((f) => {
      const y = TOP + plotHeight * (1 - f);
      return [svg('line', { class: 'chart-grid', x1: LEFT, x2: WIDTH, y1: y, y2: y }), svg('text', { x: LEFT - 6, y: y + 4, 'text-anchor': 'end' }, label(top * f))];
    }),
  );
}

function totals(/** @type {Interval[]} */ intervals) {
  return intervals.reduce((sum, i) => ({ completed: sum.completed + i.completed, failed: sum.failed + i.failed }), { completed: 0, failed: 0 });
}

// One formatter each, made once: toLocaleString makes a new one per call, which for a chart's
// sixty titles cost more than drawing it.
const NUMBER = new Intl.NumberFormat('en-US');
const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/** "1,234". */
const count = (/** @type {number} */ n) => NUMBER.format(n);

/** Percent with at most one decimal: "0.4 %", "12 %". */
export function percent(/** @type {number} */ ratio) {
  const value = ratio * 100;
  return `${value > 0 && value < 10 ? value.toFixed(1) : Math.round(value)} %`;
}

/**
 * Bars of the tasks finished per interval, failed stacked on completed; each bar's title says
 * its time and counts (shown on hover, read by screen readers).
 * @param {Throughput} data
 */
export function throughputChart(data) {
  const { intervals } = data;
  const all = totals(intervals);
  const peak = Math.max(0, ...intervals.map((i) => i.completed + i.failed));
  const top = niceCeiling(peak);
  const plotHeight = HEIGHT - BOTTOM - TOP;
  const slot = (WIDTH - LEFT) / Math.max(1, intervals.length);
  const per = data.intervalMs === 60_000 ? 'a minute' : `per ${data.intervalMs / 1000} s`;
  const bars = intervals.map((interval, i) => {
    const x = LEFT + i * slot + slot * 0.1;
    const width = Math.max(1, slot * 0.8);
    const completedHeight = (interval.completed / top) * plotHeight;
    const failedHeight = (interval.failed / top) * plotHeight;
    const base = TOP + plotHeight;
    return svg(
      'g',
      { class: 'chart-bar' },
      svg('title', {}, `${TIME.format(new Date(interval.start))}: ${count(interval.completed)} completed, ${count(interval.failed)} failed`),
      // A transparent full-height target, so an empty interval still has its tooltip.
      svg('rect', { class: 'chart-hit', x: LEFT + i * slot, y: TOP, width: slot, height: plotHeight }),
      svg('rect', { class: 'chart-completed', x, y: base - completedHeight, width, height: completedHeight }),
      svg('rect', { class: 'chart-failed', x, y: base - completedHeight - failedHeight, width, height: failedHeight }),
    );
  });
  return svg(
    'svg',
    { class: 'chart throughput-chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': `Tasks finished ${per}: ${count(all.completed)} completed and ${count(all.failed)} failed in all; at most ${count(peak)} in one interval` },
    valueAxis(top, (v) => count(Math.round(v))),
    ...bars,
    timeAxis(data),
  );
}

/**
 * The failure rate per interval (failed of finished) as a line; intervals where nothing finished
 * break the line rather than read as 0 %.
 * @param {Throughput} data
 */
export function failureRateChart(data) {
  const { intervals } = data;
  const all = totals(intervals);
  const rates = intervals.map((i) => (i.completed + i.failed > 0 ? i.failed / (i.completed + i.failed) : null));
  const top = niceCeiling(Math.max(0.01, ...rates.map((r) => r ?? 0)));
  const plotHeight = HEIGHT - BOTTOM - TOP;
  const slot = (WIDTH - LEFT) / Math.max(1, intervals.length);
  /** @type {string[][]} */
  const runs = [[]];
  rates.forEach((rate, i) => {
    if (rate === null) {
      if (runs[runs.length - 1].length > 0) runs.push([]);
      return;
    }
    runs[runs.length - 1].push(`${(LEFT + (i + 0.5) * slot).toFixed(1)},${(TOP + plotHeight * (1 - rate / top)).toFixed(1)}`);
  });
  const lines = runs.filter((run) => run.length > 0).map((run) => (run.length === 1 ? svg('circle', { class: 'chart-point', cx: run[0].split(',')[0], cy: run[0].split(',')[1], r: 2.5 }) : svg('polyline', { class: 'chart-line', points: run.join(' ') })));
  const overall = all.completed + all.failed > 0 ? all.failed / (all.completed + all.failed) : null;
  return svg(
    'svg',
    { class: 'chart failure-chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': overall === null ? 'Failure rate: no task finished' : `Failure rate: ${percent(overall)} of the tasks that finished failed` },
    valueAxis(top, percent),
    ...lines,
    timeAxis(data),
  );
}

/** The one-line summary above the charts. */
export function throughputSummary(/** @type {Throughput} */ data) {
  const all = totals(data.intervals);
  const finished = all.completed + all.failed;
  const minutes = Math.max(1, (Date.now() - new Date(data.since).getTime()) / 60_000);
  const rate = finished > 0 ? percent(all.failed / finished) : '—';
  const perMinute = finished / minutes;
  return { completed: count(all.completed), failed: count(all.failed), perMinute: perMinute > 0 && perMinute < 10 ? perMinute.toFixed(1) : count(Math.round(perMinute)), failureRate: rate };
}
