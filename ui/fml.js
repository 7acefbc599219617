// The designer's model and FML 1.2: toFml writes the text (and the line each
// element starts on, so the server's "farm.fml:LINE:COL:" errors point back at
// it); fromFml reads a farm's FML into the model.
let nextUid = 1;
export const uid = () => 'e' + nextUid++;

export function emptyModel() {
  return { name: '', items: [] };
}

const esc = (s) => String(s ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;');

export function toFml(model) {
  const out = ['<?xml version="1.0"?>', '<farm fmlversion="1.2">'];
  const lines = new Map();
  const at = (u) => lines.set(u, out.length + 1);
  const of = (k) => model.items.filter((i) => i.kind === k);
  for (const s of of('subnet')) {
    at(s.uid);
    out.push(`  <subnet id="${esc(s.id)}" name="${esc(s.name)}" ip="${esc(s.ip)}" mask="${esc(s.mask)}"` +
      (s.vlan ? ` vlan="${esc(s.vlan)}"` : '') + ' />');
  }
  for (const t of of('tier')) {
    at(t.uid);
    out.push(`  <tier id="${esc(t.id)}" name="${esc(t.name)}">`);
    String(t.subnets || '').split(',').map((x) => x.trim()).filter(Boolean).forEach((sn, i) =>
      out.push(`    <interface name="eth${i}" subnet="${esc(sn)}" />`));
    out.push(`    <role>${esc(t.role)}</role>`, `    <min-servers>${esc(t.min)}</min-servers>`,
      `    <max-servers>${esc(t.max)}</max-servers>`, `    <init-servers>${esc(t.init)}</init-servers>`, '  </tier>');
  }
  const globals = of('global');
  if (globals.length) {
    out.push('  <farm-global-disks>');
    for (const g of globals) {
      at(g.uid);
      out.push(`    <global-disk global-name="${esc(g.name)}" drivesize="${esc(g.drivesize)}" />`);
    }
    out.push('  </farm-global-disks>');
  }
  for (const r of of('role')) {
    at(r.uid);
    out.push(`  <server-role id="${esc(r.id)}" name="${esc(r.name)}">`, `    <hw>${esc(r.hw)}</hw>`);
    for (const d of r.disks) {
      at(d.uid);
      out.push(`    <disk target="${esc(d.target)}" drivetype="${esc(d.drivetype)}" drivesize="${esc(d.drivesize)}">`);
      if (d.image) out.push(`      <diskimage type="system">${esc(d.image)}</diskimage>`);
      if (d.raid) out.push(`      <attribute name="raid-level" value="${esc(d.raid)}" />`);
      for (const p of String(d.backup || '').split(';').map((x) => x.trim()).filter(Boolean)) {
        out.push(`      <attribute name="backup-policy" value="${esc(p)}" />`);
      }
      out.push('    </disk>');
    }
    for (const s of r.shared) {
      at(s.uid);
      out.push(`    <shared-disk global-name="${esc(s.global)}" target="${esc(s.target)}" drivetype="${esc(s.drivetype)}" />`);
    }
    out.push('  </server-role>');
  }
  out.push('</farm>');
  return { text: out.join('\n') + '\n', lines };
}

// The element a server error's line falls in: the last one starting at or
// before it.
export function elementAtLine(lines, line) {
  let best = null;
  let bestLine = 0;
  for (const [u, l] of lines) if (l <= line && l >= bestLine) { best = u; bestLine = l; }
  return best;
}

export function fromFml(text) {
  const doc = new DOMParser().parseFromString(text, 'application/xml');
  if (doc.querySelector('parsererror')) throw new Error('the farm\'s FML does not parse as XML');
  const model = emptyModel();
  const kids = (el, name) => [...el.children].filter((c) => c.localName === name);
  const txt = (el, name) => { const c = kids(el, name)[0]; return c ? c.textContent.trim() : ''; };
  const farm = doc.documentElement;
  for (const s of kids(farm, 'subnet')) {
    model.items.push({ uid: uid(), kind: 'subnet', id: s.getAttribute('id') || '', name: s.getAttribute('name') || '',
      ip: s.getAttribute('ip') || '', mask: s.getAttribute('mask') || '', vlan: s.getAttribute('vlan') || '' });
  }
  for (const t of kids(farm, 'tier')) {
    model.items.push({ uid: uid(), kind: 'tier', id: t.getAttribute('id') || '', name: t.getAttribute('name') || '',
      role: txt(t, 'role'), min: txt(t, 'min-servers'), max: txt(t, 'max-servers'), init: txt(t, 'init-servers'),
      subnets: kids(t, 'interface').map((i) => i.getAttribute('subnet')).join(',') });
  }
  for (const gs of kids(farm, 'farm-global-disks')) {
    for (const g of kids(gs, 'global-disk')) {
      model.items.push({ uid: uid(), kind: 'global', name: g.getAttribute('global-name') || '',
        drivesize: g.getAttribute('drivesize') || '' });
    }
  }
  for (const r of kids(farm, 'server-role')) {
    const role = { uid: uid(), kind: 'role', id: r.getAttribute('id') || '', name: r.getAttribute('name') || '',
      hw: txt(r, 'hw'), disks: [], shared: [] };
    for (const d of kids(r, 'disk')) {
      const attrs = kids(d, 'attribute');
      const val = (n) => attrs.filter((a) => a.getAttribute('name') === n).map((a) => a.getAttribute('value'));
      role.disks.push({ uid: uid(), kind: 'disk', target: d.getAttribute('target') || '',
        drivetype: d.getAttribute('drivetype') || 'scsi', drivesize: d.getAttribute('drivesize') || '',
        image: txt(d, 'diskimage'), raid: val('raid-level')[0] || '', backup: val('backup-policy').join('; ') });
    }
    for (const s of kids(r, 'shared-disk')) {
      role.shared.push({ uid: uid(), kind: 'shared', global: s.getAttribute('global-name') || '',
        target: s.getAttribute('target') || '', drivetype: s.getAttribute('drivetype') || 'scsi' });
    }
    model.items.push(role);
  }
  return model;
}
