import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CleanupResponseSchema,
  ErrorBodySchema,
  EventsResponseSchema,
  GroupViewSchema,
  MaintenanceResponseSchema,
  MoveAcceptedSchema,
  NodeStandbyResponseSchema,
  StatusResponseSchema,
  WhyResponseSchema,
} from '../../src/api/schemas.js';
import { ClusterError } from '../../src/domain/errors.js';
import { parseGroupId, parseResourceId } from '../../src/domain/ids.js';
import { FailureRecordSchema, MoveIntentSchema, type FailureRecord } from '../../src/domain/state.js';
import { appendEvent } from '../../src/observability/events.js';
import { appendJournal } from '../../src/observability/journal.js';
import { applyConfig, harness, json, keys, n1, n2, n3, putAssignment, putSession, putStatus, web, withTxnHook } from './fixtures.js';

function errorOf(body: string) {
  return ErrorBodySchema.parse(json(body));
}

describe('GET /v1/status', () => {
  test('empty store: no config, no nodes, no groups', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'GET', url: '/v1/status' });
      assert.equal(res.statusCode, 200);
      const s = StatusResponseSchema.parse(json(res.body));
      assert.equal(s.cluster, 'demo');
      assert.equal(s.servedBy, 'n1');
      assert.equal(s.configVersion, null);
      assert.equal(s.controller, null);
      assert.deepEqual(s.nodes, []);
      assert.deepEqual(s.groups, []);
    } finally {
      await h.close();
    }
  });

  test('nodes from config and sessions, groups with assignment and per-node status', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      await putSession(h.coord, n1);
      await putSession(h.coord, n2);
      await h.coord.put(keys.controller, JSON.stringify({ node: 'n2', sessionId: 's-n2', since: 42 }));
      await putAssignment(h.coord, { active: n1, standbys: [n2], epoch: 7 });
      await putStatus(h.coord, {
        node: n1,
        role: 'active',
        state: 'running',
        epoch: 7,
        resources: [
          {
            name: parseResourceId('app'),
            state: 'running',
            pid: 4242,
            startedAt: 10,
            healthy: true,
            restarts: 1,
            monitors: [{ kind: 'tcp', ok: true, at: 11, latencyMs: 2, detail: 'connected', consecutiveFailures: 0 }],
            detail: '',
          },
        ],
      });
      await putStatus(h.coord, { node: n2, role: 'standby', state: 'stopped', epoch: 7 });
      await h.coord.put(keys.standby(n2), JSON.stringify({ at: 1, by: 'test' }));

      const s = StatusResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/status' })).body));
      assert.equal(s.configVersion, 1);
      assert.deepEqual(s.controller, { node: 'n2', since: 42 });
      assert.deepEqual(
        s.nodes.map((n) => [n.name, n.online, n.standby, n.labels]),
        [
          ['n1', true, false, { site: 'east' }],
          ['n2', true, true, {}],
          ['n3', false, false, {}],
        ],
      );
      assert.deepEqual(s.groups.map((g) => g.name), ['web', 'db']);
      const g = s.groups[0];
      assert.ok(g);
      assert.equal(g.assignment?.active, 'n1');
      assert.equal(g.assignment?.epoch, 7);
      assert.deepEqual(g.assignment?.standbys, ['n2']);
      assert.deepEqual(
        g.nodes.map((x) => [x.node, x.role, x.state, x.online]),
        [
          ['n1', 'active', 'running', true],
          ['n2', 'standby', 'stopped', true],
          ['n3', 'none', 'unknown', false],
        ],
      );
      assert.equal(g.nodes[0]?.resources[0]?.pid, 4242);
      assert.equal(g.nodes[0]?.resources[0]?.monitors[0]?.detail, 'connected');
      assert.deepEqual(g.ineligible.map((i) => [i.node, i.reason]), [['n2', 'standby'], ['n3', 'offline']]);
      // db may run only on n2 and n3
      assert.deepEqual(s.groups[1]?.candidates, ['n2', 'n3']);
      assert.deepEqual(s.warnings, []);
    } finally {
      await h.close();
    }
  });

  test('a malformed record is skipped and reported, not fatal', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      await putSession(h.coord, n1);
      await h.coord.put(keys.node(n2), '{"node":"n2"}');
      await h.coord.put(keys.assign(web), 'not json');
      const res = await h.app.inject({ method: 'GET', url: '/v1/status' });
      assert.equal(res.statusCode, 200);
      const s = StatusResponseSchema.parse(json(res.body));
      assert.deepEqual(s.nodes.filter((n) => n.online).map((n) => n.name), ['n1']);
      assert.equal(s.groups[0]?.assignment, null);
      assert.equal(s.warnings.length, 2);
      assert.ok(s.warnings.some((w) => w.startsWith(keys.node(n2))));
      assert.ok(s.warnings.some((w) => w.startsWith(keys.assign(web)) && w.includes('not JSON')));
    } finally {
      await h.close();
    }
  });
});

describe('GET /v1/groups/:group', () => {
  test('returns the group', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      await putAssignment(h.coord, { active: n2, epoch: 2 });
      const res = await h.app.inject({ method: 'GET', url: '/v1/groups/web' });
      assert.equal(res.statusCode, 200);
      const g = GroupViewSchema.parse(json(res.body));
      assert.equal(g.name, 'web');
      assert.equal(g.assignment?.active, 'n2');
    } finally {
      await h.close();
    }
  });

  test('unknown group: 404 HA_NOT_FOUND naming it and the known groups', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      const res = await h.app.inject({ method: 'GET', url: '/v1/groups/nope' });
      assert.equal(res.statusCode, 404);
      const e = errorOf(res.body);
      assert.equal(e.code, 'HA_NOT_FOUND');
      assert.match(e.message, /"nope"/);
      assert.match(e.message, /web, db/);
    } finally {
      await h.close();
    }
  });

  test('invalid group name: 400 naming params.group', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'GET', url: '/v1/groups/Bad%20Name' });
      assert.equal(res.statusCode, 400);
      const e = errorOf(res.body);
      assert.equal(e.code, 'HA_BAD_REQUEST');
      assert.match(e.message, /^params\.group: expected a group name/);
      assert.match(e.message, /"Bad Name"/);
    } finally {
      await h.close();
    }
  });
});

describe('switchover and failover', () => {
  async function placed() {
    const h = await harness();
    await applyConfig(h.app);
    await putSession(h.coord, n1);
    await putSession(h.coord, n2);
    await putAssignment(h.coord, { active: n1, standbys: [n2], epoch: 4 });
    return h;
  }

  test('switchover writes a move intent and answers 202', async () => {
    const h = await placed();
    try {
      h.clock.advance(1234);
      const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: { to: 'n2' } });
      assert.equal(res.statusCode, 202, res.body);
      const m = MoveAcceptedSchema.parse(json(res.body));
      assert.deepEqual({ ...m, id: 'x' }, { id: 'x', kind: 'switchover', group: 'web', from: 'n1', to: 'n2', epoch: 4 });
      const kv = await h.coord.get(keys.move(web));
      assert.ok(kv);
      const intent = MoveIntentSchema.parse(JSON.parse(kv.value));
      assert.equal(intent.id, m.id);
      assert.equal(intent.kind, 'switchover');
      assert.equal(intent.to, 'n2');
      assert.equal(intent.at, h.clock.wallNow());
      assert.equal(intent.by, 'test-admin@n1');
    } finally {
      await h.close();
    }
  });

  test('a second move while one is pending: 409 HA_CONFLICT, intent unchanged', async () => {
    const h = await placed();
    try {
      const first = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: {} });
      assert.equal(first.statusCode, 202);
      const before = await h.coord.get(keys.move(web));
      const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/failover', payload: {} });
      assert.equal(res.statusCode, 409);
      const e = errorOf(res.body);
      assert.equal(e.code, 'HA_CONFLICT');
      assert.match(e.message, /already pending/);
      assert.deepEqual(await h.coord.get(keys.move(web)), before);
    } finally {
      await h.close();
    }
  });

  test('a move racing with another writer on the intent key: 409', async () => {
    let injected = false;
    const h = await harness({
      wrap: (c) => withTxnHook(c, async () => {
        if (injected) return;
        injected = true;
        await c.put(keys.move(web), JSON.stringify({ id: 'other', kind: 'failover', to: null, at: 1, by: 'someone' }));
      }),
    });
    try {
      await applyConfig(h.app);
      await putSession(h.coord, n2);
      await putAssignment(h.coord, { active: n1, epoch: 1 });
      injected = false;
      const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: { to: 'n2' } });
      assert.equal(res.statusCode, 409);
      assert.equal(errorOf(res.body).code, 'HA_CONFLICT');
      const kv = await h.coord.get(keys.move(web));
      assert.equal(MoveIntentSchema.parse(JSON.parse(kv?.value ?? 'null')).id, 'other');
    } finally {
      await h.close();
    }
  });

  test('failover without target', async () => {
    const h = await placed();
    try {
      const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/failover' });
      assert.equal(res.statusCode, 202, res.body);
      const m = MoveAcceptedSchema.parse(json(res.body));
      assert.equal(m.kind, 'failover');
      assert.equal(m.to, null);
      assert.equal(m.from, 'n1');
    } finally {
      await h.close();
    }
  });

  test('rejected targets and bodies name the problem; nothing is written', async () => {
    const h = await placed();
    try {
      await h.coord.put(keys.standby(n2), JSON.stringify({ at: 1, by: 't' }));
      const cases: { payload: unknown; status: number; code: string; message: RegExp }[] = [
        { payload: { to: 'n1' }, status: 400, code: 'HA_BAD_REQUEST', message: /^to: group "web" is already active on n1/ },
        { payload: { to: 'n3' }, status: 400, code: 'HA_BAD_REQUEST', message: /^to: node n3 is offline/ },
        { payload: { to: 'n2' }, status: 400, code: 'HA_BAD_REQUEST', message: /^to: node n2 is in standby/ },
        { payload: { to: 'n9' }, status: 400, code: 'HA_BAD_REQUEST', message: /^to: unknown node "n9"; known nodes: n1, n2, n3/ },
        { payload: { to: 5 }, status: 400, code: 'HA_BAD_REQUEST', message: /^body\.to: .*\(got 5\)/ },
        { payload: { to: 'n2', force: true }, status: 400, code: 'HA_BAD_REQUEST', message: /^body: unknown field "force"/ },
      ];
      for (const c of cases) {
        const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: c.payload as Record<string, unknown> });
        assert.equal(res.statusCode, c.status, `${JSON.stringify(c.payload)} -> ${res.body}`);
        const e = errorOf(res.body);
        assert.equal(e.code, c.code);
        assert.match(e.message, c.message);
      }
      assert.equal(await h.coord.get(keys.move(web)), undefined);
      const unknown = await h.app.inject({ method: 'POST', url: '/v1/groups/nope/switchover', payload: {} });
      assert.equal(unknown.statusCode, 404);
      assert.equal(errorOf(unknown.body).code, 'HA_NOT_FOUND');
    } finally {
      await h.close();
    }
  });

  test('no eligible node for a move: 409 naming why; a target where the group failed: 400', async () => {
    const h = await placed();
    try {
      await h.coord.put(keys.failure(web, n2), JSON.stringify({ group: web, node: n2, epoch: 2, at: h.clock.wallNow(), reason: 'restart limit reached' }));
      const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/failover', payload: {} });
      assert.equal(res.statusCode, 409);
      assert.equal(errorOf(res.body).message, 'no other node can take group "web" now (n2 failed, n3 offline)');
      const to = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: { to: 'n2' } });
      assert.equal(to.statusCode, 400);
      assert.match(errorOf(to.body).message, /^to: group "web" failed on n2 \(restart limit reached\); run "halo cleanup web --node n2" first$/);
      // once the failure has expired the node is eligible again
      h.clock.advance(600_001);
      const later = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: { to: 'n2' } });
      assert.equal(later.statusCode, 202, later.body);
    } finally {
      await h.close();
    }
  });

  test('a group that is mid-transition or not placed cannot be moved: 409', async () => {
    const h = await placed();
    try {
      await putAssignment(h.coord, {
        active: null,
        epoch: 4,
        transition: { kind: 'switchover', from: n1, to: n2, startedAt: 1, reason: 'operator' },
      });
      const res = await h.app.inject({ method: 'POST', url: '/v1/groups/web/switchover', payload: {} });
      assert.equal(res.statusCode, 409);
      assert.match(errorOf(res.body).message, /already moving \(switchover from n1 to n2\)/);
      const db = await h.app.inject({ method: 'POST', url: '/v1/groups/db/failover', payload: {} });
      assert.equal(db.statusCode, 409);
      assert.match(errorOf(db.body).message, /no active instance/);
    } finally {
      await h.close();
    }
  });
});


describe('maintenance, standby, cleanup', () => {
  test('maintenance for cluster, group and node writes and deletes the intent keys', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      const cases = [
        { payload: {}, key: keys.maintenanceCluster, scope: 'cluster', target: null },
        { payload: { group: 'web' }, key: keys.maintenanceGroup(web), scope: 'group', target: 'web' },
        { payload: { node: 'n3' }, key: keys.maintenanceNode(n3), scope: 'node', target: 'n3' },
      ] as const;
      for (const c of cases) {
        const on = await h.app.inject({ method: 'POST', url: '/v1/maintenance', payload: { on: true, ...c.payload } });
        assert.equal(on.statusCode, 200, on.body);
        assert.deepEqual(MaintenanceResponseSchema.parse(json(on.body)), { on: true, scope: c.scope, target: c.target });
        assert.ok(await h.coord.get(c.key), `${c.key} written`);
      }
      const s = StatusResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/status' })).body));
      assert.equal(s.maintenance, true);
      assert.equal(s.groups.find((g) => g.name === 'web')?.maintenance, true);
      assert.equal(s.nodes.find((n) => n.name === 'n3')?.maintenance, true);
      for (const c of cases) {
        const off = await h.app.inject({ method: 'POST', url: '/v1/maintenance', payload: { on: false, ...c.payload } });
        assert.equal(off.statusCode, 200);
        assert.equal(await h.coord.get(c.key), undefined);
      }
      const ev = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/events' })).body));
      assert.deepEqual(
        ev.events.filter((e) => e.kind === 'maintenance').map((e) => e.message.replace(/ \(test-admin@n1\)$/, '')),
        [
          'maintenance on for the cluster',
          'maintenance on for group web',
          'maintenance on for node n3',
          'maintenance off for the cluster',
          'maintenance off for group web',
          'maintenance off for node n3',
        ],
      );
    } finally {
      await h.close();
    }
  });

  test('maintenance: bad bodies and unknown names', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      const missing = await h.app.inject({ method: 'POST', url: '/v1/maintenance', payload: { group: 'web' } });
      assert.equal(missing.statusCode, 400);
      assert.match(errorOf(missing.body).message, /^body\.on: .*\(got nothing\)/);
      const both = await h.app.inject({ method: 'POST', url: '/v1/maintenance', payload: { on: true, group: 'web', node: 'n1' } });
      assert.equal(both.statusCode, 400);
      assert.match(errorOf(both.body).message, /^body\.node: give either group or node/);
      const g = await h.app.inject({ method: 'POST', url: '/v1/maintenance', payload: { on: true, group: 'nope' } });
      assert.equal(g.statusCode, 404);
      const n = await h.app.inject({ method: 'POST', url: '/v1/maintenance', payload: { on: true, node: 'n9' } });
      assert.equal(n.statusCode, 404);
      assert.match(errorOf(n.body).message, /unknown node "n9"/);
      const list = await h.coord.list(keys.intentsPrefix);
      assert.equal(list.items.length, 0);
    } finally {
      await h.close();
    }
  });

  test('node standby and online', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      const sb = await h.app.inject({ method: 'POST', url: '/v1/nodes/n2/standby' });
      assert.equal(sb.statusCode, 200, sb.body);
      assert.deepEqual(NodeStandbyResponseSchema.parse(json(sb.body)), { node: 'n2', standby: true });
      assert.ok(await h.coord.get(keys.standby(n2)));
      const on = await h.app.inject({ method: 'POST', url: '/v1/nodes/n2/online' });
      assert.deepEqual(NodeStandbyResponseSchema.parse(json(on.body)), { node: 'n2', standby: false });
      assert.equal(await h.coord.get(keys.standby(n2)), undefined);
      const unknown = await h.app.inject({ method: 'POST', url: '/v1/nodes/n9/standby' });
      assert.equal(unknown.statusCode, 404);
      assert.equal(errorOf(unknown.body).code, 'HA_NOT_FOUND');
      const ev = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/events' })).body));
      assert.deepEqual(ev.events.filter((e) => e.kind === 'node-standby').map((e) => e.node), ['n2', 'n2']);
    } finally {
      await h.close();
    }
  });

  test('cleanup removes failure records of one node or all', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      await putSession(h.coord, n1);
      await putSession(h.coord, n2);
      await putSession(h.coord, n3);
      const fail = (node: typeof n1): FailureRecord => ({ group: web, node, epoch: 2, at: h.clock.wallNow(), reason: 'restart limit reached' });
      for (const n of [n1, n2, n3]) await h.coord.put(keys.failure(web, n), JSON.stringify(FailureRecordSchema.parse(fail(n))));
      await h.coord.put(keys.failure(parseGroupId('db'), n2), JSON.stringify(fail(n2)));

      const before = GroupViewSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/groups/web' })).body));
      assert.deepEqual(before.ineligible.map((i) => [i.node, i.reason, i.until]), [
        ['n1', 'failed', h.clock.wallNow() + 600_000],
        ['n2', 'failed', h.clock.wallNow() + 600_000],
        ['n3', 'failed', h.clock.wallNow() + 600_000],
      ]);

      const one = await h.app.inject({ method: 'POST', url: '/v1/groups/web/cleanup', payload: { node: 'n1' } });
      assert.equal(one.statusCode, 200, one.body);
      assert.deepEqual(CleanupResponseSchema.parse(json(one.body)), { group: 'web', removed: ['n1'] });
      assert.equal(await h.coord.get(keys.failure(web, n1)), undefined);
      assert.ok(await h.coord.get(keys.failure(web, n2)));

      const all = await h.app.inject({ method: 'POST', url: '/v1/groups/web/cleanup' });
      assert.deepEqual(CleanupResponseSchema.parse(json(all.body)), { group: 'web', removed: ['n2', 'n3'] });
      // another group's records are untouched
      assert.ok(await h.coord.get(keys.failure(parseGroupId('db'), n2)));

      const bad = await h.app.inject({ method: 'POST', url: '/v1/groups/web/cleanup', payload: { node: 'n9' } });
      assert.equal(bad.statusCode, 400);
      assert.match(errorOf(bad.body).message, /^node: unknown node "n9"/);
      const ev = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/events' })).body));
      assert.equal(ev.events.filter((e) => e.kind === 'cleanup').length, 2);
    } finally {
      await h.close();
    }
  });
});

describe('events and journal', () => {
  test('events are ordered by create revision; limit and after', async () => {
    const h = await harness();
    try {
      // Timestamps out of order on purpose: the store order wins.
      for (const [i, at] of [30, 10, 20, 40].entries()) {
        await appendEvent(h.coord, 'demo', { at, kind: 'waiting', node: n1, group: web, resource: null, message: `e${i}`, epoch: null });
      }
      const all = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/events' })).body));
      assert.deepEqual(all.events.map((e) => e.message), ['e0', 'e1', 'e2', 'e3']);
      const revs = all.events.map((e) => e.revision);
      assert.deepEqual([...revs].sort((a, b) => a - b), revs);

      const last2 = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/events?limit=2' })).body));
      assert.deepEqual(last2.events.map((e) => e.message), ['e2', 'e3']);
      const after = EventsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: `/v1/events?after=${revs[1]}` })).body));
      assert.deepEqual(after.events.map((e) => e.message), ['e2', 'e3']);

      const bad = await h.app.inject({ method: 'GET', url: '/v1/events?limit=-1' });
      assert.equal(bad.statusCode, 400);
      assert.match(errorOf(bad.body).message, /^query\.limit: expected a non-negative integer \(got "-1"\)/);
      const zero = await h.app.inject({ method: 'GET', url: '/v1/events?limit=0' });
      assert.equal(zero.statusCode, 400);
      assert.match(errorOf(zero.body).message, /^query\.limit:/);
    } finally {
      await h.close();
    }
  });

  test('why returns the journal newest last, limited', async () => {
    const h = await harness();
    try {
      await applyConfig(h.app);
      for (let i = 0; i < 5; i++) {
        await appendJournal(h.coord, 'demo', { at: 100 + i, node: n1, group: web, rule: `rule${i}`, code: 'C', message: `m${i}`, actions: [], revision: i });
      }
      const res = await h.app.inject({ method: 'GET', url: '/v1/groups/web/why?limit=3' });
      assert.equal(res.statusCode, 200);
      const w = WhyResponseSchema.parse(json(res.body));
      assert.deepEqual(w.entries.map((e) => e.rule), ['rule2', 'rule3', 'rule4']);
      const unknown = await h.app.inject({ method: 'GET', url: '/v1/groups/nope/why' });
      assert.equal(unknown.statusCode, 404);
    } finally {
      await h.close();
    }
  });
});

describe('errors', () => {
  test('unknown route: 404 JSON with a code', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'GET', url: '/v1/nothing?x=1' });
      assert.equal(res.statusCode, 404);
      assert.deepEqual(errorOf(res.body), { code: 'HA_NOT_FOUND', message: 'no route GET /v1/nothing; see /openapi.json' });
    } finally {
      await h.close();
    }
  });

  test('malformed JSON body: 400 HA_BAD_REQUEST', async () => {
    const h = await harness();
    try {
      const res = await h.app.inject({ method: 'POST', url: '/v1/maintenance', headers: { 'content-type': 'application/json' }, payload: '{"on": tru' });
      assert.equal(res.statusCode, 400);
      assert.equal(errorOf(res.body).code, 'HA_BAD_REQUEST');
    } finally {
      await h.close();
    }
  });

  test('coordinator unavailable: 503 with its code; unexpected errors: 500 without a stack', async () => {
    let mode: 'unavailable' | 'bug' = 'unavailable';
    const h = await harness({
      wrap: (c) => ({
        ...withTxnHook(c, async () => {}),
        list: async () => {
          if (mode === 'unavailable') throw new ClusterError('HA_COORD_UNAVAILABLE', 'coordinator 127.0.0.1:7400 refused the connection');
          throw new TypeError('cannot read properties of undefined');
        },
      }),
    });
    try {
      const res = await h.app.inject({ method: 'GET', url: '/v1/status' });
      assert.equal(res.statusCode, 503);
      assert.deepEqual(errorOf(res.body), { code: 'HA_COORD_UNAVAILABLE', message: 'coordinator 127.0.0.1:7400 refused the connection' });
      mode = 'bug';
      const bug = await h.app.inject({ method: 'GET', url: '/v1/status' });
      assert.equal(bug.statusCode, 500);
      assert.deepEqual(errorOf(bug.body), { code: 'HA_INTERNAL', message: 'internal error; see the agent log' });
      assert.doesNotMatch(bug.body, /at .*\.js/);
    } finally {
      await h.close();
    }
  });
});
