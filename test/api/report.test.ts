import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApi } from '../../src/api/server.js';
import { ErrorBodySchema, ReportResponseSchema } from '../../src/api/schemas.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { parseGroupId, parseNodeId, parseResourceId } from '../../src/domain/ids.js';
import type { ClusterEvent, EventKind } from '../../src/domain/state.js';
import { appendEvent } from '../../src/observability/events.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { ManualClock } from '../../src/platform/clock.js';
import { CLUSTER, CONFIG_YAML, applyConfig, harness, json, keys, n1, web, type Harness } from './fixtures.js';
import { injectAs, makeToken } from '../support/auth.js';

const HOUR = 3_600_000;

/** Config with a monitored web group: 3 failures 1 s apart = 2 s before the report; lease TTL 3 s. */
const MONITORED_YAML = CONFIG_YAML.replace('coordinator:\n  kind: memory\n', 'coordinator:\n  kind: memory\ntiming:\n  leaseTtlMs: 3000\n  renewIntervalMs: 500\n').replace(
  'args: ["1000"]\n  - name: db',
  'args: ["1000"]\n        monitors:\n          - kind: tcp\n            port: 8080\n            intervalMs: 1000\n            failureThreshold: 3\n  - name: db',
);

async function put(h: Harness, kind: EventKind, at: number, node: string | null, more: { group?: string; resource?: string } = {}): Promise<void> {
  const ev: ClusterEvent = {
    at,
    kind,
    node: node === null ? null : parseNodeId(node),
    group: parseGroupId(more.group ?? 'web'),
    resource: more.resource === undefined ? null : parseResourceId(more.resource),
    message: kind,
    epoch: null,
  };
  await appendEvent(h.coord, CLUSTER, ev);
}

/** A store with a configuration and one hour of history for web: a hung app failed over, and a switchover. */
async function withHistory(): Promise<{ h: Harness; T: number }> {
  const h = await harness();
  await applyConfig(h.app, MONITORED_YAML);
  const T = h.clock.wallNow();
  await put(h, 'group-started', T - 60_000, 'n1');
  await put(h, 'group-started', T - 60_000, 'n2', { group: 'db' });
  await put(h, 'monitor-failed', T + 600_000, 'n1', { resource: 'app' });
  await put(h, 'group-failed', T + 601_000, 'n1', { resource: 'app' });
  await put(h, 'failed-over', T + 601_500, 'n2');
  await put(h, 'group-started', T + 602_000, 'n2');
  await put(h, 'group-stopped', T + 1_200_000, 'n2');
  await put(h, 'switched-over', T + 1_200_100, 'n1');
  await put(h, 'group-started', T + 1_200_500, 'n1');
  h.clock.advance(HOUR);
  return { h, T };
}

describe('GET /v1/report', () => {
  test('reports each configured group over the window, with detection allowances from the configuration', async () => {
    const { h, T } = await withHistory();
    try {
      const res = await h.app.inject({ method: 'GET', url: `/v1/report?since=${T}&until=${T + HOUR}` });
      assert.equal(res.statusCode, 200, res.body);
      const r = ReportResponseSchema.parse(json(res.body));
      assert.equal(r.from, T);
      assert.equal(r.to, T + HOUR);
      assert.equal(r.servedBy, 'n1');
      assert.deepEqual(r.groups.map((g) => g.group), ['web', 'db']);
      const w = r.groups[0];
      assert.ok(w);
      assert.equal(w.incidents.length, 1);
      const i = w.incidents[0];
      assert.ok(i);
      assert.equal(i.cause.kind, 'monitor-failed');
      assert.equal(i.downAt, T + 600_000 - 2_000);
      assert.equal(i.detectionMs, 2_000);
      assert.equal(i.recoveredAt, T + 602_000);
      assert.equal(i.recoveredOn, 'n2');
      assert.deepEqual(i.actions.map((a) => a.kind), ['failover']);
      assert.equal(i.rpoMs, null);
      assert.equal(w.planned.length, 1);
      assert.equal(w.planned[0]?.outageMs, 500);
      assert.equal(w.downMs, 4_000 + 500);
      assert.equal(w.plannedDownMs, 500);
      const d = r.groups[1];
      assert.ok(d);
      assert.equal(d.uptime, 1);
      assert.equal(d.nines, null);
      assert.equal(r.summary.downMs, 4_500);
      assert.equal(r.summary.observedMs, 2 * HOUR);
      assert.equal(r.summary.failures, 1);
      assert.deepEqual(r.warnings, []);
    } finally {
      await h.close();
    }
  });

  test('defaults: the last 24 hours up to now; relative and ISO times; one group', async () => {
    const { h, T } = await withHistory();
    try {
      const now = h.clock.wallNow();
      const def = ReportResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/report' })).body));
      assert.equal(def.to, now);
      assert.equal(def.from, now - 24 * HOUR);
      const rel = ReportResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/report?since=45m&group=web' })).body));
      assert.equal(rel.from, now - 45 * 60_000);
      assert.deepEqual(rel.groups.map((g) => g.group), ['web']);
      // The last 45 minutes (from T + 15 min) hold only the switchover (at T + 20 min), not the failure at T + 10 min.
      assert.equal(rel.groups[0]?.incidents.length, 0);
      assert.equal(rel.groups[0]?.planned.length, 1);
      const iso = new Date(T + 10 * 60_000).toISOString();
      const r = ReportResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: `/v1/report?since=${encodeURIComponent(iso)}&until=${T + 11 * 60_000}` })).body));
      assert.equal(r.from, T + 10 * 60_000);
      assert.equal(r.to, T + 11 * 60_000);
      // A future end is taken as now.
      const fut = ReportResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: `/v1/report?until=${now + HOUR}` })).body));
      assert.equal(fut.to, now);
    } finally {
      await h.close();
    }
  });

  test('bad queries name the field; unknown groups are 404', async () => {
    const { h, T } = await withHistory();
    try {
      const bad = await h.app.inject({ method: 'GET', url: '/v1/report?since=yesterday' });
      assert.equal(bad.statusCode, 400);
      const e = ErrorBodySchema.parse(json(bad.body));
      assert.equal(e.code, 'HA_BAD_REQUEST');
      assert.match(e.message, /^query\.since: expected epoch milliseconds/);
      const reversed = await h.app.inject({ method: 'GET', url: `/v1/report?since=${T + 10}&until=${T}` });
      assert.equal(reversed.statusCode, 400);
      assert.match(ErrorBodySchema.parse(json(reversed.body)).message, /starts .* after it ends/);
      const extra = await h.app.inject({ method: 'GET', url: '/v1/report?from=1' });
      assert.equal(extra.statusCode, 400);
      const unknown = await h.app.inject({ method: 'GET', url: '/v1/report?group=nope' });
      assert.equal(unknown.statusCode, 404);
      assert.match(ErrorBodySchema.parse(json(unknown.body)).message, /unknown group "nope".*web, db/);
    } finally {
      await h.close();
    }
  });

  test('without a configuration, every group in the log is reported; malformed records are warnings', async () => {
    const h = await harness();
    try {
      const T = h.clock.wallNow();
      await put(h, 'group-started', T - 1000, 'n1');
      await h.coord.put(`${keys.eventsPrefix}00000000000001-x-y`, 'not json');
      h.clock.advance(60_000);
      const res = await h.app.inject({ method: 'GET', url: `/v1/report?since=${T}` });
      assert.equal(res.statusCode, 200, res.body);
      const r = ReportResponseSchema.parse(json(res.body));
      assert.deepEqual(r.groups.map((g) => g.group), [web]);
      assert.equal(r.groups[0]?.uptime, 1);
      assert.equal(r.warnings.length, 1);
      assert.match(r.warnings[0] ?? '', /00000000000001-x-y: event record does not parse/);
    } finally {
      await h.close();
    }
  });

  test('OpenAPI documents the report and the metrics endpoint', async () => {
    const h = await harness();
    try {
      const doc = json((await h.app.inject({ method: 'GET', url: '/openapi.json' })).body);
      assert.ok(doc !== null && typeof doc === 'object' && 'paths' in doc && 'components' in doc);
      const paths = doc.paths;
      assert.ok(paths !== null && typeof paths === 'object');
      assert.ok('/v1/report' in paths);
      assert.ok('/metrics' in paths);
      assert.match(JSON.stringify(doc.components), /"ReportResponse"/);
    } finally {
      await h.close();
    }
  });
});

describe('GET /metrics', () => {
  test('404 HA_NOT_FOUND when the node has no metrics registry', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 404);
      assert.equal(ErrorBodySchema.parse(json(res.body)).code, 'HA_NOT_FOUND');
    } finally {
      await h.close();
    }
  });

  test('serves the registry in the Prometheus text format', async () => {
    const clock = new ManualClock(0);
    const coord = new MemoryCoordinator({ clock });
    const metrics = createMetrics();
    metrics.observeRenewal(12);
    const app = await buildApi({ coord, cluster: CLUSTER, self: n1, clock, logger: false, metrics });
    injectAs(app, await makeToken(coord, CLUSTER, 'viewer'));
    try {
      const res = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.match(res.body, /^halo_lease_renewal_duration_seconds_count 1$/m);
    } finally {
      await app.close();
      await coord.close();
    }
  });
});
