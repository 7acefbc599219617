// Designer: a palette dragged (or, from the keyboard, activated) into a
// workspace; the selected element's attributes in a side panel; the FML it
// makes beside it, downloadable, checked by the server's plan (errors point at
// the element); applied as a new farm or as a reconcile of an existing one.
import { h, clear, toast } from '../dom.js';
import { get, post, ApiError } from '../api.js';
import { uid, emptyModel, toFml, fromFml, elementAtLine } from '../fml.js';
import { followJob, planBox } from './jobs.js';

const PALETTE = [
  ['tier', 'Tier'], ['role', 'Server role'], ['disk', 'Disk'], ['shared', 'Shared disk'],
  ['global', 'Global disk'], ['subnet', 'Subnet'],
];

const FIELDS = {
  subnet: [['id', 'Subnet id'], ['name', 'Name'], ['ip', 'IP (internal/external)'], ['mask', 'Mask'], ['vlan', 'VLAN']],
  tier: [['id', 'Tier id'], ['name', 'Tier name'], ['role', 'Server role id'], ['min', 'Min servers'],
    ['max', 'Max servers'], ['init', 'Servers'], ['subnets', 'Subnets (comma-separated ids)']],
  role: [['id', 'Role id'], ['name', 'Role name'], ['hw', 'Hardware type']],
  disk: [['target', 'Target (LUN)'], ['drivesize', 'Size'], ['drivetype', 'Drive type'], ['image', 'OS image'],
    ['raid', 'RAID level'], ['backup', 'Backup policies (; between)']],
  shared: [['global', 'Global disk name'], ['target', 'Target (LUN)'], ['drivetype', 'Drive type']],
  global: [['name', 'Global disk name'], ['drivesize', 'Size']],
};

export async function designerView(main, farmName) {
  let model = emptyModel();
  let selected = null;
  let lines = new Map();
  let errorAt = null;
  if (farmName) {
    const f = await get('/v1/farms/' + encodeURIComponent(farmName));
    if (!f.fml) throw new Error(`farm ${farmName} has no FML recorded`);
    model = fromFml(f.fml);
    model.name = farmName;
  }
  const images = (await get('/v1/images')).images || [];

  const count = (k) => model.items.filter((i) => i.kind === k).length;
  const roles = () => model.items.filter((i) => i.kind === 'role');
  const find = (u) => {
    for (const i of model.items) {
      if (i.uid === u) return { item: i, parent: null };
      if (i.kind === 'role') {
        for (const c of [...i.disks, ...i.shared]) if (c.uid === u) return { item: c, parent: i };
      }
    }
    return null;
  };
  const freeTarget = (r) => {
    const used = new Set([...r.disks, ...r.shared].map((d) => Number(d.target)));
    let t = 0;
    while (used.has(t)) t++;
    return String(t);
  };

  // Adds a palette element: into the selected role (disk, shared disk, an
  // image onto its boot disk) or into the workspace.
  function add(kind, into) {
    let role = into ? find(into)?.item : selected ? find(selected)?.item : null;
    if (role && role.kind !== 'role') role = find(selected)?.parent || null;
    if (kind.startsWith('image:')) {
      const image = kind.slice(6);
      const target = into && find(into)?.item.kind === 'disk' ? find(into).item : null;
      if (target) { target.image = image; return select(target.uid); }
      role = role || roles()[roles().length - 1];
      if (!role) return toast('drop an OS image onto a server role or a disk', true);
      let d = role.disks.find((x) => x.target === '0');
      if (!d) { d = newDisk(role); role.disks.push(d); }
      d.image = image;
      return select(d.uid);
    }
    let item;
    if (kind === 'disk' || kind === 'shared') {
      role = role || roles()[roles().length - 1];
      if (!role) return toast('add a server role first, then drop disks onto it', true);
      if (kind === 'disk') { item = newDisk(role); role.disks.push(item); }
      else {
        const g = model.items.find((i) => i.kind === 'global');
        item = { uid: uid(), kind: 'shared', global: g ? g.name : '', target: freeTarget(role), drivetype: 'scsi' };
        role.shared.push(item);
      }
      return select(item.uid);
    }
    const n = count(kind) + 1;
    if (kind === 'tier') {
      const r = roles()[0];
      item = { uid: uid(), kind, id: String(n), name: 'tier' + n, role: r ? r.id : '', min: '1', max: '4', init: '1', subnets: '' };
    } else if (kind === 'role') {
      item = { uid: uid(), kind, id: 'role' + n, name: 'Role ' + n, hw: 'x86-vm', disks: [], shared: [] };
    } else if (kind === 'global') {
      item = { uid: uid(), kind, name: 'global' + n, drivesize: '32MB' };
    } else if (kind === 'subnet') {
      item = { uid: uid(), kind, id: 'net' + n, name: 'Subnet ' + n, ip: 'internal', mask: '255.255.255.0', vlan: '' };
    } else return;
    model.items.push(item);
    select(item.uid);
  }
  function newDisk(role) {
    return { uid: uid(), kind: 'disk', target: freeTarget(role), drivetype: 'scsi', drivesize: '64MB', image: '', raid: '', backup: '' };
  }
  function remove(u) {
    const f = find(u);
    if (!f) return;
    if (f.parent) {
      f.parent.disks = f.parent.disks.filter((x) => x.uid !== u);
      f.parent.shared = f.parent.shared.filter((x) => x.uid !== u);
    } else model.items = model.items.filter((x) => x.uid !== u);
    select(null);
  }

  // ---- layout ----
  const nameInput = h('input', { id: 'farm-name', value: model.name, autocomplete: 'off' });
  const palette = h('ul', { class: 'palette', 'aria-label': 'Palette' });
  const workspace = h('div', { class: 'workspace', id: 'workspace', 'aria-label': 'Workspace (drop here)' });
  const panel = h('aside', { class: 'panel', 'aria-label': 'Attributes' });
  const fmlText = h('pre', { class: 'fml', id: 'fml', tabindex: 0, 'aria-label': 'FML 1.2' });
  const download = h('a', { class: 'button', id: 'download', download: 'farm.fml', href: '#' }, 'Download FML');
  const result = h('div', { class: 'result', id: 'result', 'aria-live': 'polite' });
  const progress = h('section', { class: 'progress', 'aria-label': 'Progress' });
  const planBtn = h('button', { type: 'button', id: 'plan' }, 'Check (plan)');
  const applyBtn = h('button', { type: 'button', id: 'apply' }, farmName ? 'Apply changes (reconcile)' : 'Apply');

  for (const [k, label] of PALETTE) palette.append(paletteItem(k, label));
  // The images this principal may use: a tenant's own and the shared ones
  // (GET /v1/images gives a tenant no others).
  for (const im of images) palette.append(paletteItem('image:' + im.name, 'OS image ' + im.name + (im.shared ? ' (shared)' : '')));
  function paletteItem(kind, label) {
    const b = h('button', { type: 'button', draggable: 'true', class: 'pal', 'data-kind': kind,
      title: 'Drag into the workspace, or press Enter to add to the selection' }, label);
    b.addEventListener('dragstart', (ev) => { ev.dataTransfer.setData('text/plain', kind); ev.dataTransfer.effectAllowed = 'copy'; });
    b.addEventListener('click', () => { add(kind); render(); });
    return h('li', {}, b);
  }
  function dropZone(el, into) {
    el.addEventListener('dragover', (ev) => { ev.preventDefault(); el.classList.add('over'); });
    el.addEventListener('dragleave', () => el.classList.remove('over'));
    el.addEventListener('drop', (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      el.classList.remove('over');
      const kind = ev.dataTransfer.getData('text/plain');
      if (kind) { add(kind, into); render(); }
    });
  }
  dropZone(workspace, null);

  function select(u) {
    selected = u;
  }

  function card(item, parentRole) {
    const label = {
      tier: `Tier ${item.name} (${item.init} × ${item.role || '?'})`,
      role: `Server role ${item.id}`,
      disk: `Disk LUN ${item.target} ${item.drivesize}${item.image ? ' · ' + item.image : ''}`,
      shared: `Shared disk ${item.global} at LUN ${item.target}`,
      global: `Global disk ${item.name} ${item.drivesize}`,
      subnet: `Subnet ${item.id} (${item.ip})`,
    }[item.kind];
    // A role holds other cards, so it is a group whose title is the control;
    // every other card is the control itself.
    const isGroup = item.kind === 'role';
    const control = { tabindex: 0, role: 'button', 'aria-pressed': String(selected === item.uid), 'data-uid': item.uid };
    const title = h('span', Object.assign({ class: 'cardtitle' }, isGroup ? control : {}), label);
    const c = h('div', Object.assign({ class: 'card ' + item.kind + (selected === item.uid ? ' selected' : '') + (errorAt === item.uid ? ' invalid' : ''),
      'data-kind': item.kind, 'aria-label': label }, isGroup ? { role: 'group' } : control), title);
    const pick = (ev) => { ev.stopPropagation(); select(item.uid); render(); };
    const key = isGroup ? title : c;
    c.addEventListener('click', pick);
    key.addEventListener('keydown', (ev) => {
      if (ev.target !== key) return;
      if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(ev); }
      if (ev.key === 'Delete') { ev.preventDefault(); remove(item.uid); render(); }
    });
    if (item.kind === 'role') {
      dropZone(c, item.uid);
      const kids = h('div', { class: 'children' }, item.disks.map((d) => card(d, item)), item.shared.map((d) => card(d, item)));
      c.append(kids);
    }
    if (item.kind === 'disk') dropZone(c, item.uid);
    return c;
  }

  function renderPanel() {
    const f = selected ? find(selected) : null;
    if (!f) {
      clear(panel, h('h2', {}, 'Attributes'), h('p', {}, 'Select an element in the workspace.'));
      return;
    }
    const { item } = f;
    const fields = FIELDS[item.kind].map(([key, label]) => {
      const id = 'attr-' + key;
      const input = h('input', { id, value: item[key] ?? '', autocomplete: 'off', 'data-key': key });
      if (key === 'image' || key === 'role' || key === 'global') {
        const list = h('datalist', { id: id + '-list' },
          (key === 'image' ? images.map((i) => i.name)
            : key === 'role' ? roles().map((r) => r.id)
              : model.items.filter((i) => i.kind === 'global').map((g) => g.name)).map((v) => h('option', { value: v })));
        input.setAttribute('list', id + '-list');
        input.addEventListener('input', () => { item[key] = input.value; renderDrawing(); });
        return h('div', { class: 'field' }, h('label', { for: id }, label), input, list);
      }
      input.addEventListener('input', () => { item[key] = input.value; renderDrawing(); });
      return h('div', { class: 'field' }, h('label', { for: id }, label), input);
    });
    const rm = h('button', { type: 'button', class: 'danger', id: 'remove' }, 'Remove');
    rm.addEventListener('click', () => { remove(item.uid); render(); });
    clear(panel, h('h2', {}, 'Attributes: ', item.kind), fields, rm);
  }

  function renderDrawing() {
    const focusUid = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.uid : null;
    clear(workspace, model.items.length ? null : h('p', { class: 'hint' }, 'Drag tiers, server roles, disks, subnets and images here (or select and press Enter on a palette item).'),
      model.items.filter((i) => i.kind !== 'role').map((i) => card(i)),
      roles().map((r) => card(r)));
    if (focusUid) { const el = workspace.querySelector(`[data-uid="${focusUid}"]`); if (el) el.focus(); }
    const out = toFml(model);
    lines = out.lines;
    fmlText.textContent = out.text;
    const name = nameInput.value.trim() || 'farm';
    download.setAttribute('download', name.replace(/[^A-Za-z0-9._-]/g, '_') + '.fml');
    if (download.href.startsWith('blob:')) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(new Blob([out.text], { type: 'application/xml' }));
  }

  function render() {
    renderDrawing();
    renderPanel();
  }

  function showError(e) {
    const m = /farm\.fml:(\d+):(\d+): /.exec(e.message);
    errorAt = m ? elementAtLine(lines, Number(m[1])) : null;
    clear(result, h('p', { class: 'error', role: 'alert', id: 'plan-error' }, e.message,
      errorAt ? ' (the highlighted element)' : ''));
    renderDrawing();
  }

  function body() {
    return { fml: toFml(model).text, name: nameInput.value.trim(), file: 'farm.fml' };
  }

  planBtn.addEventListener('click', async () => {
    errorAt = null;
    try {
      const plan = await post('/v1/farms/plan', body());
      clear(result, planBox(plan));
      renderDrawing();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e);
    }
  });
  // Apply: the plan first, then the apply only when confirmed (of exactly
  // the FML that was planned).
  applyBtn.addEventListener('click', async () => {
    errorAt = null;
    try {
      const planned = body();
      const plan = await post('/v1/farms/plan', planned);
      const go = h('button', { type: 'button', id: 'confirm-apply' }, 'Apply this plan');
      const cancel = h('button', { type: 'button' }, 'Cancel');
      clear(result, planBox(plan), h('div', { class: 'actions' }, go, cancel));
      cancel.addEventListener('click', () => clear(result));
      go.addEventListener('click', () => runApply(planned));
      go.focus();
      renderDrawing();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e);
    }
  });
  async function runApply(planned) {
    try {
      for (const b of result.querySelectorAll('button')) b.disabled = true;
      const job = await post('/v1/farms/apply', planned);
      const end = await followJob(job, progress);
      toast(`${end.kind} of ${end.farm}: ${end.state}`, end.state !== 'done');
      if (end.state === 'done') {
        progress.append(h('p', {}, h('a', { href: '#/farms/' + encodeURIComponent(end.farm), id: 'farm-link' }, 'Open farm ' + end.farm)));
      }
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showError(e);
    }
  }
  nameInput.addEventListener('input', renderDrawing);

  // Opening an FML file (e.g. one made by `vsl farm plan`'s users, or one
  // downloaded earlier) puts it into the workspace; a new farm takes its name
  // from the file's.
  const openInput = h('input', { type: 'file', id: 'open-fml', accept: '.fml,.xml,application/xml,text/xml' });
  openInput.addEventListener('change', async () => {
    const file = openInput.files && openInput.files[0];
    if (!file) return;
    errorAt = null;
    try {
      const text = await file.text();
      model = fromFml(text);
      if (!farmName) nameInput.value = file.name.replace(/\.(fml|xml)$/i, '');
      selected = null;
      clear(result);
      clear(progress);
      render();
      toast(`opened ${file.name}`);
    } catch (e) {
      clear(result, h('p', { class: 'error', role: 'alert', id: 'plan-error' }, `${file.name}: ${e.message}`));
    }
    openInput.value = '';
  });

  clear(main,
    h('h1', {}, farmName ? 'Designer: ' + farmName : 'Designer'),
    h('div', { class: 'field inline' }, h('label', { for: 'farm-name' }, 'Farm name'), nameInput),
    h('div', { class: 'field inline' }, h('label', { for: 'open-fml' }, 'Open an FML file'), openInput),
    h('div', { class: 'designer' },
      h('section', { class: 'palettebox' }, h('h2', {}, 'Palette'), palette),
      h('section', { class: 'wsbox' }, h('h2', {}, 'Workspace'), workspace),
      panel,
      h('section', { class: 'fmlbox' }, h('h2', {}, 'FML 1.2'), fmlText, download)),
    h('div', { class: 'actions' }, planBtn, applyBtn),
    result, progress);
  if (farmName) nameInput.setAttribute('readonly', '');
  render();
  return () => { if (download.href.startsWith('blob:')) URL.revokeObjectURL(download.href); };
}
