import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { makeCoordinatorClient } from '../../src/agent/run.js';
import { loadConfigFile } from '../../src/config/index.js';
import type { Role } from '../../src/domain/security.js';
import { caFilesIn } from '../../src/security/certs.js';
import { clusterFetch } from '../../src/security/fetch.js';
import { HALO_BIN } from '../../src/demo/run.js';
import { isAlive, readCmdline } from '../../src/platform/proc.js';
import { makeToken } from '../support/auth.js';
import { eventually } from '../support/util.js';

/**
 * The web console in a real headless Chromium against the real 3-node demo: the overview, a
 * node loss showing up live, the lost-contact banner, a switchover driven from the page, the
 * availability view accounting for that node loss and that switchover, and the roles: a viewer
 * gets no action buttons and the API refuses its crafted switchover, an operator's switchover from
 * the page succeeds, and an admin's audit view lists both.
 */

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = join(ROOT, 'test-artifacts', 'console');
const CONSOLE_INDEX = join(ROOT, 'dist', 'console', 'index.html');
/** Each node's API URL as the demo prints it (https:// when the demo runs with TLS). */
const API: Record<string, string> = {};
const NODES = ['n1', 'n2', 'n3'] as const;
const CLUSTER = 'demo';
/** The test's own API calls: verified against the demo's cluster CA when the API is HTTPS. */
let apiFetch: typeof fetch = fetch;

/** One token per role, made in before(); the test's own API reads use the admin's. */
const tokens: Record<Role, string> = { viewer: '', operator: '', admin: '' };
const tokenName = (role: Role) => `console-${role}`;

function asAdmin(): { authorization: string } {
  return { authorization: `Bearer ${tokens.admin}` };
}

/** Logs the page in with a token (the console asks GET /v1/session first and shows the form on 401). */
async function login(page: Page, role: Role): Promise<void> {
  await page.getByTestId('login').waitFor({ timeout: 10_000 });
  await page.getByTestId('login-token').fill(tokens[role]);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('group-web').waitFor({ timeout: 10_000 });
  assert.equal(await page.getByTestId('role').textContent(), role);
  assert.equal(await page.getByTestId('identity').textContent(), tokenName(role));
}

interface Status {
  controller: { node: string } | null;
  nodes: { name: string; online: boolean; session: { pid: number } | null }[];
  groups: {
    name: string;
    assignment: { active: string | null; epoch: number; transition: unknown } | null;
    nodes: { node: string; state: string; resources: { pid: number | null; healthy: boolean }[] }[];
  }[];
}

async function status(node: string): Promise<Status> {
  const res = await apiFetch(`${API[node] ?? ''}/v1/status`, { headers: asAdmin(), signal: AbortSignal.timeout(2000) });
  assert.equal(res.status, 200);
  return (await res.json()) as Status;
}

function isHealthy(g: Status['groups'][number], node: string): boolean {
  const gn = g.nodes.find((n) => n.node === node);
  return gn !== undefined && gn.state === 'running' && gn.resources.length > 0 && gn.resources.every((r) => r.healthy);
}

function webOf(s: Status): Status['groups'][number] {
  const web = s.groups.find((g) => g.name === 'web');
  assert.ok(web, 'group web exists');
  return web;
}

interface Report {
  groups: { group: string; failures: number; plannedMoves: number; incidents: { cause: { kind: string } }[] }[];
}

async function report(node: string, since: string): Promise<Report> {
  const res = await apiFetch(`${API[node] ?? ''}/v1/report?since=${since}`, { headers: asAdmin(), signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  return (await res.json()) as Report;
}

/** The node name at the start of the "active" cell (badges for a move in progress follow it). */
async function shownActive(page: Page): Promise<string> {
  const text = (await page.getByTestId('active-web').textContent({ timeout: 2000 })) ?? '';
  return /^(n\d|none)/.exec(text)?.[1] ?? text;
}

const skip = existsSync(CHROMIUM)
  ? false
  : process.env['CI'] === 'true'
    ? false
    : `${CHROMIUM} is missing; install it with: apt-get install -y chromium`;

describe('web console (headless Chromium, halo demo)', { skip, timeout: 300_000 }, () => {
  let dir = '';
  let demo: ChildProcess | null = null;
  let exited: Promise<number | null> = Promise.resolve(null);
  let out = '';
  let browser: Browser | null = null;
  let page: Page | null = null;
  /** Node whose console the main page uses: never the one the tests kill. */
  let viewer = '';

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (CI=true); install it with: apt-get install -y chromium`);
    assert.ok(existsSync(CONSOLE_INDEX), `${CONSOLE_INDEX} is missing; run "npm run build"`);
    mkdirSync(SHOTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'halo-console-'));
    // The demo saves its admin credential for the CLI: here, not in the user's home.
    const env = { ...process.env, HALO_CREDENTIALS: join(dir, 'credentials.json') };
    const child = spawn(process.execPath, [HALO_BIN, 'demo', '--dir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'], env });
    demo = child;
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((res) => child.on('exit', (code) => res(code)));
    await eventually(async () => out.includes('Ctrl-C stops everything'), { timeoutMs: 60_000, what: 'demo ready (see its output below)' }).catch((e: unknown) => {
      throw new Error(`${String(e)}\ndemo output:\n${out}`);
    });
    for (const m of out.matchAll(/agent (n\d)\s+API (https?:\/\/\S+)/g)) if (m[1] && m[2]) API[m[1]] = m[2];
    assert.deepEqual(Object.keys(API).sort(), [...NODES], `API addresses in the demo output:\n${out}`);
    const ca = caFilesIn(join(dir, 'state', 'certs')).ca;
    if (Object.values(API).some((u) => u.startsWith('https:'))) apiFetch = clusterFetch({ ca: readFileSync(ca, 'utf8') });
    // One token per role, straight into the coordinator as `halo token create --config` does.
    const configFile = join(dir, 'state', 'halo.yaml');
    const loaded = await loadConfigFile(configFile);
    assert.ok(loaded.ok, `${configFile} loads`);
    const coord = await makeCoordinatorClient(loaded.config, configFile, false);
    try {
      for (const role of ['viewer', 'operator', 'admin'] as const) tokens[role] = await makeToken(coord, CLUSTER, role, { name: tokenName(role) });
    } finally {
      await coord.close();
    }
    // The demo is ready once web started somewhere; wait until it runs healthy and settled.
    await eventually(
      async () => {
        const web = webOf(await status('n1'));
        const a = web.assignment;
        return a !== null && a.active !== null && a.transition === null && isHealthy(web, a.active);
      },
      { timeoutMs: 60_000, what: 'web running and healthy on its active node' },
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    });
    const active = webOf(await status('n1')).assignment?.active;
    assert.ok(active, 'web has an active node');
    viewer = NODES.find((n) => n !== active) ?? 'n1';
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
    await page.goto(`${API[viewer] ?? ''}/`);
    await login(page, 'operator');
  });

  after(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      demo.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
      if (code === 'timeout') demo.kill('SIGKILL');
    }
    // Anything of this demo that survived (it should not) is stopped here, not left behind.
    if (dir !== '') {
      for (const d of readdirSync('/proc')) {
        const pid = Number(d);
        if (Number.isInteger(pid) && isAlive(pid) && (readCmdline(pid) ?? []).some((a) => a.includes(dir))) process.kill(pid, 'SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('(a) the overview shows the three nodes and group web with its active node', async () => {
    assert.ok(page);
    const p = page;
    const s = await status(viewer);
    const web = webOf(s);
    const active = web.assignment?.active ?? '';
    await p.getByTestId('group-web').waitFor({ timeout: 10_000 });
    for (const n of NODES) {
      assert.match((await p.getByTestId(`node-state-${n}`).textContent()) ?? '', /online/, `node ${n} shown online`);
    }
    assert.equal(await p.getByTestId('nodes').locator('tbody tr').count(), 3);
    assert.match((await p.getByTestId('node-n1').textContent()) ?? '', /host=host-a/, 'labels are shown');
    assert.equal(await shownActive(p), active);
    assert.equal(await p.getByTestId('served-by').textContent(), viewer);
    assert.equal(await p.getByTestId('controller').textContent(), s.controller?.node);
    assert.match((await p.getByTestId(`group-node-web-${active}`).textContent()) ?? '', /active running, healthy/);
    // Group detail and decision journal of the (only) group.
    await p.getByTestId(`resource-${active}-app`).waitFor({ timeout: 5000 });
    await p.getByTestId('journal').waitFor({ timeout: 5000 });
    assert.match((await p.getByTestId('journal').textContent()) ?? '', /PLACED|CONVERGED/);
    await eventually(async () => (await p.getByTestId('events').locator('tr').count()) > 0, { timeoutMs: 5000, what: 'events listed' });
    await p.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
  });

  test('(c) a switchover started from the console completes and the page reports it', async () => {
    assert.ok(page);
    const p = page;
    const from = webOf(await status(viewer)).assignment?.active ?? '';
    const target = NODES.find((n) => n !== from && n !== viewer) ?? '';
    await p.getByTestId('switchover-web').click();
    await p.getByTestId('confirm').waitFor({ timeout: 2000 });
    await p.getByTestId('target').selectOption(target);
    assert.match((await p.getByTestId('confirm-text').textContent()) ?? '', new RegExp(`from ${from} to ${target}`));
    await p.screenshot({ path: join(SHOTS, 'switchover-confirm.png') });
    await p.getByTestId('confirm-yes').click();
    await p.getByTestId('message').filter({ hasText: `Switchover of web from ${from} to ${target} accepted` }).waitFor({ timeout: 5000 });
    await p.getByTestId('message').filter({ hasText: `Switchover of web done: active on ${target}` }).waitFor({ timeout: 30_000 });
    assert.equal(await shownActive(p), target);
    assert.equal(webOf(await status(viewer)).assignment?.active, target, 'the API agrees');
    await p.screenshot({ path: join(SHOTS, 'switchover-done.png'), fullPage: true });

    // Cancel closes the dialog and changes nothing.
    await p.getByTestId('standby-n1').click();
    await p.getByTestId('confirm').waitFor({ timeout: 2000 });
    await p.getByTestId('confirm-no').click();
    await p.getByTestId('confirm').waitFor({ state: 'detached', timeout: 2000 });
    assert.match((await p.getByTestId('node-state-n1').textContent()) ?? '', /online/);
    assert.doesNotMatch((await p.getByTestId('node-state-n1').textContent()) ?? '', /standby/);

    // Group maintenance on and off, each confirmed and reported.
    for (const on of [true, false]) {
      await p.getByTestId('maintenance-web').click();
      await p.getByTestId('confirm-yes').click();
      await p.getByTestId('message').filter({ hasText: `Maintenance ${on ? 'on' : 'off'} for group web.` }).waitFor({ timeout: 5000 });
      await p.getByTestId('group-maintenance-web').waitFor({ state: on ? 'visible' : 'detached', timeout: 5000 });
    }
  });

  test('(b) a node loss shows up live, and the lost node\'s console says it lost contact', async (t) => {
    assert.ok(page && browser);
    const p = page;
    const victim = webOf(await status(viewer)).assignment?.active ?? '';
    assert.notEqual(victim, viewer, 'the page is served by a node that survives');

    const victimPage = await browser.newPage({ viewport: { width: 1280, height: 700 }, ignoreHTTPSErrors: true });
    await victimPage.goto(`${API[victim] ?? ''}/console/`);
    await login(victimPage, 'viewer');
    // Loading a page keeps Chromium on both cores of this machine for a moment, and the demo's
    // agents (1 s lease, fenced 700 ms after their last renewal) may fence themselves meanwhile
    // and start again. The node loss goes into a settled cluster, so that it is the only incident.
    let steady: { pid: number; since: number } | null = null;
    await eventually(
      async () => {
        const w = webOf(await status(viewer));
        const pid = w.nodes.find((n) => n.node === victim)?.resources[0]?.pid ?? null;
        if (w.assignment?.active !== victim || w.assignment.transition !== null || !isHealthy(w, victim) || pid === null) steady = null;
        else if (steady?.pid !== pid) steady = { pid, since: Date.now() };
        // The same instance, healthy for a second.
        return steady !== null && Date.now() - steady.since >= 1000;
      },
      { timeoutMs: 20_000, what: `web settled on ${victim} after the page load` },
    );
    const s = await status(viewer);
    const web = webOf(s);
    const agentPid = s.nodes.find((n) => n.name === victim)?.session?.pid;
    const servicePid = web.nodes.find((n) => n.node === victim)?.resources[0]?.pid;
    const guard = JSON.parse(readFileSync(join(dir, 'state', 'state', victim, 'web', 'app', 'pid.json'), 'utf8')) as { guardPid?: number };
    assert.ok(agentPid && servicePid && guard.guardPid, `pids of ${victim}: agent ${agentPid}, service ${servicePid}, guard ${guard.guardPid}`);
    await p.evaluate(() => {
      (globalThis as unknown as Record<string, unknown>)['__haloMarker'] = 'before the fault';
    });

    for (const pid of [agentPid, servicePid, guard.guardPid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (e) {
        // Already gone (the guard may stop the service itself once the agent is dead): as intended.
        if (!(e instanceof Error && 'code' in e && e.code === 'ESRCH')) throw e;
      }
    }
    const killedAt = Date.now();
    // Poll the API and the page side by side: the page must follow the API within about a second.
    let apiAt = 0;
    let pageAt = 0;
    let newActive = '';
    await eventually(
      async () => {
        if (apiAt === 0) {
          const a = webOf(await status(viewer)).assignment;
          if (a && a.active !== null && a.active !== victim && a.transition === null) {
            apiAt = Date.now();
            newActive = a.active;
          }
        }
        if (pageAt === 0) {
          const shown = await shownActive(p);
          if (shown !== victim && shown !== 'none' && /^n\d$/.test(shown)) pageAt = Date.now();
        }
        return apiAt !== 0 && pageAt !== 0;
      },
      { timeoutMs: 30_000, what: `web moved away from ${victim} in the API and on the page`, everyMs: 50 },
    );
    assert.equal(await shownActive(p), newActive);
    t.diagnostic(`failover in the API ${apiAt - killedAt} ms after the kill; on the page ${pageAt - apiAt} ms later`);
    assert.ok(pageAt - apiAt < 1500, `the page showed the move ${pageAt - apiAt} ms after the API did (failover took ${apiAt - killedAt} ms)`);
    assert.equal(await p.evaluate(() => (globalThis as unknown as Record<string, unknown>)['__haloMarker']), 'before the fault', 'no reload');
    await eventually(async () => /offline/.test((await p.getByTestId(`node-state-${victim}`).textContent()) ?? ''), {
      timeoutMs: 10_000,
      what: `${victim} shown offline`,
    });
    await eventually(async () => /active running, healthy/.test((await p.getByTestId(`group-node-web-${newActive}`).textContent()) ?? ''), {
      timeoutMs: 15_000,
      what: `web shown running and healthy on ${newActive}`,
    });
    await p.screenshot({ path: join(SHOTS, 'failover.png'), fullPage: true });

    const banner = victimPage.getByTestId('lost-banner');
    await banner.waitFor({ timeout: 5000 });
    assert.match((await banner.textContent()) ?? '', new RegExp(`Lost contact with ${victim}`));
    for (const n of NODES.filter((x) => x !== victim)) {
      assert.equal(await victimPage.getByTestId(`other-console-${n}`).getAttribute('href'), `${API[n] ?? ''}/console/`);
    }
    await victimPage.screenshot({ path: join(SHOTS, 'lost-contact.png') });
    await victimPage.close();
  });

  test('(d) the availability view shows the node loss as an incident and the switchover as a planned move', async () => {
    assert.ok(page);
    const p = page;
    await p.evaluate(() => {
      (globalThis as unknown as Record<string, unknown>)['__haloMarker'] = 'before the availability view';
    });
    await p.getByTestId('tab-availability').click();
    await p.getByTestId('availability').waitFor({ timeout: 2000 });
    await p.getByTestId('window-1h').click();
    const shown = p.locator('[data-testid="availability-report"][data-window="1h"]');
    await shown.waitFor({ timeout: 10_000 });

    // The incident of test (b): cause node-lost, recovered by a failover.
    const lost = shown.locator('[data-testid="incident"][data-group="web"][data-cause="node-lost"]');
    await eventually(async () => (await lost.count()) >= 1, { timeoutMs: 10_000, what: 'a node-lost incident of web listed' });
    const row = lost.first();
    assert.equal(await row.getAttribute('data-planned'), 'false');
    assert.match((await row.getByTestId('incident-actions').textContent()) ?? '', /failover to n\d/);
    assert.match((await row.getByTestId('incident-detection').textContent()) ?? '', /\d+(\.\d)? (ms|s)/);
    assert.doesNotMatch((await row.getByTestId('incident-recovery').textContent()) ?? '', /open/, 'web recovered');

    // Its red segment in web's timeline, with the cause and RTO in the hover title.
    const timeline = shown.getByTestId('timeline-web');
    const red = timeline.locator('rect[data-kind="incident"]');
    assert.ok((await red.count()) >= 1, 'an incident segment in the timeline');
    // The test is compiled without the DOM types; the callback runs in the page.
    type Styles = { getComputedStyle(el: unknown): { fill: string } };
    const fill = await red.first().evaluate((el) => (globalThis as unknown as Styles).getComputedStyle(el).fill);
    const rgb = /rgb\((\d+), (\d+), (\d+)\)/.exec(fill);
    assert.ok(rgb, `fill ${fill}`);
    const [r, g, b] = rgb.slice(1).map(Number);
    assert.ok(r !== undefined && g !== undefined && b !== undefined && r > 150 && g < 100 && b < 100, `the incident segment is red (${fill})`);
    const title = (await red.first().locator('title').textContent()) ?? '';
    assert.match(title, /node-lost/);
    assert.match(title, /RTO \d/);
    assert.ok(((await red.first().boundingBox())?.width ?? 0) > 0, 'the segment is drawn');
    assert.equal(await timeline.locator('rect[data-kind="up"]').count(), 1, 'a serving segment under it');
    // The demo started minutes ago: a second bar shows just that time, the outage in it too.
    assert.ok((await shown.getByTestId('timeline-zoom-web').locator('rect[data-kind="incident"]').count()) >= 1, 'the zoomed timeline shows the incident');
    // The switchover of test (c) is a planned move: amber, not red.
    assert.ok((await timeline.locator('rect[data-kind="planned"]').count()) >= 1, 'a planned-move segment');
    assert.ok((await shown.locator('[data-testid="incident"][data-group="web"][data-cause="switchover"][data-planned="true"]').count()) >= 1);

    // The figures are the API's.
    const api = (await report(viewer, '1h')).groups.find((x) => x.group === 'web');
    assert.ok(api, 'web in the report');
    assert.ok(api.incidents.some((i) => i.cause.kind === 'node-lost'), 'the API reports the node loss too');
    await eventually(async () => (await shown.getByTestId('failures-web').textContent()) === String(api.failures), {
      timeoutMs: 5000,
      what: `failures of web shown as ${api.failures}`,
    });
    assert.equal(await shown.getByTestId('planned-web').textContent(), String(api.plannedMoves));
    assert.match((await shown.getByTestId('uptime-web').textContent()) ?? '', /^\d{1,2}\.\d{3} %$/, 'uptime below 100 %');
    assert.match((await shown.getByTestId('nines-web').textContent()) ?? '', /^\d+\.\d$/, 'finite nines');
    assert.notEqual(await shown.getByTestId('mttr-web').textContent(), '-');
    assert.notEqual(await shown.getByTestId('mtbf-web').textContent(), '-');
    await p.screenshot({ path: join(SHOTS, 'availability.png'), fullPage: true });

    // Another window re-reads the report; back on the cluster view the groups are there; no reload.
    await p.getByTestId('window-24h').click();
    await p.locator('[data-testid="availability-report"][data-window="24h"]').waitFor({ timeout: 10_000 });
    assert.ok((await p.locator('[data-testid="incident"][data-group="web"][data-cause="node-lost"]').count()) >= 1);
    await p.getByTestId('tab-cluster').click();
    await p.getByTestId('group-web').waitFor({ timeout: 2000 });
    assert.equal(await p.evaluate(() => (globalThis as unknown as Record<string, unknown>)['__haloMarker']), 'before the availability view', 'no reload');
  });

  test('(e) roles: a viewer gets no action buttons and its crafted switchover is refused; an operator switches over; the admin audit view lists both', async () => {
    assert.ok(browser);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, ignoreHTTPSErrors: true });
    try {
      const p = await ctx.newPage();
      await p.goto(`${API[viewer] ?? ''}/`);

      // Viewer: the cluster, but no action button and no audit tab.
      await login(p, 'viewer');
      for (const id of ['switchover-web', 'failover-web', 'maintenance-web', 'cleanup-web', 'tab-audit', ...NODES.flatMap((n) => [`standby-${n}`, `online-${n}`])]) {
        assert.equal(await p.getByTestId(id).count(), 0, `${id} is not offered to a viewer`);
      }
      assert.equal(await p.locator('td.actions button').count(), 0);
      await p.screenshot({ path: join(SHOTS, 'roles-viewer.png'), fullPage: true });

      // The same browser context crafts the switchover the page does not offer: refused either way.
      const crafted = await p.evaluate(async () => {
        const session = (await (await fetch('/v1/session')).json()) as { csrf: string };
        const send = async (headers: Record<string, string>) => {
          const r = await fetch('/v1/groups/web/switchover', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
          return { status: r.status, body: (await r.json()) as { code: string; message: string } };
        };
        return { bare: await send({}), withCsrf: await send({ 'x-halo-csrf': session.csrf }) };
      });
      assert.equal(crafted.bare.status, 403, JSON.stringify(crafted.bare));
      assert.equal(crafted.bare.body.code, 'HA_PERMISSION');
      assert.match(crafted.bare.body.message, /csrf/i);
      assert.equal(crafted.withCsrf.status, 403, JSON.stringify(crafted.withCsrf));
      assert.equal(crafted.withCsrf.body.code, 'HA_PERMISSION');
      assert.match(crafted.withCsrf.body.message, /needs role operator/);

      // Logout ends the session on the server, not only on the page.
      await p.getByTestId('logout').click();
      await p.getByTestId('login').waitFor({ timeout: 5000 });
      assert.equal(await p.evaluate(async () => (await fetch('/v1/session')).status), 401);

      // Operator: the switchover button moves the group.
      await login(p, 'operator');
      // After the node loss of (b): wait until web runs settled on a survivor and the lost node is offline.
      await eventually(
        async () => {
          const s = await status(viewer);
          const a = webOf(s).assignment;
          return s.nodes.filter((n) => n.online).length === 2 && a !== null && a.active !== null && a.transition === null && isHealthy(webOf(s), a.active);
        },
        { timeoutMs: 60_000, what: 'web settled on a survivor, the lost node offline' },
      );
      const online = (await status(viewer)).nodes.filter((n) => n.online).map((n) => n.name);
      const from = webOf(await status(viewer)).assignment?.active ?? '';
      const target = online.find((n) => n !== from) ?? '';
      assert.notEqual(target, '', `a node to move web to (online: ${online.join(', ')}, active ${from})`);
      await p.getByTestId('switchover-web').click();
      await p.getByTestId('target').selectOption(target);
      await p.getByTestId('confirm-yes').click();
      await p.getByTestId('message').filter({ hasText: `Switchover of web done: active on ${target}` }).waitFor({ timeout: 60_000 });
      assert.equal(webOf(await status(viewer)).assignment?.active, target, 'the group moved');
      await p.getByTestId('logout').click();
      await p.getByTestId('login').waitFor({ timeout: 5000 });

      // Admin: the audit view lists the refused viewer switchovers and the operator's.
      await login(p, 'admin');
      await p.getByTestId('tab-audit').click();
      const switchovers = (who: Role, outcome: string) =>
        p.locator(`[data-testid="audit-entry"][data-identity="${tokenName(who)}"][data-method="POST"][data-route="/v1/groups/:group/switchover"][data-outcome="${outcome}"]`);
      await eventually(async () => (await switchovers('viewer', 'refused').count()) === 2 && (await switchovers('operator', 'ok').count()) >= 1, {
        timeoutMs: 10_000,
        what: 'the viewer\'s two refused switchovers and the operator\'s accepted one in the audit view',
      });
      const refused = (await switchovers('viewer', 'refused').first().textContent()) ?? '';
      assert.match(refused, /viewer/);
      assert.match(refused, /group web/);
      assert.match(refused, /403 HA_PERMISSION/);
      assert.match((await switchovers('operator', 'ok').first().textContent()) ?? '', /operator.*POST \/v1\/groups\/:group\/switchover group web.*ok 202/);
      await p.screenshot({ path: join(SHOTS, 'roles-audit.png'), fullPage: true });
    } finally {
      await ctx.close();
    }
  });
});
