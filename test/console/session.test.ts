import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { registerConsoleRoute } from '../../src/api/console-route.js';
import { StatusResponseSchema, type StatusResponse } from '../../src/api/schemas.js';
import { eventually } from '../support/util.js';

/**
 * The console's side of the session contract (login, roles, CSRF header, 401 back to the login
 * screen, logout, audit view) in headless Chromium, against a small stand-in of the API that
 * follows the contract of docs/console.md and records what the page sends. No cluster: the real
 * API is exercised end to end by console.test.ts.
 */

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = join(ROOT, 'test-artifacts', 'console');
const CONSOLE_DIR = join(ROOT, 'dist', 'console');
const HOST = '127.0.0.1';

type Role = 'viewer' | 'operator' | 'admin';
const TOKENS: Readonly<Record<string, Role>> = { 'tok-viewer': 'viewer', 'tok-operator': 'operator', 'tok-admin': 'admin' };
const RANK: Readonly<Record<Role, number>> = { viewer: 0, operator: 1, admin: 2 };

interface FakeSession {
  readonly name: string;
  readonly role: Role;
  readonly csrf: string;
  readonly expiresAt: number;
}

interface Sent {
  readonly method: string;
  readonly url: string;
  readonly csrf: string | null;
  readonly identity: string | null;
  readonly status: number;
}

function statusBody(active: string, epoch: number): StatusResponse {
  const node = (name: string, port: number) => ({
    name,
    inConfig: true,
    address: HOST,
    apiPort: port,
    apiUrl: null,
    online: true,
    labels: {},
    standby: false,
    maintenance: false,
    session: null,
  });
  return StatusResponseSchema.parse({
    cluster: 'fake',
    servedBy: 'n1',
    configVersion: 1,
    configAppliedAt: 0,
    controller: { node: 'n1', since: 0 },
    maintenance: false,
    nodes: [node('n1', 1), node('n2', 2)],
    groups: [
      {
        name: 'web',
        redundancy: 'none',
        failback: 'manual',
        candidates: ['n1', 'n2'],
        maintenance: false,
        assignment: { group: 'web', epoch, active, standbys: [], transition: null, updatedAt: 0 },
        pendingMove: null,
        nodes: ['n1', 'n2'].map((n) => ({
          node: n,
          online: true,
          role: n === active ? 'active' : 'none',
          state: n === active ? 'running' : 'stopped',
          epoch,
          resources: [],
          detail: '',
          updatedAt: 0,
        })),
        failures: [],
        ineligible: [],
      },
    ],
    warnings: [],
  });
}

/** A stand-in for the API's session contract; `sent` lists every /v1 request it answered. */
function fakeApi(): { app: FastifyInstance; sessions: Map<string, FakeSession>; sent: Sent[] } {
  const app = Fastify({ forceCloseConnections: true });
  const sessions = new Map<string, FakeSession>();
  const sent: Sent[] = [];
  const audit: object[] = [];
  let active = 'n1';
  let epoch = 1;

  const cookieOf = (req: FastifyRequest): string | null => /(?:^|;\s*)halo_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1] ?? null;
  const sessionOf = (req: FastifyRequest): FakeSession | null => {
    const sid = cookieOf(req);
    const s = sid === null ? undefined : sessions.get(sid);
    return s !== undefined && s.expiresAt > Date.now() ? s : null;
  };
  const body = (s: FakeSession) => ({
    identity: { name: s.name, kind: 'session', role: s.role, tenants: null, groups: null },
    csrf: s.csrf,
    expiresAt: s.expiresAt,
  });

  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1/') || (req.method === 'POST' && req.url === '/v1/session')) return;
    const s = sessionOf(req);
    const header = req.headers['x-halo-csrf'];
    const csrf = typeof header === 'string' ? header : null;
    const record = (status: number, code: string | null) => {
      sent.push({ method: req.method, url: req.url, csrf, identity: s?.name ?? null, status });
      if (req.method !== 'GET' && s !== null) {
        audit.push({
          at: Date.now(),
          revision: audit.length + 1,
          identity: s.name,
          kind: 'session',
          role: s.role,
          source: req.ip,
          node: 'n1',
          method: req.method,
          route: req.routeOptions.url ?? req.url,
          target: req.url.startsWith('/v1/groups/') ? 'group web' : null,
          outcome: status < 400 ? 'ok' : status === 403 ? 'refused' : 'failed',
          status,
          code,
        });
      }
    };
    if (s === null) {
      record(401, 'HA_UNAUTHENTICATED');
      return reply.status(401).send({ code: 'HA_UNAUTHENTICATED', message: 'log in' });
    }
    const needed: Role = req.url.startsWith('/v1/audit') ? 'admin' : req.method === 'GET' || req.url === '/v1/session' ? 'viewer' : 'operator';
    if ((req.method !== 'GET' && csrf !== s.csrf) || RANK[s.role] < RANK[needed]) {
      record(403, 'HA_PERMISSION');
      return reply.status(403).send({ code: 'HA_PERMISSION', message: csrf !== s.csrf ? 'missing or wrong x-halo-csrf' : `${needed} role needed` });
    }
    record(req.method === 'POST' ? 202 : req.method === 'DELETE' ? 204 : 200, null);
    return undefined;
  });

  app.post('/v1/session', async (req, reply) => {
    const token = (req.body as { token?: unknown } | null)?.token;
    const role = typeof token === 'string' ? TOKENS[token] : undefined;
    if (role === undefined) return reply.status(401).send({ code: 'HA_UNAUTHENTICATED', message: 'unknown token' });
    const sid = randomUUID();
    const s: FakeSession = { name: `${role}-user`, role, csrf: randomUUID(), expiresAt: Date.now() + 3_600_000 };
    sessions.set(sid, s);
    void reply.header('set-cookie', `halo_session=${sid}; HttpOnly; Secure; SameSite=Strict; Path=/`);
    return body(s);
  });
  app.get('/v1/session', async (req) => {
    const s = sessionOf(req);
    assert.ok(s);
    return body(s);
  });
  app.delete('/v1/session', async (req, reply) => {
    const sid = cookieOf(req);
    if (sid !== null) sessions.delete(sid);
    return reply.status(204).header('set-cookie', 'halo_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0').send();
  });
  app.get('/v1/status', async () => statusBody(active, epoch));
  app.get('/v1/groups/:group/why', async () => ({ group: 'web', entries: [] }));
  // 204 tells EventSource not to reconnect: this stand-in has no events.
  app.get('/v1/events/stream', async (_req, reply) => reply.status(204).send());
  app.get('/v1/audit', async () => ({ entries: audit }));
  app.post('/v1/groups/:group/switchover', async (_req, reply) => {
    const from = active;
    active = active === 'n1' ? 'n2' : 'n1';
    epoch += 1;
    return reply.status(202).send({ id: randomUUID(), kind: 'switchover', group: 'web', from, to: null, epoch: epoch - 1 });
  });
  registerConsoleRoute(app, { dir: CONSOLE_DIR });
  return { app, sessions, sent };
}

const skip = existsSync(CHROMIUM) ? false : process.env['CI'] === 'true' ? false : `${CHROMIUM} is missing; install it with: apt-get install -y chromium`;

describe('console login, roles and session loss (headless Chromium, stand-in API)', { skip, timeout: 60_000 }, () => {
  let browser: Browser | null = null;
  let fake: ReturnType<typeof fakeApi> | null = null;
  let base = '';

  before(async () => {
    assert.ok(existsSync(join(CONSOLE_DIR, 'index.html')), 'dist/console is missing; run "npm run build"');
    mkdirSync(SHOTS, { recursive: true });
    fake = fakeApi();
    await fake.app.listen({ host: HOST, port: 0 });
    const addr = fake.app.server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    base = `http://${HOST}:${addr.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });

  after(async () => {
    await browser?.close();
    await fake?.app.close();
  });

  async function loggedIn(token: string): Promise<{ ctx: BrowserContext; page: Page }> {
    assert.ok(browser);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    await page.getByTestId('login').waitFor({ timeout: 5000 });
    await page.getByTestId('login-token').fill(token);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('group-web').waitFor({ timeout: 5000 });
    return { ctx, page };
  }

  test('a wrong token is refused on the login screen', async () => {
    assert.ok(browser);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/console/`);
    await page.getByTestId('login-token').fill('not-a-token');
    await page.getByTestId('login-submit').click();
    assert.match((await page.getByTestId('login-error').textContent({ timeout: 5000 })) ?? '', /not accepted/);
    assert.equal(await page.getByTestId('group-web').count(), 0);
    await ctx.close();
  });

  test('a viewer sees the cluster, who is logged in, and no action button and no audit tab', async () => {
    const { ctx, page } = await loggedIn('tok-viewer');
    assert.equal(await page.getByTestId('identity').textContent(), 'viewer-user');
    assert.equal(await page.getByTestId('role').textContent(), 'viewer');
    for (const id of ['switchover-web', 'failover-web', 'maintenance-web', 'cleanup-web', 'standby-n1', 'standby-n2', 'tab-audit']) {
      assert.equal(await page.getByTestId(id).count(), 0, `${id} is not offered to a viewer`);
    }
    assert.equal(await page.locator('td.actions button').count(), 0);
    await page.screenshot({ path: join(SHOTS, 'session-viewer.png'), fullPage: true });
    // A reload keeps the session: GET /v1/session answers and the login is skipped.
    await page.reload();
    await page.getByTestId('group-web').waitFor({ timeout: 5000 });
    assert.equal(await page.getByTestId('login').count(), 0);
    await ctx.close();
  });

  test('an operator switches over from the page; the call carries the session\'s CSRF header', async () => {
    assert.ok(fake);
    const { ctx, page } = await loggedIn('tok-operator');
    await page.getByTestId('switchover-web').click();
    await page.getByTestId('confirm-yes').click();
    await page.getByTestId('message').filter({ hasText: 'Switchover of web done: active on n2' }).waitFor({ timeout: 10_000 });
    const post = fake.sent.find((s) => s.method === 'POST' && s.url === '/v1/groups/web/switchover' && s.identity === 'operator-user');
    assert.ok(post, 'the switchover reached the API');
    assert.equal(post.status, 202);
    const session = [...fake.sessions.values()].find((s) => s.name === 'operator-user');
    assert.equal(post.csrf, session?.csrf, 'x-halo-csrf is the session\'s token');
    assert.ok(fake.sent.filter((s) => s.method === 'GET').every((s) => s.csrf === null), 'reads carry no CSRF header');
    await ctx.close();
  });

  test('a session that ends on the server brings the login screen back with "session expired"', async () => {
    assert.ok(fake);
    const { ctx, page } = await loggedIn('tok-operator');
    const marker = await page.evaluate(() => ((globalThis as unknown as Record<string, unknown>)['__m'] = 'kept'));
    assert.equal(marker, 'kept');
    fake.sessions.clear();
    await page.getByTestId('login').waitFor({ timeout: 5000 });
    assert.match((await page.getByTestId('login-notice').textContent()) ?? '', /session expired/i);
    assert.equal(await page.getByTestId('group-web').count(), 0, 'the cluster is no longer shown');
    assert.equal(await page.evaluate(() => (globalThis as unknown as Record<string, unknown>)['__m']), 'kept', 'no reload');
    await page.screenshot({ path: join(SHOTS, 'session-expired.png') });
    // Logging in again brings the console back in the same page.
    await page.getByTestId('login-token').fill('tok-operator');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('switchover-web').waitFor({ timeout: 5000 });
    await ctx.close();
  });

  test('logout ends the session on the server; an admin\'s audit view lists refused and accepted calls', async () => {
    assert.ok(fake);
    const viewer = await loggedIn('tok-viewer');
    // Crafted from the viewer's page: refused without and with the CSRF header.
    const statuses = await viewer.page.evaluate(async () => {
      const s = (await (await fetch('/v1/session')).json()) as { csrf: string };
      const bare = await fetch('/v1/groups/web/switchover', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const withCsrf = await fetch('/v1/groups/web/switchover', { method: 'POST', headers: { 'content-type': 'application/json', 'x-halo-csrf': s.csrf }, body: '{}' });
      return [bare.status, withCsrf.status];
    });
    assert.deepEqual(statuses, [403, 403]);
    await viewer.page.getByTestId('logout').click();
    await viewer.page.getByTestId('login').waitFor({ timeout: 5000 });
    assert.match((await viewer.page.getByTestId('login-notice').textContent()) ?? '', /Logged out/);
    assert.equal(await viewer.page.evaluate(async () => (await fetch('/v1/session')).status), 401, 'the session is gone');
    assert.ok(fake.sent.some((s) => s.method === 'DELETE' && s.url === '/v1/session' && s.csrf !== null), 'logout carried the CSRF header');
    await viewer.ctx.close();

    const { ctx, page } = await loggedIn('tok-admin');
    assert.equal(await page.getByTestId('role').textContent(), 'admin');
    await page.getByTestId('tab-audit').click();
    const rows = page.getByTestId('audit-entry');
    await eventually(async () => (await rows.count()) > 0, { timeoutMs: 5000, what: 'audit entries listed' });
    const refused = page.locator('[data-testid="audit-entry"][data-identity="viewer-user"][data-outcome="refused"][data-route="/v1/groups/:group/switchover"]');
    assert.equal(await refused.count(), 2, 'both crafted switchovers, refused');
    const ok = page.locator('[data-testid="audit-entry"][data-identity="operator-user"][data-outcome="ok"][data-route="/v1/groups/:group/switchover"]');
    assert.ok((await ok.count()) >= 1, 'the operator\'s switchover');
    assert.match((await refused.first().textContent()) ?? '', /viewer.*POST \/v1\/groups\/:group\/switchover group web.*refused 403 HA_PERMISSION/);
    await page.screenshot({ path: join(SHOTS, 'session-audit.png'), fullPage: true });
    await ctx.close();
  });
});
