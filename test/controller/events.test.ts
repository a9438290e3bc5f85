import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Compare, Opts, TxnOp } from '../../src/coord/coordinator.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import type { ClusterSnapshot } from '../../src/coord/snapshot.js';
import { Controller } from '../../src/controller/controller.js';
import { parseLeaseId, parseRevision } from '../../src/domain/ids.js';
import { clusterKeys } from '../../src/domain/keys.js';
import type { PlanInput } from '../../src/core/plan.js';
import { listEvents } from '../../src/observability/events.js';
import { silentLogger } from '../../src/observability/log.js';
import { ManualClock } from '../../src/platform/clock.js';
import { CuttableCoordinator } from '../sim/world.js';
import { aCluster, g, n, T0 } from '../core/builders.js';

/**
 * A controller that dies right after its failover assignment landed must not leave the move
 * without its events: the failover and what it may have lost are written in the same transaction
 * as the assignment.
 */

/** Accepts every transaction as if its compares held (the view below is made up), then, once an assignment was written, answers nothing more. */
class DiesAfterAssignment extends CuttableCoordinator {
  constructor(
    private readonly store: MemoryCoordinator,
    private readonly assignKey: string,
  ) {
    super(store);
  }
  override async txn(compares: readonly Compare[], ops: readonly TxnOp[], opts?: Opts) {
    if (this.cut) return await super.txn(compares, ops, opts);
    const r = await this.store.txn([], ops);
    if (ops.some((o) => o.key === this.assignKey)) this.cut = true;
    return r;
  }
}

function snapshotOf(input: PlanInput, controller: string): ClusterSnapshot {
  const v = <T>(value: T) => ({ value, revision: parseRevision(1) });
  return {
    revision: 10,
    config: v({ version: 1, appliedAt: T0 - 60_000, source: 'test', config: input.config }),
    controller: { node: n(controller), sessionId: 'controller-session', since: T0 - 60_000 },
    sessions: new Map([...input.sessions].map(([k, s]) => [k, v(s)])),
    assignments: input.assignments,
    status: new Map([...input.status].map(([k, m]) => [k, new Map([...m].map(([gr, s]) => [gr, v(s)]))])),
    failures: input.failures,
    maintenance: input.maintenance,
    standbyNodes: input.standbyNodes,
    moves: input.moves,
    drains: input.drains,
    mirrors: input.mirrors ?? new Map(),
    invalid: [],
  };
}

test('a failover records its events (and what it may have lost) even when the controller dies right after the assignment, in the order decided', async () => {
  // n2 is lost and n1 takes over: in key order (time, then node) failed-over (n1) would sort
  // before node-lost (n2); readers must still see the decision's order.
  const input = aCluster()
    .withNodes('n1', 'n2', 'n3')
    .withGroup('web', { mirror: { mode: 'async' } })
    .withAllSessions()
    .withAssignment('web', { active: 'n2', epoch: 3, standbys: ['n1'] })
    .withStatus('n2', 'web', { state: 'running', epoch: 3, role: 'active' })
    .withMirrorRecord('web', { node: 'n2', epoch: 3, inSync: [], mode: 'async', standbys: [{ node: n('n1'), state: 'syncing', pendingBytes: 8379, behindSinceAt: T0 - 700, lagMs: 700, lastAckAt: T0 - 300, brokeAt: null, resync: null }] })
    .withoutSession('n2')
    .build();
  const store = new MemoryCoordinator({ clock: new ManualClock(0) });
  const coord = new DiesAfterAssignment(store, clusterKeys('test').assign(g('web')));
  const controller = new Controller({
    coord,
    clock: new ManualClock(0),
    self: n('n3'),
    cluster: 'test',
    sessionId: 'controller-session',
    lease: () => parseLeaseId('7'),
    snapshot: () => snapshotOf(input, 'n3'),
    log: silentLogger,
  });
  await controller.tick(AbortSignal.timeout(5000));
  assert.ok(coord.cut, 'the controller wrote the assignment');
  const assigned = await store.get(clusterKeys('test').assign(g('web')));
  assert.match(assigned?.value ?? '', /"active":"n1"/);
  const events = (await listEvents(store, 'test')).events.map((e) => e.event);
  assert.deepEqual(
    events.map((e) => `${e.kind} ${e.node}`),
    ['node-lost n2', 'failed-over n1', 'mirror-data-loss n1'],
    'the failover, what it may have lost, in the decision\'s order',
  );
  assert.equal(events[2]?.loss?.bytes, 8379);
});
