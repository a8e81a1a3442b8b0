import { ApiFailure, Unauthorized, api } from './api.js';
import { h, message, replaceKeepingFocus, scrollingTable, statusBadge } from './dom.js';
import { STATUSES, formatAge, formatTime } from './format.js';

/** How often the overview asks again; the API is built for a request every 2 s per open tab. */
const REFRESH_MS = 2000;

/**
 * Tasks per status, the queues' depths and the workers, refreshed every 2 s while the tab is
 * visible (a hidden tab asks nothing, and refreshes at once when shown again).
 * @param {HTMLElement} main
 * @returns {() => void} stops the refreshing
 */
export function showOverview(main) {
  const counts = new Map(STATUSES.concat('total').map((status) => [status, h('span', { class: 'count' }, '…')]));
  const cards = [...counts].map(([status, count]) =>
    h('a', { class: `card status-card status-${status}`, href: status === 'total' ? '#/tasks?archived=true' : `#/tasks?status=${status}`, 'data-status': status }, count, h('span', { class: 'card-label' }, status.replace('_', ' '))),
  );
  const problems = h('div', { class: 'feedback' });
  const queues = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const workers = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const updated = h('p', { class: 'muted updated', 'aria-live': 'off' });
  main.replaceChildren(
    h('h1', {}, 'Overview'),
    updated,
    problems,
    h('section', { 'aria-labelledby': 'counts-title' }, h('h2', { id: 'counts-title' }, 'Tasks per status'), h('div', { class: 'cards' }, cards)),
    h('section', { 'aria-labelledby': 'queues-title' }, h('h2', { id: 'queues-title' }, 'Queues'), queues),
    h('section', { 'aria-labelledby': 'workers-title' }, h('h2', { id: 'workers-title' }, 'Workers'), workers),
  );

  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  async function refresh() {
    clearTimeout(timer);
    try {
      const [stats, depths, workerList] = await Promise.all([api('/api/stats'), operatorOnly(api('/api/queues')), operatorOnly(api('/api/workers'))]);
      if (stopped) return;
      for (const [status, count] of counts) count.textContent = String(stats[status] ?? 0);
      replaceKeepingFocus(queues, depths instanceof ApiFailure ? message(depths.message, 'info') : queueTable(depths));
      replaceKeepingFocus(workers, workerList instanceof ApiFailure ? message(workerList.message, 'info') : workerTable(workerList));
      problems.replaceChildren();
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s while this tab is visible`;
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      problems.replaceChildren(message(`Could not refresh: ${error instanceof Error ? error.message : String(error)}`));
    }
    if (!stopped && !document.hidden) timer = setTimeout(refresh, REFRESH_MS);
  }

  function onVisibilityChange() {
    clearTimeout(timer);
    if (!document.hidden) void refresh();
  }

  document.addEventListener('visibilitychange', onVisibilityChange);
  void refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibilityChange);
  };
}

/** Queues and workers need a token without owner: a 403 is shown as a note, not an error. */
async function operatorOnly(/** @type {Promise<any>} */ call) {
  try {
    return await call;
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 403) return error;
    throw error;
  }
}

/** @param {any[]} depths GET /api/queues */
function queueTable(depths) {
  if (depths.length === 0) return h('p', { class: 'muted' }, 'No queues.');
  const rows = depths.flatMap((q) => [
    h(
      'tr',
      { class: 'queue-row', 'data-queue': q.queue },
      h('th', { scope: 'row' }, h('a', { href: `#/tasks?queue=${encodeURIComponent(q.queue)}` }, q.queue)),
      h('td', {}, q.broker),
      h('td', { class: 'num' }, q.messages),
      h('td', { class: 'num' }, q.waiting),
      h('td', { class: 'num' }, q.running),
      h('td', { title: formatTime(q.oldestWaitingAt) }, formatAge(q.oldestWaitingAt)),
    ),
    ...q.tasks.map((/** @type {any} */ t) =>
      h(
        'tr',
        { class: 'task-row' },
        h('th', { scope: 'row', class: 'indent' }, h('a', { href: `#/tasks?queue=${encodeURIComponent(q.queue)}&taskName=${encodeURIComponent(t.taskName)}` }, t.taskName)),
        h('td', {}, ''),
        h('td', {}, ''),
        h('td', { class: 'num' }, t.waiting),
        h('td', { class: 'num' }, t.running),
        h('td', { title: formatTime(t.oldestWaitingAt) }, formatAge(t.oldestWaitingAt)),
      ),
    ),
  ]);
  return scrollingTable(
    /** @type {HTMLTableElement} */ (
      h(
        'table',
        { class: 'queues' },
        h('thead', {}, h('tr', {}, ['Queue / task', 'Broker', 'Messages', 'Waiting', 'Running', 'Oldest waiting'].map((title, i) => h('th', { scope: 'col', class: i >= 2 && i <= 4 ? 'num' : null }, title)))),
        h('tbody', {}, rows),
      )
    ),
  );
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
