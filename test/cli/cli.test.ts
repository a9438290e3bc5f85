import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../src/api/server.js';
import { ConfigResponseSchema, EventItemSchema, MoveAcceptedSchema, StatusResponseSchema } from '../../src/api/schemas.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { parseNodeId } from '../../src/domain/ids.js';
import { MoveIntentSchema } from '../../src/domain/state.js';
import { appendEvent } from '../../src/observability/events.js';
import { SystemClock } from '../../src/platform/clock.js';
import { CONFIG_YAML, keys, n1, n2, putAssignment, putSession, putStatus, web } from '../api/fixtures.js';
import { injectAs, makeToken } from '../support/auth.js';

let adminToken = '';

/** The built executable: dist/test/cli/ -> repo root. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HALO = join(ROOT, 'bin', 'halo.js');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/halo.js args` asynchronously (the API server lives in this process). */
function halo(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HALO, ...args], { cwd: ROOT, timeout: 20_000, env: { ...process.env, HALO_API: '', HALO_TOKEN: adminToken, HALO_CREDENTIALS: '', ...env } }, (err, stdout, stderr) => {
      const code = err && typeof err.code === 'number' ? err.code : err ? -1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let coord: MemoryCoordinator;
let app: FastifyInstance;
let api: string;
let tmp: string;

before(async () => {
  coord = new MemoryCoordinator();
  app = await buildApi({ coord, cluster: 'demo', self: n1, clock: new SystemClock(), logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  api = `http://127.0.0.1:${port}`;
  tmp = await mkdtemp(join(tmpdir(), 'halo-cli-'));
  adminToken = await makeToken(coord, 'demo', 'admin');
  injectAs(app, adminToken);
});

after(async () => {
  await app.close();
  await coord.close();
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  await coord.deletePrefix(keys.prefix);
  adminToken = await makeToken(coord, 'demo', 'admin');
  injectAs(app, adminToken);
  const res = await app.inject({ method: 'POST', url: '/v1/config', payload: { source: CONFIG_YAML } });
  assert.equal(res.statusCode, 200);
  await putSession(coord, n1);
  await putSession(coord, n2);
  await putAssignment(coord, { active: n1, standbys: [n2], epoch: 3 });
  await putStatus(coord, { node: n1, role: 'active', state: 'running', epoch: 3 });
  await putStatus(coord, { node: n2, role: 'standby', state: 'stopped', epoch: 3 });
});

function noStack(s: string): void {
  assert.doesNotMatch(s, /^\s+at .+:\d+:\d+\)?$/m, `stack trace in output:\n${s}`);
}

describe('halo CLI against a live API', () => {
  test('status prints the node and group tables', async () => {
    const r = await halo(['--api', api, 'status']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^cluster demo · config v1 · no controller · answered by n1$/);
    assert.match(r.stdout, /^NODE\s+STATE\s+API\s+LABELS\s+NOTES$/m);
    assert.match(r.stdout, /^n1\s+online\s+\S+\s+site=east$/m);
    assert.match(r.stdout, /^n3\s+offline\s+http:\/\/127\.0\.0\.1:7403\s+-$/m);
    assert.match(r.stdout, /^GROUP\s+ACTIVE\s+EPOCH\s+STANDBYS\s+STATE\s+NOTES$/m);
    assert.match(r.stdout, /^web\s+n1\s+3\s+n2\s+running$/m);
    assert.match(r.stdout, /^db\s+-\s+-\s+-\s+unplaced$/m);
  });

  test('-o json prints the API answer', async () => {
    const r = await halo(['--api', api, '-o', 'json', 'status']);
    assert.equal(r.code, 0, r.stderr);
    const s = StatusResponseSchema.parse(JSON.parse(r.stdout));
    assert.equal(s.cluster, 'demo');
    assert.equal(s.groups[0]?.assignment?.active, 'n1');
  });

  test('HALO_API is used when --api is not given', async () => {
    const r = await halo(['-o', 'json', 'status'], { HALO_API: api });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(StatusResponseSchema.parse(JSON.parse(r.stdout)).servedBy, 'n1');
  });

  test('usage errors exit 2 with one line and no stack trace', async () => {
    for (const args of [['status', '--bogus'], ['frobnicate'], ['-o', 'xml', 'status'], ['events', '--limit', 'many'], ['switchover']]) {
      const r = await halo(['--api', api, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0] ?? '', /^halo: HA_BAD_REQUEST: /);
      noStack(r.stderr);
    }
  });

  test('an unknown group is one line with its code, exit 1', async () => {
    const r = await halo(['--api', api, 'status', 'nope']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'halo: HA_NOT_FOUND: unknown group "nope"; known groups: web, db\n');
  });

  test('an unreachable cluster names every URL tried; the next URL is used when one is down', async () => {
    const p1 = await closedPort();
    const p2 = await closedPort();
    const down = [`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`];
    const r = await halo(['--api', down.join(','), 'status']);
    assert.equal(r.code, 1);
    for (const u of down) assert.ok(r.stderr.includes(`${u} (connection refused)`), r.stderr);
    assert.match(r.stderr, /^halo: HA_AGENT_TIMEOUT: no halo API answered/);
    noStack(r.stderr);

    const ok = await halo(['--api', `${down[0]},${api}`, '-o', 'json', 'status']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(StatusResponseSchema.parse(JSON.parse(ok.stdout)).cluster, 'demo');
  });

  test('config validate: a bad file exits 1 with file:line:column; a good one exits 0', async () => {
    const bad = join(tmp, 'bad.yaml');
    await writeFile(bad, CONFIG_YAML.replace('apiPort: 7402', 'apiPort: "x"'));
    const r = await halo(['config', 'validate', bad]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.startsWith(`${bad}:9:14: nodes[1].apiPort`), r.stderr);
    noStack(r.stderr);
    const good = join(tmp, 'good.yaml');
    await writeFile(good, CONFIG_YAML);
    const g = await halo(['config', 'validate', good]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.stdout, `${good}: valid (cluster demo: 3 nodes, 2 groups)\n`);
  });

  test('config apply and get', async () => {
    const file = join(tmp, 'apply.yaml');
    const changed = CONFIG_YAML.replace('site: east', 'site: north');
    await writeFile(file, changed);
    const r = await halo(['--api', api, 'config', 'apply', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `applied ${file} as configuration version 2 of cluster demo\n`);
    const g = await halo(['--api', api, '-o', 'json', 'config', 'get']);
    const cfg = ConfigResponseSchema.parse(JSON.parse(g.stdout));
    assert.deepEqual([cfg.version, cfg.source], [2, changed]);

    const bad = join(tmp, 'apply-bad.yaml');
    await writeFile(bad, CONFIG_YAML.replace('cluster: demo', 'cluster: other'));
    const b = await halo(['--api', api, 'config', 'apply', bad]);
    assert.equal(b.code, 1);
    assert.match(b.stderr, /^halo: HA_CONFIG_INVALID: cluster: cannot rename a running cluster/);
  });

  test('switchover --no-wait -o json returns the accepted move', async () => {
    const r = await halo(['--api', api, '-o', 'json', 'switchover', 'web', '--to', 'n2', '--no-wait']);
    assert.equal(r.code, 0, r.stderr);
    const m = MoveAcceptedSchema.parse(JSON.parse(r.stdout));
    assert.deepEqual([m.kind, m.from, m.to, m.epoch], ['switchover', 'n1', 'n2', 3]);
    const kv = await coord.get(keys.move(web));
    assert.equal(MoveIntentSchema.parse(JSON.parse(kv?.value ?? 'null')).id, m.id);
    const again = await halo(['--api', api, 'switchover', 'web', '--no-wait']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^halo: HA_CONFLICT: a switchover of group "web" is already pending/);
  });

  test('switchover waits and reports progress until the new node runs at a higher epoch', async () => {
    // Plays the controller and the agents: consume the intent, stop n1, start n2.
    const ac = new AbortController();
    const controller = (async () => {
      const start = await coord.list(keys.intentsPrefix);
      for await (const batch of coord.watch(`${keys.intentsPrefix}move/`, start.revision, { signal: ac.signal })) {
        if (!batch.some((e) => e.kind === 'put')) continue;
        const step = () => new Promise((r) => setTimeout(r, 400)); // longer than one poll (200 ms)
        await coord.delete(keys.move(web));
        await putAssignment(coord, { active: null, epoch: 3, standbys: [], transition: { kind: 'switchover', from: n1, to: n2, startedAt: 1, reason: 'operator' } });
        await putStatus(coord, { node: n1, role: 'active', state: 'stopping', epoch: 3 });
        await step();
        await putStatus(coord, { node: n1, role: 'none', state: 'stopped', epoch: 3 });
        await putAssignment(coord, { active: n2, epoch: 4, standbys: [n1] });
        await putStatus(coord, { node: n2, role: 'active', state: 'starting', epoch: 4 });
        await step();
        await putStatus(coord, { node: n2, role: 'active', state: 'running', epoch: 4 });
        return;
      }
    })();
    try {
      const r = await halo(['--api', api, 'switchover', 'web', '--to', 'n2', '--timeout', '15000']);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split('\n');
      assert.equal(lines[0], 'requested: switchover of web from n1 to n2…');
      assert.match(lines.at(-1) ?? '', /^done: web active on n2 \(epoch 4\) in \d+(\.\d)? m?s$/);
      // Polling every 200 ms may miss a short state, but what it shows must be in order.
      const progress = lines.slice(1, -1);
      const order = ['n1 stopping…', 'n1 stopped…', 'n2 starting…'];
      const idx = progress.map((l) => order.indexOf(l));
      assert.ok(idx.every((i) => i >= 0), `unexpected progress lines: ${progress.join(' | ')}`);
      assert.deepEqual([...idx].sort(), idx);
      assert.ok(progress.length >= 1, 'at least one progress line between request and done');
    } finally {
      ac.abort();
      await controller;
    }
  });

  test('switchover that does not finish in time: HA_OPERATION_TIMEOUT, exit 1', async () => {
    const r = await halo(['--api', api, 'failover', 'web', '--timeout', '600']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^halo: HA_OPERATION_TIMEOUT: failover of web did not finish within 600 ms \(last seen: active n1, epoch 3 \(n1 running\)\)/);
  });

  test('events --follow prints the tail and new events, and stops on Ctrl-C', async () => {
    await appendEvent(coord, 'demo', { at: Date.now(), kind: 'node-joined', node: parseNodeId('n2'), group: null, resource: null, message: 'first', epoch: null });
    const child = spawn(process.execPath, [HALO, '--api', api, '-o', 'json', 'events', '--follow'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HALO_TOKEN: adminToken, HALO_CREDENTIALS: '' } });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const waitFor = async (pred: () => boolean, what: string) => {
      const deadline = Date.now() + 10_000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stdout: ${out} stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(() => out.includes('"first"'), 'the tail');
      await appendEvent(coord, 'demo', { at: Date.now(), kind: 'waiting', node: null, group: web, resource: null, message: 'second', epoch: null });
      await waitFor(() => out.includes('"second"'), 'the live event');
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, err);
      const events = out.trim().split('\n').map((l) => EventItemSchema.parse(JSON.parse(l)));
      assert.deepEqual(events.filter((e) => e.message === 'first' || e.message === 'second').map((e) => e.message), ['first', 'second']);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
