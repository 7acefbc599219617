// The console for tenants, in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core). Run by console.sh after console.test.cjs, on
// the same `vsl serve`, once the admin added the tenants alpha and beta
// (`vsl tenant add`), a host "ta1" whose hardware type holds HTML, alpha's
// image "alphaimg" and the shared image "demo".
//
// Beta signs in first and keeps its events view open (the live stream);
// alpha signs in, opens an FML file in the designer (one with HTML in a
// backup policy first: the error shows it as text), applies its farm, finds
// it on its farm's page and its events; beta imports an image (its own
// events arrive live), then finds nothing of alpha's: not in its farms list,
// not by the farm page's URL ("Not found"), not in the designer, not in its
// events, not in its image palette.
// At the end beta's page signs out and the admin signs in on it.
// Env: VSL_API, VSL (the binary), TOKEN_A, TOKEN_B, TOKEN_ADMIN, UI_SHOTS, FML_GOOD,
// FML_BAD, EVIL_HW (host ta1's hardware type), IMAGE (a file to import).
'use strict';
const path = require('path');
const { execFileSync } = require('child_process');
const { chromium } = require('playwright-core');

const API = process.env.VSL_API;
const TA = process.env.TOKEN_A;
const TB = process.env.TOKEN_B;
const SHOTS = process.env.UI_SHOTS;
const EVIL_HW = process.env.EVIL_HW;
let passed = 0;
let failed = 0;

function check(what, ok, detail) {
  if (ok) { passed++; console.log('PASS: ' + what); } else { failed++; console.log('FAIL: ' + what + (detail ? ' — ' + detail : '')); }
}

async function api(token, method, p) {
  const res = await fetch(API + p, { method, headers: { Authorization: 'Bearer ' + token } });
  return { status: res.status, body: await res.json().catch(() => null) };
}

// Every event a token may see (the API's pages of 1000).
async function allEvents(token) {
  let after = 0;
  let all = [];
  for (let i = 0; i < 100; i++) {
    const { body } = await api(token, 'GET', `/v1/events?limit=1000&after=${after}`);
    if (!body.events.length) break;
    all = all.concat(body.events);
    after = body.events[body.events.length - 1].id;
  }
  return all;
}

// A browser context (its own cookies) signed in with `token`.
async function signedIn(browser, token, problems) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));
  page.setDefaultTimeout(15000);
  await page.goto(API + '/ui/');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Farms' }).waitFor();
  await page.locator('#live.on').waitFor();
  return page;
}

const eventIds = (page) => page.locator('#events tbody tr td:first-child').allTextContents();

async function main() {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  const problems = [];
  const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });

  // ---- beta signs in and watches its events ----
  const b = await signedIn(browser, TB, problems);
  check('beta: the header names tenant beta', (await b.locator('#who').textContent()) === 'Signed in as tenant beta',
    await b.locator('#who').textContent());
  const navB = await b.locator('#nav a:visible').allTextContents();
  check('beta: the views offered are farms, designer, queue, events (no hosts, arrays, volumes)',
    navB.join(',') === 'Farms,Designer,Queue,Events', navB.join(','));
  await b.goto(API + '/ui/#/arrays');
  await b.locator('#view-error').waitFor();
  check('beta: #/arrays by URL says the view is the admin\'s (not a blank page)',
    (await b.locator('#view-error').textContent()).includes('for the admin') &&
    (await b.locator('main h1').textContent()) === 'Arrays');
  check('  and the server refuses it too (403)', (await b.evaluate(async () => (await fetch('/v1/arrays')).status)) === 403);
  await shot(b, 'tenant-admin-only');
  await b.goto(API + '/ui/#/events');
  await b.getByRole('heading', { name: 'Your events' }).waitFor();
  const bBefore = await eventIds(b);

  // ---- alpha signs in, opens an FML file, applies its farm ----
  const a = await signedIn(browser, TA, problems);
  check('alpha: the header names tenant alpha', (await a.locator('#who').textContent()) === 'Signed in as tenant alpha');
  await a.goto(API + '/ui/#/designer');
  await a.getByRole('heading', { name: 'Designer' }).waitFor();
  const palA = await a.locator('.pal[data-kind^="image:"]').allTextContents();
  check('alpha: the palette lists its image and the shared one, no other',
    palA.sort().join(',') === 'OS image alphaimg,OS image demo (shared)', palA.join(','));

  // An FML error holding HTML (a backup policy's value) shows as text.
  // Opening reads the file asynchronously: wait for the FML pane to show it.
  const opened = (marker) => a.waitForFunction((m) => document.getElementById('fml').textContent.includes(m), marker);
  await a.getByLabel('Open an FML file').setInputFiles(process.env.FML_BAD);
  await opened('id=pwnfml');
  await a.locator('#plan').click();
  await a.locator('#plan-error').waitFor();
  const badText = await a.locator('#plan-error').textContent();
  check('an FML error with HTML in it shows as text', badText.includes('<img src=x id=pwnfml onerror=window.pwned=2>'), badText);
  check('  and is not markup', (await a.locator('#pwnfml').count()) === 0 && !(await a.evaluate(() => window.pwned)));

  await a.getByLabel('Open an FML file').setInputFiles(process.env.FML_GOOD);
  await opened('value="nightly"');
  check('opening alpha-farm.fml names the farm after the file', (await a.getByLabel('Farm name').inputValue()) === 'alpha-farm');
  await shot(a, 'tenant-designer');
  await a.locator('#apply').click();
  await a.locator('#confirm-apply').waitFor();
  const planText = await a.locator('.plan').textContent();
  check('the plan shows the hardware type with HTML in it as text', planText.includes(EVIL_HW), planText.slice(0, 300));
  await a.locator('#confirm-apply').click();
  await a.locator('.jobstate.done, .jobstate.failed').waitFor({ timeout: 60000 });
  check('alpha applied its farm from the console', (await a.locator('.jobstate.done').count()) === 1,
    await a.locator('.jobstate').textContent());
  check('  the steps show the hardware type as text',
    (await a.locator('.steps').textContent()).includes('(hw ' + EVIL_HW + ')'));
  await a.locator('#farm-link').click();
  await a.getByRole('heading', { name: /Farm alpha-farm/ }).waitFor();
  await a.locator('td >> text=mapped').first().waitFor();
  const rowsA = await a.locator('table').first().locator('tbody tr').allTextContents();
  check('alpha: its farm\'s page shows its server on ta1, alphaimg, mapped (no 403 for the arrays)',
    rowsA.length === 1 && rowsA[0].startsWith('alpha-farm-') && rowsA[0].includes('ta1') &&
    rowsA[0].includes('alphaimg') && rowsA[0].includes('mapped') && !rowsA[0].includes('?'), rowsA.join(' | '));
  check('  the hardware type with HTML in it is text, not markup', rowsA[0].includes(EVIL_HW) &&
    (await a.locator('#pwnhw').count()) === 0 && !(await a.evaluate(() => window.pwned)));
  await shot(a, 'tenant-farm');
  await a.goto(API + '/ui/#/farms');
  await a.locator('td a[href="#/farms/alpha-farm"]').waitFor();
  await shot(a, 'tenant-farms');
  await a.setViewportSize({ width: 390, height: 844 });
  await a.goto(API + '/ui/#/farms/alpha-farm');
  await a.locator('td >> text=mapped').first().waitFor();
  const wide = await a.evaluate(() => document.documentElement.scrollWidth);
  check('alpha\'s farm page fits a phone\'s width (the header with its name too)', wide <= 390, String(wide));
  await shot(a, 'tenant-farm-phone');
  await a.setViewportSize({ width: 1366, height: 900 });

  // What is alpha's: its farm, volumes, host, image master, their requests.
  const evA = await allEvents(TA);
  const volsA = new Set((await api(TA, 'GET', '/v1/volumes')).body.volumes.map((v) => v.id));
  for (const im of (await api(TA, 'GET', '/v1/images')).body.images) if (!im.shared) volsA.add(im.master_volume_id);
  const hostA = (await api(TA, 'GET', '/v1/hosts/ta1')).body.id;
  const mine = (e) => e.entity === 'farm' || (e.entity === 'host' && e.entity_id === hostA) ||
    (e.entity === 'volume' && volsA.has(e.entity_id)) || e.actor === 'tenant:alpha';
  const reqA = new Set(evA.filter(mine).map((e) => e.request_id).filter((r) => r !== null));
  const alphaIds = new Set(evA.filter((e) => mine(e) || reqA.has(e.request_id)).map((e) => String(e.id)));
  check('alpha\'s farm wrote events (farm, host, volumes)', evA.some((e) => e.entity === 'farm') &&
    evA.some((e) => e.entity === 'host' && e.entity_id === hostA) && evA.some((e) => e.entity === 'volume'), String(evA.length));
  await a.goto(API + '/ui/#/events');
  await a.getByRole('heading', { name: 'Your events' }).waitFor();
  await a.locator('#events tbody tr').first().waitFor();
  const shownA = await a.locator('#events tbody tr').allTextContents();
  check('alpha: its events view shows its farm\'s events', shownA.some((r) => r.includes('farm ') && r.includes('ready')) &&
    shownA.some((r) => r.includes('host ' + hostA)), shownA.slice(0, 5).join(' | '));

  // ---- beta: its own events arrive live, none of alpha's ----
  execFileSync(process.env.VSL, ['image', 'import', 'betaimg', process.env.IMAGE],
    { env: { ...process.env, VSL_API: API, VSL_TOKEN: TB }, stdio: 'pipe' });
  const evB = (await allEvents(TB)).filter((e) => e.actor === 'tenant:beta').map((e) => String(e.id));
  await b.waitForFunction((ids) => ids.every((id) => [...document.querySelectorAll('#events tbody tr td:first-child')]
    .some((td) => td.textContent === id)), evB);
  const bAfter = await eventIds(b);
  check('beta: its own import\'s events arrived live (the stream works for it)',
    evB.length > 0 && evB.every((id) => bAfter.includes(id) && !bBefore.includes(id)), evB.join(','));
  const leaked = bAfter.filter((id) => alphaIds.has(id));
  check('beta: its events view (list and live stream) shows none of alpha\'s events',
    alphaIds.size > 0 && leaked.length === 0, `alpha's: ${alphaIds.size}, shown to beta: ${leaked.join(',')}`);
  const rowsB = await b.locator('#events tbody tr').allTextContents();
  check('  no farm or host event, nothing naming alpha',
    !rowsB.some((r) => /farm \d|host \d|alpha|ta1/.test(r)), rowsB.filter((r) => /farm \d|host \d|alpha|ta1/.test(r)).join(' | '));
  await shot(b, 'tenant-events');

  // ---- beta: nothing of alpha's farm anywhere ----
  await b.goto(API + '/ui/#/farms');
  await b.locator('main table td.empty').waitFor();
  check('beta: its farms list is empty (no alpha-farm)', !(await b.locator('main').textContent()).includes('alpha-farm'));
  await b.goto(API + '/ui/#/farms/alpha-farm');
  await b.locator('#view-error').waitFor();
  const nf = await b.locator('main').textContent();
  check('beta: alpha\'s farm page by URL says "Not found"', (await b.locator('main h1').textContent()) === 'Not found' &&
    /farm 'alpha-farm' does not exist/.test(nf), nf);
  check('  and shows nothing of it (no server, host, image, hardware)',
    !/alpha-farm-|ta1|alphaimg|mapped|pwnhw/.test(nf) && (await b.locator('main table').count()) === 0, nf);
  await shot(b, 'tenant-notfound');
  await b.goto(API + '/ui/#/designer/alpha-farm');
  await b.locator('#view-error').waitFor();
  check('beta: alpha\'s farm in the designer by URL is "Not found" too (no FML shown)',
    (await b.locator('main h1').textContent()) === 'Not found' && (await b.locator('#fml').count()) === 0);
  await b.goto(API + '/ui/#/designer');
  await b.getByRole('heading', { name: 'Designer' }).waitFor();
  const palB = await b.locator('.pal[data-kind^="image:"]').allTextContents();
  check('beta: the palette lists betaimg and the shared demo, not alphaimg',
    palB.sort().join(',') === 'OS image betaimg,OS image demo (shared)', palB.join(','));

  // ---- the same page, signed out and in as the admin: every view again ----
  await b.getByRole('button', { name: 'Sign out' }).click();
  await b.getByLabel('API token').fill(process.env.TOKEN_ADMIN);
  await b.getByRole('button', { name: 'Sign in' }).click();
  await b.getByRole('heading', { name: 'Farms' }).waitFor();
  await b.locator('td a[href="#/farms/alpha-farm"]').waitFor();
  const navAdmin = await b.locator('#nav a:visible').allTextContents();
  check('signed out and in as the admin on the same page: every view, alpha\'s farm listed',
    navAdmin.join(',') === 'Farms,Designer,Hosts,Arrays,Volumes,Queue,Events' &&
    (await b.locator('#who').textContent()) === 'Signed in as the admin', navAdmin.join(','));

  check('no CSP violation, no page error in either console', problems.length === 0,
    JSON.stringify(problems).slice(0, 500));
  await browser.close();
}

main().catch((e) => { failed++; console.log('FAIL: ' + (e && e.stack || e)); }).finally(() => {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
