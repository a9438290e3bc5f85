import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { diffPercent, mirrorState, replicaState } from '../../src/core/mirror.js';
import { plan } from '../../src/core/plan.js';
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
    assert.match(loss.message, /up to 4096 bytes not shipped, changes since 1500 ms before the failover may be missing/);
  });

  test('async mirrors never block failover; the loss is recorded', () => {
    const input = mirrored('async')
      .withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: [], mode: 'async', standbys: [{ node: n('n2'), state: 'broken', pendingBytes: 0, behindSinceAt: T0 - 200, lagMs: 0, lastAckAt: null, brokeAt: T0 - 200, resync: null }] })
      .withoutSession('n1')
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
    assert.ok(d.events.some((e) => e.kind === 'mirror-data-loss' && e.message.includes('200 ms before')));
  });

  test('a converged group with a mirror does nothing', () => {
    const d = decisionFor(plan(mirrored('sync').withMirrorRecord('web', { node: 'n1', epoch: 3, inSync: ['n2'] }).build()), 'web');
    assert.deepEqual(d.actions, []);
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
