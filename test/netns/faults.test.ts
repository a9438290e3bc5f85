import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from '../../src/platform/proc.js';
import { activeIntervals, overlaps, type ServiceRecord } from '../e2e/harness.js';
import { NetnsCluster, TIMING, type NetnsClusterOptions } from './cluster.js';
import { lastSign, Sampler, startOf } from './checker.js';
import { etcdSkipReason } from '../support/etcd.js';
import { eventually } from '../support/util.js';
import { netnsSkipReason, NetnsHosts } from './hosts.js';

/**
 * Process, monitor and disk faults on the real netns/etcd cluster (test/netns/cluster.ts), one
 * fresh cluster per scenario: (e) SIGKILL of the active's agent with its guard and service,
 * (f) SIGSTOP of the active's agent for longer than its lease, (g) a monitor whose check hangs,
 * (h) a full disk under the service's data path. Each scenario asserts who is active afterwards,
 * that no two active intervals overlap (service records and a 25 ms sampler of live instances),
 * and that the cluster converges after the heal. Network partitions are in partition.test.ts.
 * See docs/fault-testing.md.
 */
const skip = netnsSkipReason() ?? etcdSkipReason();
const RUN = 153;
const ALL = ['h1', 'h2', 'h3'] as const;
/**
 * Node loss to the group running elsewhere: the lost node's etcd lease expires about 1-1.3 s after
 * its last renewal, the controller (possibly re-elected first) assigns, the service starts and
 * turns ready. Generous: availability under faults is measured and printed, safety is the point.
 */
const FAILOVER_LIMIT_MS = 10_000;
/** After a heal, every agent agrees on one running instance and every node is online. */
const CONVERGE_LIMIT_MS = 30_000;
/** The service's HTTP health monitor (examples/demo.yaml): every 500 ms, 400 ms timeout, 2 failures in a row. */
const HEALTH = { intervalMs: 500, timeoutMs: 400, failureThreshold: 2 } as const;
/**
 * Known defect (src/core/ladder.ts, src/agent/group-runner.ts): the recovery ladder keeps ONE
 * consecutive-failure count per resource, fed by all its monitors, so a passing monitor resets the
 * count of a failing one. A command monitor that hangs (fails every 800 ms) next to the HTTP monitor
 * (passes every 500 ms) never reaches its threshold: measured 7+ consecutive timeouts of the
 * command monitor and no recovery. The count should be per monitor.
 */
/** The fence: an agent's guard kills the service this long after the agent's last renewal at the latest. */
const FENCE_MS = TIMING.leaseTtlMs - TIMING.safetyMarginMs;

type Active = { node: string; epoch: number; pid: number; controller: string | null };

function others(node: string): string[] {
  return ALL.filter((n) => n !== node);
}

describe('process, monitor and disk faults across network-namespace hosts', { skip: skip ?? false, timeout: 300_000 }, () => {
  let hosts: NetnsHosts;
  before(() => {
    hosts = NetnsHosts.create({ run: RUN, count: 3 });
  });
  after(async () => {
    await hosts?.teardown();
  });

  /** A fresh cluster for one scenario, with a sampler; safety is checked at the end; on failure the logs are kept. */
  async function scenario(
    t: TestContext,
    opts: NetnsClusterOptions,
    body: (c: NetnsCluster, s: Sampler) => Promise<void>,
    cleanup?: () => void,
  ): Promise<void> {
    const c = new NetnsCluster(hosts, opts);
    let s: Sampler | null = null;
    let ok = false;
    try {
      await c.start();
      s = new Sampler(() => c.liveInstances());
      await body(c, s);
      await s.stop();
      assert.deepEqual(overlaps(c.records()), [], 'no two active intervals overlap');
      assert.ok(s.maxLive <= 1, `at most one live instance in every sample (saw ${s.maxLive}: ${s.maxLiveAt.join(', ')})`);
      t.diagnostic(`${s.samples} samples of the live instances, at most ${s.maxLive} at once; ${activeIntervals(c.records()).length} instances in all`);
      ok = true;
    } finally {
      await s?.stop();
      const keep = !ok;
      hosts.healAll();
      for (const n of c.nodes) {
        const pid = c.agentPid(n);
        if (pid !== undefined) process.kill(pid, 'SIGCONT');
      }
      await c.stop({ keep });
      cleanup?.();
      if (keep) t.diagnostic(`logs and records kept in ${c.dir}`);
    }
  }

  /** Waits until every agent in `askAt` agrees on an active that satisfies `pred`. */
  async function agreed(c: NetnsCluster, askAt: readonly string[], pred: (a: Active) => boolean, timeoutMs: number, what: string): Promise<Active> {
    let got: Active | null = null;
    await eventually(
      async () => {
        got = await c.agreedActive(askAt);
        return got !== null && pred(got);
      },
      { timeoutMs, what, everyMs: 50 },
    );
    const a = got as Active | null;
    if (!a) throw new Error('unreachable');
    return a;
  }

  /**
   * `node` is back as a standby in every agent's view: online, eligible, not active and running
   * nothing. (Active-standby keeps one ranked standby, the most preferred other node, so `node`
   * is in `assignment.standbys` only when it ranks first.)
   */
  async function isStandby(c: NetnsCluster, node: string): Promise<void> {
    await eventually(
      async () => {
        const views = await Promise.all(ALL.map((n) => c.groupView(n)));
        return views.every((v) => {
          const nv = v?.nodes.find((x) => x.node === node);
          return v !== null && v.assignment !== null && v.assignment.active !== node && nv?.online === true && nv.role === 'none' && nv.resources.every((r) => r.pid === null) && !v.ineligible.some((i) => i.node === node);
        });
      },
      { timeoutMs: 10_000, what: `${node} a standby in every agent's view (online, eligible, running nothing)` },
    );
  }

  /** The group stays on the same instance for `ms` (sampled), and every agent still agrees on it. */
  async function stays(c: NetnsCluster, s: Sampler, a: Active, ms: number): Promise<void> {
    const from = Date.now();
    await sleep(ms);
    assert.equal(s.deadDuring(a.pid, from, Date.now()), false, `instance ${a.pid} on ${a.node} kept running`);
    assert.deepEqual(
      (await c.liveInstances()).map((l) => l.pid),
      [a.pid],
    );
    assert.equal((await c.agreedActive())?.pid, a.pid);
  }

  test('(e) SIGKILL of the active\'s agent with its guard and service: the group starts elsewhere; the restarted agent rejoins as standby', async (t) => {
    await scenario(t, { name: 'e' }, async (c, s) => {
      const a0 = await c.converged({ timeoutMs: 10_000 });
      const g = a0.node;
      const killAt = c.mark(`SIGKILL halo on ${g}`);
      const killed = await c.killAgent(g, { withResources: true });
      assert.ok(killed.includes(a0.pid), `the service (pid ${a0.pid}) was among the killed processes ${killed.join(',')}`);
      assert.equal(isAlive(a0.pid), false);
      const last = lastSign(c.records(), a0.pid);

      const a1 = await agreed(c, others(g), (x) => x.node !== g, FAILOVER_LIMIT_MS, `group running on a host other than ${g}`);
      const started = startOf(c.records(), a1.pid);
      assert.ok(a1.epoch > a0.epoch, `a new epoch (${a1.epoch} > ${a0.epoch})`);
      assert.ok(started > last, "the new instance started after the killed one's last sign of life");
      assert.equal((await c.serves(a1.node, others(g).find((n) => n !== a1.node) ?? a1.node))?.pid, a1.pid, 'the service answers on the new host');
      t.diagnostic(`killed ${killed.length} halo processes on ${g}: new instance on ${a1.node} at +${started - killAt} ms (outage ${started - last} ms)`);

      c.startAgent(g);
      const healAt = c.mark(`agent on ${g} restarted`);
      const a2 = await c.converged({ timeoutMs: CONVERGE_LIMIT_MS });
      assert.equal(a2.pid, a1.pid, 'the restarted agent did not take the group back');
      await isStandby(c, g);
      t.diagnostic(`restarted agent on ${g}: converged in ${Date.now() - healAt} ms, ${g} standby`);
      await stays(c, s, a2, 1500);
    });
  });

  test('(f) SIGSTOP of the active\'s agent for longer than its lease: its guard stops the service before the lease can expire, the group moves, the thawed agent does not take it back', async (t) => {
    await scenario(t, { name: 'f' }, async (c, s) => {
      const a0 = await c.converged({ timeoutMs: 10_000 });
      const g = a0.node;
      const stopAt = c.mark(`SIGSTOP agent on ${g}`);
      c.signalAgent(g, 'SIGSTOP');

      // The guard runs on its own: it kills the service at the fence deadline the frozen agent wrote.
      await eventually(() => !isAlive(a0.pid), { timeoutMs: 3000, what: `service on ${g} fenced by its guard`, everyMs: 10 });
      const fencedAt = Date.now();
      const last = lastSign(c.records(), a0.pid);
      // The last renewal was sent before the SIGSTOP, so the lease (1 s from that renewal) cannot
      // expire before stopAt; the guard fences 700 ms after it, plus its 20 ms poll.
      assert.ok(last - stopAt < TIMING.leaseTtlMs, `last sign of the frozen agent's service ${last - stopAt} ms after the SIGSTOP (< lease ${TIMING.leaseTtlMs} ms)`);
      assert.ok(fencedAt - stopAt < FENCE_MS + 300, `service gone ${fencedAt - stopAt} ms after the SIGSTOP (fence ${FENCE_MS} ms + poll)`);

      const a1 = await agreed(c, others(g), (x) => x.node !== g, FAILOVER_LIMIT_MS, `group running on a host other than ${g}`);
      const started = startOf(c.records(), a1.pid);
      assert.ok(started > last, "the new instance started after the fenced one's last sign of life");
      assert.ok(a1.epoch > a0.epoch);
      // Hold the freeze well past the lease (at least 3 leases), then thaw.
      const held = Math.max(0, stopAt + 3 * TIMING.leaseTtlMs - Date.now());
      await sleep(held);
      const contAt = c.mark(`SIGCONT agent on ${g}`);
      c.signalAgent(g, 'SIGCONT');
      t.diagnostic(`froze ${g}'s agent for ${contAt - stopAt} ms: last sign +${last - stopAt} ms, new instance on ${a1.node} at +${started - stopAt} ms (outage ${started - last} ms)`);

      const a2 = await c.converged({ timeoutMs: CONVERGE_LIMIT_MS });
      assert.equal(a2.pid, a1.pid, 'the thawed agent did not take the group back');
      assert.deepEqual(
        c.records().filter((r) => r.event === 'start' && r.node === g && r.at > stopAt),
        [],
        `nothing started on ${g} after the freeze`,
      );
      await isStandby(c, g);
      t.diagnostic(`after SIGCONT: converged in ${Date.now() - contAt} ms, ${g} standby`);
      await stays(c, s, a2, 1500);
    });
  });

  test('(g) the health check stalls (service frozen by SIGSTOP): each check times out and counts as a failure; restart in place, then failover when it stalls again', async (t) => {
    /** Detection (threshold x (interval + timeout)), the stop (SIGTERM and SIGCONT to the frozen service) and a start with readiness, with room. */
    const RECOVERY_LIMIT_MS = HEALTH.failureThreshold * (HEALTH.intervalMs + HEALTH.timeoutMs) + 1000 + 3000;
    await scenario(t, { name: 'g', recovery: { maxRestarts: 1 } }, async (c, s) => {
      const a0 = await c.converged({ timeoutMs: 10_000 });
      const g = a0.node;
      const stallAt = c.mark(`SIGSTOP service ${a0.pid} on ${g}`);
      process.kill(a0.pid, 'SIGSTOP');

      // 1. Restart in place: a new instance on the same node, after the frozen one stopped.
      const a1 = await agreed(c, ALL, (x) => x.pid !== a0.pid, RECOVERY_LIMIT_MS + 2000, `service on ${g} restarted`);
      const r1 = startOf(c.records(), a1.pid);
      assert.equal(a1.node, g, 'restarted in place');
      assert.ok(r1 - stallAt <= RECOVERY_LIMIT_MS, `restarted ${r1 - stallAt} ms after the health check stalled (bound ${RECOVERY_LIMIT_MS} ms)`);
      assert.equal(isAlive(a0.pid), false, 'the frozen instance is gone');
      assert.ok(r1 > lastSign(c.records(), a0.pid));
      const ev = await c.api(g, '/v1/events?limit=200', { timeoutMs: 2000 });
      assert.match(ev?.text ?? '', new RegExp(`http monitor failed ${HEALTH.failureThreshold} times: timed out after ${HEALTH.timeoutMs} ms`), 'the stalled check counted as a failure by its timeout');

      // 2. It stalls again: the restart budget (1) is spent, the group fails over.
      const stall2At = c.mark(`SIGSTOP service ${a1.pid} on ${g}`);
      process.kill(a1.pid, 'SIGSTOP');
      const a2 = await agreed(c, ALL, (x) => x.node !== g, RECOVERY_LIMIT_MS + FAILOVER_LIMIT_MS, `group failed over from ${g}`);
      const r2 = startOf(c.records(), a2.pid);
      assert.equal(isAlive(a1.pid), false, 'the second frozen instance is gone');
      assert.ok(r2 > lastSign(c.records(), a1.pid));
      assert.ok(a2.epoch > a1.epoch);
      const ineligible = (await c.groupView(a2.node))?.ineligible.find((i) => i.node === g);
      assert.equal(ineligible?.reason, 'failed', `${g} is ineligible after the group failed there`);
      t.diagnostic(`health check stalled on ${g}: restarted in place at +${r1 - stallAt} ms (outage ${r1 - lastSign(c.records(), a0.pid)} ms); stalled again: failed over to ${a2.node} at +${r2 - stall2At} ms (outage ${r2 - lastSign(c.records(), a1.pid)} ms)`);

      // Heal: after a cleanup the node is eligible again; the group stays put (failback manual).
      const cl = await c.cleanup(a2.node, g);
      assert.equal(cl?.status, 200, `cleanup accepted: ${cl?.text ?? 'no answer'}`);
      await eventually(async () => (await c.groupView(a2.node))?.ineligible.length === 0, { timeoutMs: 5000, what: `${g} eligible again` });
      const a3 = await c.converged({ timeoutMs: CONVERGE_LIMIT_MS });
      assert.equal(a3.pid, a2.pid, 'the group stayed where it failed over to');
      await stays(c, s, a3, 1500);
    });
  });

  test('(g2) a command monitor hangs while the HTTP monitor passes: the hung check alone must trigger recovery', async (t) => {
    const flags = mkdtempSync(join(tmpdir(), 'halo-netns-stall-'));
    // Blocks (exec sleep) while this node's flag file exists; its timeout kills its process group.
    const stall = { kind: 'command' as const, command: '/bin/sh', args: ['-c', 'if [ -e "$1" ]; then exec sleep 3600; fi', 'stall-check', join(flags, '${HALO_NODE}')], intervalMs: 300, timeoutMs: 500, failureThreshold: 2 };
    const RECOVERY_LIMIT_MS = stall.failureThreshold * (stall.intervalMs + stall.timeoutMs) + 1000 + 3000;
    await scenario(
      t,
      { name: 'g2', monitors: [stall], recovery: { maxRestarts: 1 } },
      async (c, s) => {
        const a0 = await c.converged({ timeoutMs: 10_000 });
        const g = a0.node;
        const stallAt = c.mark(`stall the command monitor on ${g}`);
        writeFileSync(join(flags, g), '');
        const a1 = await agreed(c, ALL, (x) => x.pid !== a0.pid, RECOVERY_LIMIT_MS + 2000, `service on ${g} restarted`);
        t.diagnostic(`command monitor hung on ${g}: recovered (${a1.node}) at +${startOf(c.records(), a1.pid) - stallAt} ms`);
        rmSync(join(flags, g), { force: true });
        await c.cleanup(a1.node);
        await stays(c, s, await c.converged({ timeoutMs: CONVERGE_LIMIT_MS }), 1000);
      },
      () => rmSync(flags, { recursive: true, force: true }),
    );
  });


  test('(h) the disk under the service\'s data path fills up: the disk monitor fails, the group fails over; freed and cleaned up, the node is eligible again', async (t) => {
    const base = mkdtempSync(join(tmpdir(), 'halo-netns-disk-'));
    const mounted: string[] = [];
    const unmount = (): void => {
      for (const d of mounted) {
        const r = spawnSync('umount', [d], { encoding: 'utf8' });
        if (r.status !== 0) spawnSync('umount', ['-l', d]);
      }
      rmSync(base, { recursive: true, force: true });
    };
    try {
      // One 1 MiB tmpfs per node, mounted before the agents start (each `ip netns exec` copies the mount table).
      for (const n of ALL) {
        const d = join(base, n);
        mkdirSync(d);
        const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', `halo-netns-${n}`, d], { encoding: 'utf8' });
        assert.equal(r.status, 0, `mount a tmpfs on ${d}: ${r.stderr}`);
        mounted.push(d);
      }
    } catch (e) {
      unmount();
      throw e;
    }
    const disk = { kind: 'disk' as const, path: join(base, '${HALO_NODE}'), intervalMs: 200, timeoutMs: 500, failureThreshold: 2 };
    await scenario(
      t,
      { name: 'h', monitors: [disk], recovery: { maxRestarts: 1 } },
      async (c, s) => {
        const a0 = await c.converged({ timeoutMs: 10_000 });
        const g = a0.node;
        const filler = join(base, g, 'filler');
        const fillAt = c.mark(`fill the disk on ${g}`);
        try {
          writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024, 1));
          assert.fail('a 2 MiB file fit on a 1 MiB tmpfs');
        } catch (e) {
          assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC', `filling ${filler}: ${String(e)}`);
        }
        // Keep it full: a page the monitor's own probe file held at the moment of ENOSPC is freed when
        // it removes that file, and would let every later probe fit.
        const topUp = setInterval(() => {
          try {
            for (;;) appendFileSync(filler, Buffer.alloc(4096, 1));
          } catch {
            // ENOSPC: full again.
          }
        }, 20);
        const a1 = await agreed(c, ALL, (x) => x.node !== g, 2 * (disk.failureThreshold * (disk.intervalMs + disk.timeoutMs) + 3000) + FAILOVER_LIMIT_MS, `group failed over from ${g}`).finally(() => clearInterval(topUp));
        const started = startOf(c.records(), a1.pid);
        assert.ok(started > lastSign(c.records(), a0.pid));
        const gv = await c.groupView(a1.node);
        const why = gv?.ineligible.find((i) => i.node === g);
        assert.equal(why?.reason, 'failed', `${g} is ineligible after its disk filled up`);
        assert.match(why?.detail ?? '', /ENOSPC|no space/i, 'the failure names the full disk');
        const refused = await c.post(a1.node, '/v1/groups/web/switchover', { to: g });
        assert.notEqual(refused?.status, 202, 'a switchover to the failed node is refused before cleanup');
        assert.match(refused?.text ?? '', /cleanup/);
        t.diagnostic(`disk full on ${g}: group on ${a1.node} at +${started - fillAt} ms`);

        // Freed: still ineligible until the failure record is cleaned up (failureTimeoutMs is 10 min).
        const freeAt = c.mark(`free the disk on ${g}`);
        rmSync(filler);
        await sleep(1500);
        assert.equal((await c.groupView(a1.node))?.ineligible.find((i) => i.node === g)?.reason, 'failed', 'freeing the disk alone does not clear the failure record');
        const cl = await c.cleanup(a1.node, g);
        assert.equal(cl?.status, 200, `cleanup accepted: ${cl?.text ?? 'no answer'}`);
        assert.match(cl?.text ?? '', new RegExp(g));
        await eventually(async () => (await c.groupView(a1.node))?.ineligible.length === 0, { timeoutMs: 5000, what: `${g} eligible again` });
        // Eligible for real: a switchover back to it is accepted and the service runs there with its disk monitor passing.
        const sw = await c.post(a1.node, '/v1/groups/web/switchover', { to: g });
        assert.equal(sw?.status, 202, `switchover to ${g} accepted: ${sw?.text ?? 'no answer'}`);
        const a2 = await agreed(c, ALL, (x) => x.node === g, 15_000, `group back on ${g}`);
        t.diagnostic(`disk freed and cleaned up: switched back to ${g} ${Date.now() - freeAt} ms after freeing`);
        const a3 = await c.converged({ timeoutMs: CONVERGE_LIMIT_MS });
        assert.equal(a3.pid, a2.pid);
        await stays(c, s, a3, 2 * disk.failureThreshold * (disk.intervalMs + disk.timeoutMs));
      },
      unmount,
    );
  });
});
