import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { groupRules, plan, type GroupDecision } from '../../src/core/plan.js';
import { aCluster, applyDecision, decisionFor, g, n, onlyWrite, T0 } from './builders.js';

const names = (xs: readonly string[]) => [...xs];

function assertNoActions(d: GroupDecision, code: string): void {
  assert.deepEqual(d.actions, [], `expected no actions, got ${JSON.stringify(d.actions)} (${d.reason.message})`);
  assert.deepEqual(d.events, []);
  assert.equal(d.reason.code, code, d.reason.message);
}

/** A steady three-node active-standby cluster with `web` active on n1. */
const steady = () =>
  aCluster()
    .withNodes('n1', 'n2', 'n3')
    .withGroup('web')
    .withAllSessions()
    .withAssignment('web', { active: 'n1', epoch: 3, standbys: ['n2'] })
    .withStatus('n1', 'web', { state: 'running', epoch: 3, role: 'active' })
    .withStatus('n2', 'web', { state: 'running', epoch: 3, role: 'standby' });

describe('rule ladder', () => {
  test('rules run in the documented order, safety first', () => {
    assert.deepEqual(
      groupRules.map((r) => r.name),
      ['maintenance', 'node-maintenance', 'transition', 'active-lost', 'active-failed', 'drain', 'move', 'drained', 'failback', 'place', 'standbys', 'converged'],
    );
  });

  test('one decision per configured group, in configuration order', () => {
    const out = plan(aCluster().withNodes('n1').withGroup('b').withGroup('a').withAllSessions().build());
    assert.deepEqual(
      out.decisions.map((d) => d.group),
      ['b', 'a'],
    );
  });
});

describe('do nothing in converged states', () => {
  test('steady active-standby', () => {
    const d = decisionFor(plan(steady().build()), 'web');
    assertNoActions(d, 'CONVERGED');
    assert.equal(d.rule, 'converged');
  });

  test('steady n-way with two ranked standbys', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3', 'n4')
      .withGroup('db', { redundancy: 'n-way', standbys: 2 })
      .withAllSessions()
      .withAssignment('db', { active: 'n1', epoch: 1, standbys: ['n2', 'n3'] })
      .build();
    assertNoActions(decisionFor(plan(input), 'db'), 'CONVERGED');
  });

  test('steady redundancy none', () => {
    const input = aCluster().withNodes('n1', 'n2').withGroup('batch', { redundancy: 'none' }).withAllSessions().withAssignment('batch', { active: 'n1', epoch: 1 }).build();
    assertNoActions(decisionFor(plan(input), 'batch'), 'CONVERGED');
  });

  test('maintenance, even with the active lost and a move pending', () => {
    const input = steady().withClusterMaintenance().withoutSession('n1').withMove('web', 'switchover', 'n3').build();
    assertNoActions(decisionFor(plan(input), 'web'), 'MAINTENANCE');
  });

  test('waiting without an eligible node', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('web')
      .withSession('n2')
      .withStandbyNode('n2')
      .withAssignment('web', { active: 'n1', epoch: 2, standbys: [] })
      .build();
    const out = plan(input);
    assertNoActions(decisionFor(out, 'web'), 'NO_ELIGIBLE_NODE');
  });

  test('failed on one node and moved to another', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3')
      .withGroup('web')
      .withAllSessions()
      .withFailure('web', 'n1', T0 - 1000, 1)
      .withStatus('n1', 'web', { state: 'failed', epoch: 1, role: 'none' })
      .withAssignment('web', { active: 'n2', epoch: 2, standbys: ['n3'] })
      .withStatus('n2', 'web', { state: 'running', epoch: 2, role: 'active' })
      .build();
    const d = decisionFor(plan(input), 'web');
    assertNoActions(d, 'CONVERGED');
    // The failure record expires in failureTimeoutMs (default 600 000) - 1000 ms.
    assert.equal(d.recheckAfterMs, 599_000);
  });

  test('planning again after applying each write converges (fresh placement, failover, switchover)', () => {
    // fresh placement
    let input = aCluster().withNodes('n1', 'n2', 'n3').withGroup('web').withAllSessions().build();
    let d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'PLACED');
    input = applyDecision(input, d);
    assertNoActions(decisionFor(plan(input), 'web'), 'CONVERGED');

    // failover after node loss
    input = steady().withoutSession('n1').build();
    d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'NODE_LOST');
    input = applyDecision(input, d);
    assertNoActions(decisionFor(plan(input), 'web'), 'CONVERGED');
  });
});

describe('maintenance', () => {
  test('group maintenance leaves that group alone but not the others', () => {
    const input = steady().withGroup('api').withGroupMaintenance('web').withoutSession('n1').build();
    const out = plan(input);
    assertNoActions(decisionFor(out, 'web'), 'MAINTENANCE');
    assert.equal(decisionFor(out, 'api').reason.code, 'PLACED');
  });

  test('maintenance postpones even the deletion of expired failure records', () => {
    const input = steady().withFailure('web', 'n3', T0 - 700_000).withClusterMaintenance().build();
    assertNoActions(decisionFor(plan(input), 'web'), 'MAINTENANCE');
  });

  test('node maintenance on the active node: leave the group there, even when its session is lost', () => {
    const input = steady().withNodeMaintenance('n1').withoutSession('n1').withMove('web', 'switchover', 'n2').build();
    const d = decisionFor(plan(input), 'web');
    assertNoActions(d, 'NODE_MAINTENANCE');
    assert.equal(d.rule, 'node-maintenance');
  });

  test('node maintenance on the node a transition leaves: wait', () => {
    const input = steady()
      .withAssignment('web', { active: null, epoch: 3, standbys: ['n2'], transition: { kind: 'switchover', from: 'n1', to: 'n2' } })
      .withStatus('n1', 'web', { state: 'stopped', epoch: 3 })
      .withNodeMaintenance('n1')
      .build();
    assertNoActions(decisionFor(plan(input), 'web'), 'NODE_MAINTENANCE');
  });

  test('a node in maintenance is never chosen for placement or as standby', () => {
    const input = aCluster().withNodes('n1', 'n2', 'n3').withGroup('web').withAllSessions().withNodeMaintenance('n1').build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.active, 'n2');
    assert.deepEqual(names(w.assignment.standbys), ['n3']);
  });
});

describe('place (no active, no transition)', () => {
  test('a new group goes to the first eligible node with epoch 1 and one standby', () => {
    const input = aCluster().withNodes('n1', 'n2', 'n3').withGroup('web').withAllSessions().build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.rule, 'place');
    const w = onlyWrite(d);
    assert.equal(w.expect, 'absent');
    assert.deepEqual(w.assignment, { group: 'web', epoch: 1, active: 'n1', standbys: ['n2'], transition: null, updatedAt: T0 });
    assert.deepEqual(
      d.events.map((e) => [e.kind, e.node, e.epoch]),
      [['group-placed', 'n1', 1]],
    );
  });

  test('preferredNodes decide the ranking', () => {
    const input = aCluster().withNodes('n1', 'n2', 'n3').withGroup('web', { preferredNodes: ['n3', 'n1'] }).withAllSessions().build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.active, 'n3');
    assert.deepEqual(names(w.assignment.standbys), ['n1']);
  });

  test('skips nodes without a session, drained nodes and nodes with an unexpired failure record', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3', 'n4')
      .withGroup('web')
      .withSession('n2', 'n3', 'n4')
      .withStandbyNode('n2')
      .withFailure('web', 'n3', T0 - 10)
      .build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.active, 'n4');
    assert.deepEqual(names(w.assignment.standbys), []);
  });

  test('an expired failure record no longer counts, and is deleted', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('web', { failureTimeoutMs: 60_000 })
      .withAllSessions()
      .withFailure('web', 'n1', T0 - 60_000)
      .build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(onlyWrite(d).assignment.active, 'n1');
    assert.deepEqual(
      d.actions.filter((a) => a.kind === 'deleteFailure').map((a) => a.kind === 'deleteFailure' && a.node),
      ['n1'],
    );
  });

  test('no eligible node: wait, and recheck when the first failure record expires', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('web', { failureTimeoutMs: 60_000 })
      .withAllSessions()
      .withFailure('web', 'n1', T0 - 20_000)
      .withFailure('web', 'n2', T0 - 50_000)
      .build();
    const out = plan(input);
    const d = decisionFor(out, 'web');
    assertNoActions(d, 'NO_ELIGIBLE_NODE');
    assert.equal(d.recheckAfterMs, 10_000);
    assert.equal(out.recheckAfterMs, 10_000);
  });

  test('an existing assignment with no active and no transition is re-placed at epoch + 1', () => {
    const input = aCluster().withNodes('n1', 'n2').withGroup('web').withAllSessions().withAssignment('web', { active: null, epoch: 4 }).build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.epoch, 5);
    assert.equal(w.assignment.active, 'n1');
    assert.equal(w.expect, input.assignments.get(g('web'))?.revision);
  });

  test('never places while another live node still reports the group running active', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('web')
      .withAllSessions()
      .withStatus('n2', 'web', { state: 'running', epoch: 7, role: 'active' })
      .build();
    const d = decisionFor(plan(input), 'web');
    assertNoActions(d, 'WAITING_FOR_RELEASE');
    assert.ok(d.reason.message.includes('"n2"'), d.reason.message);
  });
});

describe('transition in progress', () => {
  const moving = (kind: 'switchover' | 'failover' | 'evacuate' | 'failback' = 'switchover', to: string | null = 'n2') =>
    steady().withAssignment('web', { active: null, epoch: 3, standbys: ['n2'], transition: { kind, from: 'n1', to } });

  test('waits while the old active still runs the group', () => {
    const d = decisionFor(plan(moving().withStatus('n1', 'web', { state: 'stopping', epoch: 3, role: 'active' }).build()), 'web');
    assertNoActions(d, 'WAITING_FOR_RELEASE');
    assert.equal(d.rule, 'transition');
    assert.equal(d.recheckAfterMs, 250);
  });

  test('a live node that has not reported yet has not released', () => {
    const input = moving().build();
    const status = new Map(input.status);
    status.delete(n('n1'));
    assertNoActions(decisionFor(plan({ ...input, status }), 'web'), 'WAITING_FOR_RELEASE');
  });

  test('a stopped report for an older epoch does not count as released', () => {
    const d = decisionFor(plan(moving().withStatus('n1', 'web', { state: 'stopped', epoch: 2 }).build()), 'web');
    assertNoActions(d, 'WAITING_FOR_RELEASE');
  });

  test('once released (stopped for this epoch) the target becomes active with epoch + 1', () => {
    const input = moving().withStatus('n1', 'web', { state: 'stopped', epoch: 3 }).build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'TRANSITION_COMPLETED');
    const w = onlyWrite(d);
    assert.deepEqual(w.assignment, { group: 'web', epoch: 4, active: 'n2', standbys: ['n1'], transition: null, updatedAt: T0 });
    assert.equal(w.expect, input.assignments.get(g('web'))?.revision);
    assert.deepEqual(
      d.events.map((e) => [e.kind, e.node, e.epoch]),
      [['switched-over', 'n2', 4]],
    );
  });

  test('a failed report releases too', () => {
    const w = onlyWrite(decisionFor(plan(moving().withStatus('n1', 'web', { state: 'failed', epoch: 3 }).build()), 'web'));
    assert.equal(w.assignment.active, 'n2');
  });

  test('a lost session releases (the node fenced itself); a failover transition emits failed-over', () => {
    const d = decisionFor(plan(moving('failover').withoutSession('n1').build()), 'web');
    assert.equal(onlyWrite(d).assignment.active, 'n2');
    assert.deepEqual(
      d.events.map((e) => e.kind),
      ['failed-over'],
    );
  });

  test('target no longer eligible: best eligible node other than the one being left', () => {
    const input = moving('switchover', 'n2').withoutSession('n2').withStatus('n1', 'web', { state: 'stopped', epoch: 3 }).build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.active, 'n3');
    assert.deepEqual(names(w.assignment.standbys), ['n1']);
  });

  test('no target given: best eligible node other than the one being left', () => {
    const w = onlyWrite(decisionFor(plan(moving('switchover', null).withStatus('n1', 'web', { state: 'stopped', epoch: 3 }).build()), 'web'));
    assert.equal(w.assignment.active, 'n2');
  });

  test('switchover with only the old node eligible goes back to it at epoch + 1', () => {
    const input = moving('switchover', 'n2').withoutSession('n2', 'n3').withStatus('n1', 'web', { state: 'stopped', epoch: 3 }).build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.active, 'n1');
    assert.equal(w.assignment.epoch, 4);
  });

  test('failback to an ineligible target may pick the node it left', () => {
    const input = moving('failback', 'n3').withoutSession('n3').withStatus('n1', 'web', { state: 'stopped', epoch: 3 }).build();
    assert.equal(onlyWrite(decisionFor(plan(input), 'web')).assignment.active, 'n1');
  });

  test('released but no node eligible: wait', () => {
    const input = moving().withoutSession('n1', 'n2', 'n3').build();
    assertNoActions(decisionFor(plan(input), 'web'), 'NO_ELIGIBLE_NODE');
  });

  test('released, but another live node still reports the group active: wait', () => {
    const input = moving().withStatus('n1', 'web', { state: 'stopped', epoch: 3 }).withStatus('n3', 'web', { state: 'running', epoch: 2, role: 'active' }).build();
    assertNoActions(decisionFor(plan(input), 'web'), 'WAITING_FOR_RELEASE');
  });

  test('a move requested while not yet released waits and is not consumed or rejected', () => {
    const input = moving().withStatus('n1', 'web', { state: 'running', epoch: 3, role: 'active' }).withMove('web', 'switchover', 'n3').build();
    assertNoActions(decisionFor(plan(input), 'web'), 'WAITING_FOR_RELEASE');
  });
});

describe('active node lost', () => {
  test('fails over to the best eligible node with epoch + 1', () => {
    const d = decisionFor(plan(steady().withoutSession('n1').build()), 'web');
    assert.equal(d.rule, 'active-lost');
    assert.equal(d.reason.code, 'NODE_LOST');
    const w = onlyWrite(d);
    assert.deepEqual(w.assignment, { group: 'web', epoch: 4, active: 'n2', standbys: ['n3'], transition: null, updatedAt: T0 });
    assert.deepEqual(
      d.events.map((e) => [e.kind, e.node, e.epoch]),
      [
        ['node-lost', 'n1', 3],
        ['failed-over', 'n2', 4],
      ],
    );
  });

  test('redundancy none waits for the node to return', () => {
    const input = aCluster().withNodes('n1', 'n2').withGroup('batch', { redundancy: 'none' }).withSession('n2').withAssignment('batch', { active: 'n1', epoch: 1 }).build();
    assertNoActions(decisionFor(plan(input), 'batch'), 'WAITING_FOR_NODE');
  });

  test('no eligible node: wait with the assignment unchanged', () => {
    const input = steady().withoutSession('n1').withStandbyNode('n2').withFailure('web', 'n3', T0 - 1).build();
    assertNoActions(decisionFor(plan(input), 'web'), 'NO_ELIGIBLE_NODE');
  });

  test('node loss beats a pending move', () => {
    const d = decisionFor(plan(steady().withoutSession('n1').withMove('web', 'switchover', 'n3').build()), 'web');
    assert.equal(d.rule, 'active-lost');
    assert.equal(onlyWrite(d).consumeMove, undefined);
  });
});

describe('active node reported the group failed', () => {
  const failed = () => steady().withStatus('n1', 'web', { state: 'failed', epoch: 3, detail: 'restart limit' });

  test('fails over to the best other node even before its failure record is seen', () => {
    const d = decisionFor(plan(failed().build()), 'web');
    assert.equal(d.rule, 'active-failed');
    assert.equal(d.reason.code, 'GROUP_FAILED');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, 'n2');
    assert.equal(w.assignment.epoch, 4);
    assert.deepEqual(
      d.events.map((e) => e.kind),
      ['failed-over'],
    );
  });

  test('with its failure record, the failed node is not kept as a standby', () => {
    const w = onlyWrite(decisionFor(plan(failed().withFailure('web', 'n1', T0 - 5).build()), 'web'));
    assert.deepEqual(names(w.assignment.standbys), ['n3']);
  });

  test('a failed report for an older epoch is ignored', () => {
    const input = steady().withStatus('n1', 'web', { state: 'failed', epoch: 2 }).build();
    assertNoActions(decisionFor(plan(input), 'web'), 'CONVERGED');
  });

  test('redundancy none waits for cleanup while the failure record holds', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('batch', { redundancy: 'none' })
      .withAllSessions()
      .withAssignment('batch', { active: 'n1', epoch: 2 })
      .withStatus('n1', 'batch', { state: 'failed', epoch: 2 })
      .withFailure('batch', 'n1', T0 - 5)
      .build();
    assertNoActions(decisionFor(plan(input), 'batch'), 'WAITING_FOR_CLEANUP');
  });

  test('redundancy none restarts on the same node at epoch + 1 once the failure record is gone', () => {
    const input = aCluster()
      .withNodes('n1', 'n2')
      .withGroup('batch', { redundancy: 'none' })
      .withAllSessions()
      .withAssignment('batch', { active: 'n1', epoch: 2 })
      .withStatus('n1', 'batch', { state: 'failed', epoch: 2 })
      .build();
    const d = decisionFor(plan(input), 'batch');
    assert.equal(d.reason.code, 'RETRY_AFTER_FAILURE');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, 'n1');
    assert.equal(w.assignment.epoch, 3);
  });

  test('no other node eligible: wait until the failure record expires', () => {
    const input = failed().withFailure('web', 'n1', T0 - 5).withoutSession('n2', 'n3').build();
    const d = decisionFor(plan(input), 'web');
    assertNoActions(d, 'NO_ELIGIBLE_NODE');
    assert.equal(d.recheckAfterMs, 600_000 - 5);
  });
});

describe('move intents', () => {
  const moveRev = (input: ReturnType<ReturnType<typeof steady>['build']>) => input.moves.get(g('web'))?.revision;

  test('a valid switchover starts a transition and consumes the intent in the same write', () => {
    const input = steady().withMove('web', 'switchover', 'n3').build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.rule, 'move');
    assert.equal(d.reason.code, 'MOVE_STARTED');
    const w = onlyWrite(d);
    assert.equal(w.consumeMove, moveRev(input));
    assert.equal(w.expect, input.assignments.get(g('web'))?.revision);
    assert.equal(w.assignment.active, null);
    assert.equal(w.assignment.epoch, 3, 'the epoch changes only when a new active is named');
    assert.deepEqual(w.assignment.transition, { kind: 'switchover', from: 'n1', to: 'n3', startedAt: T0, reason: 'requested by alice (m-web)' });
  });

  test('a failover request with no target keeps to = null', () => {
    const w = onlyWrite(decisionFor(plan(steady().withMove('web', 'failover', null).build()), 'web'));
    assert.equal(w.assignment.transition?.kind, 'failover');
    assert.equal(w.assignment.transition?.to, null);
  });

  const rejected = (input: ReturnType<ReturnType<typeof steady>['build']>, needle: string) => {
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'MOVE_REJECTED');
    assert.equal(d.actions.length, 1);
    const [a] = d.actions;
    assert.ok(a !== undefined && a.kind === 'rejectMove', JSON.stringify(d.actions));
    assert.equal(a.expect, moveRev(input));
    assert.ok(a.reason.includes(needle), `"${a.reason}" should mention "${needle}"`);
  };

  test('rejects: target already active', () => rejected(steady().withMove('web', 'switchover', 'n1').build(), 'already active on "n1"'));
  test('rejects: unknown node', () => rejected(steady().withMove('web', 'switchover', 'n9').build(), 'not in the configuration'));
  test('rejects: node not among the group nodes', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3')
      .withGroup('web', { preferredNodes: ['n1', 'n2'] })
      .withAllSessions()
      .withAssignment('web', { active: 'n1', epoch: 1, standbys: ['n2'] })
      .withMove('web', 'switchover', 'n3')
      .build();
    rejected(input, 'not among the group');
  });
  test('rejects: target has no session', () => rejected(steady().withoutSession('n3').withMove('web', 'switchover', 'n3').build(), 'no live session'));
  test('rejects: target drained', () => rejected(steady().withStandbyNode('n3').withMove('web', 'switchover', 'n3').build(), 'drained'));
  test('rejects: target in maintenance', () => rejected(steady().withNodeMaintenance('n3').withMove('web', 'switchover', 'n3').build(), 'maintenance'));
  test('rejects: group failed on the target', () => rejected(steady().withFailure('web', 'n3', T0 - 1000).withMove('web', 'switchover', 'n3').build(), 'ineligible for another 599000ms'));
  test('rejects: no target given and no other eligible node', () =>
    rejected(steady().withoutSession('n2', 'n3').withMove('web', 'switchover', null).build(), 'no eligible node other than "n1"'));

  test('with nothing active, a move is a placement on its target, consuming the intent', () => {
    const input = aCluster().withNodes('n1', 'n2', 'n3').withGroup('web').withAllSessions().withMove('web', 'switchover', 'n3').build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'MOVE_PLACED');
    const w = onlyWrite(d);
    assert.equal(w.expect, 'absent');
    assert.equal(w.consumeMove, input.moves.get(g('web'))?.revision);
    assert.equal(w.assignment.active, 'n3');
    assert.equal(w.assignment.epoch, 1);
    assert.deepEqual(names(w.assignment.standbys), ['n1']);
  });

  test('the whole switchover: transition, wait for release, new active, converged', () => {
    let input = steady().withMove('web', 'switchover', 'n2').build();
    let d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'MOVE_STARTED');
    input = applyDecision(input, d);
    assert.equal(input.moves.size, 0);
    // n1 still runs the group: no new active yet
    assertNoActions(decisionFor(plan(input), 'web'), 'WAITING_FOR_RELEASE');
    // n1 reports it stopped the group for epoch 3
    const status = new Map(input.status);
    status.set(n('n1'), new Map([[g('web'), { node: n('n1'), group: g('web'), epoch: 3, role: 'none' as const, state: 'stopped' as const, resources: [], updatedAt: T0, detail: '' }]]));
    input = { ...input, status };
    d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'TRANSITION_COMPLETED');
    assert.equal(onlyWrite(d).assignment.active, 'n2');
    input = applyDecision(input, d);
    assertNoActions(decisionFor(plan(input), 'web'), 'CONVERGED');
  });
});

describe('drained active node', () => {
  test('starts an evacuation to the best other eligible node', () => {
    const d = decisionFor(plan(steady().withStandbyNode('n1').build()), 'web');
    assert.equal(d.rule, 'drained');
    assert.equal(d.reason.code, 'EVACUATING');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, null);
    assert.equal(w.assignment.epoch, 3);
    assert.equal(w.assignment.transition?.kind, 'evacuate');
    assert.equal(w.assignment.transition?.from, 'n1');
    assert.equal(w.assignment.transition?.to, 'n2');
    assert.equal(w.consumeMove, undefined);
  });

  test('no other eligible node: stay, and say so', () => {
    assertNoActions(decisionFor(plan(steady().withStandbyNode('n1').withoutSession('n2', 'n3').build()), 'web'), 'DRAINED_NO_TARGET');
  });

  test('an active node removed from the group nodes is evacuated too', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3')
      .withGroup('web', { preferredNodes: ['n2', 'n3'] })
      .withAllSessions()
      .withAssignment('web', { active: 'n1', epoch: 1, standbys: ['n2'] })
      .build();
    const w = onlyWrite(decisionFor(plan(input), 'web'));
    assert.equal(w.assignment.transition?.kind, 'evacuate');
    assert.equal(w.assignment.transition?.to, 'n2');
  });
});

describe('failback', () => {
  const awayFromHome = (failback: 'auto' | 'manual') =>
    aCluster()
      .withNodes('n1', 'n2', 'n3')
      .withGroup('web', { failback })
      .withAllSessions()
      .withAssignment('web', { active: 'n2', epoch: 4, standbys: ['n1'] });

  test('auto: moves back to the more preferred node once it is eligible', () => {
    const d = decisionFor(plan(awayFromHome('auto').build()), 'web');
    assert.equal(d.rule, 'failback');
    const w = onlyWrite(d);
    assert.equal(w.assignment.active, null);
    assert.deepEqual(
      [w.assignment.transition?.kind, w.assignment.transition?.from, w.assignment.transition?.to],
      ['failback', 'n2', 'n1'],
    );
  });

  test('manual: stays', () => {
    assertNoActions(decisionFor(plan(awayFromHome('manual').build()), 'web'), 'CONVERGED');
  });

  test('auto, but the preferred node still has a failure record: stays', () => {
    const input = awayFromHome('auto').withFailure('web', 'n1', T0 - 10).withAssignment('web', { active: 'n2', epoch: 4, standbys: ['n3'] }).build();
    assertNoActions(decisionFor(plan(input), 'web'), 'CONVERGED');
  });
});

describe('standbys', () => {
  test('a stale standby list is rewritten at the same epoch', () => {
    const input = steady().withAssignment('web', { active: 'n1', epoch: 3, standbys: ['n3'] }).build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'STANDBYS_UPDATED');
    const w = onlyWrite(d);
    assert.deepEqual(w.assignment, { group: 'web', epoch: 3, active: 'n1', standbys: ['n2'], transition: null, updatedAt: T0 });
    assert.deepEqual(d.events, []);
  });

  test('a standby that lost its session is replaced', () => {
    const w = onlyWrite(decisionFor(plan(steady().withoutSession('n2').build()), 'web'));
    assert.deepEqual(names(w.assignment.standbys), ['n3']);
  });

  test('n-way without a count keeps every other eligible node, ranked', () => {
    const input = aCluster()
      .withNodes('n1', 'n2', 'n3', 'n4')
      .withGroup('db', { redundancy: 'n-way', preferredNodes: ['n4', 'n3', 'n2', 'n1'] })
      .withAllSessions()
      .withAssignment('db', { active: 'n4', epoch: 1, standbys: ['n3'] })
      .build();
    assert.deepEqual(names(onlyWrite(decisionFor(plan(input), 'db')).assignment.standbys), ['n3', 'n2', 'n1']);
  });

  test('redundancy none keeps no standbys', () => {
    const input = aCluster().withNodes('n1', 'n2').withGroup('batch', { redundancy: 'none' }).withAllSessions().withAssignment('batch', { active: 'n1', epoch: 1, standbys: ['n2'] }).build();
    assert.deepEqual(names(onlyWrite(decisionFor(plan(input), 'batch')).assignment.standbys), []);
  });
});

describe('housekeeping and removed groups', () => {
  test('expired failure records are deleted alongside the rule decision', () => {
    const input = steady().withFailure('web', 'n3', T0 - 600_000).build();
    const d = decisionFor(plan(input), 'web');
    assert.equal(d.reason.code, 'CONVERGED');
    assert.deepEqual(d.actions, [{ kind: 'deleteFailure', group: 'web', node: 'n3', expect: input.failures[0]?.revision }]);
  });

  test('state of a group removed from the configuration is deleted', () => {
    const input = steady()
      .withAssignment('old', { active: 'n2', epoch: 9 })
      .withMove('old', 'switchover', 'n1')
      .withFailure('old', 'n3', T0 - 1)
      .build();
    const d = decisionFor(plan(input), 'old');
    assert.equal(d.rule, 'removed-group');
    assert.equal(d.reason.code, 'GROUP_REMOVED');
    assert.deepEqual(
      d.actions.map((a) => a.kind),
      ['deleteAssignment', 'rejectMove', 'deleteFailure'],
    );
    assert.deepEqual(d.actions[0], { kind: 'deleteAssignment', group: 'old', expect: input.assignments.get(g('old'))?.revision });
  });

  test('removed groups are left alone under maintenance', () => {
    const input = steady().withAssignment('old', { active: 'n2', epoch: 9 }).withGroupMaintenance('old').build();
    assertNoActions(decisionFor(plan(input), 'old'), 'MAINTENANCE');
  });
});
