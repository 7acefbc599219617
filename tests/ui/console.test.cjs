// The console in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core; nothing downloads a browser). Run by console.sh against a
// real `vsl serve` with five idle hosts, the image "demo" and a raid=0+1 array.
// Env: VSL_API, VSL_TOKEN, UI_SHOTS (screenshot directory), EXAMPLE (two-tier.fml).
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const API = process.env.VSL_API;
const TOKEN = process.env.VSL_TOKEN;
const SHOTS = process.env.UI_SHOTS;
let passed = 0;
let failed = 0;

function check(what, ok, detail) {
  if (ok) { passed++; console.log('PASS: ' + what); } else { failed++; console.log('FAIL: ' + what + (detail ? ' — ' + detail : '')); }
}

async function api(method, p, body) {
  const res = await fetch(API + p, {
    method, headers: { Authorization: 'Bearer ' + TOKEN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const cspViolations = [];
  const pageErrors = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(15000);
  const shot = (name) => page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });

  // ---- sign in ----
  await page.goto(API + '/ui/');
  await page.getByLabel('API token').fill('wrong-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('.signin .error').filter({ hasText: 'invalid token' }).waitFor();
  check('a wrong token is refused on the sign-in page', true);
  await shot('signin');
  await page.getByLabel('API token').fill(TOKEN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Farms' }).waitFor();
  check('signed in: the farms view', page.url().endsWith('#/farms'));
  const cookies = await context.cookies();
  const sc = cookies.find((c) => c.name === 'vsl_session');
  check('the session cookie is HttpOnly and SameSite=Strict', sc && sc.httpOnly && sc.sameSite === 'Strict');
  check('the page cannot read the cookie', !(await page.evaluate(() => document.cookie)).includes('vsl_session'));
  const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
  check('no token in the page\'s storage', !stored.includes(TOKEN));
  await page.locator('#live.on').waitFor();
  check('the event stream is connected', true);

  // ---- CSRF from the page: the cookie travels, the header does not ----
  const csrf = await page.evaluate(async () => {
    const r = await fetch('/v1/hosts', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'x1', hw: 'x86-vm', initiators: ['iqn.2026-11.org.test:x1'] }) });
    return { status: r.status, body: await r.text() };
  });
  check('a cookie request without X-VSL-CSRF is refused (403, naming the header)',
    csrf.status === 403 && csrf.body.includes('X-VSL-CSRF'), JSON.stringify(csrf));

  // ---- designer: HTML in a name shows as text ----
  await page.goto(API + '/ui/#/designer');
  await page.getByRole('heading', { name: 'Designer' }).waitFor();
  const evil = '<img src=x id=pwn onerror=window.pwned=1>';
  await page.getByLabel('Farm name').fill(evil);
  await page.locator('#plan').click();
  await page.locator('#plan-error').waitFor();
  const errText = await page.locator('#plan-error').textContent();
  check('a farm name with HTML in it shows as text in the error', errText.includes(evil), errText);
  check('  and is not markup (no such element, no script ran)',
    (await page.locator('#pwn').count()) === 0 && !(await page.evaluate(() => window.pwned)));

  // ---- designer: the two-tier farm, dragged from the palette ----
  await page.getByLabel('Farm name').fill('two-tier');
  const ws = page.locator('#workspace');
  const pal = (kind) => page.locator(`.pal[data-kind="${kind}"]`);
  const set = async (label, value) => { const f = page.locator('.panel').getByLabel(label, { exact: true }); await f.fill(value); };
  const card = (kind, label) => page.locator(`.card[data-kind="${kind}"][aria-label="${label}"]`);

  await pal('subnet').dragTo(ws);
  await set('Subnet id', 'front'); await set('Name', 'Internet'); await set('IP (internal/external)', 'external'); await set('VLAN', 'outer-vlan');
  await pal('subnet').dragTo(ws);
  await set('Subnet id', 'back'); await set('Name', 'Backend'); await set('VLAN', 'inner-vlan');

  await pal('role').dragTo(ws);
  await set('Role id', 'web-server'); await set('Role name', 'Web server');
  await pal('disk').dragTo(card('role', 'Server role web-server'));
  await pal('image:demo').dragTo(page.locator('.card[data-kind="disk"]').first());
  await set('Backup policies (; between)', 'nightly');

  await pal('role').dragTo(ws);
  await set('Role id', 'db-server'); await set('Role name', 'Database server');
  await pal('disk').dragTo(card('role', 'Server role db-server'));
  await set('RAID level', '0+1');
  await set('Backup policies (; between)', 'level=0:nightly; level=1:hourly');
  await pal('image:demo').dragTo(card('disk', 'Disk LUN 0 64MB').last());

  await pal('global').dragTo(ws);
  await set('Global disk name', 'db-data');
  await pal('shared').dragTo(card('role', 'Server role db-server'));
  await set('Global disk name', 'db-data');

  await pal('tier').dragTo(ws);
  await set('Tier name', 'web'); await set('Server role id', 'web-server'); await set('Servers', '2');
  await set('Subnets (comma-separated ids)', 'front,back');
  // The second tier from the keyboard: focus the palette item, press Enter.
  await page.locator('#workspace').click({ position: { x: 5, y: 5 } });
  await pal('tier').focus();
  await page.keyboard.press('Enter');
  await set('Tier id', '2'); await set('Tier name', 'db'); await set('Server role id', 'db-server');
  await set('Min servers', '2'); await set('Max servers', '2'); await set('Servers', '2'); await set('Subnets (comma-separated ids)', 'back');

  const fml = await page.locator('#fml').textContent();
  check('the FML pane shows FML 1.2', fml.includes('<farm fmlversion="1.2">') && fml.includes('<shared-disk global-name="db-data" target="1"'));
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#download').click()]);
  const dl = fs.readFileSync(await download.path(), 'utf8');
  check('the download is the FML shown', dl === fml && download.suggestedFilename() === 'two-tier.fml', download.suggestedFilename());
  // The designer's farm is the example's: the server plans both the same.
  const mine = await api('POST', '/v1/farms/plan', { fml, name: 'two-tier' });
  const theirs = await api('POST', '/v1/farms/plan', { fml: fs.readFileSync(process.env.EXAMPLE, 'utf8'), name: 'two-tier' });
  check('the designed farm plans exactly like examples/two-tier.fml',
    mine.status === 200 && JSON.stringify(mine.body.actions) === JSON.stringify(theirs.body.actions),
    JSON.stringify(mine.body).slice(0, 300));

  // An error points at its element: a tier naming a role nobody defines.
  await card('tier', 'Tier db (2 × db-server)').click();
  await set('Server role id', 'nobody');
  await page.locator('#plan').click();
  await page.locator('#plan-error').filter({ hasText: 'nobody' }).waitFor();
  check('a validation error names the line and the problem',
    /farm\.fml:\d+:\d+: .*nobody/.test(await page.locator('#plan-error').textContent()));
  check('  and highlights the element', (await page.locator('.card.invalid[data-kind="tier"]').getAttribute('aria-label')) === 'Tier db (2 × nobody)');
  await set('Server role id', 'db-server');

  await page.locator('#plan').click();
  await page.locator('.plan h3').waitFor();
  const planText = await page.locator('.plan').textContent();
  check('the plan shows what will be added', /[1-9][0-9]* to add/.test(planText) && planText.includes('db-data'), planText.slice(0, 200));
  await shot('designer');

  await page.locator('#apply').click();
  await page.locator('#confirm-apply').waitFor();
  check('apply shows the plan first, and waits', /[1-9][0-9]* to add/.test(await page.locator('.plan').textContent()) &&
    (await api('GET', '/v1/farms/two-tier')).status === 404);
  await page.locator('#confirm-apply').click();
  await page.locator('.jobstate.done, .jobstate.failed').waitFor({ timeout: 60000 });
  const steps = await page.locator('.steps li').count();
  check('apply ran, its steps shown as they came', (await page.locator('.jobstate.done').count()) === 1 && steps > 5,
    await page.locator('.jobstate').textContent());

  // ---- the farms list, the farm's page ----
  await page.getByRole('link', { name: 'Farms' }).click();
  await page.getByRole('link', { name: 'two-tier' }).waitFor();
  check('the farms list shows the farm, its state and servers',
    /two-tier\s*ready\s*4/.test(await page.locator('tbody tr').first().textContent()), await page.locator('tbody tr').first().textContent());
  await shot('farms');
  await page.getByRole('link', { name: 'two-tier' }).click();
  await page.getByRole('heading', { name: /Farm two-tier/ }).waitFor();
  await page.locator('td >> text=mapped').first().waitFor();
  const farm = (await api('GET', '/v1/farms/two-tier')).body;
  const rows = await page.locator('table').first().locator('tbody tr').allTextContents();
  let all = farm.servers.length === 4;
  for (const s of farm.servers) {
    for (const d of s.disks) all = all && rows.some((r) => r.startsWith(s.name) && r.includes('LUN ' + d.target) && r.includes('mapped'));
  }
  for (const m of farm.shared_disks) all = all && rows.some((r) => r.startsWith(m.server) && r.includes('LUN ' + m.target) && r.includes('shared: db-data'));
  check('every server and LUN on the farm\'s page, mapped', all && rows.length === 6, rows.join(' | '));
  check('  with host, power, image and backup policy', rows.some((r) => r.includes('demo') && r.includes('nightly')) &&
    farm.servers.every((s) => rows.some((r) => r.includes(s.host))));
  await shot('farm');

  // ---- reconcile: three web servers ----
  await page.getByRole('link', { name: 'Change in the designer' }).click();
  await page.getByRole('heading', { name: 'Designer: two-tier' }).waitFor();
  await card('tier', 'Tier web (2 × web-server)').click();
  await set('Servers', '3');
  await page.locator('#apply').click();
  await page.locator('#confirm-apply').waitFor();
  check('the reconcile\'s plan adds a server', /[1-9][0-9]* to add/.test(await page.locator('.plan').textContent()), await page.locator('.plan h3').textContent());
  await page.locator('#confirm-apply').click();
  await page.locator('.jobstate.done, .jobstate.failed').waitFor({ timeout: 60000 });
  check('the reconcile ran', (await page.locator('.jobstate.done').count()) === 1, await page.locator('.jobstate').textContent());
  await page.locator('#farm-link').click();
  await page.locator('td >> text=mapped').first().waitFor();
  const rows2 = await page.locator('table').first().locator('tbody tr').allTextContents();
  check('the farm\'s page shows three web servers', rows2.filter((r) => r.includes('web-server')).length === 3, rows2.join(' | '));

  // ---- admin views ----
  await page.getByRole('link', { name: 'Hosts' }).click();
  await page.getByRole('cell', { name: 'h5', exact: true }).first().waitFor();
  check('hosts: five in the farm, named', (await page.locator('td >> text=in-farm').count()) === 5 &&
    (await page.locator('td a[href="#/farms/two-tier"]').count()) === 5);
  await shot('hosts');
  await page.getByRole('link', { name: 'Arrays' }).click();
  await page.locator('meter').first().waitFor();
  check('arrays: a capacity bar per array, qualities shown', (await page.locator('meter').count()) >= 2 &&
    (await page.locator('text=raid=0+1').count()) === 1);
  await page.locator('summary >> text=Disk wiring map (DWML)').first().click();
  check('arrays: the disk wiring map', /<\?xml|<dwml|<array/i.test(await page.locator('pre.dwml').first().textContent()),
    (await page.locator('pre.dwml').first().textContent()).slice(0, 100));
  await shot('arrays');
  await page.getByRole('link', { name: 'Volumes' }).click();
  await page.locator('svg.fig7').waitFor();
  const mappedCount = Number(await page.locator('.nodecount[data-state="mapped"]').textContent());
  const vols = (await api('GET', '/v1/volumes')).body.volumes.filter((v) => !v.parent_id && v.state === 'mapped');
  check('volumes: the FIG. 7 diagram counts the mapped units', mappedCount === vols.length && mappedCount === 6, `${mappedCount} vs ${vols.length}`);
  await shot('volumes');
  await page.locator('a.state-node[href="#/volumes/mapped"]').click();
  await page.waitForURL(/#\/volumes\/mapped$/);
  await page.locator('caption >> text=units in state mapped').waitFor();
  check('clicking a state lists its units', (await page.locator('table tbody tr').count()) === mappedCount);
  await page.getByRole('link', { name: 'Queue' }).click();
  await page.locator('td >> text=done').first().waitFor();
  check('queue: the requests', (await page.locator('td >> text=done').count()) > 5);
  await shot('queue');
  await page.getByRole('link', { name: 'Events' }).click();
  await page.locator('tbody tr').first().waitFor();
  let newest = 0;
  for (let i = 0; i < 100; i++) {
    const { body } = await api('GET', '/v1/events?limit=1000&after=' + newest);
    if (!body.events.length) break;
    newest = body.events[body.events.length - 1].id;
  }
  await api('POST', '/v1/disks/allocate?wait=true', { size: '1MiB' });
  const fresh = (await api('GET', '/v1/events?after=' + newest)).body.events.map((e) => String(e.id));
  await page.waitForFunction((ids) => ids.every((id) => [...document.querySelectorAll('tbody tr td:first-child')].some((td) => td.textContent === id)), fresh);
  check('events: new events appear live (the event stream)', fresh.length > 0 &&
    (await page.locator('tbody tr').first().textContent()).startsWith(fresh[fresh.length - 1]), fresh.join(','));
  await shot('events');

  // ---- destroy, plan first ----
  await page.goto(API + '/ui/#/farms/two-tier');
  await page.locator('#destroy').click();
  const dplan = await page.locator('.plan').textContent();
  check('destroy shows its plan first', /to remove/.test(dplan) && farm.servers.every((s) => dplan.includes(s.name)));
  await page.locator('#confirm-destroy').click();
  await page.locator('.jobstate.done, .jobstate.failed').waitFor({ timeout: 60000 });
  check('destroy ran', (await page.locator('.jobstate.done').count()) === 1, await page.locator('.jobstate').textContent());
  check('the farm is gone', (await api('GET', '/v1/farms/two-tier')).status === 404);

  // ---- a phone ----
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(API + '/ui/#/designer');
  await page.getByRole('heading', { name: 'Designer' }).waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check('the designer fits a phone\'s width', wide <= 390, String(wide));
  await shot('designer-phone');
  await page.setViewportSize({ width: 1366, height: 900 });

  // ---- sign out ----
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in to vsl' }).waitFor();
  const after = await page.evaluate(async () => (await fetch('/v1/farms')).status);
  check('sign-out ends the session on the server', after === 401);
  const stale = await fetch(API + '/v1/farms', { headers: { Cookie: 'vsl_session=' + sc.value } });
  check('  the old cookie is refused from anywhere', stale.status === 401);

  check('no CSP violation, no page error', cspViolations.length === 0 && pageErrors.length === 0,
    JSON.stringify([...cspViolations, ...pageErrors]).slice(0, 500));
  await browser.close();
}

main().catch((e) => { failed++; console.log('FAIL: ' + (e && e.stack || e)); }).finally(() => {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
