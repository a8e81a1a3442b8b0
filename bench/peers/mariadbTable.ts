/**
 * The text output of the MariaDB run: taskq alone, one row per measure as in the PostgreSQL
 * table; beside it, when the same run measured PostgreSQL, taskq's PostgreSQL column and the
 * ratio MariaDB ÷ PostgreSQL.
 */
import { best, describeMeasurement, format, int, measureRows, ratio, table, tag, value } from './peersTable';
import type { MariaDbReport, Measurement, PeersReport } from './report';

function cell(m: Measurement | undefined, text: (m: Measurement) => string): string {
  if (!m) return '—';
  return m.variant !== 'taskq' ? `${text(m)} (${tag(m.variant)})` : text(m);
}

export function formatMariaDbReport(report: MariaDbReport, postgres?: PeersReport): string {
  const rows = measureRows(report.counts, report.concurrency);
  const taskqOf = (measurements: readonly Measurement[], row: (typeof rows)[number]) =>
    best(measurements.filter((m) => m.measure === row.measure && m.system === 'taskq'));
  const cells = rows.map((row) => {
    const mariadb = taskqOf(report.measurements, row);
    const line = [row.label, cell(mariadb, (m) => format(m, row))];
    if (postgres) {
      const pg = taskqOf(postgres.measurements, row);
      line.push(cell(pg, (m) => format(m, row)), mariadb && pg ? ratio(value(mariadb, row) / value(pg, row)) : '—');
    }
    return line;
  });
  const header = ['measure', 'taskq on MariaDB', ...(postgres ? ['taskq on PostgreSQL', 'MariaDB/PostgreSQL'] : [])];
  return [
    `MariaDB ${report.mariadb}; taskq alone (graphile-worker and pg-boss are PostgreSQL only); ${report.concurrency} jobs at a time per worker process; database ${report.database} (dropped)`,
    '',
    table(header, cells, 1),
    '',
    `The same measures and job counts as the PostgreSQL table (${int(report.counts.drain)} jobs per drain); taskq's better variant per row,`,
    'marked as there. MariaDB has no LISTEN/NOTIFY: an idle worker polls, backing off from 5 ms to 1 s (Worker idleMinMs/idleMaxMs).',
    ...(postgres ? ['MariaDB/PostgreSQL: above 1 MariaDB is faster on the jobs/s rows, below 1 on the latency rows.'] : []),
    '',
    'variants:',
    ...report.variants.map((v) => `  ${v.id}: ${v.label}`),
    '',
    'every measurement:',
    ...report.measurements.map(describeMeasurement),
  ].join('\n');
}
