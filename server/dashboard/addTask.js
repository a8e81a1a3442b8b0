import { ApiFailure, Unauthorized, api, operatorOnly, segment } from './api.js';
import { h, message, statusBadge } from './dom.js';
import { FINAL_STATUSES, formatJson } from './format.js';

/** How often the new task's status is asked for, at most, until it ends. */
const POLL_MS = 1000;

/**
 * @typedef {object} Field  one control of the form, named as the API names its field
 * @property {string} name  `name`, `queue`, `delay`, `label`, `params` or `params.<property>`
 * @property {HTMLElement} wrapper
 * @property {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 * @property {HTMLElement} error  the message next to the control (aria-describedby)
 * @property {() => { value?: unknown, error?: string }} read  the value to send (none: left out), or why it cannot be sent
 */

let fieldCount = 0;

/**
 * A labelled control with its hint and its error message, both tied to it by aria-describedby.
 * @param {{ name: string, label: string, control: HTMLElement, hint?: string, required?: boolean, checkbox?: boolean, read: Field['read'] }} spec
 * @returns {Field}
 */
function makeField({ name, label, control, hint, required = false, checkbox = false, read }) {
  const id = /** @type {HTMLInputElement} */ (control).id || `field-${++fieldCount}`;
  control.id = id;
  control.setAttribute('name', name);
  if (required) control.setAttribute('aria-required', 'true');
  const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
  const hintElement = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  control.setAttribute('aria-describedby', [hintElement ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '));
  const marker = required ? h('span', { class: 'required', title: 'required' }, ' *') : '';
  const labelElement = h('label', { for: id }, checkbox ? control : '', checkbox ? ' ' : '', label, marker);
  const wrapper = h('div', { class: `field${checkbox ? ' checkbox' : ''}`, 'data-field': name }, labelElement, checkbox ? '' : control, hintElement, error);
  return { name, wrapper, control: /** @type {HTMLInputElement} */ (control), error, read };
}

/** Reads a text control: its trimmed-of-nothing value, left out when empty (an error when required). */
function textReader(/** @type {HTMLInputElement | HTMLSelectElement} */ control, /** @type {boolean} */ required) {
  return () => {
    if (control.value === '') return required ? { error: 'Required.' } : {};
    return { value: control.value };
  };
}

/** Reads a number control: a finite number, left out when empty (an error when required). */
function numberReader(/** @type {HTMLInputElement} */ control, /** @type {boolean} */ required) {
  return () => {
    if (control.validity.badInput) return { error: 'Not a number.' };
    if (control.value === '') return required ? { error: 'Required.' } : {};
    const value = Number(control.value);
    return Number.isFinite(value) ? { value } : { error: 'Not a number.' };
  };
}

/** Reads a JSON textarea: any JSON value (or a JSON object only), left out when empty unless required. */
function jsonReader(/** @type {HTMLTextAreaElement} */ control, /** @type {boolean} */ required, objectOnly = false) {
  return () => {
    const text = control.value.trim();
    if (text === '') return objectOnly ? { value: {} } : required ? { error: 'Required (as JSON).' } : {};
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { error: `Not valid JSON: ${error instanceof Error ? error.message : String(error)}` };
    }
    if (objectOnly && (value === null || typeof value !== 'object' || Array.isArray(value))) return { error: 'The params must be a JSON object, such as {"name": "value"}.' };
    return { value };
  };
}

const jsonTextarea = (/** @type {unknown} */ initial, rows = 3) => /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'json-input', rows, spellcheck: 'false', autocomplete: 'off' }, initial === undefined ? '' : JSON.stringify(initial, null, 2)));

/** What a property's hint says: its description, and the checks the form does not show otherwise. */
function hintOf(/** @type {any} */ property, /** @type {string} */ extra = '') {
  const parts = [];
  if (typeof property.description === 'string') parts.push(property.description);
  if (typeof property.format === 'string' && property.format !== 'email') parts.push(`format: ${property.format}`);
  if (typeof property.minLength === 'number' && property.minLength > 1) parts.push(`at least ${property.minLength} characters`);
  if (typeof property.maxLength === 'number') parts.push(`at most ${property.maxLength} characters`);
  if (extra) parts.push(extra);
  return parts.join(' · ') || undefined;
}

/** A finite bound worth showing on a number input (zod's integers say ±2^53−1). */
const bound = (/** @type {unknown} */ value) => (typeof value === 'number' && Number.isFinite(value) && Math.abs(value) < Number.MAX_SAFE_INTEGER ? value : null);

/**
 * The form's field for one property of the params' JSON Schema: a text, email or number input, a
 * select for an enum of strings, a checkbox for a boolean, and a JSON textarea for the rest.
 * @param {string} key
 * @param {any} property
 * @param {boolean} required
 * @returns {Field}
 */
function propertyField(key, property, required) {
  const name = `params.${key}`;
  const p = property && typeof property === 'object' ? property : {};
  const enumValues = Array.isArray(p.enum) && p.enum.length > 0 && p.enum.every((/** @type {unknown} */ v) => typeof v === 'string') ? /** @type {string[]} */ (p.enum) : null;
  if (enumValues && (p.type === 'string' || p.type === undefined)) {
    const control = /** @type {HTMLSelectElement} */ (
      h('select', {}, required ? '' : h('option', { value: '' }, '(none)'), enumValues.map((v) => h('option', { value: v, selected: p.default === v }, v)))
    );
    return makeField({ name, label: key, control, hint: hintOf(p), required, read: textReader(control, required) });
  }
  if (p.type === 'string') {
    const control = /** @type {HTMLInputElement} */ (h('input', { type: p.format === 'email' ? 'email' : 'text', value: typeof p.default === 'string' ? p.default : null, autocomplete: 'off' }));
    return makeField({ name, label: key, control, hint: hintOf(p), required, read: textReader(control, required) });
  }
  if (p.type === 'number' || p.type === 'integer') {
    const control = /** @type {HTMLInputElement} */ (
      h('input', { type: 'number', step: p.type === 'integer' ? '1' : 'any', min: bound(p.minimum), max: bound(p.maximum), value: typeof p.default === 'number' ? String(p.default) : null })
    );
    return makeField({ name, label: key, control, hint: hintOf(p, p.type === 'integer' ? 'a whole number' : ''), required, read: numberReader(control, required) });
  }
  if (p.type === 'boolean') {
    const control = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', checked: p.default === true }));
    return makeField({ name, label: key, control, hint: hintOf(p), required, checkbox: true, read: () => ({ value: control.checked }) });
  }
  // Objects, arrays, unions, nullable types: as JSON, checked by the server against the schema.
  const control = jsonTextarea(p.default);
  const shape = typeof p.type === 'string' ? `JSON ${p.type}` : 'JSON';
  return makeField({ name, label: `${key} (${shape})`, control, hint: hintOf(p, p.type === 'string' ? '' : 'as JSON, for example ["a", "b"] or {"k": 1}'), required, read: jsonReader(control, required) });
}

/** The param fields of a schema with properties; null when it has none (the JSON editor then). */
function schemaFields(/** @type {any} */ schema) {
  if (!schema || schema.type !== 'object' || !schema.properties || typeof schema.properties !== 'object') return null;
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  return Object.entries(schema.properties).map(([key, property]) => propertyField(key, property, required.has(key)));
}

/** The field an API error names: `params.to`, or the nearest field above `params.items[2].sku`. */
function fieldFor(/** @type {Map<string, Field>} */ fields, /** @type {string | undefined} */ name) {
  let candidate = name ?? '';
  while (candidate) {
    const found = fields.get(candidate);
    if (found) return found;
    const shorter = candidate.replace(/(?:\.[^.[\]]*|\[\d+\])$/, '');
    if (shorter === candidate) break;
    candidate = shorter;
  }
  return undefined;
}

/**
 * Add a task: the registered tasks' form, with param fields built from each one's JSON Schema (or
 * a JSON editor), queue, delay and label; POST /api/tasks, its refusals shown at the field they
 * name, and the new task's status followed live until it ends.
 * @param {HTMLElement} main
 * @param {URLSearchParams} view the hash's query (`task` chooses a task)
 * @returns {() => void} stops the polling
 */
export function showAddTask(main, view) {
  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** The id whose status is followed; a new submission replaces it. */
  let following = '';
  /** @type {any[]} */
  let registered = [];
  /** @type {Map<string, Field>} */
  const fields = new Map();

  const general = h('div', { class: 'feedback', id: 'add-general', tabindex: '-1' });
  const result = h('div', { class: 'add-result' });
  const taskSelect = /** @type {HTMLSelectElement} */ (h('select', { id: 'add-task', disabled: true }, h('option', { value: '' }, 'Loading…')));
  const taskField = makeField({ name: 'name', label: 'Task', control: taskSelect, required: true, read: textReader(taskSelect, true) });
  const about = h('p', { class: 'hint', id: 'add-task-about', 'aria-live': 'polite' });
  const paramsBox = h('div', { class: 'params-fields' });
  const schemaBox = h('div', {});
  const paramsSet = h('fieldset', { class: 'params', hidden: true }, h('legend', {}, 'Parameters'), paramsBox, schemaBox);
  const queueHolder = h('div', {});
  const delay = /** @type {HTMLInputElement} */ (h('input', { id: 'add-delay', type: 'number', min: '0', step: 'any', inputmode: 'decimal' }));
  const delayField = makeField({
    name: 'delay',
    label: 'Delay (seconds)',
    control: delay,
    hint: 'Empty: it may run at once',
    read: () => {
      const read = numberReader(delay, false)();
      if (read.value === undefined) return read;
      const seconds = /** @type {number} */ (read.value);
      return seconds < 0 ? { error: 'Zero or more seconds.' } : { value: Math.round(seconds * 1000) };
    },
  });
  const label = /** @type {HTMLInputElement} */ (h('input', { id: 'add-label', type: 'text', autocomplete: 'off' }));
  const labelField = makeField({ name: 'label', label: 'Label', control: label, hint: 'Shown in the task table', read: textReader(label, false) });
  const submitButton = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', disabled: true }, 'Add the task'));
  const form = /** @type {HTMLFormElement} */ (
    h(
      'form',
      { class: 'add-task', novalidate: true, 'aria-labelledby': 'add-title' },
      general,
      taskField.wrapper,
      about,
      paramsSet,
      h('fieldset', { class: 'options' }, h('legend', {}, 'Options'), queueHolder, delayField.wrapper, labelField.wrapper),
      h('div', { class: 'buttons' }, submitButton),
    )
  );
  main.replaceChildren(h('h1', { id: 'add-title' }, 'Add a task'), h('div', { class: 'add-layout' }, form, result));
  for (const field of [taskField, delayField, labelField]) fields.set(field.name, field);

  /** The queue option: a select of the queues when this token may list them, else free text. */
  function queueField(/** @type {any[] | ApiFailure} */ queues) {
    if (queues instanceof ApiFailure) {
      const control = /** @type {HTMLInputElement} */ (h('input', { id: 'add-queue', type: 'text', autocomplete: 'off', placeholder: 'the task\'s own' }));
      return makeField({ name: 'queue', label: 'Queue', control, hint: 'A queue name; empty for the queue the task goes to by itself', read: textReader(control, false) });
    }
    const control = /** @type {HTMLSelectElement} */ (h('select', { id: 'add-queue' }, h('option', { value: '' }, 'the task\'s own'), queues.map((q) => h('option', { value: q.queue }, q.queue))));
    return makeField({ name: 'queue', label: 'Queue', control, read: textReader(control, false) });
  }

  function chooseTask() {
    clearErrors();
    for (const name of [...fields.keys()]) if (name === 'params' || name.startsWith('params.')) fields.delete(name);
    const task = registered.find((t) => t.name === taskSelect.value);
    window.history.replaceState(null, '', task ? `#/add?task=${encodeURIComponent(task.name)}` : '#/add');
    paramsSet.hidden = !task;
    submitButton.disabled = !task;
    if (!task) {
      about.textContent = '';
      paramsBox.replaceChildren();
      schemaBox.replaceChildren();
      return;
    }
    about.textContent = `${task.kind === 'callback' ? 'A callback' : 'A task class'} from ${task.from}; goes to queue ${task.queue ?? '(decided per task by its class)'} unless you choose one.`;
    const built = schemaFields(task.paramsSchema);
    if (built) {
      for (const field of built) fields.set(field.name, field);
      paramsBox.replaceChildren(...(built.length ? built.map((f) => f.wrapper) : [h('p', { class: 'muted' }, 'This task takes no parameters.')]));
    } else {
      const editor = jsonTextarea({}, 6);
      const field = makeField({
        name: 'params',
        label: 'Params (JSON object)',
        control: editor,
        hint: task.paramsSchema ? 'Its schema is not an object with properties: write the params as JSON (the schema is below).' : 'This task has no params schema: write its params as a JSON object, such as {"name": "value"}.',
        read: jsonReader(editor, false, true),
      });
      fields.set('params', field);
      paramsBox.replaceChildren(field.wrapper);
    }
    schemaBox.replaceChildren(task.paramsSchema ? h('details', { class: 'schema' }, h('summary', {}, 'Params schema (JSON Schema)'), h('pre', { class: 'json' }, formatJson(task.paramsSchema))) : '');
  }

  function clearErrors() {
    general.replaceChildren();
    for (const field of fields.values()) {
      field.control.removeAttribute('aria-invalid');
      field.error.textContent = '';
      field.error.hidden = true;
    }
  }

  function showFieldError(/** @type {Field} */ field, /** @type {string} */ text) {
    field.control.setAttribute('aria-invalid', 'true');
    field.error.textContent = text;
    field.error.hidden = false;
  }

  async function submit(/** @type {SubmitEvent} */ event) {
    event.preventDefault();
    if (submitButton.disabled) return;
    clearErrors();
    /** @type {Record<string, unknown>} */
    const body = {};
    /** @type {Record<string, unknown>} */
    const params = {};
    let invalid = false;
    for (const field of fields.values()) {
      const read = field.read();
      if (read.error) {
        showFieldError(field, read.error);
        invalid = true;
      } else if (read.value === undefined) continue;
      else if (field.name.startsWith('params.')) params[field.name.slice('params.'.length)] = read.value;
      else body[field.name] = read.value;
    }
    if (invalid) {
      // The first one in the page's order.
      /** @type {HTMLElement | null} */ (form.querySelector('[aria-invalid="true"]'))?.focus();
      return;
    }
    if (!fields.has('params')) body.params = params;
    submitButton.disabled = true;
    submitButton.textContent = 'Adding…';
    try {
      const answer = await api('/api/tasks', { method: 'POST', body });
      if (stopped) return;
      follow(answer);
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      const text = error instanceof Error ? error.message : String(error);
      // Params refused by the schema: each problem at its own field, all at once.
      const placed = error instanceof ApiFailure ? error.issues.map((issue) => ({ field: fieldFor(fields, issue.field), text: issue.message })) : [];
      const field = error instanceof ApiFailure ? fieldFor(fields, error.field) : undefined;
      if (placed.length > 0 && placed.every((p) => p.field)) {
        /** @type {Map<Field, string[]>} */
        const byField = new Map();
        for (const p of placed) byField.set(/** @type {Field} */ (p.field), [...(byField.get(/** @type {Field} */ (p.field)) ?? []), p.text]);
        for (const [f, texts] of byField) showFieldError(f, texts.join('; '));
        /** @type {HTMLElement | null} */ (form.querySelector('[aria-invalid="true"]'))?.focus();
      } else if (field) {
        showFieldError(field, text);
        field.control.focus();
      } else {
        general.replaceChildren(message(text));
        general.focus();
      }
    } finally {
      submitButton.disabled = false;
      submitButton.textContent = 'Add the task';
    }
  }

  /** Shows the new task, with a link to its page, and follows its status until it ends. */
  function follow(/** @type {any} */ answer) {
    clearTimeout(timer);
    following = answer.id;
    const status = h('span', { class: 'new-task-status' }, statusBadge(answer.status ?? 'enqueued'));
    const link = h('a', { href: `#/tasks/${segment(answer.id)}`, class: 'mono', 'data-link': 'new-task' }, answer.id);
    result.replaceChildren(
      h('section', { class: 'added', 'aria-labelledby': 'added-title' },
        h('h2', { id: 'added-title' }, 'Task added'),
        h('p', {}, `${answer.taskName} on queue ${answer.queue ?? '—'}: `, link),
        h('p', { role: 'status', 'aria-live': 'polite' }, 'Status: ', status, h('span', { class: 'muted poll-note' }, '')),
      ),
    );
    link.focus();
    schedule(answer.id, answer.status);
  }

  function schedule(/** @type {string} */ id, /** @type {string | null} */ status) {
    const note = result.querySelector('.poll-note');
    if (status && FINAL_STATUSES.includes(status)) {
      if (note) note.textContent = '';
      return;
    }
    if (note) note.textContent = ' (following it live)';
    if (!document.hidden) timer = setTimeout(() => void poll(id), POLL_MS);
  }

  async function poll(/** @type {string} */ id) {
    try {
      const detail = await api(`/api/tasks/${segment(id)}`);
      if (stopped || id !== following) return;
      result.querySelector('.new-task-status')?.replaceChildren(statusBadge(detail.task.status));
      schedule(id, detail.task.status);
    } catch (error) {
      if (error instanceof Unauthorized || stopped || id !== following) return;
      result.querySelector('.poll-note')?.replaceChildren(` (could not follow it: ${error instanceof Error ? error.message : String(error)})`);
    }
  }

  function onVisibilityChange() {
    clearTimeout(timer);
    if (!document.hidden && following && !stopped) void poll(following);
  }

  form.addEventListener('submit', (event) => void submit(/** @type {SubmitEvent} */ (event)));
  taskSelect.addEventListener('change', chooseTask);
  document.addEventListener('visibilitychange', onVisibilityChange);

  async function load() {
    try {
      const [tasks, queues] = await Promise.all([api('/api/registered-tasks'), operatorOnly(api('/api/queues'))]);
      if (stopped) return;
      registered = tasks;
      const queue = queueField(queues);
      fields.set('queue', queue);
      queueHolder.replaceChildren(queue.wrapper, queues instanceof ApiFailure ? h('p', { class: 'hint' }, `The queues cannot be listed with this token (${queues.message}).`) : '');
      const wanted = view.get('task') ?? '';
      taskSelect.replaceChildren(
        h('option', { value: '' }, tasks.length ? 'Choose a task…' : 'No task is registered'),
        ...tasks.map((/** @type {any} */ t) => h('option', { value: t.name, selected: t.name === wanted }, t.name)),
      );
      taskSelect.disabled = tasks.length === 0;
      chooseTask();
    } catch (error) {
      if (error instanceof Unauthorized || stopped) return;
      general.replaceChildren(message(error instanceof Error ? error.message : String(error)));
    }
  }

  void load();
  return () => {
    stopped = true;
    following = '';
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibilityChange);
  };
}

