import { Unauthorized, api, segment } from './api.js';
import { h, message, scrollingTable, statusBadge } from './dom.js';
import { STATUSES, formatTime } from './format.js';

/**
 * The task table. Everything the view shows is in the hash (#/tasks?status=failed&sort=…&offset=50),
 * so a filtered, sorted page can be bookmarked, shared and reloaded; the filter form, the column
 * headers and the pager only rewrite the hash.
 */

/** The hash's filter keys; `label` is a text search, `from`/`to` bound createdAt (local time, as the inputs give it). */
const FILTERS = ['status', 'taskName', 'queue', 'owner', 'label', 'from', 'to'];
const DEFAULT_SORT = 'createdAt:desc';
const DEFAULT_LIMIT = 50;

const COLUMNS = [
  { key: 'taskName', title: 'Task' },
  { key: 'label', title: 'Label' },
  { key: 'status', title: 'Status' },
  { key: 'queue', title: 'Queue' },
  { key: 'owner', title: 'Owner' },
  { key: 'createdAt', title: 'Created' },
  { key: 'finishedAt', title: 'Finished' },
  { key: 'attempts', title: 'Attempts' },
];

const ACTIONS = [
  { name: 'archive', title: 'Archive', done: 'archived' },
  { name: 'cancel', title: 'Cancel', done: 'cancelled' },
  { name: 'rerun', title: 'Rerun', done: 'published again' },
];

/** Which element to focus after the next render (the view is rebuilt on every hash change). */
let focusAfterRender = '';

/** A datetime-local value as ISO 8601, or undefined when it is not a time. */
function isoOf(/** @type {string} */ local) {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** The GET /api/tasks query of the view's hash query. */
export function apiQueryOf(/** @type {URLSearchParams} */ view) {
  const query = new URLSearchParams();
  for (const key of ['status', 'taskName', 'queue', 'owner']) {
    const value = view.get(key);
    if (value) query.set(key, value);
  }
  // The API's like has no escape: a % or _ typed here is a wildcard too.
  const label = view.get('label');
  if (label) query.append('filter', `label:like:%${label}%`);
  const from = isoOf(view.get('from') ?? '');
  if (from) query.append('filter', `createdAt:gte:${from}`);
  const to = isoOf(view.get('to') ?? '');
  if (to) query.append('filter', `createdAt:lte:${to}`);
  if (view.get('archived') === 'true') query.set('archived', 'true');
  const sort = view.get('sort') || DEFAULT_SORT;
  query.append('sort', sort);
  // The id breaks ties, so pages of equal times never overlap or skip.
  query.append('sort', `id:${sort.endsWith(':desc') ? 'desc' : 'asc'}`);
  query.set('limit', String(Number(view.get('limit')) || DEFAULT_LIMIT));
  query.set('offset', String(Number(view.get('offset')) || 0));
  return query;
}

/** Goes to the view with these hash query changes (empty values dropped). */
function navigate(/** @type {URLSearchParams} */ view, /** @type {Record<string, string | undefined>} */ changes) {
  const next = new URLSearchParams(view);
  for (const [key, value] of Object.entries(changes)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  const query = next.toString();
  const hash = `#/tasks${query ? `?${query}` : ''}`;
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/**
 * @param {HTMLElement} main
 * @param {URLSearchParams} view the hash's query
 * @returns {() => void}
 */
export function showTasks(main, view) {
  let stopped = false;
  /** @type {Map<string, string>} task id → the error of the last bulk action on it */
  let rowErrors = new Map();
  const selected = new Set();
  const feedback = h('div', { class: 'feedback' });
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const tableHolder = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of tasks' });
  const actionButtons = ACTIONS.map((action) => h('button', { type: 'button', class: 'secondary', 'data-action': action.name, disabled: true, onclick: () => bulk(action) }, `${action.title} selected`));
  const selectedCount = h('span', { class: 'muted' }, 'None selected');

  main.replaceChildren(h('h1', {}, 'Tasks'), filterForm(view), h('div', { class: 'bulk' }, selectedCount, actionButtons), feedback, summary, tableHolder, pager);

  function updateSelection() {
    selectedCount.textContent = selected.size ? `${selected.size} selected` : 'None selected';
    for (const button of actionButtons) /** @type {HTMLButtonElement} */ (button).disabled = selected.size === 0;
  }

  async function load() {
    try {
      const page = await api(`/api/tasks?${apiQueryOf(view)}`);
      if (stopped) return;
      selected.clear();
      updateSelection();
      const first = page.total ? page.offset + 1 : 0;
      const last = page.offset + page.tasks.length;
      summary.textContent = page.total ? `Tasks ${first}–${last} of ${page.total}` : 'No task matches.';
      tableHolder.replaceChildren(page.tasks.length ? taskTable(page.tasks) : '');
      pager.replaceChildren(
        h('button', { type: 'button', class: 'secondary', 'data-page': 'previous', disabled: page.offset === 0, onclick: () => navigate(view, { offset: String(Math.max(0, page.offset - page.limit)) }) }, '← Previous'),
        h('button', { type: 'button', class: 'secondary', 'data-page': 'next', disabled: last >= page.total, onclick: () => navigate(view, { offset: String(page.offset + page.limit) }) }, 'Next →'),
      );
      if (focusAfterRender) main.querySelector(focusAfterRender)?.focus();
      focusAfterRender = '';
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      feedback.replaceChildren(message(error instanceof Error ? error.message : String(error)));
      tableHolder.replaceChildren();
    }
  }

  /** @param {any[]} tasks */
  function taskTable(tasks) {
    const sort = view.get('sort') || DEFAULT_SORT;
    const [sortKey, sortDirection] = sort.split(':');
    const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select every task of this page' });
    const boxes = tasks.map((task) => {
      const box = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', 'aria-label': `Select task ${task.id}`, 'data-id': task.id }));
      box.addEventListener('change', () => {
        if (box.checked) selected.add(task.id);
        else selected.delete(task.id);
        updateSelection();
      });
      return box;
    });
    selectAll.addEventListener('change', () => {
      for (const box of boxes) {
        box.checked = /** @type {HTMLInputElement} */ (selectAll).checked;
        box.dispatchEvent(new Event('change'));
      }
    });
    const headers = COLUMNS.map(({ key, title }) => {
      const active = key === sortKey;
      const next = active && sortDirection !== 'desc' ? 'desc' : active ? 'asc' : key.endsWith('At') ? 'desc' : 'asc';
      return h(
        'th',
        { scope: 'col', 'aria-sort': active ? (sortDirection === 'desc' ? 'descending' : 'ascending') : null },
        h('button', {
          type: 'button',
          class: 'sort',
          'data-sort': key,
          onclick: () => {
            focusAfterRender = `[data-sort="${key}"]`;
            navigate(view, { sort: `${key}:${next}`, offset: undefined });
          },
        }, title, active ? (sortDirection === 'desc' ? ' ▼' : ' ▲') : ''),
      );
    });
    const rows = tasks.map((task, i) => [
      h(
        'tr',
        { 'data-id': task.id },
        h('td', {}, boxes[i]),
        h('td', {}, h('a', { href: `#/tasks/${segment(task.id)}`, class: 'mono', title: task.id }, task.id.slice(0, 13))),
        h('td', {}, task.taskName),
        h('td', { class: 'label-cell' }, task.label),
        h('td', {}, statusBadge(task.status)),
        h('td', {}, task.queue ?? '—'),
        h('td', {}, task.owner ?? '—'),
        h('td', {}, formatTime(task.createdAt)),
        h('td', {}, formatTime(task.finishedAt)),
        h('td', { class: 'num' }, task.attempts),
      ),
      // The refusal of the last bulk action, under its row and as wide as the table.
      rowErrors.has(task.id) ? h('tr', { class: 'row-error', 'data-error-for': task.id }, h('td', {}), h('td', { colspan: COLUMNS.length + 1 }, rowErrors.get(task.id))) : '',
    ]);
    return scrollingTable(
      /** @type {HTMLTableElement} */ (h('table', { class: 'tasks' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, selectAll), h('th', { scope: 'col' }, 'Id'), headers)), h('tbody', {}, rows))),
    );
  }

  /** Runs one action on every selected row, one request each, and shows each refusal on its row. */
  async function bulk(/** @type {typeof ACTIONS[number]} */ action) {
    const ids = [...selected];
    const outcomes = await Promise.allSettled(ids.map((id) => api(`/api/tasks/${segment(id)}/${action.name}`, { method: 'POST', body: {} })));
    if (outcomes.some((o) => o.status === 'rejected' && o.reason instanceof Unauthorized)) return;
    rowErrors = new Map();
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'rejected') rowErrors.set(ids[i], outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason));
    });
    const done = ids.length - rowErrors.size;
    feedback.replaceChildren(message(`${done} of ${ids.length} ${action.done}${rowErrors.size ? `; ${rowErrors.size} refused (the reason is on each row)` : ''}.`, rowErrors.size ? 'error' : 'info'));
    await load();
  }

  void load();
  return () => {
    stopped = true;
  };
}

/** The filter form, filled from the hash; submitting it rewrites the hash (back to the first page). */
function filterForm(/** @type {URLSearchParams} */ view) {
  /** @param {string} name @param {string} title @param {Record<string, unknown>} attributes */
  const field = (name, title, attributes = {}) => h('div', { class: 'field' }, h('label', { for: `filter-${name}` }, title), h('input', { id: `filter-${name}`, name, value: view.get(name) ?? '', ...attributes }));
  const status = h(
    'select',
    { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'any'),
    STATUSES.map((s) => h('option', { value: s, selected: view.get('status') === s }, s)),
  );
  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      { class: 'filters', role: 'search', 'aria-label': 'Filter tasks' },
      h('div', { class: 'field' }, h('label', { for: 'filter-status' }, 'Status'), status),
      field('taskName', 'Task name'),
      field('queue', 'Queue'),
      field('owner', 'Owner'),
      field('label', 'Label contains', { type: 'search' }),
      field('from', 'Created from', { type: 'datetime-local', step: 1 }),
      field('to', 'Created to', { type: 'datetime-local', step: 1 }),
      h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Apply'), h('a', { href: '#/tasks', class: 'button secondary' }, 'Clear')),
    )
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    /** @type {Record<string, string | undefined>} */
    const changes = { offset: undefined };
    for (const key of FILTERS) changes[key] = String(data.get(key) ?? '').trim() || undefined;
    navigate(view, changes);
  });
  return form;
}
