import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { buildApi } from '../../src/api/server.js';
import { openApiDocument } from '../../src/api/openapi.js';
import { ROUTE_ACCESS } from '../../src/api/auth.js';
import { appendEvent } from '../../src/observability/events.js';
import { listAudit } from '../../src/observability/audit.js';
import { parseGroupId } from '../../src/domain/ids.js';
import { CONFIG_YAML, CLUSTER, keys, n1, n2, seededCluster } from './fixtures.js';
import { makeToken } from '../support/auth.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCert } from '../../src/security/certs.js';
import { clusterFetch } from '../../src/security/fetch.js';

/** web belongs to the default tenant, db to tenant "blue". */
const TENANT_YAML = CONFIG_YAML.replace('  - name: db\n', '  - name: db\n    tenant: blue\n');

type Method = 'GET' | 'POST' | 'DELETE';
interface Route {
  readonly method: Method;
  readonly path: string;
}

/** Every operation of the OpenAPI document. */
function documentedRoutes(): Route[] {
  const doc = openApiDocument() as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase() as Method, path })));
}

/** Routes anyone may call: the liveness check and the console login. */
const PUBLIC_ROUTES = new Set(['GET /healthz', 'POST /v1/session']);
/** Mutating routes a viewer may call: ending its own console session. */
const VIEWER_MAY = new Set(['DELETE /v1/session']);
const STREAM = 'GET /v1/events/stream';
const ADMIN_ONLY = new Set(['GET /v1/config', 'POST /v1/config', 'POST /v1/config/validate', 'GET /v1/tokens', 'POST /v1/tokens', 'DELETE /v1/tokens/{id}', 'GET /v1/audit']);

/** A request for a route, about `group`, with a body that passes validation. */
function request(r: Route, group: string, tokenId: string): { method: Method; url: string; payload?: unknown } {
  const url = r.path.replace('{group}', group).replace('{node}', 'n2').replace('{id}', tokenId);
  const bodies: Record<string, unknown> = {
    'POST /v1/groups/{group}/switchover': {},
    'POST /v1/groups/{group}/failover': {},
    'POST /v1/groups/{group}/cleanup': {},
    'POST /v1/maintenance': { on: false, group },
    'POST /v1/config': { source: TENANT_YAML },
    'POST /v1/config/validate': { source: TENANT_YAML },
    'POST /v1/tokens': { name: 'x', role: 'viewer' },
    'POST /v1/session': {},
  };
  const key = `${r.method} ${r.path}`;
  const withQuery = r.path === '/v1/report' ? `${url}?group=${group}` : r.path === '/v1/events/stream' ? `${url}?limit=1` : url;
  return r.method === 'GET' || r.method === 'DELETE' ? { method: r.method, url: withQuery } : { method: r.method, url, payload: bodies[key] ?? {} };
}

async function setup() {
  const { app, coord, clock, token: admin } = await seededCluster(TENANT_YAML, { metrics: { registry: (await import('prom-client')).register } });
  const tokens = {
    admin,
    viewer: await makeToken(coord, CLUSTER, 'viewer'),
    operator: await makeToken(coord, CLUSTER, 'operator'),
    blueOperator: await makeToken(coord, CLUSTER, 'operator', { tenants: ['blue'], name: 'blue-op' }),
    blueAdmin: await makeToken(coord, CLUSTER, 'admin', { tenants: ['blue'], name: 'blue-admin' }),
    dbViewer: await makeToken(coord, CLUSTER, 'viewer', { groups: ['db'], name: 'db-viewer' }),
  };
  const tokenId = /^halo_([0-9a-f]{16})_/.exec(tokens.viewer)?.[1] ?? '';
  let anonymous = 0;
  const call = (r: Route, token: string | undefined, group = 'web'): Promise<LightMyRequestResponse> => {
    const q = request(r, group, tokenId);
    // Requests without a credential count as failed attempts: each from its own source address,
    // so the failed-attempt limit (tested below) does not step in.
    const from = token === undefined ? { remoteAddress: `127.0.2.${++anonymous}` } : {};
    return app.inject({ method: q.method, url: q.url, ...from, ...(q.payload === undefined ? {} : { payload: q.payload as object }), headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }) as Promise<LightMyRequestResponse>;
  };
  return { clock, coord, app, tokens, call, tokenId, async close() { await app.close(); await coord.close(); } };
}

describe('security: every documented route, by credential, role and tenant', () => {
  test('the access table and the OpenAPI document list the same routes', () => {
    const documented = documentedRoutes().map((r) => `${r.method} ${r.path.replace(/\{(\w+)\}/g, ':$1')}`);
    const staticRoutes = ['GET /openapi.json', 'GET /', 'GET /console', 'GET /console/', 'GET /console/*'];
    assert.deepEqual([...documented].sort(), Object.keys(ROUTE_ACCESS).filter((k) => !staticRoutes.includes(k)).sort());
  });

  test('no credential: 401 on every route but the public ones; a bad token: 401 as well', async () => {
    const h = await setup();
    let n = 0;
    try {
      for (const r of documentedRoutes()) {
        const key = `${r.method} ${r.path}`;
        const res = await h.call(r, undefined);
        if (key === 'GET /healthz') assert.equal(res.statusCode, 200, key);
        else if (key === 'POST /v1/session') assert.match(JSON.parse(res.body).message, /give a token/, 'login without a token or certificate');
        else {
          assert.equal(res.statusCode, 401, `${key}: ${res.body}`);
          assert.equal(JSON.parse(res.body).code, 'HA_UNAUTHENTICATED', key);
        }
        if (!PUBLIC_ROUTES.has(key)) {
          // From its own source address each, so the failed-attempt limit (tested below) does not step in.
          const q = request(r, 'web', h.tokenId);
          const bad = await h.app.inject({ method: q.method, url: q.url, remoteAddress: `127.0.1.${++n}`, ...(q.payload === undefined ? {} : { payload: q.payload as object }), headers: { authorization: `Bearer halo_${'0'.repeat(16)}_${'A'.repeat(43)}` } });
          assert.equal(bad.statusCode, 401, `${key} with an unknown token`);
        }
      }
    } finally {
      await h.close();
    }
  });

  test('viewer: 403 on every mutating route and on admin reads; operator: 403 on configuration, tokens and audit; admin: never 401/403', async () => {
    const h = await setup();
    try {
      for (const r of documentedRoutes()) {
        const key = `${r.method} ${r.path}`;
        if (PUBLIC_ROUTES.has(key)) continue;
        // An accepted event stream never ends; the tenant test below reads it over a real connection.
        if (key === STREAM) continue;
        const viewer = await h.call(r, h.tokens.viewer);
        if ((r.method !== 'GET' && !VIEWER_MAY.has(key)) || ADMIN_ONLY.has(key)) assert.equal(viewer.statusCode, 403, `viewer ${key}: ${viewer.body}`);
        else assert.ok(viewer.statusCode < 400, `viewer ${key}: ${viewer.statusCode} ${viewer.body}`);
        const operator = await h.call(r, h.tokens.operator);
        if (ADMIN_ONLY.has(key)) assert.equal(operator.statusCode, 403, `operator ${key}`);
        else assert.ok(![401, 403].includes(operator.statusCode), `operator ${key}: ${operator.statusCode} ${operator.body}`);
      }
      for (const r of documentedRoutes()) {
        if (`${r.method} ${r.path}` === STREAM || PUBLIC_ROUTES.has(`${r.method} ${r.path}`)) continue;
        const res = await h.call(r, h.tokens.admin);
        assert.ok(![401, 403].includes(res.statusCode), `admin ${r.method} ${r.path}: ${res.statusCode} ${res.body}`);
      }
    } finally {
      await h.close();
    }
  });

  test('a tenant-scoped token gets 404/403 for another tenant\'s group on every route that names a group, and sees only its own in lists', async () => {
    const h = await setup();
    try {
      await appendEvent(h.coord, CLUSTER, { at: 1, kind: 'waiting', node: n1, group: parseGroupId('web'), resource: null, message: 'web-event', epoch: null });
      await appendEvent(h.coord, CLUSTER, { at: 2, kind: 'waiting', node: n2, group: parseGroupId('db'), resource: null, message: 'db-event', epoch: null });
      const groupRoutes = documentedRoutes().filter((r) => r.path.includes('{group}') || r.path === '/v1/report' || r.path === '/v1/maintenance');
      assert.ok(groupRoutes.length >= 7);
      for (const token of [h.tokens.blueOperator, h.tokens.blueAdmin, h.tokens.dbViewer]) {
        for (const r of groupRoutes) {
          const other = await h.call(r, token, 'web');
          assert.ok([403, 404].includes(other.statusCode), `${r.method} ${r.path} on web: ${other.statusCode} ${other.body}`);
          assert.doesNotMatch(other.body, /"web"|group web\b/, 'the refusal does not describe the hidden group');
          const own = await h.call(r, token, 'db');
          if (token !== h.tokens.dbViewer || r.method === 'GET') assert.ok(own.statusCode < 400 || own.statusCode === 409, `${r.method} ${r.path} on db: ${own.statusCode} ${own.body}`);
        }
        const auth = { authorization: `Bearer ${token}` };
        const status = JSON.parse((await h.app.inject({ method: 'GET', url: '/v1/status', headers: auth })).body) as { groups: { name: string }[] };
        assert.deepEqual(status.groups.map((g) => g.name), ['db']);
        const events = JSON.parse((await h.app.inject({ method: 'GET', url: '/v1/events', headers: auth })).body) as { events: { message: string }[] };
        assert.deepEqual(events.events.map((e) => e.message).filter((m) => m.endsWith('-event')), ['db-event']);
        const report = JSON.parse((await h.app.inject({ method: 'GET', url: '/v1/report', headers: auth })).body) as { groups: { group: string }[] };
        assert.deepEqual(report.groups.map((g) => g.group), ['db']);
        for (const url of ['/v1/nodes/n2/standby', '/v1/nodes/n2/online']) {
          assert.equal((await h.app.inject({ method: 'POST', url, headers: auth, payload: {} })).statusCode, 403, url);
        }
        const m = await h.app.inject({ method: 'POST', url: '/v1/maintenance', headers: auth, payload: { on: true } });
        assert.equal(m.statusCode, 403, 'cluster-wide maintenance');
      }
      // The live stream too: a scoped caller's stream carries only its groups' events.
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = h.app.server.address() as AddressInfo;
      const ac = new AbortController();
      const res = await fetch(`http://127.0.0.1:${port}/v1/events/stream?limit=100`, { headers: { authorization: `Bearer ${h.tokens.blueOperator}` }, signal: ac.signal });
      assert.equal(res.status, 200);
      const reader = res.body?.getReader();
      assert.ok(reader);
      await appendEvent(h.coord, CLUSTER, { at: 3, kind: 'waiting', node: n1, group: parseGroupId('web'), resource: null, message: 'web-live', epoch: null });
      await appendEvent(h.coord, CLUSTER, { at: 4, kind: 'waiting', node: n2, group: parseGroupId('db'), resource: null, message: 'db-live', epoch: null });
      let text = '';
      while (!text.includes('db-live')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      ac.abort();
      assert.match(text, /db-event/);
      assert.match(text, /db-live/);
      assert.doesNotMatch(text, /web-event|web-live/);
    } finally {
      await h.close();
    }
  });

  test('no request without an unscoped admin credential changes the configuration or makes a token', async () => {
    const h = await setup();
    try {
      const evil = `${TENANT_YAML.replace('command: /bin/sleep', 'command: /bin/sh').replace('args: ["1000"]', 'args: ["-c", "touch /tmp/pwned"]')}`;
      const before = (await h.coord.get(keys.config))?.value;
      const tokensBefore = (await h.coord.list(keys.tokensPrefix)).items.length;
      for (const token of [undefined, h.tokens.viewer, h.tokens.operator, h.tokens.blueAdmin, h.tokens.blueOperator]) {
        for (const r of documentedRoutes()) {
          if (r.method === 'GET') continue;
          const q = request(r, 'db', h.tokenId);
          // Every body carries a configuration that runs a command of the caller's choosing.
          const payload = { ...(typeof q.payload === 'object' && q.payload !== null ? q.payload : {}), source: evil, command: '/bin/sh', args: ['-c', 'id'] };
          await h.app.inject({ method: q.method, url: q.url, payload, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
        }
      }
      assert.equal((await h.coord.get(keys.config))?.value, before, 'the configuration is unchanged');
      assert.equal((await h.coord.list(keys.tokensPrefix)).items.length, tokensBefore, 'no token was made');
      // The same body from an unscoped admin is applied: the test can tell.
      const ok = await h.app.inject({ method: 'POST', url: '/v1/config', payload: { source: evil }, headers: { authorization: `Bearer ${h.tokens.admin}` } });
      assert.equal(ok.statusCode, 200);
      assert.notEqual((await h.coord.get(keys.config))?.value, before);
    } finally {
      await h.close();
    }
  });
});

describe('security: sessions, CSRF, expiry, revocation, rate limit, audit', () => {
  test('console session: HttpOnly Secure SameSite=Strict cookie; mutating requests need the CSRF header; logout ends it', async () => {
    const h = await setup();
    try {
      const login = await h.app.inject({ method: 'POST', url: '/v1/session', payload: { token: h.tokens.operator } });
      assert.equal(login.statusCode, 200, login.body);
      const setCookie = String(login.headers['set-cookie']);
      assert.match(setCookie, /^halo_session=[0-9a-f]{16}\.[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Strict; Path=\/; Max-Age=\d+$/);
      const cookie = setCookie.split(';')[0] ?? '';
      const { csrf } = JSON.parse(login.body) as { csrf: string };
      const who = await h.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } });
      assert.equal(JSON.parse(who.body).identity.role, 'operator');
      const url = '/v1/groups/web/switchover';
      const noCsrf = await h.app.inject({ method: 'POST', url, payload: {}, headers: { cookie } });
      assert.equal(noCsrf.statusCode, 403);
      const wrongCsrf = await h.app.inject({ method: 'POST', url, payload: {}, headers: { cookie, 'x-halo-csrf': 'x'.repeat(32) } });
      assert.equal(wrongCsrf.statusCode, 403);
      const form = await h.app.inject({ method: 'POST', url, payload: 'to=n2', headers: { cookie, 'x-halo-csrf': csrf, 'content-type': 'application/x-www-form-urlencoded' } });
      assert.equal(form.statusCode, 415, 'a form post is refused');
      const ok = await h.app.inject({ method: 'POST', url, payload: {}, headers: { cookie, 'x-halo-csrf': csrf } });
      assert.equal(ok.statusCode, 202, ok.body);
      const out = await h.app.inject({ method: 'DELETE', url: '/v1/session', headers: { cookie, 'x-halo-csrf': csrf } });
      assert.equal(out.statusCode, 204);
      assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/session', headers: { cookie } })).statusCode, 401);
    } finally {
      await h.close();
    }
  });

  test('expired tokens and sessions, and revoked tokens (with their sessions) are refused', async () => {
    const h = await setup();
    try {
      const short = await makeToken(h.coord, CLUSTER, 'viewer', { expiresAt: h.clock.wallNow() + 60_000 });
      const auth = (t: string) => ({ authorization: `Bearer ${t}` });
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: auth(short) })).statusCode, 200);
      const login = await h.app.inject({ method: 'POST', url: '/v1/session', payload: { token: short } });
      const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
      assert.ok(JSON.parse(login.body).expiresAt <= h.clock.wallNow() + 60_000, 'a session never outlives its token');
      h.clock.advance(60_000);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: auth(short) })).statusCode, 401);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: { cookie } })).statusCode, 401);
      // Revocation.
      const created = JSON.parse((await h.app.inject({ method: 'POST', url: '/v1/tokens', payload: { name: 'tmp', role: 'operator' }, headers: auth(h.tokens.admin) })).body) as { token: string; info: { id: string } };
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: auth(created.token) })).statusCode, 200);
      const s = await h.app.inject({ method: 'POST', url: '/v1/session', payload: { token: created.token } });
      const c2 = String(s.headers['set-cookie']).split(';')[0] ?? '';
      const listed = JSON.parse((await h.app.inject({ method: 'GET', url: '/v1/tokens', headers: auth(h.tokens.admin) })).body) as { tokens: Record<string, unknown>[] };
      assert.ok(listed.tokens.every((t) => !('hash' in t) && !('token' in t)), 'listing never shows secrets or hashes');
      const rv = await h.app.inject({ method: 'DELETE', url: `/v1/tokens/${created.info.id}`, headers: auth(h.tokens.admin) });
      assert.equal(rv.statusCode, 200);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: auth(created.token) })).statusCode, 401);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: { cookie: c2 } })).statusCode, 401);
      const stored = (await h.coord.list(keys.tokensPrefix)).items.map((kv) => kv.value).join('\n');
      assert.ok(!stored.includes(h.tokens.admin.slice(22)), 'the coordinator holds no token secret');
    } finally {
      await h.close();
    }
  });

  test('failed authentication is rate-limited per source; audit records refused and mutating requests with who, role, source, route, target, outcome', async () => {
    const h = await setup();
    try {
      const bad = { authorization: `Bearer halo_${'1'.repeat(16)}_${'B'.repeat(43)}` };
      const codes: number[] = [];
      for (let i = 0; i < 25; i++) codes.push((await h.app.inject({ method: 'GET', url: '/v1/status', headers: bad })).statusCode);
      assert.deepEqual(codes, [...Array(20).fill(401), ...Array(5).fill(429)]);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${h.tokens.admin}` } })).statusCode, 429, 'while limited, even a good token waits');
      h.clock.advance(10_000);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${h.tokens.admin}` } })).statusCode, 200);
      await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: {}, headers: { authorization: `Bearer ${h.tokens.viewer}` } });
      await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: {}, headers: { authorization: `Bearer ${h.tokens.operator}` } });
      const audit = await listAudit(h.coord, CLUSTER);
      assert.equal(audit.filter((a) => a.outcome === 'refused' && a.status === 401).length, 20, 'each 401 recorded; the 429s are counted, not recorded');
      const sw = audit.filter((a) => a.route === '/v1/groups/:group/switchover');
      assert.deepEqual(
        sw.map((a) => [a.identity, a.role, a.source, a.node, a.method, a.target, a.outcome, a.status, a.code]),
        [
          ['test-viewer', 'viewer', '127.0.0.1', 'n1', 'POST', 'group web', 'refused', 403, 'HA_PERMISSION'],
          ['test-operator', 'operator', '127.0.0.1', 'n1', 'POST', 'group web', 'ok', 202, null],
        ],
      );
      const listed = await h.app.inject({ method: 'GET', url: '/v1/audit?limit=2', headers: { authorization: `Bearer ${h.tokens.admin}` } });
      assert.deepEqual((JSON.parse(listed.body) as { entries: { identity: string }[] }).entries.map((e) => e.identity), ['test-viewer', 'test-operator']);
    } finally {
      await h.close();
    }
  });

  test('requests with no credential at all count toward the failed-attempt limit, per source address', async () => {
    const h = await setup();
    try {
      const codes: number[] = [];
      for (let i = 0; i < 22; i++) codes.push((await h.app.inject({ method: 'GET', url: '/v1/status', remoteAddress: '10.9.9.9' })).statusCode);
      assert.deepEqual(codes, [...Array(20).fill(401), 429, 429]);
      const limited = await h.app.inject({ method: 'POST', url: '/v1/config', remoteAddress: '10.9.9.9', payload: { source: TENANT_YAML } });
      assert.deepEqual([limited.statusCode, JSON.parse(limited.body).code], [429, 'HA_RATE_LIMITED']);
      assert.equal((await h.app.inject({ method: 'GET', url: '/healthz', remoteAddress: '10.9.9.9' })).statusCode, 429, 'a limited source waits on public routes too');
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', remoteAddress: '10.9.9.8', headers: { authorization: `Bearer ${h.tokens.viewer}` } })).statusCode, 200, 'other sources are not affected');
      h.clock.advance(10_000);
      assert.equal((await h.app.inject({ method: 'GET', url: '/v1/status', remoteAddress: '10.9.9.9', headers: { authorization: `Bearer ${h.tokens.viewer}` } })).statusCode, 200);
    } finally {
      await h.close();
    }
  });
});

describe('security: HTTPS and client certificates', () => {
  test('a client certificate of the cluster CA is an identity (role from its OU); changes need x-halo-csrf; another CA\'s certificate is no identity', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-api-tls-'));
    const h = await setup();
    try {
      const ca = await createCa(join(dir, 'ca'), 'demo');
      const server = await issueCert(ca, { name: 'n1', role: 'node', ips: ['127.0.0.1'] });
      const op = await issueCert(ca, { name: 'olga', role: 'operator' });
      const other = await createCa(join(dir, 'other'), 'demo');
      const stranger = await issueCert(other, { name: 'mallory', role: 'admin' });
      const read = (f: string) => readFileSync(f, 'utf8');
      const tls = { ca: read(ca.ca), cert: read(server.cert), key: read(server.key) };
      const app = await buildApi({ coord: h.coord, cluster: CLUSTER, self: n1, clock: h.clock, logger: false, tls });
      await app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
        const asOlga = clusterFetch({ ca: tls.ca, cert: read(op.cert), key: read(op.key) });
        const who = await asOlga(`${base}/v1/session`);
        assert.equal(who.status, 200);
        assert.deepEqual((JSON.parse(await who.text()) as { identity: unknown }).identity, { name: 'olga', kind: 'cert', role: 'operator', tenants: null, groups: null });
        const sw = (headers: Record<string, string>) => asOlga(`${base}/v1/groups/web/switchover`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' });
        assert.equal((await sw({})).status, 403, 'no x-halo-csrf');
        assert.equal((await sw({ 'x-halo-csrf': '1' })).status, 202);
        assert.equal((await asOlga(`${base}/v1/config`)).status, 403, 'an operator certificate is no admin');
        const asMallory = clusterFetch({ ca: tls.ca, cert: read(stranger.cert), key: read(stranger.key) });
        assert.equal((await asMallory(`${base}/v1/status`)).status, 401, 'a certificate from another CA is not an identity');
        const anonymous = clusterFetch({ ca: tls.ca });
        assert.equal((await anonymous(`${base}/v1/status`)).status, 401);
        assert.equal((await anonymous(`${base}/v1/status`, { headers: { authorization: `Bearer ${h.tokens.viewer}` } })).status, 200, 'tokens work over HTTPS');
        await assert.rejects(fetch(`${base}/healthz`), 'the server is not trusted without the cluster CA');
      } finally {
        await app.close();
      }
    } finally {
      await h.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
