#!/usr/bin/env node
/* Render report cases in one headless Chromium and check what an analyst would see.
 *
 *   node render.js CASES.json OUT_DIR
 *
 * CASES.json: [{id, template, name, artifact, output, observable, hostile}]. For each case a fresh
 * page loads harness.html from file:// at 1200 px, the stand-in compiles the template, and the page
 * is read: AngularJS/console errors, leftover {{ }}, "undefined"/"NaN", elements wider than their
 * panel, panel headings, the document width. A PNG of the report goes to OUT_DIR/<id>.png and the
 * findings to OUT_DIR/results.json. Any request that is not file:// is refused and reported.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [casesPath, outDir] = process.argv.slice(2);
const CHROMIUM = process.env.SOCFLOW_CHROMIUM || '/usr/bin/chromium';
const HARNESS = 'file://' + path.join(__dirname, 'harness.html');
const WIDTH = 1200;

function inspect() {  // runs in the page
  const root = document.querySelector('report');
  const rootRect = root.getBoundingClientRect();
  const text = root.innerText;
  const overflow = [];
  for (const el of root.querySelectorAll('*')) {
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 && rect.height === 0) { continue; }
    const panel = el.parentElement.closest('.panel') || root;
    const box = panel.getBoundingClientRect();
    if (rect.right > box.right + 1 || rect.left < box.left - 1) {
      overflow.push(`${el.tagName.toLowerCase()}.${el.className} is ${Math.round(rect.width)} px in a ${Math.round(box.width)} px panel: ${(el.innerText || '').slice(0, 80)}`);
    }
  }
  const panels = Array.from(root.querySelectorAll('.panel')).filter(p => !p.parentElement.closest('.panel'));
  return {
    text,
    overflow: overflow.slice(0, 10),
    docWidth: document.documentElement.scrollWidth,
    reportWidth: Math.round(rootRect.width),
    panels: panels.map(p => ({
      classes: p.className,
      heading: (p.querySelector('.panel-heading') || p).innerText,
      text: p.innerText,
    })),
    injected: {
      elements: document.querySelectorAll('[id^="HOSTILE"], script[data-hostile], img[src="x"]').length,
      ran: window.HOSTILE_RAN === undefined ? null : String(window.HOSTILE_RAN),
    },
    angularErrors: window.__ERRORS__,
    rendered: !!window.__RENDERED__,
  };
}

async function renderOne(browser, c) {
  const page = await browser.newPage();
  const problems = { console: [], requests: [] };
  await page.setViewport({ width: WIDTH, height: 900 });
  await page.setRequestInterception(true);
  page.on('request', req => {
    if (req.url().startsWith('file://')) { req.continue(); } else { problems.requests.push(req.url()); req.abort(); }
  });
  page.on('console', msg => { if (msg.type() === 'error' || msg.type() === 'warning') { problems.console.push(msg.text()); } });
  page.on('pageerror', err => problems.console.push(String(err)));
  await page.evaluateOnNewDocument(data => { window.__CASE__ = data; }, c);
  await page.goto(HARNESS, { waitUntil: 'load' });
  await page.waitForFunction('window.__RENDERED__ === true', { timeout: 10000 }).catch(() => {});
  await new Promise(r => setTimeout(r, 30));
  const found = await page.evaluate(inspect);
  const frame = await page.$('#frame');
  await frame.screenshot({ path: path.join(outDir, `${c.id}.png`) });
  // The capped tables: click every "Show all" as an analyst would, then read the page again.
  found.showAll = await page.evaluate(() => {
    const links = Array.from(document.querySelectorAll('report a')).filter(a => a.innerText.trim() === 'Show all');
    links.forEach(a => a.click());
    return links.length;
  });
  if (found.showAll) {
    await new Promise(r => setTimeout(r, 50));
    const expanded = await page.evaluate(inspect);
    expanded.rows = await page.evaluate(() => Array.from(document.querySelectorAll('report .panel')).map(
      p => p.querySelectorAll('tbody tr').length));
    delete expanded.text;
    found.expanded = expanded;
  }
  await page.close();
  return Object.assign({ id: c.id }, found, problems);
}

(async () => {
  const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
  fs.mkdirSync(outDir, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'socflow-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--allow-file-access-from-files'],
  });
  const results = [];
  try {
    for (const c of cases) { results.push(await renderOne(browser, c)); }
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(results, null, 1));
})().catch(err => { console.error(String(err && err.stack || err)); process.exit(1); });
