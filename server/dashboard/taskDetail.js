import { Unauthorized, api, segment } from './api.js';
import { definitionList, h, message, statusBadge } from './dom.js';
import { FINAL_STATUSES, formatDuration, formatJson, formatTime } from './format.js';

const REFRESH_MS = 2000;

/**
 * One task: what it was given, what it reported, how it ran, its family; and the archive, cancel
 * and rerun actions. The API decides whether an action is allowed (the CLI's rules); its refusal
 * is shown as it says it. Refreshes every 2 s while the task may still change.
 * @param {HTMLElement} main
 * @param {string} id
 * @returns {() => void}
 */
export function showTaskDetail(main, id) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const title = h('h1', {}, 'Task');
  const feedback = h('div', { class: 'feedback' });
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const force = h('input', { type: 'checkbox', id: 'force' });
  const actions = h(
    'div',
    { class: 'actions' },
    h('button', { type: 'button', class: 'secondary', 'data-action': 'archive', onclick: () => act('archive') }, 'Archive'),
    h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel', onclick: () => act('cancel') }, 'Cancel'),
    h('label', { class: 'inline', for: 'force' }, force, ' force (cancel a running task, archive one not ended)'),
    h('button', { type: 'button', 'data-action': 'rerun', onclick: () => act('rerun') }, 'Rerun'),
  );
  main.replaceChildren(h('p', {}, h('a', { href: '#/tasks' }, '← Tasks')), title, actions, feedback, body);

  async function load() {
    clearTimeout(timer);
    try {
      const detail = await api(`/api/tasks/${segment(id)}`);
      if (stopped) return;
      title.replaceChildren(`${detail.task.taskName} `, statusBadge(detail.task.status));
      body.replaceChildren(...sections(detail));
      if (!FINAL_STATUSES.includes(detail.task.status) && !document.hidden) timer = setTimeout(load, REFRESH_MS);
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      body.replaceChildren(message(error instanceof Error ? error.message : String(error)));
    }
  }

  async function act(/** @type {'archive' | 'cancel' | 'rerun'} */ action) {
    const payload = action === 'rerun' ? {} : { force: /** @type {HTMLInputElement} */ (force).checked };
    try {
      const answer = await api(`/api/tasks/${segment(id)}/${action}`, { method: 'POST', body: payload });
      feedback.replaceChildren(message(action === 'rerun' ? `Published again on queue ${answer.queue ?? '—'}: ${answer.status ?? 'unknown status'}.` : `Task ${answer.status}.`, 'info'));
    } catch (error) {
      if (error instanceof Unauthorized) return;
      feedback.replaceChildren(message(error instanceof Error ? error.message : String(error)));
    }
    await load();
  }

  function onVisibilityChange() {
    if (!document.hidden) void load();
  }
  document.addEventListener('visibilitychange', onVisibilityChange);
  void load();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibilityChange);
  };
}

/** @param {any} detail GET /api/tasks/:id */
function sections(detail) {
  const { task, timings, children, childCount } = detail;
  return [
    section('Summary', definitionList([
      ['Id', h('span', { class: 'mono' }, task.id)],
      ['Label', task.label || '—'],
      ['Queue', task.queue],
      ['Owner', task.owner],
      ['Parent', task.parentId ? h('a', { href: `#/tasks/${segment(task.parentId)}`, class: 'mono', 'data-link': 'parent' }, task.parentId) : null],
      ['Attempts', String(task.attempts)],
      ['Stalls', String(task.stalls)],
      ['Worker', task.workerId],
      ['Archived from', task.archivedFrom],
    ])),
    section('Timings', definitionList([
      ['Created', formatTime(timings.createdAt)],
      ['Started', formatTime(timings.startedAt)],
      ['Finished', formatTime(timings.finishedAt)],
      ['Waited', formatDuration(timings.queuedMs)],
      ['Ran', formatDuration(timings.runMs)],
    ])),
    section('Parameters', h('pre', { class: 'json', 'data-field': 'parameters' }, formatJson(task.parameters))),
    section('Report', task.report ? h('ul', { class: 'report-tree' }, reportItem(task.report)) : h('p', { class: 'muted' }, 'No report yet.')),
    section('Progress', task.progress === null || task.progress === undefined ? h('p', { class: 'muted' }, 'None reported.') : h('pre', { class: 'json' }, formatJson(task.progress))),
    section(`Children (${childCount})`, children.length ? childList(children, childCount) : h('p', { class: 'muted' }, 'None.')),
  ];
}

function section(/** @type {string} */ title, /** @type {Node} */ content) {
  return h('section', {}, h('h2', {}, title), content);
}

/** A report and its nested reports, as TAO's report tree: type, message, data. */
function reportItem(/** @type {any} */ report) {
  return h(
    'li',
    { class: `report report-${String(report.type).replace(/[^a-z]/g, '')}` },
    h('span', { class: 'badge' }, report.type),
    ' ',
    h('span', { class: 'report-message' }, report.message),
    report.data === undefined ? '' : h('details', {}, h('summary', {}, 'data'), h('pre', { class: 'json' }, formatJson(report.data))),
    report.children?.length ? h('ul', {}, report.children.map(reportItem)) : '',
  );
}

function childList(/** @type {any[]} */ children, /** @type {number} */ childCount) {
  return h(
    'div',
    {},
    h('ul', { class: 'children' }, children.map((child) => h('li', {}, h('a', { href: `#/tasks/${segment(child.id)}`, class: 'mono', 'data-link': 'child' }, child.id), ' ', child.taskName, ' ', child.label ? `(${child.label}) ` : '', statusBadge(child.status)))),
    childCount > children.length ? h('p', { class: 'muted' }, `Showing the first ${children.length} of ${childCount}.`) : '',
  );
}
