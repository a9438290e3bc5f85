import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { drainTimeoutOf, plan, type GroupDecision } from '../../src/core/plan.js';
import { decideEndpointTarget, mayRetry, targetKey } from '../../src/core/endpoint.js';
import type { Assignment, GroupStatus } from '../../src/domain/state.js';
import { aCluster, applyDecision, decisionFor, g, n, onlyWrite, T0 } from './builders.js';

/** `web` active on n1 at epoch 3, with an endpoint whose drainTimeoutMs is 2000. */
const steady = (drainMs = 2000) =>
  aCluster()
    .withNodes('n1', 'n2', 'n3')
    .withGroup('web', { endpointDrainMs: drainMs })
    .withAllSessions()
    .withAssignment('web', { active: 'n1', epoch: 3, standbys: ['n2'] })
    .withStatus('n1', 'web', { state: 'running', epoch: 3, role: 'active' })
    .withStatus('n2', 'web', { state: 'running', epoch: 3, role: 'standby' });

const STARTED = T0 - 300;
/** A switchover to n2 that started 300 ms ago and drains until STARTED + 2000. */
const draining = () =>
  steady().withAssignment('web', { active: 'n1', epoch: 3, standbys: ['n2'], transition: { kind: 'switchover', from: 'n1', to: 'n2', startedAt: STARTED, drainUntil: STARTED + 2000 } });

function assertWaits(d: GroupDecision, code: string): void {
  assert.deepEqual(d.actions, [], `expected no actions, got ${JSON.stringify(d.actions)} (${d.reason.message})`);
  assert.equal(d.reason.code, code, d.reason.message);
}

describe('planned move of a group with endpoints: drain first', () => {
  test('a switchover request starts a drain: the old active stays active, drainUntil = now + drainTimeoutMs', () => {
    const input = steady().withMove('web', 'switchover', 'n2').build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'MOVE_STARTED');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, 'n1', 'the old active keeps running while endpoints drain');
    assert.equal(w.assignment.epoch, 3);
    assert.deepEqual(w.assignment.transition, { kind: 'switchover', from: 'n1', to: 'n2', startedAt: T0, reason: 'requested by alice (m-web)', drainUntil: T0 + 2000 });
    assert.ok(w.consumeMove !== undefined, 'the intent is consumed in the same write');
  });

  test('without endpoints (or drainTimeoutMs 0) a switchover releases at once, as before', () => {
    for (const b of [aCluster().withNodes('n1', 'n2').withGroup('web'), aCluster().withNodes('n1', 'n2').withGroup('web', { endpointDrainMs: 0 })]) {
      const input = b.withAllSessions().withAssignment('web', { active: 'n1', epoch: 3 }).withStatus('n1', 'web', { state: 'running', epoch: 3, role: 'active' }).withMove('web', 'switchover', 'n2').build();
      const w = onlyWrite(decisionFor(plan(input), 'web'));
      assert.equal(w.assignment.active, null);
      assert.equal(w.assignment.transition?.drainUntil, undefined);
    }
  });

  test('an unplanned move (failover intent) does not drain', () => {
    const w = onlyWrite(decisionFor(plan(steady().withMove('web', 'failover', 'n2').build()), 'web'));
    assert.equal(w.assignment.active, null);
    assert.equal(w.assignment.transition?.drainUntil, undefined);
  });

  test('evacuation of a drained node and failback drain too', () => {
    const ev = onlyWrite(decisionFor(plan(steady().withStandbyNode('n1').build()), 'web'));
    assert.equal(ev.assignment.transition?.kind, 'evacuate');
    assert.equal(ev.assignment.transition?.drainUntil, T0 + 2000);
    assert.equal(ev.assignment.active, 'n1');
  });

  test('waits while a live node has not reported drained, naming the nodes; rechecks within the deadline', () => {
    const d = decisionFor(plan(draining().withDrainReport('web', 'n1', 3, STARTED).build()), 'web');
    assertWaits(d, 'DRAINING');
    assert.equal(d.rule, 'drain');
    assert.match(d.reason.message, /"n2", "n3"/);
    assert.equal(d.recheckAfterMs, 250);
  });

  test('reports for another drain (older epoch or other start) do not count', () => {
    const input = draining().withDrainReport('web', 'n1', 3, STARTED).withDrainReport('web', 'n2', 2, STARTED).withDrainReport('web', 'n3', 3, STARTED - 5000).build();
    const d = decisionFor(plan(input), 'web');
    assertWaits(d, 'DRAINING');
    assert.match(d.reason.message, /"n2", "n3"/);
  });

  test('every live node drained: release (active null, transition kept without drainUntil), then the usual switchover', () => {
    const input = draining().withDrainReport('web', 'n1', 3, STARTED).withDrainReport('web', 'n2', 3, STARTED).withDrainReport('web', 'n3', 3, STARTED).build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'DRAINED');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, null);
    assert.equal(w.assignment.epoch, 3);
    assert.deepEqual(w.assignment.transition, { kind: 'switchover', from: 'n1', to: 'n2', startedAt: STARTED, reason: 'test' });
    // Then: n1 stops, reports stopped, and n2 becomes active at epoch 4.
    const after = applyDecision(input, d);
    const status = new Map(after.status);
    status.set(n('n1'), new Map([[g('web'), { ...(after.status.get(n('n1'))?.get(g('web')) as GroupStatus), state: 'stopped', role: 'none' }]]));
    const d2 = decisionFor(plan({ ...after, status }), 'web');
    assert.equal(d2.reason.code, 'TRANSITION_COMPLETED');
    assert.equal(onlyWrite(d2).assignment.active, 'n2');
    assert.equal(onlyWrite(d2).assignment.epoch, 4);
  });

  test('nodes without a session need not report', () => {
    const input = draining().withoutSession('n3').withDrainReport('web', 'n1', 3, STARTED).withDrainReport('web', 'n2', 3, STARTED).build();
    assert.equal(decisionFor(plan(input), 'web').reason.code, 'DRAINED');
  });

  test('the drain deadline passed: release anyway, naming who did not drain', () => {
    const input = draining().at(STARTED + 2000).withDrainReport('web', 'n1', 3, STARTED).build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'DRAIN_TIMEOUT');
    assert.match(d.reason.message, /"n2", "n3"/);
    assert.equal(onlyWrite(d).assignment.active, null);
  });

  test('near the deadline the recheck is the time left', () => {
    const d = decisionFor(plan(draining().at(STARTED + 1900).build()), 'web');
    assertWaits(d, 'DRAINING');
    assert.equal(d.recheckAfterMs, 100);
  });

  test('the old active losing its session while draining fails over at once (safety rules first)', () => {
    const d = decisionFor(plan(draining().withoutSession('n1').build()), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, 'n2');
    assert.equal(w.assignment.epoch, 4);
    assert.equal(w.assignment.transition, null);
  });

  test('a new move request or failback waits until the drain is over', () => {
    const d = decisionFor(plan(draining().withMove('web', 'switchover', 'n3').build()), 'web');
    assertWaits(d, 'DRAINING');
  });

  test('drainTimeoutOf: the longest of the group endpoints', () => {
    const cfg = steady(1234).build().config;
    const group = cfg.groups[0];
    assert.ok(group);
    assert.equal(drainTimeoutOf(group), 1234);
    assert.equal(drainTimeoutOf({ ...group, endpoints: [] }), 0);
  });
});

describe('decideEndpointTarget', () => {
  const assignment = (over: Partial<Assignment> = {}): Assignment => ({ group: g('web'), epoch: 3, active: n('n1'), standbys: [], transition: null, updatedAt: T0, ...over });
  const status = (over: Partial<GroupStatus> = {}): GroupStatus => ({ node: n('n1'), group: g('web'), epoch: 3, role: 'active', state: 'running', resources: [], updatedAt: T0, detail: '', ...over });

  test('forward to the active node once it runs the group at the assignment epoch', () => {
    assert.deepEqual(decideEndpointTarget({ assignment: assignment(), activeOnline: true, activeStatus: status() }), { kind: 'forward', node: 'n1', epoch: 3 });
  });

  test('hold: not placed, no active, move in progress', () => {
    assert.equal(decideEndpointTarget({ assignment: undefined, activeOnline: false, activeStatus: undefined }).kind, 'hold');
    const t = decideEndpointTarget({ assignment: assignment({ active: null, transition: { kind: 'switchover', from: n('n1'), to: n('n2'), startedAt: T0, reason: 'x' } }), activeOnline: false, activeStatus: undefined });
    assert.deepEqual(t, { kind: 'hold', reason: 'switchover from n1 in progress' });
  });

  test('hold while the new active is starting, recovering, or reports an older epoch', () => {
    for (const st of [status({ state: 'starting' }), status({ state: 'recovering' }), status({ epoch: 2 }), undefined]) {
      assert.equal(decideEndpointTarget({ assignment: assignment(), activeOnline: true, activeStatus: st }).kind, 'hold', JSON.stringify(st));
    }
  });

  test('hold when the active node has no live session', () => {
    const t = decideEndpointTarget({ assignment: assignment(), activeOnline: false, activeStatus: status() });
    assert.deepEqual(t, { kind: 'hold', reason: 'active node n1 has no live session' });
  });

  test('drain while the transition has a drain deadline, identified by epoch and start', () => {
    const t = decideEndpointTarget({
      assignment: assignment({ transition: { kind: 'switchover', from: n('n1'), to: n('n2'), startedAt: 77, reason: 'x', drainUntil: 2077 } }),
      activeOnline: true,
      activeStatus: status(),
    });
    assert.deepEqual(t, { kind: 'drain', node: 'n1', epoch: 3, startedAt: 77 });
    assert.equal(targetKey(t), 'drain:n1:3:77');
  });

  test('mayRetry: only listed methods, case-insensitive', () => {
    assert.equal(mayRetry('GET', ['GET', 'HEAD']), true);
    assert.equal(mayRetry('get', ['GET']), true);
    assert.equal(mayRetry('POST', ['GET', 'HEAD']), false);
    assert.equal(mayRetry(undefined, ['GET']), false);
  });
});
