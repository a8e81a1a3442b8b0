import { h, scrollingTable } from './dom.js';
import { formatAge, formatTime } from './format.js';

/**
 * @typedef {object} QueueTableActions  what the Queues page adds to the overview's table
 * @property {string} title  the heading of the extra column
 * @property {(queue: string, taskName: string | undefined, waiting: number) => Node} cell  its cell in a row
 * @property {(queue: string, taskName: string | undefined) => Node | string} after  a row to put under a row ('' for none)
 */

/**
 * The queues of GET /api/queues as a table: a row per queue (broker, messages, waiting, running,
 * the oldest waiting one's age), and under it a row per task name. The overview shows it as is;
 * the Queues page adds a column of Purge buttons and its confirmation rows.
 * @param {any[]} depths GET /api/queues
 * @param {QueueTableActions} [actions]
 */
export function queueTable(depths, actions) {
  if (depths.length === 0) return h('p', { class: 'muted' }, 'No queues.');
  const row = (/** @type {string} */ queue, /** @type {string | undefined} */ taskName, /** @type {any} */ depth) =>
    h(
      'tr',
      taskName === undefined ? { class: 'queue-row', 'data-queue': queue } : { class: 'task-row', 'data-queue': queue, 'data-task-name': taskName },
      taskName === undefined
        ? h('th', { scope: 'row' }, h('a', { href: `#/tasks?queue=${encodeURIComponent(queue)}` }, queue))
        : h('th', { scope: 'row', class: 'indent' }, h('a', { href: `#/tasks?queue=${encodeURIComponent(queue)}&taskName=${encodeURIComponent(taskName)}` }, taskName)),
      h('td', {}, taskName === undefined ? depth.broker : ''),
      h('td', { class: taskName === undefined ? 'num' : null }, taskName === undefined ? depth.messages : ''),
      h('td', { class: 'num' }, depth.waiting),
      h('td', { class: 'num' }, depth.running),
      h('td', { title: formatTime(depth.oldestWaitingAt) }, formatAge(depth.oldestWaitingAt)),
      actions ? h('td', {}, actions.cell(queue, taskName, depth.waiting)) : null,
    );
  const rows = depths.flatMap((q) => [
    row(q.queue, undefined, q),
    actions ? actions.after(q.queue, undefined) : '',
    ...q.tasks.flatMap((/** @type {any} */ t) => [row(q.queue, t.taskName, t), actions ? actions.after(q.queue, t.taskName) : '']),
  ]);
  const titles = ['Queue / task', 'Broker', 'Messages', 'Waiting', 'Running', 'Oldest waiting', ...(actions ? [actions.title] : [])];
  return scrollingTable(
    /** @type {HTMLTableElement} */ (
      h(
        'table',
        { class: actions ? 'queues queue-admin' : 'queues' },
        h('thead', {}, h('tr', {}, titles.map((title, i) => h('th', { scope: 'col', class: i >= 2 && i <= 4 ? 'num' : null }, title)))),
        h('tbody', {}, rows),
      )
    ),
  );
}
