import { Unauthorized, api, session } from './api.js';
import { h, message } from './dom.js';

/**
 * The login form, shown when the API answers 401: the token is tried on GET /api/stats before it
 * is kept (in sessionStorage, for this tab only), and a refused one is not kept.
 * @param {HTMLElement} main
 * @param {() => void} onLoggedIn
 */
export function showLogin(main, onLoggedIn) {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true });
  const feedback = h('div', { class: 'feedback' });
  const form = h(
    'form',
    { class: 'login', onsubmit: (/** @type {SubmitEvent} */ event) => submit(event) },
    h('h1', {}, 'Log in'),
    h('p', {}, 'This server needs an API token (the one given to taskq serve with --token, TASKQ_API_TOKEN or api.tokens).'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit' }, 'Log in'),
    feedback,
  );

  async function submit(/** @type {SubmitEvent} */ event) {
    event.preventDefault();
    const token = /** @type {HTMLInputElement} */ (input).value.trim();
    if (!token) return;
    session.set(token);
    try {
      await api('/api/stats', { quiet: true });
      onLoggedIn();
    } catch (error) {
      session.clear();
      const text = error instanceof Unauthorized ? `That token was refused: ${error.message}` : String(error instanceof Error ? error.message : error);
      feedback.replaceChildren(message(text));
      /** @type {HTMLInputElement} */ (input).select();
    }
  }

  main.replaceChildren(form);
  input.focus();
}
