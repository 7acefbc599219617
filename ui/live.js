// The catalog's events as they happen (GET /v1/events/stream). One
// EventSource for the page; views subscribe while they are shown. The
// browser reconnects by itself, sending Last-Event-ID.
const listeners = new Set();
let source = null;

export function startLive() {
  if (source) return;
  source = new EventSource('/v1/events/stream');
  const dot = document.getElementById('live');
  source.onopen = () => { dot.textContent = 'live'; dot.className = 'live on'; };
  source.onerror = () => { dot.textContent = 'reconnecting'; dot.className = 'live'; };
  source.addEventListener('event', (m) => {
    let e;
    try { e = JSON.parse(m.data); } catch { return; }
    for (const fn of listeners) fn(e);
  });
}

export function stopLive() {
  if (source) source.close();
  source = null;
  listeners.clear();
}

// fn(event) for every event until the returned function is called.
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
