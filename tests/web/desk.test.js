// Browser tests of the review desk: Debian's chromium, headless, driven by
// puppeteer-core against a running `quill serve` (tests/t_web.sh starts it
// and fills the store).  Prints PASS/FAIL lines and "# tests: N passed, N
// failed".  Environment: DESK_URL, ANN_TOKEN, BOB_TOKEN, SHOT (a PNG path).
'use strict';
const puppeteer = require('puppeteer-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const URL = process.env.DESK_URL;
let passed = 0, failed = 0;
function ok(name, cond, why) {
  if (cond) { passed++; console.log('PASS ' + name); }
  else { failed++; console.log('FAIL ' + name + (why ? ': ' + why : '')); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function login(page, token) {
  await page.goto(URL, { waitUntil: 'load' });
  await page.waitForSelector('#token', { visible: true });
  await page.type('#token', token);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#desk:not([hidden])');
  await settle(page, () => !!document.querySelector('#detail h2'));
}
// Wait until the page has no request in flight and pred holds.
async function settle(page, pred, ...args) {
  await page.waitForFunction(`document.body.dataset.busy === '0' && (${pred})(...${JSON.stringify(args)})`, { timeout: 30000 });
}
const text = (page, sel) => page.$eval(sel, (e) => e.textContent);
const detailId = (page) => page.$eval('#detail h2', (e) => +e.textContent.match(/#(\d+)/)[1]);
async function api(page, method, p, body) {
  return page.evaluate(async (method, p, body) => {
    const r = await fetch(p, { method, headers: { 'Content-Type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: await r.json().catch(() => null) };
  }, method, p, body);
}
// Wait until the page's message says something matching re.
async function waitMsg(page, re) {
  try {
    await page.waitForFunction((src) => new RegExp(src).test(document.getElementById('msg').textContent), { timeout: 30000 }, re.source);
  } catch (e) {
    const busy = await page.evaluate(() => document.body.dataset.busy + ' ' + document.activeElement.tagName + ' ' + (document.querySelector('#detail h2') || {}).textContent);
    throw new Error(`no message /${re.source}/; the page says: ${await text(page, '#msg')} (busy, focus, detail: ${busy})`);
  }
  return text(page, '#msg');
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quill-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    userDataDir: dir,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  let dialogs = 0;
  const watch = (page) => {
    page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });
    page.on('pageerror', (e) => console.log('  page error: ' + e.message));
  };
  try {
    const ann = await browser.createBrowserContext();
    const page = await ann.newPage();
    watch(page);
    await page.setViewport({ width: 1280, height: 900 });
    page.setDefaultTimeout(30000);

    // 1. log in with a token
    await login(page, process.env.ANN_TOKEN);
    ok('log in with a token', (await text(page, '#me')) === 'ann');
    ok('progress shown', /^\d+ of \d+ pending, \d+ approvals? needed each$/.test(await text(page, '#progress')),
      await text(page, '#progress'));

    // 2. review 20 outputs with the keyboard only (filter: recipe kb)
    await page.focus('#f-recipe');
    await page.keyboard.type('kb');
    await page.keyboard.press('Tab'); // change event reloads the queue
    await settle(page, () => document.querySelectorAll('#queue li').length === 20);
    await page.keyboard.press('Escape'); // leave the filter fields
    await page.keyboard.press('j');
    await page.keyboard.press('k');
    await settle(page, () => /#1 /.test((document.querySelector('#detail h2') || {}).textContent || ''));
    let reviewed = 0;
    for (let i = 0; i < 20; i++) {
      const before = await detailId(page);
      const key = i % 5 === 4 ? 'r' : 'a';
      await page.keyboard.press(key);
      await waitMsg(page, new RegExp(`Output #${before}: ${key === 'a' ? 'approved' : 'rejected'}`));
      reviewed++;
      await settle(page, (n) => document.querySelectorAll('#queue li').length === n, 19 - i);
    }
    const kb = await api(page, 'GET', '/api/outputs?recipe=kb&status=all&limit=50');
    const st = kb.body.outputs.map((o) => o.status);
    ok('20 outputs reviewed with the keyboard only', reviewed === 20 &&
      st.filter((s) => s === 'approved').length === 16 && st.filter((s) => s === 'rejected').length === 4, st.join(','));

    // 3. edit one and see the diff (recipe ed)
    await page.$eval('#f-recipe', (e) => { e.value = 'ed'; e.dispatchEvent(new Event('change')); });
    await settle(page, () => /#30 /.test((document.querySelector('#detail h2') || {}).textContent || ''));
    await page.keyboard.press('e');
    await page.waitForSelector('#edit-text:not([hidden])');
    await page.$eval('#edit-text', (e) => { e.value = ''; });
    await page.keyboard.type('The old gray cat slept by the warm fire');
    ok('an edit that keeps the constraints is not flagged', (await text(page, '#edit-warn')) === '');
    await page.click('#edit-save');
    await waitMsg(page, /edited, now version 2/);
    const ins = await page.$$eval('.diff ins', (v) => v.map((e) => e.textContent).join(''));
    const del = await page.$$eval('.diff del', (v) => v.map((e) => e.textContent).join(''));
    ok('edit shows a diff against the original', /gray/.test(ins) && /black/.test(del), `ins=${ins} del=${del}`);
    await page.keyboard.press('e');
    await page.$eval('#edit-text', (e) => { e.value = ''; });
    await page.keyboard.type('The old gray dog slept');
    ok('a banned word is highlighted while editing', /banned word 'dog'/.test(await text(page, '#edit-warn')));
    await page.click('#edit-save');
    ok('the server refuses it (422) and the page says why', /dog/.test(await waitMsg(page, /constraints/)));

    // 4. two reviewers bring an output needing 2 approvals to approved
    const bob = await browser.createBrowserContext();
    const bpage = await bob.newPage();
    bpage.setDefaultTimeout(30000);
    watch(bpage);
    await login(bpage, process.env.BOB_TOKEN);
    for (const p of [page, bpage]) {
      await p.$eval('#f-recipe', (e) => { e.value = 'two'; e.dispatchEvent(new Event('change')); });
      await settle(p, () => /#40 /.test((document.querySelector('#detail h2') || {}).textContent || ''));
    }
    await page.keyboard.press('a');
    ok('first approval: still pending 1/2', /now pending/.test(await waitMsg(page, /approved by you/)));
    await bpage.keyboard.press('a');
    ok('second reviewer: approved', /now approved/.test(await waitMsg(bpage, /approved by you/)));

    // 5. a stale version gets the 409 message
    await page.$eval('#f-recipe', (e) => { e.value = 'stale'; e.dispatchEvent(new Event('change')); });
    await settle(page, () => /#50 .* version 1\)/.test((document.querySelector('#detail h2') || {}).textContent || ''));
    const sid = await detailId(page);
    const e2 = await api(bpage, 'GET', `/api/session`);
    await bpage.evaluate(async (id, csrf) => {
      await fetch(`/api/outputs/${id}/edit`, { method: 'POST', headers: { 'X-CSRF-Token': csrf },
        body: JSON.stringify({ text: 'Changed behind your back', version: 1 }) });
    }, sid, e2.body.csrf);
    await page.keyboard.press('a');
    const stale = await waitMsg(page, /Stale/);
    ok('stale approve shows the 409 message', /changed since version 1/.test(stale), stale);
    ok('and the current text', /Changed behind your back/.test(await text(page, '#detail')));

    // 6. hostile text is shown as text, no dialog
    await page.$eval('#f-recipe', (e) => { e.value = 'xss'; e.dispatchEvent(new Event('change')); });
    await settle(page, () => /#60 /.test((document.querySelector('#detail h2') || {}).textContent || ''));
    const prompt = await text(page, '#d-prompt'), cont = await text(page, '#d-cont');
    ok('script tag shown literally', prompt.includes('<script>alert(1)</script>'), prompt);
    ok('img onerror shown literally', cont.includes('<img src=x onerror=alert(1)>'), cont);
    ok('javascript: URL shown literally, no link', cont.includes('javascript:alert(1)') &&
      (await page.$$('#detail a, #detail img, #detail script, #queue img')).length === 0);
    // n: a note (hostile too), shown as text in the reviews
    await page.keyboard.press('n');
    await page.keyboard.type('<b>bold?</b> <img src=x onerror=alert(2)>');
    await page.keyboard.press('Enter');
    await waitMsg(page, /#60: noted/);
    ok('a note is recorded and shown as text', (await text(page, '#d-reviews')).includes('<b>bold?</b> <img src=x onerror=alert(2)>') &&
      (await page.$$('#d-reviews b, #d-reviews img')).length === 0);
    // a then u: my approval undone, though the pending queue had moved on
    await page.keyboard.press('Escape');
    await page.keyboard.press('a');
    await waitMsg(page, /#60: approved by you, now approved/);
    await settle(page, () => document.querySelectorAll('#queue li').length === 0);
    await page.keyboard.press('u');
    ok('u undoes my last verdict', /#60: your verdict is undone, now pending/.test(await waitMsg(page, /undone/)),
      await text(page, '#msg'));
    await settle(page, () => /#60 .*pending/.test((document.querySelector('#detail h2') || {}).textContent || ''));
    ok('the output is back in the pending queue, the undo in its reviews',
      /ann withdraw version 1 — undo approve of version 1/.test(await text(page, '#d-reviews')), await text(page, '#d-reviews'));
    await page.keyboard.press('u');
    ok('u with nothing left to undo says so', /ann has no standing verdict to undo/.test(await waitMsg(page, /no standing verdict/)));
    await page.evaluate(() => window.scrollTo(0, 0));
    await sleep(300);
    await page.screenshot({ path: process.env.SHOT || path.join(dir, 'desk.png') });
    await page.$eval('#f-recipe', (e) => { e.value = ''; e.dispatchEvent(new Event('change')); });
    ok('no dialog ever opened', dialogs === 0, `${dialogs} dialogs`);

    // 7. logout, then the API answers 401
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    const after = await api(page, 'GET', '/api/outputs');
    ok('after logout the API answers 401', after.status === 401, String(after.status));
    ok('bob is still logged in', (await api(bpage, 'GET', '/api/outputs')).status === 200);
  } catch (e) {
    ok('browser scenario ran to the end', false, e.stack);
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`# tests: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
main();
