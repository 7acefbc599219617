// The catalog's events as they happen (GET /v1/events/stream). One
// EventSource for the page; views subscribe while they are shown. The
// browser reconnects by itself, sending Last-Event-ID.
const listeners = new Set();
let source = null;

let retry = null;
let lastId = null;

export function startLive() {
  if (source) return;
  // After a refusal (503: the server's streams are all taken) EventSource
  // gives up for good; open a new one a little later, from the last event seen.
  source = new EventSource('/v1/events/stream' + (lastId ? '?after=' + encodeURIComponent(lastId) : ''));
  const dot = document.getElementById('live');
  source.onopen = () => { dot.textContent = 'live'; dot.className = 'live on'; };
  source.onerror = () => {
    dot.textContent = 'reconnecting';
    dot.className = 'live';
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      retry = setTimeout(() => { retry = null; startLive(); }, 5000);
    }
  };
  source.addEventListener('event', (m) => {
    lastId = m.lastEventId || lastId;
    let e;
    try { e = JSON.parse(m.data); } catch { return; }
    for (const fn of listeners) fn(e);
  });
}

export function stopLive() {
  if (source) source.close();
  source = null;
  clearTimeout(retry);
  retry = null;
  lastId = null;
  listeners.clear();
}

// fn(event) for every event until the returned function is called.
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
