/**
 * The text output of the PostgreSQL side-by-side benchmark: one row per measure, one column per
 * system, taskq's ratios to each peer; then the settings and every measurement's side figures.
 */
import { LATEST_PEERS } from './peerPackages';
import type { Measurement, MeasureId, PeerCounts, PeersReport } from './report';
import type { PeerColumn } from './variants';

const COLUMNS: readonly PeerColumn[] = ['taskq', 'graphile-worker', 'graphile-worker (local queue)', 'pg-boss'];
const GRAPHILE_COLUMNS: readonly PeerColumn[] = ['graphile-worker', 'graphile-worker (local queue)'];

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const ms = (n: number) => (n < 1 ? n.toFixed(3) : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0));
export const ratio = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

type Percentile = 'p50' | 'p95' | 'p99';

export interface Row {
  label: string;
  measure: MeasureId;
  /** Latency rows: which percentile. */
  percentile?: Percentile;
}

/** The best of `candidates`: the most jobs/s, or for latency the lowest p50 (its p95/p99 go with it). */
export function best(candidates: readonly Measurement[]): Measurement | undefined {
  let pick: Measurement | undefined;
  for (const m of candidates) {
    if (!pick) pick = m;
    else if (m.latency && pick.latency) {
      if (m.latency.p50 < pick.latency.p50) pick = m;
    } else if ((m.jobsPerSec ?? 0) > (pick.jobsPerSec ?? 0)) pick = m;
  }
  return pick;
}

export function value(m: Measurement, row: Row): number {
  if (row.percentile) return m.latency?.[row.percentile] ?? NaN;
  return m.jobsPerSec ?? NaN;
}

export function format(m: Measurement, row: Row): string {
  return row.percentile ? ms(value(m, row)) : int(value(m, row));
}

/** The short tag of a taskq variant in a cell: "taskq r50" → "r50". */
export const tag = (variant: string) => variant.replace(/^taskq /, '');

export function table(header: string[], rows: string[][], numericFrom: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i >= numericFrom ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i >= numericFrom ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The rows of a side-by-side table: one per measure, three for the latency. */
export function measureRows(counts: PeerCounts, concurrency: number): Row[] {
  return [
    { label: `enqueue, 1 per call (${int(counts.enqueueOne)}), jobs/s`, measure: 'enqueue-one' },
    { label: `enqueue, bulk ${int(counts.bulkSize)} per call (${int(counts.enqueueBulk)}), jobs/s`, measure: 'enqueue-bulk' },
    { label: `drain ${int(counts.drain)}, 1 process × ${concurrency}, jobs/s`, measure: 'drain-1' },
    { label: `drain ${int(counts.drain)}, 4 processes × ${concurrency}, jobs/s`, measure: 'drain-4' },
    { label: `idle enqueue→start p50, ms (${int(counts.latency)} jobs)`, measure: 'idle-latency', percentile: 'p50' },
    { label: 'idle enqueue→start p95, ms', measure: 'idle-latency', percentile: 'p95' },
    { label: 'idle enqueue→start p99, ms', measure: 'idle-latency', percentile: 'p99' },
  ];
}

/** One line per measurement: its figures and side figures. */
export function describeMeasurement(m: Measurement): string {
  const figures = m.latency
    ? [`p50=${ms(m.latency.p50)} ms`, `p95=${ms(m.latency.p95)} ms`, `p99=${ms(m.latency.p99)} ms`, `max=${ms(m.latency.max)} ms`, `samples=${m.latency.samples}`]
    : [`${int(m.jobsPerSec ?? 0)} jobs/s`];
  const details = Object.entries(m.details).map(([k, v]) => `${k}=${v}`);
  return `  ${m.variant} / ${m.measure}: ${[`jobs=${m.jobs}`, ...figures, ...details].join(', ')}`;
}

export function formatPeersReport(report: PeersReport): string {
  const { counts, concurrency } = report;
  const rows = measureRows(counts, concurrency);
  const cells = rows.map((row) => {
    const of = (columns: readonly PeerColumn[]) => best(report.measurements.filter((m) => m.measure === row.measure && columns.includes(m.column)));
    const taskq = of(['taskq']);
    const byColumn = COLUMNS.map((column) => {
      const m = of([column]);
      if (!m) return '—';
      // taskq's cell says which of its variants it is, where the measure has variants.
      return column === 'taskq' && m.variant !== 'taskq' ? `${format(m, row)} (${tag(m.variant)})` : format(m, row);
    });
    const graphile = of(GRAPHILE_COLUMNS);
    const pgBoss = of(['pg-boss']);
    const versus = (peer: Measurement | undefined, note: string) => (taskq && peer ? `${ratio(value(taskq, row) / value(peer, row))}${note}` : '—');
    return [row.label, ...byColumn, versus(graphile, graphile?.column === 'graphile-worker (local queue)' ? ' (lq)' : ''), versus(pgBoss, '')];
  });
  const out = [
    `PostgreSQL ${report.postgres} on ${report.server}; database ${report.database} (dropped)`,
    `graphile-worker ${report.peerVersions['graphile-worker']}, pg-boss ${report.peerVersions['pg-boss']} (${LATEST_PEERS ? 'their latest releases: this Node is 22 or later' : 'the last releases that run on Node 20; Node 22 or later measures graphile-worker 0.18 and pg-boss 12'}); ${concurrency} jobs at a time per worker process`,
    '',
    table(['measure', ...COLUMNS, 'taskq/graphile-worker', 'taskq/pg-boss'], cells, 1),
    '',
    'taskq: the better of its variants per row, marked (r10) receive 10, prefetch 0 / (r50) receive 50, prefetch 40 / (r500a) receive 500,',
    'prefetch 490, claimAhead; enqueue is one',
    'figure (no worker setting changes it). Latency rows: the variant with the lower p50, its p95 and p99 with it.',
    'taskq/graphile-worker: against the better graphile-worker column, (lq) when that is the local queue. Ratios are taskq ÷ peer:',
    'above 1 taskq is faster on the jobs/s rows, below 1 taskq is faster on the latency rows. — : not measured (enqueue does not',
    'depend on the local queue, a worker setting).',
    '',
    'variants:',
    ...report.variants.map((v) => `  ${v.id}: ${v.label}`),
    '',
    'every measurement:',
  ];
  out.push(...report.measurements.map(describeMeasurement));
  return out.join('\n');
}
