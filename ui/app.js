// The console: sign-in, then one view per URL (#/farms, #/farms/NAME,
// #/designer[/NAME], #/hosts, #/arrays, #/volumes[/STATE], #/queue, #/events).
import { h, clear, toast } from './dom.js';
import * as api from './api.js';
import { startLive, stopLive } from './live.js';
import { farmsView } from './views/farms.js';
import { farmView } from './views/farm.js';
import { designerView } from './views/designer.js';
import { hostsView, arraysView, volumesView, queueView, eventsView } from './views/admin.js';

const routes = [
  [/^#\/farms\/([^/]+)$/, farmView],
  [/^#\/farms$/, farmsView],
  [/^#\/designer(?:\/([^/]+))?$/, designerView],
  [/^#\/hosts$/, hostsView],
  [/^#\/arrays$/, arraysView],
  [/^#\/volumes(?:\/([a-z]+))?$/, volumesView],
  [/^#\/queue$/, queueView],
  [/^#\/events$/, eventsView],
];

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
    h('p', { class: 'hint' }, 'The admin token is in DATA/admin.token. It is sent once; the console then uses a session cookie.'),
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
  for (const [re, view] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    clear(main);
    toast('');
    try {
      leave = await view(main, ...m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x))));
    } catch (e) {
      if (e instanceof api.ApiError && e.status === 401) return signedOut();
      clear(main, h('p', { class: 'error', role: 'alert' }, e.message));
    }
    main.focus();
    return;
  }
  clear(main, h('p', {}, 'No such view: ', hash));
}

document.getElementById('signout').addEventListener('click', async () => {
  try { await api.signOut(); } catch (e) { toast(e.message, true); }
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
