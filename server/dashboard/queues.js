import { ApiFailure, Unauthorized, api, segment } from './api.js';
import { h, message, refreshWhileVisible, replaceKeepingFocus } from './dom.js';
import { queueTable as depthTable } from './queueTable.js';

/** How often the page asks again, as the overview does. */
const REFRESH_MS = 2000;

/** Columns of the table: the overview's six, and one for the Purge buttons. */
const COLUMN_COUNT = 7;

/**
 * @typedef {object} PendingPurge  a purge shown in the page, waiting for its confirmation
 * @property {string} queue
 * @property {string | undefined} taskName  only the waiting tasks of this name
 * @property {number} waiting  how many waited when the Purge button was pressed
 */

const plural = (/** @type {number} */ n, /** @type {string} */ word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a purge will do (or did), in words. */
function purgeSubject(/** @type {PendingPurge} */ p, /** @type {number} */ n) {
  return `${plural(n, `waiting ${p.taskName === undefined ? '' : `${p.taskName} `}task`)} of queue ${p.queue}`;
}

/**
 * The queues: depth in all and per task name, refreshed every 2 s while the tab is visible, and a
 * Purge button per queue and per task name, confirmed in the page (never a browser dialog) before
 * POST /api/queues/:name/purge.
 * @param {HTMLElement} main
 * @returns {() => void} stops the refreshing
 */
export function showQueues(main) {
  const problems = h('div', { class: 'feedback' });
  const outcome = h('div', { class: 'feedback purge-outcome', tabindex: '-1' });
  const holder = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const updated = h('p', { class: 'muted updated', 'aria-live': 'off' });
  main.replaceChildren(
    h('h1', {}, 'Queues'),
    updated,
    h('p', { class: 'hint queues-intro' }, 'Purge cancels the waiting tasks (enqueued, delayed, or taken by no worker yet) and removes their messages; running tasks are left alone.'),
    problems,
    outcome,
    holder,
  );

  /** @type {any[] | null} the last GET /api/queues */
  let depths = null;
  /** @type {PendingPurge | null} */
  let pending = null;
  let purging = false;

  async function refresh() {
    try {
      const answer = await api('/api/queues');
      if (polling.stopped) return;
      depths = answer;
      // An open confirmation is not rebuilt under the reader's eyes (nor its focus lost).
      if (!pending) replaceKeepingFocus(holder, queueTable(answer));
      problems.replaceChildren();
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${REFRESH_MS / 1000} s while this tab is visible`;
    } catch (error) {
      if (error instanceof Unauthorized || polling.stopped) return;
      if (error instanceof ApiFailure && error.status === 403) {
        // An owner's token: the queues span every owner, so they are not this token's to see.
        holder.replaceChildren(message(error.message, 'info'));
        updated.textContent = '';
        return false;
      }
      problems.replaceChildren(message(`Could not refresh: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  /** Opens the confirmation under the row of the button, and moves the focus into it. */
  function ask(/** @type {PendingPurge} */ purge) {
    pending = purge;
    outcome.replaceChildren();
    if (depths) holder.replaceChildren(queueTable(depths));
    /** @type {HTMLElement | null} */ (holder.querySelector('.confirm-panel'))?.focus();
  }

  /** Closes the confirmation; the focus goes back to the Purge button that opened it. */
  function keep() {
    const key = focusKeyOf(/** @type {PendingPurge} */ (pending));
    pending = null;
    if (depths) holder.replaceChildren(queueTable(depths));
    /** @type {HTMLElement | null} */ (holder.querySelector(`[data-focus-key="${CSS.escape(key)}"]`))?.focus();
    void polling.now();
  }

  async function purge() {
    if (!pending || purging) return;
    const target = pending;
    purging = true;
    for (const button of holder.querySelectorAll('.confirm-panel button')) /** @type {HTMLButtonElement} */ (button).disabled = true;
    try {
      const answer = await api(`/api/queues/${segment(target.queue)}/purge`, { method: 'POST', body: target.taskName === undefined ? {} : { taskName: target.taskName } });
      if (polling.stopped) return;
      outcome.replaceChildren(
        message(`Purged: ${purgeSubject(target, answer.cancelled)} cancelled, ${plural(answer.messagesRemoved, 'message')} removed.`, 'info'),
      );
      outcome.querySelector('.message')?.setAttribute('data-cancelled', String(answer.cancelled));
    } catch (error) {
      if (error instanceof Unauthorized || polling.stopped) return;
      outcome.replaceChildren(message(error instanceof Error ? error.message : String(error), error instanceof ApiFailure && error.status === 403 ? 'info' : 'error'));
    } finally {
      purging = false;
    }
    pending = null;
    if (depths) holder.replaceChildren(queueTable(depths));
    outcome.focus();
    await polling.now();
  }

  function focusKeyOf(/** @type {PendingPurge} */ p) {
    return `purge:${p.queue}:${p.taskName ?? ''}`;
  }

  /** The Purge button of a queue, or of a task name in it. */
  function purgeButton(/** @type {PendingPurge} */ p) {
    return h(
      'button',
      {
        type: 'button',
        class: 'secondary danger small',
        'data-purge': p.queue,
        'data-task-name': p.taskName,
        'data-focus-key': focusKeyOf(p),
        'aria-label': p.taskName === undefined ? `Purge queue ${p.queue}` : `Purge the ${p.taskName} tasks of queue ${p.queue}`,
        'aria-expanded': pending && focusKeyOf(pending) === focusKeyOf(p) ? 'true' : 'false',
        disabled: p.waiting === 0 ? true : null,
        title: p.waiting === 0 ? 'Nothing waits' : null,
        onclick: () => ask(p),
      },
      'Purge',
    );
  }

  /** The in-page confirmation: Purge or Keep them; Escape keeps them. */
  function confirmRow(/** @type {PendingPurge} */ p) {
    const text = h('p', { id: 'confirm-text' }, `Purge ${purgeSubject(p, p.waiting)}? They will be cancelled.`);
    const panel = h(
      'div',
      {
        class: 'confirm-panel',
        role: 'group',
        tabindex: '-1',
        'aria-labelledby': 'confirm-text',
        onkeydown: (/** @type {KeyboardEvent} */ event) => {
          if (event.key === 'Escape' && !purging) {
            event.preventDefault();
            keep();
          }
        },
      },
      text,
      h('div', { class: 'buttons' }, h('button', { type: 'button', class: 'danger', 'data-confirm': 'purge', onclick: () => void purge() }, 'Purge'), h('button', { type: 'button', class: 'secondary', 'data-confirm': 'keep', onclick: keep }, 'Keep them')),
    );
    return h('tr', { class: 'confirm-row' }, h('td', { colspan: COLUMN_COUNT }, panel));
  }

  /** @param {any[]} list GET /api/queues */
  function queueTable(list) {
    const isPending = (/** @type {string} */ queue, /** @type {string | undefined} */ taskName) => pending !== null && pending.queue === queue && pending.taskName === taskName;
    return depthTable(list, {
      title: 'Actions',
      cell: (queue, taskName, waiting) => purgeButton({ queue, taskName, waiting }),
      after: (queue, taskName) => (isPending(queue, taskName) ? confirmRow(/** @type {PendingPurge} */ (pending)) : ''),
    });
  }

  const polling = refreshWhileVisible(refresh, REFRESH_MS);
  return () => polling.stop();
}
