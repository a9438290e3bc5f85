import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsCluster } from './cluster.js';
import { etcdSkipReason } from '../support/etcd.js';
import { netnsSkipReason, NetnsHosts } from './hosts.js';
import { FaultRunner, planFromEnv } from './runner.js';
import { FAULT_KINDS, scheduleFor, seedOf } from './schedule.js';

/**
 * Seeded random fault schedules on one real netns/etcd cluster (test/netns/cluster.ts), reused
 * across schedules: each schedule is a short sequence of faults (kill or freeze an agent, kill
 * halo on a host, isolate a host or the controller's host, one-way cuts, kill or freeze the
 * service), each held for a while and healed at once or at the end; then everything is healed and
 * the cluster must converge (every agent agrees on one running instance, every node online).
 *
 * Checked across all schedules: no two active intervals of the group overlap (the service's own
 * records) and no two instances are ever alive at once (a sampler); each outage's length is
 * reported. A failure prints the schedule's seed and its steps; replay it with
 * HALO_FAULT_SEED=<seed>. HALO_FAULT_SCHEDULES=N runs N schedules (default 50);
 * HALO_FAULT_BASE_SEED fixes the seeds of a whole run. See docs/fault-testing.md.
 */
const skip = netnsSkipReason() ?? etcdSkipReason();
const RUN = 154;
const PLAN = planFromEnv('HALO_FAULT', 50);
/** After the last heal, the cluster must converge within this (generous: availability is measured, not asserted tightly). */
const CONVERGE_LIMIT_MS = 60_000;
/** Failure records expire by themselves, so convergence needs no operator step (no cleanup). */
const FAILURE_TIMEOUT_MS = 5000;

describe('fault schedule generator', () => {
  test('the same seed draws the same schedule; seeds differ across a run; every kind is drawn', () => {
    assert.deepEqual(scheduleFor(12345), scheduleFor(12345));
    const seeds = Array.from({ length: 200 }, (_, i) => seedOf(7, i));
    assert.equal(new Set(seeds).size, seeds.length);
    const kinds = new Set(seeds.flatMap((x) => scheduleFor(x).steps.map((st) => st.kind)));
    assert.deepEqual([...kinds].sort(), [...FAULT_KINDS].sort());
    for (const x of seeds) {
      const sc = scheduleFor(x);
      assert.ok(sc.steps.length >= 1 && sc.steps.length <= 3);
      assert.ok(sc.steps.every((st) => st.holdMs >= 300 && st.holdMs < 3500));
    }
  });
});

describe('seeded random fault schedules on one network-namespace cluster', { skip: skip ?? false, timeout: Math.max(900_000, PLAN.count * 60_000) }, () => {
  let hosts: NetnsHosts;
  let c: NetnsCluster;
  let runner: FaultRunner | null = null;
  let ok = false;

  before(async () => {
    hosts = NetnsHosts.create({ run: RUN, count: 3 });
    c = new NetnsCluster(hosts, { name: 'sched', recovery: { failureTimeoutMs: FAILURE_TIMEOUT_MS } });
    await c.start();
    runner = new FaultRunner(hosts, c, { convergeLimitMs: CONVERGE_LIMIT_MS });
  });

  after(async () => {
    await runner?.stop();
    if (c) await c.stop({ keep: !ok });
    await hosts?.teardown();
  });

  test(PLAN.replaySeed !== null ? `replay of schedule seed ${PLAN.replaySeed}` : `${PLAN.count} seeded random fault schedules: never two actives, convergence after every heal`, async (t) => {
    assert.ok(runner);
    await runner.runAll(t, PLAN, 'dist/test/netns/schedules.test.js');
    ok = true;
  });
});
