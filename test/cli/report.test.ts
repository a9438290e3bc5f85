import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ReportResponseSchema } from '../../src/api/schemas.js';
import { buildApi } from '../../src/api/server.js';
import { runCli } from '../../src/cli/program.js';
import { describeActions, formatNines, formatUptime } from '../../src/cli/format.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { parseGroupId, parseNodeId, parseResourceId } from '../../src/domain/ids.js';
import type { ClusterEvent, EventKind } from '../../src/domain/state.js';
import { appendEvent } from '../../src/observability/events.js';
import { ManualClock } from '../../src/platform/clock.js';
import { CONFIG_YAML, n1 } from '../api/fixtures.js';
import { injectAs, makeToken } from '../support/auth.js';

let token = '';

const HOUR = 3_600_000;
const clock = new ManualClock(0);
const T = clock.wallNow();
let coord: MemoryCoordinator;
let app: FastifyInstance;
let api: string;

async function put(kind: EventKind, at: number, node: string, more: { group?: string; resource?: string; message?: string } = {}): Promise<void> {
  const ev: ClusterEvent = {
    at,
    kind,
    node: parseNodeId(node),
    group: parseGroupId(more.group ?? 'web'),
    resource: more.resource === undefined ? null : parseResourceId(more.resource),
    message: more.message ?? kind,
    epoch: null,
  };
  await appendEvent(coord, 'demo', ev);
}

before(async () => {
  coord = new MemoryCoordinator({ clock });
  app = await buildApi({ coord, cluster: 'demo', self: n1, clock, logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  api = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  token = await makeToken(coord, 'demo', 'viewer');
  injectAs(app, await makeToken(coord, 'demo', 'admin'));
  const res = await app.inject({ method: 'POST', url: '/v1/config', payload: { source: CONFIG_YAML } });
  assert.equal(res.statusCode, 200);
  await put('group-started', T - 60_000, 'n1');
  await put('group-started', T - 60_000, 'n2', { group: 'db' });
  // web: a crash restarted in place, then a node loss failed over to n2, then a switchover back.
  await put('monitor-failed', T + 600_000, 'n1', { resource: 'app', message: 'app exited: code 1, "oops"' });
  await put('resource-restarted', T + 600_200, 'n1', { resource: 'app' });
  await put('node-lost', T + 1_200_000, 'n1');
  await put('failed-over', T + 1_200_000, 'n2');
  await put('group-started', T + 1_201_000, 'n2');
  await put('group-stopped', T + 2_400_000, 'n2');
  await put('switched-over', T + 2_400_100, 'n1');
  await put('group-started', T + 2_400_600, 'n1');
  clock.advance(HOUR);
});

after(async () => {
  await app.close();
  await coord.close();
});

async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['--api', api, ...args], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { HALO_TOKEN: token }, clock });
  return { code, stdout, stderr };
}

describe('halo report', () => {
  test('table: the summary, one row per group, incidents and planned moves apart', async () => {
    const r = await cli(['report', '--since', String(T), '--until', String(T + HOUR)]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^availability of cluster demo · .* \(1 h 0 min\) · answered by n1$/);
    // web: 200 ms + 3 s (2 s lease before detection + 1 s to start) + 600 ms planned.
    assert.match(r.stdout, /^overall 99\.947 % · 3\.2 nines · down 3\.8 s \(planned 600 ms\) · 2 failures · MTBF /m);
    assert.match(r.stdout, /^web\s+99\.894 %\s+2\.9\s+3\.8 s\s+600 ms\s+2\s+0\s/m);
    assert.match(r.stdout, /^db\s+100 %\s+∞\s+0 ms\s+0 ms\s+0\s+0\s+-\s+-$/m);
    assert.match(r.stdout, /^web\s+\S+ \S+\s+monitor-failed \(app@n1\)\s+0 ms\s+~200 ms\s+~200 ms\s+200 ms\s+restart app on n1$/m);
    assert.match(r.stdout, /^web\s+\S+ \S+\s+node-lost \(n1\)\s+2\.0 s\s+1\.0 s\s+3\.0 s\s+3\.0 s\s+failover to n2$/m);
    assert.match(r.stdout, /^planned moves$/m);
    assert.match(r.stdout, /^web\s+\S+ \S+\s+switchover \(n2\)\s+0 ms\s+600 ms\s+600 ms\s+600 ms\s+switchover to n1$/m);
    assert.match(r.stdout, /^~ recovered by a restart in place/m);
  });

  test('-o csv: a header and one row per incident, quoted where needed', async () => {
    const r = await cli(['-o', 'csv', 'report', '--since', String(T), '--until', String(T + HOUR), '--group', 'web']);
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.split('\r\n');
    assert.equal(rows.pop(), '');
    assert.equal(rows.length, 4);
    assert.equal(rows[0], 'group,planned,cause,cause_node,cause_resource,down_at,detected_at,recovered_at,recovered_on,recovery_estimated,detection_ms,recovery_ms,outage_ms,down_in_window_ms,actions,rpo_ms,message');
    const at = (ms: number) => new Date(T + ms).toISOString();
    assert.equal(rows[1], `web,false,monitor-failed,n1,app,${at(600_000)},${at(600_000)},${at(600_200)},n1,true,0,200,200,200,restart app on n1,,"app exited: code 1, ""oops"""`);
    assert.equal(rows[2], `web,false,node-lost,n1,,${at(1_198_000)},${at(1_200_000)},${at(1_201_000)},n2,false,2000,1000,3000,3000,failover to n2,,node-lost`);
    assert.equal(rows[3], `web,true,switchover,n2,,${at(2_400_000)},${at(2_400_000)},${at(2_400_600)},n1,false,0,600,600,600,switchover to n1,,group-stopped`);
  });

  test('-o json is the API answer; --since takes durations', async () => {
    const r = await cli(['-o', 'json', 'report', '--since', '30m']);
    assert.equal(r.code, 0, r.stderr);
    const body = ReportResponseSchema.parse(JSON.parse(r.stdout));
    assert.equal(body.to, T + HOUR);
    assert.equal(body.from, T + HOUR - 30 * 60_000);
    assert.deepEqual(body.groups.map((g) => [g.group, g.incidents.length, g.planned.length]), [
      ['web', 0, 1],
      ['db', 0, 0],
    ]);
  });

  test('errors: a bad time names the field; csv is refused elsewhere', async () => {
    const bad = await cli(['report', '--since', 'last tuesday']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^halo: HA_BAD_REQUEST: query\.since: expected epoch milliseconds/);
    const csv = await cli(['-o', 'csv', 'status']);
    assert.equal(csv.code, 1);
    assert.match(csv.stderr, /HA_BAD_REQUEST: -o csv is supported only by "halo report"/);
    const unknown = await cli(['report', '--group', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HA_NOT_FOUND: unknown group "nope"/);
  });
});

describe('report formatting', () => {
  test('uptime is truncated, never rounded up to 100 %', () => {
    assert.equal(formatUptime(0.9995), '99.950 %');
    assert.equal(formatUptime(0.999999), '99.999 %');
    assert.equal(formatUptime(1), '100 %');
    assert.equal(formatUptime(null), '-');
  });
  test('nines: one decimal, ∞ without downtime, - when unknown', () => {
    assert.equal(formatNines(3.30103, 0.9995), '3.3');
    assert.equal(formatNines(5 - 1e-12, 0.99999), '5.0');
    assert.equal(formatNines(null, 1), '∞');
    assert.equal(formatNines(null, null), '-');
  });
  test('repeated actions are counted', () => {
    const a = (kind: 'restart' | 'failover', node: string) => ({ kind, at: 0, node: parseNodeId(node), resource: kind === 'restart' ? parseResourceId('app') : null });
    assert.equal(describeActions([a('restart', 'n1'), a('restart', 'n1'), a('failover', 'n2')]), 'restart x2 app on n1, failover to n2');
    assert.equal(describeActions([]), '');
  });
});
