/**
 * DOM building without markup: every value becomes a text node or an attribute, never HTML, so
 * task params and reports (user data) cannot inject elements or scripts.
 */

/**
 * An element with attributes and children. `on<event>` attributes that are functions become
 * listeners; `class` sets the class; true sets an empty attribute; null, undefined and false are
 * left out. Children: nodes, or anything else as text; arrays are flattened.
 * @param {string} tag
 * @param {Record<string, unknown>} [attributes]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    else if (name === 'class') element.className = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  appendAll(element, children);
  return element;
}

/**
 * @param {Element} element
 * @param {unknown[]} children
 */
export function appendAll(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
}

/** A status as a coloured badge (its colour from the status, its text the status itself). */
export function statusBadge(/** @type {string} */ status) {
  return h('span', { class: `badge status-${status.replace(/[^a-z_]/g, '')}` }, status);
}

/** A `<dl>` of label → value pairs; values may be nodes. */
export function definitionList(/** @type {[string, unknown][]} */ pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '—')]));
}

/** A table whose wrapper scrolls sideways on a narrow screen. */
export function scrollingTable(/** @type {HTMLTableElement} */ table) {
  return h('div', { class: 'table-wrap' }, table);
}

/** A message line: role=alert for errors, so screen readers say them. */
export function message(/** @type {string} */ text, kind = 'error') {
  return h('p', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/**
 * Replaces a container's content, and gives the focus back to the same link (same href) or
 * control (same `data-focus-key`) in the new content when it was on one: a refresh every 2 s
 * must not throw a keyboard user back to the page's top.
 */
export function replaceKeepingFocus(/** @type {Element} */ container, /** @type {Node} */ content) {
  const focused = document.activeElement;
  const inside = focused && container.contains(focused);
  const href = inside ? focused.getAttribute('href') : null;
  const key = inside ? focused.getAttribute('data-focus-key') : null;
  container.replaceChildren(content);
  const selector = key !== null ? `[data-focus-key="${CSS.escape(key)}"]` : href !== null ? `a[href="${CSS.escape(href)}"]` : '';
  if (selector) /** @type {HTMLElement | null} */ (container.querySelector(selector))?.focus();
}

/**
 * Runs `refresh` now, and again `everyMs` after each run ends while the tab is visible: a hidden
 * tab asks the server nothing, and refreshes as soon as it is shown again. A run that resolves
 * `false` schedules no next one (the answer will not change by asking again).
 * @param {() => Promise<boolean | void>} refresh
 * @param {number} everyMs
 */
export function refreshWhileVisible(refresh, everyMs) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  async function run() {
    clearTimeout(timer);
    const again = await refresh();
    if (again !== false && !stopped && !document.hidden) timer = setTimeout(run, everyMs);
  }
  function onVisibilityChange() {
    clearTimeout(timer);
    if (!document.hidden && !stopped) void run();
  }
  document.addEventListener('visibilitychange', onVisibilityChange);
  void run();
  return {
    /** Refreshes at once (after an action), and goes on from there. */
    now: run,
    get stopped() {
      return stopped;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibilityChange);
    },
  };
}
