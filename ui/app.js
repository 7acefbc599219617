// The console: sign-in, then one view per URL (#/farms, #/farms/NAME,
// #/designer[/NAME], #/hosts, #/arrays, #/volumes[/STATE], #/queue, #/events).
// A tenant is offered the farms, the designer, its requests and its events;
// hosts, arrays and volumes are the admin's (the server refuses them to a
// tenant anyway: the console says so instead of showing an empty page).
import { h, clear, toast } from './dom.js';
import * as api from './api.js';
import { startLive, stopLive } from './live.js';
import { farmsView } from './views/farms.js';
import { farmView } from './views/farm.js';
import { designerView } from './views/designer.js';
import { hostsView, arraysView, volumesView, queueView, eventsView } from './views/admin.js';

// [address, view, title, for the admin only]
const routes = [
  [/^#\/farms\/([^/]+)$/, farmView, 'Farm'],
  [/^#\/farms$/, farmsView, 'Farms'],
  [/^#\/designer(?:\/([^/]+))?$/, designerView, 'Designer'],
  [/^#\/hosts$/, hostsView, 'Hosts', true],
  [/^#\/arrays$/, arraysView, 'Arrays', true],
  [/^#\/volumes(?:\/([a-z]+))?$/, volumesView, 'Volumes', true],
  [/^#\/queue$/, queueView, 'Request queue'],
  [/^#\/events$/, eventsView, 'Events'],
];

// What a view shows when it cannot be shown: a heading that says why and the
// server's message (as text), never an empty page.
function problem(title, e) {
  let head = 'Something went wrong';
  if (e instanceof api.ApiError && e.status === 404) head = 'Not found';
  else if (e instanceof api.ApiError && e.status === 403) head = 'Not allowed';
  return [h('h1', {}, head), h('p', { class: 'error', role: 'alert', id: 'view-error' }, title + ': ' + e.message)];
}

function whoText() {
  return api.me.admin ? ['Signed in as ', h('span', { class: 'admin' }, 'the admin')]
    : ['Signed in as tenant ', h('span', { class: 'tenant' }, api.me.tenant)];
}

const main = document.getElementById('view');
let leave = null;
let signedIn = false;

function signInView() {
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
  const err = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to vsl'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('p', { class: 'hint' }, 'The admin token is in DATA/admin.token; a tenant\'s token is the one `vsl tenant add` printed. It is sent once; the console then uses a session cookie.'),
    h('button', { type: 'submit' }, 'Sign in'),
    err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api.signIn(input.value);
      input.value = '';
      await enter();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  clear(main, form);
  input.focus();
}

async function enter() {
  signedIn = true;
  document.getElementById('nav').hidden = false;
  for (const a of document.querySelectorAll('#nav a[data-admin]')) a.hidden = !api.me.admin;
  clear(document.getElementById('who'), whoText()).hidden = false;
  document.getElementById('signout').hidden = false;
  startLive();
  if (!location.hash || location.hash === '#/' || location.hash === '#/signin') location.hash = '#/farms';
  else route();
}

function signedOut() {
  signedIn = false;
  stopLive();
  if (leave) leave();
  leave = null;
  document.getElementById('nav').hidden = true;
  clear(document.getElementById('who')).hidden = true;
  document.getElementById('signout').hidden = true;
  document.getElementById('live').textContent = '';
  signInView();
}

async function route() {
  if (!signedIn) return;
  if (leave) leave();
  leave = null;
  const hash = location.hash || '#/farms';
  for (const a of document.querySelectorAll('#nav a')) {
    if (hash.startsWith(a.getAttribute('href'))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  for (const [re, view, title, adminOnly] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    clear(main);
    toast('');
    if (adminOnly && !api.me.admin) {
      clear(main, h('h1', {}, title),
        h('p', { class: 'error', role: 'alert', id: 'view-error' }, 'This view is for the admin; you are signed in as tenant ',
          api.me.tenant, '.'),
        h('p', {}, 'Your farms, their servers and disks are under ', h('a', { href: '#/farms' }, 'Farms'), '.'));
      main.focus();
      return;
    }
    try {
      leave = await view(main, ...m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x))));
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 401) return signedOut();
      clear(main, problem(title, e));
    }
    main.focus();
    return;
  }
  clear(main, h('p', {}, 'No such view: ', hash));
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await api.signOut(); } catch (e) { toast(e.message, true); }
  // Whoever signs in next (perhaps someone else) starts at the farms; an
  // expired session (401) keeps the address to come back to instead.
  history.replaceState(null, '', '#/signin');
  signedOut();
});
window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (ev) => {
  if (ev.reason instanceof api.ApiError && ev.reason.status === 401) signedOut();
});

(async () => {
  try {
    await api.whoami();
    await enter();
  } catch {
    signedOut();
  }
})();
