import { showAddTask } from './addTask.js';
import { onUnauthorized, session } from './api.js';
import { h } from './dom.js';
import { showLogin } from './login.js';
import { showOverview } from './overview.js';
import { showQueues } from './queues.js';
import { showTaskDetail } from './taskDetail.js';
import { showTasks } from './tasks.js';

/**
 * The single page: the hash is the route (#/, #/tasks?…, #/tasks/<id>, #/add?task=…, #/queues),
 * so the server serves one file and a view's URL can be bookmarked and reloaded. Each view
 * returns a stop function that ends its polling when another view replaces it.
 */

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const logout = /** @type {HTMLButtonElement} */ (document.getElementById('logout'));

/** @type {() => void} */
let stopView = () => undefined;

/** The route of the hash: its path and its query. */
function currentRoute() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const at = hash.indexOf('?');
  const path = at < 0 ? hash : hash.slice(0, at);
  return { path, query: new URLSearchParams(at < 0 ? '' : hash.slice(at + 1)) };
}

function markNavigation(/** @type {string} */ page) {
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.getAttribute('data-nav') === page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function render() {
  stopView();
  stopView = () => undefined;
  logout.hidden = session.get() === null;
  const { path, query } = currentRoute();
  if (path === '/' || path === '') {
    markNavigation('overview');
    stopView = showOverview(main);
  } else if (path === '/tasks') {
    markNavigation('tasks');
    stopView = showTasks(main, query);
  } else if (path.startsWith('/tasks/')) {
    markNavigation('tasks');
    stopView = showTaskDetail(main, decodeURIComponent(path.slice('/tasks/'.length)));
  } else if (path === '/add') {
    markNavigation('add');
    stopView = showAddTask(main, query);
  } else if (path === '/queues') {
    markNavigation('queues');
    stopView = showQueues(main);
  } else {
    markNavigation('');
    main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Back to the overview')));
  }
}

onUnauthorized(() => {
  // The calls of one refresh are refused together: one form is enough.
  if (main.querySelector('form.login')) return;
  // A kept token that is refused now (the server's tokens changed) is of no use any more.
  session.clear();
  stopView();
  stopView = () => undefined;
  logout.hidden = true;
  showLogin(main, render);
});

logout.addEventListener('click', () => {
  session.clear();
  render();
});

window.addEventListener('hashchange', render);
render();
