// The admin's views: hosts, arrays, volumes (the FIG. 7 state machine with a
// count per state), the request queue and the events. A tenant uses the last
// two as well: the server gives it only its own requests and events.
import { h, clear, table, bytes, when } from '../dom.js';
import { get, me } from '../api.js';
import { onEvent } from '../live.js';

// The newest `keep` rows of a list the API gives oldest first in pages
// (?after=ID&limit=1000): walks the pages (at most 100) and keeps the tail.
async function newest(path, key, keep) {
  let after = 0;
  let rows = [];
  for (let i = 0; i < 100; i++) {
    const page = (await get(`${path}${path.includes('?') ? '&' : '?'}limit=1000&after=${after}`))[key];
    if (!page.length) break;
    rows = rows.concat(page).slice(-keep);
    after = page[page.length - 1].id;
    if (page.length < 1000) break;
  }
  return rows;
}

// Re-runs load() (at most every 500 ms) while events arrive.
function follow(load) {
  let timer = null;
  const off = onEvent(() => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; load().catch(() => {}); }, 500);
  });
  return () => { off(); clearTimeout(timer); };
}

export async function hostsView(main) {
  const body = h('div');
  clear(main, h('h1', {}, 'Hosts'), body);
  const load = async () => {
    const [{ hosts }, { farms }] = await Promise.all([get('/v1/hosts'), get('/v1/farms')]);
    const farmName = new Map();
    for (const f of await Promise.all(farms.map((f) => get('/v1/farms/' + encodeURIComponent(f.name)).catch(() => null)))) {
      if (f) farmName.set(f.farm_id, f.name);
    }
    clear(body, table(['Host', 'State', 'Farm', 'Hardware', 'Initiators', 'CHAP user'],
      hosts.map((x) => [x.name, h('span', { class: 'state ' + x.state }, x.state),
        x.farm_id ? h('a', { href: '#/farms/' + encodeURIComponent(farmName.get(x.farm_id) || '') }, farmName.get(x.farm_id) || String(x.farm_id)) : '',
        x.hw, (x.initiators || []).join(', '), x.chap_user || '']), `${hosts.length} hosts, ${farms.length} farms`));
  };
  await load();
  return follow(load);
}

export async function arraysView(main) {
  const body = h('div');
  clear(main, h('h1', {}, 'Arrays'), body);
  const load = async () => {
    const [{ arrays }, { volumes }] = await Promise.all([get('/v1/arrays'), get('/v1/volumes')]);
    const dwml = new Map();
    for (const d of await Promise.all(arrays.map((a) => get('/v1/arrays/' + encodeURIComponent(a.name)).catch(() => null)))) {
      if (d) dwml.set(d.id, d.dwml || '');
    }
    clear(body, arrays.map((a) => {
      const used = volumes.filter((v) => v.array_id === a.id && v.state !== 'free' && !v.vanished)
        .reduce((s, v) => s + v.size, 0);
      const id = 'cap-' + a.id;
      const quals = Object.entries(a.qualities || {}).map(([k, v]) => `${k}=${v}`);
      return h('section', { class: 'array', 'aria-label': 'Array ' + a.name },
        h('h2', {}, a.name, ' ', h('small', {}, a.driver)),
        h('label', { for: id }, `Capacity: ${bytes(used)} used, ${bytes(Math.max(0, a.capacity - used))} free of ${bytes(a.capacity)}`),
        h('meter', { id, min: 0, max: a.capacity || 1, value: used, high: (a.capacity || 1) * 0.9 }),
        h('p', {}, `Volumes: ${a.volumes} (${a.free_volumes} free) · ` + (a.volume_size ? `volumes of ${bytes(a.volume_size)}` : 'volumes cut to the size asked')),
        h('p', {}, 'Qualities: ', quals.length ? quals.join(', ') : 'none'),
        h('details', {}, h('summary', {}, 'Disk wiring map (DWML)'), h('pre', { class: 'dwml' }, dwml.get(a.id) || '')),
        h('details', {}, h('summary', {}, 'Volumes on this array'),
          table(['Volume', 'Array volume', 'Size', 'State', 'Parent (meta)'],
            volumes.filter((v) => v.array_id === a.id).map((v) => [String(v.id), v.array_volume, bytes(v.size),
              v.state, v.parent_id ? String(v.parent_id) : '']))));
    }));
  };
  await load();
  return follow(load);
}

// FIG. 7: the states and the transitions between them.
const STATES = {
  free: [10, 40], allocated: [200, 40], configured: [390, 40], bound: [580, 40], mapped: [580, 170],
  unmapped: [390, 170], unbound: [200, 170], scrubbing: [200, 290], unconfigured: [10, 170],
};
const MOVES = [
  ['free', 'allocated', 'allocate'], ['allocated', 'configured', 'make-meta'], ['configured', 'bound', 'bind'],
  ['bound', 'mapped', 'map'], ['mapped', 'unmapped', 'unmap'], ['unmapped', 'unbound', 'unbind'],
  ['unbound', 'bound', 'rebind'], ['unbound', 'scrubbing', 'scrub'], ['unbound', 'unconfigured', 'break-meta'],
  ['unconfigured', 'free', 'deallocate'], ['configured', 'unconfigured', 'failure'],
];

function diagram(counts) {
  const W = 120;
  const H = 44;
  const svg = h('svg:svg', { viewBox: '0 0 720 345', class: 'fig7', role: 'group', 'aria-label': 'FIG. 7 disk-unit states' },
    h('svg:defs', {}, h('svg:marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' },
      h('svg:path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }))));
  for (const [a, b, label] of MOVES) {
    const [x1, y1] = STATES[a];
    const [x2, y2] = STATES[b];
    const cx1 = x1 + W / 2;
    const cy1 = y1 + H / 2;
    const cx2 = x2 + W / 2;
    const cy2 = y2 + H / 2;
    // From the edge of one box to the edge of the other.
    const dx = cx2 - cx1;
    const dy = cy2 - cy1;
    const t = (w, hgt) => Math.min(Math.abs(dx) > 0 ? (w / 2) / Math.abs(dx) : Infinity, Math.abs(dy) > 0 ? (hgt / 2) / Math.abs(dy) : Infinity);
    const s = t(W, H);
    svg.append(h('svg:line', { x1: cx1 + dx * s, y1: cy1 + dy * s, x2: cx2 - dx * s, y2: cy2 - dy * s, class: 'move', 'marker-end': 'url(#arrow)' }),
      h('svg:text', { x: (cx1 + cx2) / 2, y: (cy1 + cy2) / 2 - 4, class: 'movelabel' }, label));
  }
  for (const [name, [x, y]] of Object.entries(STATES)) {
    const a = h('svg:a', { href: '#/volumes/' + name, class: 'state-node', 'aria-label': `${name}: ${counts[name] || 0} units` },
      h('svg:rect', { x, y, width: W, height: H, rx: 8, class: 'node ' + name }),
      h('svg:text', { x: x + W / 2, y: y + 19, class: 'nodename' }, name),
      h('svg:text', { x: x + W / 2, y: y + 36, class: 'nodecount', 'data-state': name }, String(counts[name] || 0)));
    svg.append(a);
  }
  return svg;
}

export async function volumesView(main, state) {
  const body = h('div');
  clear(main, h('h1', {}, 'Volumes'), body);
  const load = async () => {
    const { volumes } = await get('/v1/volumes');
    // Disk units: top-level volumes (a meta volume's members count in it).
    const units = volumes.filter((v) => !v.parent_id && !v.vanished);
    const counts = {};
    for (const v of units) counts[v.state] = (counts[v.state] || 0) + 1;
    const shown = state ? units.filter((v) => v.state === state) : units;
    clear(body, h('figure', {}, diagram(counts), h('figcaption', {}, 'Disk units per FIG. 7 state; choose a state to list its units.')),
      table(['Unit', 'Type', 'State', 'Size', 'Array', 'Farm', 'Image', 'Clean'],
        shown.map((v) => [String(v.id), v.type, v.state, bytes(v.size), v.array_id ? String(v.array_id) : 'meta',
          v.farm_id ? String(v.farm_id) : '', v.image_id ? String(v.image_id) : '', v.clean ? 'yes' : 'no']),
        state ? `${shown.length} units in state ${state}` : `${shown.length} units`));
  };
  await load();
  return follow(load);
}

export async function queueView(main) {
  const body = h('div');
  clear(main, h('h1', {}, me.admin ? 'Request queue' : 'Your requests'), body);
  const load = async () => {
    const requests = await newest('/v1/requests', 'requests', 200);
    clear(body, table(['Request', 'Op', 'State', 'Actor', 'Attempts', 'Reason', 'Updated'],
      requests.reverse().map((r) => [String(r.id), r.op, h('span', { class: 'state ' + r.state }, r.state),
        r.actor, String(r.attempts), r.reason || '', when(r.updated_ms)]), 'Newest first (at most 200)'));
  };
  await load();
  return follow(load);
}

export async function eventsView(main) {
  const list = h('tbody');
  clear(main, h('h1', {}, me.admin ? 'Events' : 'Your events'),
    h('div', { class: 'scroll' }, h('table', { id: 'events' }, h('caption', {}, me.admin ? 'Newest first, live'
      : `Events of tenant ${me.tenant}'s farms, disks, hosts and requests; newest first, live`),
      h('thead', {}, h('tr', {}, ['Event', 'Time', 'Entity', 'From', 'To', 'Op', 'Actor', 'Detail'].map((t) => h('th', { scope: 'col' }, t)))),
      list)));
  const row = (e) => h('tr', {}, [String(e.id), when(e.time_ms), `${e.entity} ${e.entity_id}`, e.from || '',
    e.to || '', e.op || '', e.actor || '', e.detail || ''].map((c) => h('td', {}, c)));
  for (const e of (await newest('/v1/events', 'events', 200)).reverse()) list.append(row(e));
  return onEvent((e) => {
    list.prepend(row(e));
    while (list.children.length > 500) list.lastChild.remove();
  });
}
