// The web console in a real headless Chromium (Debian's, driven by
// puppeteer-core) against two real Ferry nodes with real Envoys: a wrong
// token is refused; the topology shows the partner edge ready; traffic shows
// in the charts; a route's detail runs diagnose; stopping bob turns the edge
// red with the failing step and the fix, starting it turns it green again.
// No request URL carries the token, no log line either, and the page breaks
// no CSP rule. A screenshot of each view goes to the test's temp dir.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { TestNode, linkToEcho, tempDir, waitFor } from '../support/harness.ts';
import { testEngineAppImage } from '../support/test-engine-app.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const env = { FERRY_PROBE_MS: '1000', FERRY_TRAFFIC_SAMPLE_MS: '1000', FERRY_JOB_RESYNC_MS: '2000' };
const JOB = `apiVersion: kuscia.secretflow/v1alpha1
kind: KusciaJob
metadata: { name: console-job }
spec:
  initiator: alice
  tasks:
    - { alias: psi, appImage: test-engine, taskInputConfig: ${JSON.stringify(JSON.stringify({ default: { lines: ['hello from the console job'] } }))}, parties: [{ domainID: alice }, { domainID: bob }] }
`;

/** `count` calls alice -> echo at bob through alice's internal listener, one connection kept alive. */
async function calls(alice: TestNode, count: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let ok = 0;
  for (let i = 0; i < count; i++) {
    ok += await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: alice.ports.internal, path: `/call/${i}`, agent, headers: { host: 'echo.bob.svc' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? 1 : 0));
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
      req.on('error', reject);
      req.end();
    });
  }
  agent.destroy();
  return ok;
}

describe('web console in headless Chromium', { skip: CHROMIUM ? false : 'Chromium is not installed: scripts/debian-tools.sh installs Debian\'s chromium' }, () => {
  let alice: TestNode, bob: TestNode;
  const echoes: Echo[] = [];
  let browser: Browser;
  let page: Page, alicePage: Page;
  const shots = tempDir('console-shots');
  const profile = tempDir('chromium-profile');
  const urls: string[] = [];
  const violations: string[] = [];
  const base = () => `http://127.0.0.1:${alice.ports.api}/ui/`;
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const text = (sel: string) => page.$eval(sel, (e) => e.textContent ?? '');

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    const [bobEcho, aliceEcho] = await Promise.all([startHttpEcho('echo@bob'), startHttpEcho('echo@alice')]);
    echoes.push(bobEcho, aliceEcho);
    await Promise.all([alice.start(env), bob.start(env)]);
    await linkToEcho(alice, bob, bobEcho.port);
    await linkToEcho(bob, alice, aliceEcho.port);
    await Promise.all([alice.apply(testEngineAppImage()), bob.apply(testEngineAppImage())]);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM!, headless: true,
      userDataDir: profile,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
    });
    page = alicePage = await browser.newPage();
    await page.setViewport({ width: 1280, height: 800 });
    page.on('request', (r) => urls.push(r.url()));
    page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text()); });
    page.on('pageerror', (e) => violations.push(`page error: ${(e as Error).message}`));
  });

  after(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
    console.log(`console screenshots: ${shots}`); // kept: the issue asks for one of each view
    await Promise.all([alice?.stop(), bob?.stop()]);
    await Promise.all(echoes.map((e) => e.close()));
    for (const n of [alice, bob]) n?.cleanup();
  });

  const login = async (token: string) => {
    await page.waitForSelector('#token');
    await page.$eval('#token', (e) => { (e as HTMLInputElement).value = ''; });
    await page.type('#token', token);
    await page.keyboard.press('Enter');
  };

  test('a wrong token is refused; the right one logs in (kept in sessionStorage, never in a URL)', async () => {
    await page.goto(base());
    await login('not-the-token-0123456789');
    await page.waitForSelector('#login-error');
    assert.match(await text('#login-error'), /refused this token \(401\)/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('ferry-api-token')), null);
    await shot('login-refused');
    await login(alice.token);
    await page.waitForFunction(() => document.querySelector('#domain')?.textContent === 'alice');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('ferry-api-token')), alice.token);
  });

  test('topology: the partner edge alice -> bob is ready; keyboard opens its detail', async () => {
    await page.goto(`${base()}#/topology`);
    await page.waitForSelector('g.edge[data-route="alice-bob"][data-ready="true"]', { timeout: 20_000 });
    // Tab order reaches the edge (an SVG group with tabindex and role button); Enter opens it.
    await page.$eval('g.edge[data-route="alice-bob"]', (e) => (e as SVGGElement).focus());
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-route')), 'alice-bob');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Ready/.test(document.querySelector('#edge-detail')?.textContent ?? ''));
    assert.match(await text('#edge-detail'), /alice → bob/);
    await shot('topology');
    // bob's own console shows its route to alice ready too.
    const other = await browser.newPage();
    other.on('request', (r) => urls.push(r.url()));
    await other.goto(`http://127.0.0.1:${bob.ports.api}/ui/#/topology`);
    await other.evaluate((t) => sessionStorage.setItem('ferry-api-token', t), bob.token);
    await other.reload();
    await other.waitForSelector('g.edge[data-route="bob-alice"][data-ready="true"]', { timeout: 20_000 });
    await other.close();
  });

  test('a narrow window: one column, nothing wider than the window', async () => {
    await page.setViewport({ width: 400, height: 800 });
    await page.goto(`${base()}#/topology`);
    await page.waitForSelector('g.edge[data-route="alice-bob"]');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scroll');
    await shot('topology-narrow');
    await page.setViewport({ width: 1280, height: 800 });
  });

  test('traffic: the requests chart moves after 100 calls', async () => {
    assert.equal(await calls(alice, 100), 100);
    await page.goto(`${base()}#/traffic`);
    const total = await page.waitForFunction(() => {
      const cell = document.querySelector('#chart-requests td[data-series="→ bob"]');
      const n = Number(cell?.textContent ?? 0);
      return n >= 100 && Number(document.querySelector('#chart-requests')?.getAttribute('data-max')) > 0 ? n : false;
    }, { timeout: 20_000 });
    assert.ok(Number(await total.jsonValue()) >= 100);
    assert.ok(await page.$('#chart-requests .uplot canvas'), 'uPlot drew the chart');
    await shot('traffic');
  });

  test('routes and services: the table, a route\'s describe, and diagnose run by the node', async () => {
    await page.goto(`${base()}#/routes`);
    await page.waitForFunction(() => [...document.querySelectorAll('table.routes tbody tr')].some((r) => /alice-bob/.test(r.textContent ?? '') && /Ready/.test(r.textContent ?? '') && !/Not ready/.test(r.textContent ?? '')), { timeout: 20_000 });
    const row = await page.$$eval('table.routes tbody tr', (rows) => rows.map((r) => r.textContent ?? '').find((t) => /alice-bob/.test(t)) ?? '');
    assert.match(row, /bob/);
    assert.match(row, /ok — checked .*bob answered/, 'the last link check');
    assert.match(row, /\d{4}-\d{2}-\d{2}/, 'the partner CA\'s expiry');
    await page.type('#filter', 'echo');
    await page.waitForFunction(() => [...document.querySelectorAll('table.routes tbody tr')].every((r) => /echo/.test(r.textContent ?? '')));
    await shot('routes');
    await page.goto(`${base()}#/routes/ClusterDomainRoute/alice-bob`);
    await page.waitForSelector('#describe');
    assert.match(await text('#describe'), /Name:\s+alice-bob[\s\S]*Ready:\s+True/);
    await page.click('#diagnose');
    await page.waitForSelector('#diagnosis', { timeout: 60_000 });
    assert.match(await text('#diagnosis'), /^alice -> bob: OK/);
    await shot('route-detail');
  });

  test('certificates and jobs views show', async () => {
    await page.goto(`${base()}#/certs`);
    await page.waitForSelector('#certs');
    assert.match(await text('#certs'), /Gateway[\s\S]*Partner CA: bob/);
    assert.doesNotMatch(await page.content(), /PRIVATE KEY/);
    await shot('certificates');
    await page.goto(`${base()}#/jobs`);
    await page.waitForFunction(() => /No jobs/.test(document.querySelector('main')?.textContent ?? ''));
    await shot('jobs');
  });

  test('jobs: bob approves alice\'s job with the button; it runs; the task log shows', async () => {
    const r = alice.cli(['job', 'create', '-f', '-'], JOB);
    assert.equal(r.code, 0, r.stderr);
    const bobPage = await browser.newPage();
    bobPage.on('request', (q) => urls.push(q.url()));
    await bobPage.setViewport({ width: 1280, height: 800 });
    await bobPage.goto(`http://127.0.0.1:${bob.ports.api}/ui/`);
    await bobPage.evaluate((t) => sessionStorage.setItem('ferry-api-token', t), bob.token);
    await bobPage.goto(`http://127.0.0.1:${bob.ports.api}/ui/#/jobs/console-job`);
    await bobPage.reload(); // the page reads the session's token when it loads
    await waitFor('bob to wait for his own approval of console-job', async () => {
      const j = (await (await bob.api('/api/v1/jobs/console-job')).json()) as { status?: { waitingFor?: { domainID: string }[] } };
      return j.status?.waitingFor?.some((w) => w.domainID === 'bob') ? true : undefined;
    }, 30_000).catch(async (e: Error) => { throw new Error(`${e.message}: bob has ${await (await bob.api('/api/v1/jobs/console-job')).text()}; alice has ${await (await alice.api('/api/v1/jobs/console-job')).text()}`); });
    await bobPage.waitForFunction(() => document.querySelector('#job-phase')?.textContent === 'AwaitingApproval', { timeout: 10_000 });
    assert.equal(await bobPage.$eval('#job-approval', (e) => e.textContent), 'not decided');
    page = bobPage; // screenshots of bob's view
    try {
      await shot('job-awaiting-approval');
      await bobPage.click('#approve');
      await bobPage.waitForFunction(() => document.querySelector('#job-phase')?.textContent === 'Succeeded', { timeout: 60_000 });
      assert.equal(await bobPage.$eval('#job-approval', (e) => e.textContent), 'JobAccepted');
      await bobPage.click('tr[data-task="psi"] button');
      await bobPage.waitForFunction(() => /hello from the console job/.test(document.querySelector('pre.logs')?.textContent ?? ''), { timeout: 10_000 });
      await shot('job-succeeded');
    } finally {
      page = alicePage;
      await bobPage.close();
    }
  });

  test('stop bob: the edge turns red with the failing step and the fix; start bob: green again', async () => {
    await page.goto(`${base()}#/topology`);
    await page.waitForSelector('g.edge[data-route="alice-bob"][data-ready="true"]');
    await bob.stop();
    // The bar: red within 5 s (link check every second, the page asks every 1.5 s).
    await page.waitForSelector('g.edge[data-route="alice-bob"][data-ready="false"]', { timeout: 5_000 });
    await page.click('g.edge[data-route="alice-bob"] text.edge-label');
    await page.waitForFunction(() => /Failing step:/.test(document.querySelector('#edge-detail')?.textContent ?? ''));
    const detail = await text('#edge-detail');
    assert.match(detail, /Not ready/);
    assert.match(detail, /Failing step: TCP connect/);
    assert.match(detail, /Fix: /);
    await shot('topology-bob-down');
    await bob.start(env);
    await page.waitForSelector('g.edge[data-route="alice-bob"][data-ready="true"]', { timeout: 30_000 });
  });

  test('the token was never in a URL or a log line, and the page broke no CSP rule', () => {
    assert.ok(urls.length > 10, String(urls.length));
    for (const u of urls) {
      assert.ok(!u.includes(alice.token) && !u.includes(bob.token), `token in ${u}`);
      assert.match(u, /^(http:\/\/127\.0\.0\.1:\d+\/|data:)/, `only this node: ${u}`);
    }
    for (const n of [alice, bob]) {
      for (const f of readdirSync(join(n.home, 'logs'), { recursive: true, withFileTypes: true })) {
        if (!f.isFile()) continue;
        assert.ok(!readFileSync(join(f.parentPath, f.name), 'utf8').includes(n.token), `token in ${f.name}`);
      }
    }
    assert.deepEqual(violations, []);
  });
});
