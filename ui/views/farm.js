// A farm's page: every server, its host and power, each disk per LUN with its
// FIG. 7 state, array, image and backup policy, the shared disks; apply (as a
// reconcile, through the designer) and destroy with the plan first; progress
// live.
import { h, clear, table, bytes, toast } from '../dom.js';
import { get, del, me } from '../api.js';
import { onEvent } from '../live.js';
import { followJob } from './jobs.js';

export async function farmView(main, name) {
  const details = h('div');
  const actions = h('div', { class: 'actions' });
  const confirmBox = h('div');
  const progress = h('section', { class: 'progress', 'aria-label': 'Progress' });
  const live = h('ul', { class: 'livelog', 'aria-label': 'Live changes' });
  clear(main, h('h1', {}, 'Farm ', h('span', { class: 'name' }, name)), actions, confirmBox, details, progress,
    h('h2', {}, 'Live changes'), live);

  let farm = null;
  let units = new Set();
  async function load() {
    // The farm first: another tenant's farm is 404 before anything else is asked.
    const f = await get('/v1/farms/' + encodeURIComponent(name));
    // A volume names its array; GET /v1/arrays is the admin's (403 to a tenant).
    const [vols, arrays] = await Promise.all([get('/v1/volumes'),
      me.admin ? get('/v1/arrays') : Promise.resolve({ arrays: [] })]);
    farm = f;
    const byId = new Map(vols.volumes.map((v) => [v.id, v]));
    const arrayName = new Map(arrays.arrays.map((a) => [a.id, a.name]));
    const arrayOf = (v) => v.array || arrayName.get(v.array_id) || (v.array_id ? String(v.array_id) : '?');
    const where = (v) => {
      if (!v) return '';
      if (v.array_id) return arrayOf(v);
      const members = vols.volumes.filter((m) => m.parent_id === v.id).map(arrayOf);
      return [...new Set(members)].join(' + ') + ' (meta)';
    };
    units = new Set();
    const rows = [];
    for (const s of f.servers) {
      for (const d of s.disks) {
        const v = byId.get(d.unit);
        units.add(d.unit);
        rows.push([s.name, s.role, s.hw || '', s.host || '', s.powered_on ? 'on' : 'off', 'LUN ' + d.target,
          d.unit ? String(d.unit) : '', h('span', { class: 'state ' + (v ? v.state : '') }, v ? v.state : '?'),
          where(v), d.image || '', bytes(d.size_bytes), (d.backup_policies || []).join(', '), d.raid_level || '']);
      }
      for (const m of (f.shared_disks || []).filter((x) => x.server === s.name)) {
        const g = (f.global_disks || []).find((x) => x.global_name === m.global_name);
        const v = g ? byId.get(g.unit) : null;
        if (g) units.add(g.unit);
        rows.push([s.name, s.role, s.hw || '', s.host || '', s.powered_on ? 'on' : 'off', 'LUN ' + m.target,
          g ? String(g.unit) : '', h('span', { class: 'state ' + (v ? v.state : '') }, v ? v.state : '?'),
          where(v), 'shared: ' + m.global_name, g ? bytes(g.size_bytes) : '',
          g ? (g.backup_policies || []).join(', ') : '', g ? g.raid_level || '' : '']);
      }
    }
    clear(details,
      h('p', {}, 'State: ', h('span', { class: 'state ' + f.state }, f.state), ' · power driver: ', f.power,
        f.last_error ? h('span', { class: 'error' }, ' · last failure: ' + f.last_error) : null),
      table(['Server', 'Role', 'Hardware', 'Host', 'Power', 'LUN', 'Unit', 'State (FIG. 7)', 'Array', 'Image', 'Size',
        'Backup policy', 'RAID'], rows, 'Servers and their disks'),
      table(['Global disk', 'Unit', 'Size', 'Servers'], (f.global_disks || []).map((g) => [g.global_name,
        String(g.unit), bytes(g.size_bytes),
        (f.shared_disks || []).filter((m) => m.global_name === g.global_name).map((m) => `${m.server} (LUN ${m.target})`).join(', ')]),
      'Shared disks'));
  }

  function destroyPlan() {
    const items = [];
    for (const s of farm.servers) {
      items.push(`- server ${s.name}${s.host ? ' (host ' + s.host + ')' : ''}: power off, unmap, unbind, scrub, free`);
      for (const d of s.disks) items.push(`    - LUN ${d.target}: unit ${d.unit} (${bytes(d.size_bytes)})`);
    }
    for (const g of farm.global_disks || []) items.push(`- global disk ${g.global_name}: unit ${g.unit}, scrubbed and freed`);
    const go = h('button', { type: 'button', class: 'danger', id: 'confirm-destroy' }, 'Destroy ' + name);
    const cancel = h('button', { type: 'button' }, 'Cancel');
    clear(confirmBox, h('section', { class: 'plan', 'aria-label': 'Plan' },
      h('h3', {}, `Plan: 0 to add, 0 to change, ${farm.servers.length + (farm.global_disks || []).length} to remove`),
      h('pre', { class: 'plantext' }, items.join('\n')), go, cancel));
    cancel.addEventListener('click', () => clear(confirmBox));
    go.addEventListener('click', async () => {
      clear(confirmBox);
      try {
        const job = await del('/v1/farms/' + encodeURIComponent(name));
        const end = await followJob(job, progress);
        toast(`destroy of ${name}: ${end.state}`, end.state !== 'done');
        if (end.state === 'done') clear(details, h('p', {}, 'The farm is gone: every disk was scrubbed and freed.'));
      } catch (e) {
        toast(e.message, true);
      }
    });
    go.focus();
  }

  await load();
  clear(actions,
    h('a', { class: 'button', href: '#/designer/' + encodeURIComponent(name) }, 'Change in the designer'),
    h('button', { type: 'button', class: 'danger', id: 'destroy', onclick: destroyPlan }, 'Destroy…'));

  let timer = null;
  const off = onEvent((e) => {
    if (e.entity === 'volume' && !units.has(e.entity_id)) return;
    live.prepend(h('li', {}, `#${e.id} ${e.entity} ${e.entity_id}: ${e.from || ''} → ${e.to || ''} (${e.op})`, e.detail ? ' ' + e.detail : ''));
    while (live.children.length > 50) live.lastChild.remove();
    clearTimeout(timer);
    timer = setTimeout(() => load().catch(() => {}), 300);
  });
  return () => { off(); clearTimeout(timer); };
}
