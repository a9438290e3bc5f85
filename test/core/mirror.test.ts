import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeLoss, diffPercent, mirrorLoss, mirrorState, replicaState } from '../../src/core/mirror.js';
import { plan } from '../../src/core/plan.js';
import { parseGroupId, parseResourceId } from '../../src/domain/ids.js';
import type { MirrorSyncRecord } from '../../src/domain/state.js';
import { aCluster, decisionFor, n, T0 } from './builders.js';

const mirrored = (mode: 'sync' | 'async', allowDataLoss = false) =>
  aCluster()
    .withNodes('n1', 'n2', 'n3')
    .withGroup('web', { mirror: { mode, allowDataLoss } })
    .withAllSessions()
    .withAssignment('web', { active: 'n1', epoch: 3, standbys: ['n2'] })
    .withStatus('n1', 'web', { state: 'running', epoch: 3, role: 'active' });

describe('mirror promotion rule (sync mode)', () => {
  test('the active is lost: failover goes to the in-sync standby, even when it is not the preferred one', () => {
    const d = decisionFor(plan(mirrored('sync').withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: ['n3'] }).withoutSession('n1').build()), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
    const w = d.actions[0];
    assert.ok(w?.kind === 'writeAssignment');
    assert.equal(w.assignment.active, 'n3');
    assert.ok(d.events.every((e) => e.kind !== 'mirror-data-loss'), 'no loss to record: n3 holds every acknowledged write');
  });

  test('no standby holds every acknowledged write: the group waits and says why', () => {
    const d = decisionFor(plan(mirrored('sync').withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: [] }).withoutSession('n1').build()), 'web');
    assert.equal(d.reason.code, 'WAITING_FOR_MIRROR');
    assert.deepEqual(d.actions, []);
    assert.match(d.reason.message, /not known to hold every acknowledged write of sync mirror "data" \(in sync: n1\)/);
  });

  test('the newest record counts: an old epoch listing a node does not make it eligible once a newer active dropped it', () => {
    const input = mirrored('sync')
      .withMirrorRecord('web', { node: 'n2', epoch: 2, inSync: ['n1', 'n3'] })
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: ['n2'] })
      .withoutSession('n1')
      .build();
    const d = decisionFor(plan(input), 'web');
    const w = d.actions[0];
    assert.ok(w?.kind === 'writeAssignment');
    assert.equal(w.assignment.active, 'n2');
  });

  test('no record: the mirror never served, nothing was acknowledged, any node may take it', () => {
    const d = decisionFor(plan(mirrored('sync').withoutSession('n1').build()), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
  });

  test('allowDataLoss: failover to the best node, and the event records what may be lost', () => {
    const input = mirrored('sync', true)
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: [], standbys: [{ node: n('n2'), state: 'syncing', pendingBytes: 4096, behindSinceAt: T0 - 1500, lagMs: 1500, lastAckAt: null, brokeAt: null, resync: null }] })
      .withoutSession('n1')
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
    const loss = d.events.find((e) => e.kind === 'mirror-data-loss');
    assert.ok(loss);
    assert.equal(loss.node, 'n2');
    assert.equal(
      loss.message,
      `mirror data: 4096 bytes had not reached n2 as of ${new Date(T0 - 100).toISOString()} (100 ms before the failover), the old active's last report, ` +
        `written since ${new Date(T0 - 1500).toISOString()} (1500 ms before the failover); changes made after that report are unknown and may also be missing`,
    );
    assert.deepEqual(loss.loss, { bytes: 4096, sinceAt: T0 - 1500, asOfAt: T0 - 100, upperBound: false }, 'the figures, for tools');
  });

  test('async mirrors never block failover; the loss is recorded with its bytes, since when, and as of when', () => {
    const input = mirrored('async')
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: [], mode: 'async', standbys: [{ node: n('n2'), state: 'broken', pendingBytes: 700, behindSinceAt: T0 - 200, lagMs: 0, lastAckAt: T0 - 160, brokeAt: T0 - 150, resync: null }] })
      .withoutSession('n1')
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
    const loss = d.events.find((e) => e.kind === 'mirror-data-loss');
    assert.ok(loss);
    assert.equal(loss.node, 'n2');
    assert.match(loss.message, /^mirror data: 700 bytes had not reached n2 as of \S+ \(100 ms before the failover\), the old active's last report, written since \S+ \(200 ms before the failover\); changes made after that report are unknown/);
    assert.deepEqual(loss.loss, { bytes: 700, sinceAt: T0 - 200, asOfAt: T0 - 100, upperBound: false });
  });

  test('async, synced with nothing pending at the last report: still recorded, 0 bytes as of that report', () => {
    const input = mirrored('async')
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: ['n2'], mode: 'async', standbys: [{ node: n('n2'), state: 'synced', pendingBytes: 0, behindSinceAt: null, lagMs: 0, lastAckAt: T0 - 120, brokeAt: null, resync: null }] })
      .withoutSession('n1')
      .build();
    const d = decisionFor(plan(input), 'web');
    const w = d.actions[0];
    assert.ok(w?.kind === 'writeAssignment');
    assert.equal(w.assignment.active, 'n2');
    const loss = d.events.filter((e) => e.kind === 'mirror-data-loss');
    assert.equal(loss.length, 1);
    assert.equal(
      loss[0]?.message,
      `mirror data: 0 bytes had not reached n2 as of ${new Date(T0 - 100).toISOString()} (100 ms before the failover), the old active's last report; changes made after that report are unknown and may also be missing`,
    );
  });

  test('async: the group failed on its node (the agent there gave up): the failover records the loss too', () => {
    const input = mirrored('async')
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: ['n2'], mode: 'async', standbys: [{ node: n('n2'), state: 'syncing', pendingBytes: 57, behindSinceAt: T0 - 300, lagMs: 300, lastAckAt: T0 - 120, brokeAt: null, resync: null }] })
      .withStatus('n1', 'web', { state: 'failed', epoch: 3, role: 'active', detail: 'restart limit' })
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'GROUP_FAILED');
    const w = d.actions[0];
    assert.ok(w?.kind === 'writeAssignment');
    assert.equal(w.assignment.active, 'n2');
    const loss = d.events.filter((e) => e.kind === 'mirror-data-loss');
    assert.equal(loss.length, 1);
    assert.equal(loss[0]?.node, 'n2');
    assert.deepEqual(loss[0]?.loss, { bytes: 57, sinceAt: T0 - 300, asOfAt: T0 - 100, upperBound: false });
  });

  test('async: placed on another node than the last writer while nothing is active: the loss is recorded', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3')
      .withGroup('web', { mirror: { mode: 'async', allowDataLoss: false } })
      .withSession('n2')
      .withSession('n3')
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: [], mode: 'async', standbys: [{ node: n('n2'), state: 'synced', pendingBytes: 0, behindSinceAt: null, lagMs: 0, lastAckAt: T0 - 120, brokeAt: null, resync: null }] })
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'PLACED');
    const loss = d.events.filter((e) => e.kind === 'mirror-data-loss');
    assert.equal(loss.length, 1);
    assert.equal(loss[0]?.node, 'n2');
    assert.deepEqual(loss[0]?.loss, { bytes: 0, sinceAt: null, asOfAt: T0 - 100, upperBound: false });
  });

  test('placed back on the last writer: nothing to record', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('web', { mirror: { mode: 'async', allowDataLoss: false } })
      .withAllSessions()
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: [], mode: 'async' })
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'PLACED');
    const w = d.actions[0];
    assert.ok(w?.kind === 'writeAssignment');
    assert.equal(w.assignment.active, 'n1');
    assert.ok(d.events.every((e) => e.kind !== 'mirror-data-loss'));
  });

  test('a converged group with a mirror does nothing', () => {
    const d = decisionFor(plan(mirrored('sync').withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: ['n2'] }).build()), 'web');
    assert.deepEqual(d.actions, []);
  });
});

describe('mirrorLoss', () => {
  const group = mirrored('async').config().groups[0];
  const rec = (over: Partial<MirrorSyncRecord>): MirrorSyncRecord => ({
    group: parseGroupId('web'),
    resource: parseResourceId('data'),
    epoch: 3,
    node: n('n1'),
    mode: 'async',
    inSync: [],
    totalBytes: 5000,
    standbys: [{ node: n('n2'), state: 'syncing', pendingBytes: 300, behindSinceAt: 900, lagMs: 50, lastAckAt: 950, brokeAt: null, resync: null }],
    updatedAt: 1000,
    ...over,
  });

  test('async: bytes, sinceAt and asOfAt of the newest record; nothing for the writer itself', () => {
    assert.ok(group);
    const older = rec({ updatedAt: 800, standbys: [{ node: n('n2'), state: 'syncing', pendingBytes: 10, behindSinceAt: 700, lagMs: 0, lastAckAt: null, brokeAt: null, resync: null }] });
    assert.deepEqual(mirrorLoss(group, n('n2'), [older, rec({})]), [{ resource: 'data', node: 'n2', bytes: 300, sinceAt: 900, asOfAt: 1000, upperBound: false }]);
    assert.deepEqual(mirrorLoss(group, n('n1'), [rec({})]), []);
    assert.deepEqual(mirrorLoss(group, n('n2'), undefined), []);
  });

  test('async: 0 pending is still a statement (0 bytes as of asOfAt, no sinceAt)', () => {
    assert.ok(group);
    const synced = rec({ standbys: [{ node: n('n2'), state: 'synced', pendingBytes: 0, behindSinceAt: null, lagMs: 0, lastAckAt: 990, brokeAt: null, resync: null }] });
    assert.deepEqual(mirrorLoss(group, n('n2'), [synced]), [{ resource: 'data', node: 'n2', bytes: 0, sinceAt: null, asOfAt: 1000, upperBound: false }]);
  });

  test('a broken standby with an unknown start of its loss says so; a node that was no standby misses the whole directory', () => {
    assert.ok(group);
    const broken = rec({ standbys: [{ node: n('n2'), state: 'broken', pendingBytes: 4000, behindSinceAt: null, lagMs: 0, lastAckAt: 400, brokeAt: 500, resync: null }] });
    const [l] = mirrorLoss(group, n('n2'), [broken]);
    assert.deepEqual(l, { resource: 'data', node: 'n2', bytes: 4000, sinceAt: null, asOfAt: 1000, upperBound: false });
    assert.match(describeLoss(l, 1500), /4000 bytes had not reached n2 as of 1970-01-01T00:00:01.000Z \(500 ms before the failover\), the old active's last report, written since an unknown time;/);
    assert.deepEqual(mirrorLoss(group, n('n3'), [rec({})]), [{ resource: 'data', node: 'n3', bytes: 5000, sinceAt: null, asOfAt: 1000, upperBound: true }]);
  });

  test('a standby the old active never heard from (no acknowledgement in its epoch): the bytes are an upper bound, and the message says so', () => {
    assert.ok(group);
    const never = rec({ standbys: [{ node: n('n2'), state: 'broken', pendingBytes: 4000, behindSinceAt: null, lagMs: 0, lastAckAt: null, brokeAt: 500, resync: null }] });
    const [l] = mirrorLoss(group, n('n2'), [never]);
    assert.ok(l);
    assert.equal(l.upperBound, true);
    assert.match(describeLoss(l, 1500), /^mirror data: at most 4000 bytes \(the old active never heard from n2, so it counted everything\) had not reached n2/);
  });

  test('sync with allowDataLoss: unchanged, a synced standby with nothing pending is not reported', () => {
    const g = mirrored('sync', true).config().groups[0];
    assert.ok(g);
    const synced = rec({ mode: 'sync', standbys: [{ node: n('n2'), state: 'synced', pendingBytes: 0, behindSinceAt: null, lagMs: 0, lastAckAt: 990, brokeAt: null, resync: null }] });
    assert.deepEqual(mirrorLoss(g, n('n2'), [synced]), []);
    assert.deepEqual(mirrorLoss(g, n('n2'), [rec({ mode: 'sync', inSync: [n('n2')] })]), []);
  });
});

describe('mirror state', () => {
  test('summary of the links', () => {
    assert.equal(mirrorState('sync', []), 'broken');
    assert.equal(mirrorState('sync', [{ state: 'synced', inSync: true }]), 'synced');
    assert.equal(mirrorState('sync', [{ state: 'synced', inSync: false }]), 'syncing');
    assert.equal(mirrorState('async', [{ state: 'synced', inSync: false }]), 'synced');
    assert.equal(mirrorState('async', [{ state: 'syncing', inSync: false }]), 'syncing');
    assert.equal(mirrorState('sync', [{ state: 'synced', inSync: true }, { state: 'broken', inSync: false }]), 'degraded');
    assert.equal(mirrorState('sync', [{ state: 'syncing', inSync: false }, { state: 'broken', inSync: false }]), 'broken');
    assert.equal(replicaState(false, null, false, 1000, 500), 'stale');
    assert.equal(replicaState(false, 900, true, 1000, 500), 'synced');
    assert.equal(replicaState(true, 0, false, 1000, 500), 'syncing');
    assert.equal(diffPercent(0, 0), 0);
    assert.equal(diffPercent(1, 3), 33.33);
    assert.equal(diffPercent(5, 0), 100);
  });
});
