import { ApiFailure, Unauthorized, api, operatorOnly } from './api.js';
import { h, message, refreshWhileVisible, replaceKeepingFocus, scrollingTable, statusBadge } from './dom.js';
import { failureRateChart, throughputChart, throughputSummary } from './chart.js';
import { queueTable } from './queueTable.js';
import { STATUSES, formatAge, formatTime } from './format.js';

/** How often the overview asks again; the API is built for a request every 2 s per open tab. */
const REFRESH_MS = 2000;

/** A performance mark set when the overview is first drawn with every figure of the server. */
const READY_MARK = 'taskq:overview-ready';

/**
 * Tasks per status, the last hour's throughput and failure rate, the queues' depths and the workers, refreshed every 2 s while the tab is
 * visible (a hidden tab asks nothing, and refreshes at once when shown again).
 * @param {HTMLElement} main
 * @returns {() => void} stops the refreshing
 */
export function showOverview(main) {
  const counts = new Map(STATUSES.concat('total').map((status) => [status, h('span', { class: 'count' }, '…')]));
  const cards = [...counts].map(([status, count]) =>
    h('a', { class: `card status-card status-${status}`, href: status === 'total' ? '#/tasks?archived=true' : `#/tasks?status=${status}`, 'data-status': status }, count, h('span', { class: 'card-label' }, status.replace('_', ' '))),
  );
  const figures = new Map(['perMinute', 'completed', 'failed', 'failureRate'].map((name) => [name, h('span', { class: 'figure-value' }, '…')]));
  const figureLabels = { perMinute: 'finished a minute, on average', completed: 'completed', failed: 'failed', failureRate: 'failure rate' };
  const throughput = h('div', { class: 'charts' }, h('p', { class: 'muted' }, 'Loading…'));
  const problems = h('div', { class: 'feedback' });
  const queues = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const workers = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const updated = h('p', { class: 'muted updated', 'aria-live': 'off' });
  main.replaceChildren(
    h('h1', {}, 'Overview'),
    updated,
    problems,
    h('section', { 'aria-labelledby': 'counts-title' }, h('h2', { id: 'counts-title' }, 'Tasks per status'), h('div', { class: 'cards' }, cards)),
    h(
      'section',
      { 'aria-labelledby': 'hour-title' },
      h('h2', { id: 'hour-title' }, 'Last hour'),
      h(
        'div',
        { class: 'figures' },
        [...figures].map(([name, value]) => h('p', { class: 'figure', 'data-figure': name }, value, h('span', { class: 'card-label' }, figureLabels[/** @type {keyof typeof figureLabels} */ (name)]))),
      ),
      throughput,
    ),
    h('section', { 'aria-labelledby': 'queues-title' }, h('h2', { id: 'queues-title' }, 'Queues'), queues),
    h('section', { 'aria-labelledby': 'workers-title' }, h('h2', { id: 'workers-title' }, 'Workers'), workers),
  );

  async function refresh() {
    try {
      const [stats, hour, depths, workerList] = await Promise.all([api('/api/stats'), api('/api/stats/throughput'), operatorOnly(api('/api/queues')), operatorOnly(api('/api/workers'))]);
      if (polling.stopped) return;
      for (const [status, count] of counts) count.textContent = String(stats[status] ?? 0);
      const summary = throughputSummary(hour);
      for (const [name, value] of figures) value.textContent = summary[/** @type {keyof typeof summary} */ (name)];
      throughput.replaceChildren(
        h('figure', {}, h('figcaption', {}, 'Tasks finished a minute (failed in red)'), throughputChart(hour)),
        h('figure', {}, h('figcaption', {}, 'Failure rate'), failureRateChart(hour)),
      );
      replaceKeepingFocus(queues, depths instanceof ApiFailure ? message(depths.message, 'info') : queueTable(depths));
      replaceKeepingFocus(workers, workerList instanceof ApiFailure ? message(workerList.message, 'info') : workerTable(workerList));
      problems.replaceChildren();
      // The first full drawing, for whoever measures the page (bench/overview.ts, a browser's performance panel).
      if (performance.getEntriesByName(READY_MARK).length === 0) performance.mark(READY_MARK);
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s while this tab is visible`;
    } catch (error) {
      if (error instanceof Unauthorized || polling.stopped) return;
      problems.replaceChildren(message(`Could not refresh: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  const polling = refreshWhileVisible(refresh, REFRESH_MS);
  return () => polling.stop();
}

/** @param {any[]} list GET /api/workers */
function workerTable(list) {
  const alive = list.filter((w) => w.alive);
  if (alive.length === 0) return h('p', { class: 'muted' }, list.length ? `No worker alive (${list.length} stopped or silent).` : 'No worker has written a heartbeat.');
  return scrollingTable(
    /** @type {HTMLTableElement} */ (
      h(
        'table',
        { class: 'workers' },
        h('thead', {}, h('tr', {}, ['Worker', 'Host', 'PID', 'Queues', 'Status', 'Last heartbeat', 'Runs'].map((title) => h('th', { scope: 'col', class: title === 'PID' || title === 'Runs' ? 'num' : null }, title)))),
        h(
          'tbody',
          {},
          alive.map((w) =>
            h(
              'tr',
              { class: 'worker-row' },
              h('th', { scope: 'row', class: 'mono' }, w.id),
              h('td', {}, w.host),
              h('td', { class: 'num' }, w.pid),
              h('td', {}, w.queues.join(', ')),
              h('td', {}, statusBadge(String(w.status))),
              h('td', { title: formatTime(w.lastSeenAt) }, formatAge(w.lastSeenAt)),
              h('td', { class: 'num' }, w.tasksRun),
            ),
          ),
        ),
      )
    ),
  );
}
