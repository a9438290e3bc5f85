import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { overlaps, TestCluster, type NodeName } from './harness.js';
import { eventually } from '../support/util.js';
import { isAlive } from '../../src/platform/proc.js';

/**
 * End-to-end: real coordinator and agent processes, the real sample service, real signals.
 * Every test ends by checking the service's own start/stop/alive records for overlapping actives.
 */

const BASE = { portOffset: 10_000, net: 77, stopTimeoutMs: 1000 } as const;

async function withCluster(opts: Partial<ConstructorParameters<typeof TestCluster>[0]>, fn: (c: TestCluster) => Promise<void>): Promise<void> {
  const c = new TestCluster({ ...BASE, ...opts });
  try {
    await c.start();
    await fn(c);
    assert.deepEqual(overlaps(c.records()), [], 'no two instances of the group may be active at once');
  } catch (e) {
    process.stderr.write(`cluster dir: ${c.dir}\n`);
    for (const f of ['n1.log', 'n2.log', 'n3.log']) {
      try {
        const lines = readFileSync(`${c.dir}/${f}`, 'utf8').split('\n');
        process.stderr.write(`--- ${f} (last 40 lines)\n${lines.slice(-40).join('\n')}\n`);
      } catch {
        /* none */
      }
    }
    throw e;
  } finally {
    await c.stop();
  }
}

describe('e2e: one cluster of real processes', { timeout: 600_000 }, () => {
  test('(a) SIGKILL of the service: restarted on the same node', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      process.kill(a.pid, 'SIGKILL');
      const b = await c.waitActive((x) => x.pid !== a.pid, 15_000, 'service restarted');
      assert.equal(b.node, a.node, 'restarted in place, not moved');
      assert.equal(b.epoch, a.epoch, 'a restart in place keeps the epoch');
      const served = await c.serve(b.node);
      assert.equal(served?.node, b.node);
      const evs = await c.events();
      assert.ok(evs.some((e) => e.kind === 'resource-restarted'), 'a resource-restarted event was recorded');
    });
  });

  test('(b) hung service (alive, HTTP monitor failing): restarted', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      process.kill(a.pid, 'SIGSTOP');
      assert.ok(isAlive(a.pid), 'the hung process is still alive');
      const b = await c.waitActive((x) => x.pid !== a.pid, 20_000, 'hung service replaced');
      assert.equal(b.node, a.node);
      await eventually(async () => !isAlive(a.pid), { timeoutMs: 5000, what: 'hung process gone' });
      const evs = await c.events();
      assert.ok(evs.some((e) => e.kind === 'monitor-failed' && /http/.test(e.message)), 'the HTTP monitor failure was recorded');
    });
  });

  test('(c) crash loop past the restart limit: the group fails over and the node becomes ineligible', async () => {
    await withCluster({ recovery: { maxRestarts: 2, windowMs: 60_000 } }, async (c) => {
      const first = await c.waitActive(() => true, 20_000, 'web active');
      let cur = first;
      for (let i = 0; i < 3; i++) {
        process.kill(cur.pid, 'SIGKILL');
        if (i < 2) cur = await c.waitActive((x) => x.pid !== cur.pid, 15_000, `restart ${i + 1}`);
      }
      const moved = await c.waitActive((x) => x.node !== first.node, 20_000, 'failed over to another node');
      assert.ok(moved.epoch > first.epoch, 'the epoch increases when the active changes hands');
      const g = await c.group();
      assert.ok(
        g.failures.some((f) => f.node === first.node),
        `${first.node} is recorded as failed for the group`,
      );
      const evs = await c.events();
      assert.ok(evs.some((e) => e.kind === 'group-failed'));
      assert.ok(evs.some((e) => e.kind === 'failed-over'));
    });
  });

  test('(d) SIGKILL of an agent together with its resources: the group runs on another node', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      const guardPid = readGuardPid(c, a.node);
      process.kill(c.agentPid(a.node), 'SIGKILL');
      process.kill(a.pid, 'SIGKILL');
      if (guardPid) process.kill(guardPid, 'SIGKILL');
      const b = await c.waitActive((x) => x.node !== a.node, 20_000, 'group active elsewhere');
      assert.ok(b.epoch > a.epoch);
      const served = await c.serve(b.node);
      assert.equal(served?.node, b.node, 'the service answers on the new node');
    });
  });

  test('(e) SIGSTOP of an agent past its lease: its resources stop before the group starts elsewhere', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      process.kill(c.agentPid(a.node), 'SIGSTOP');
      try {
        const b = await c.waitActive((x) => x.node !== a.node, 20_000, 'group active elsewhere');
        assert.ok(b.epoch > a.epoch);
        assert.ok(!isAlive(a.pid), 'the frozen agent\'s service was killed by its guard');
        assertHandedOver(c, a.pid, b.pid);
      } finally {
        process.kill(c.agentPid(a.node), 'SIGCONT');
      }
      // The thawed agent notices it lost its lease, rejoins, and does not take the group back.
      await eventually(async () => (await c.group()).nodes.find((n) => n.node === a.node)?.online === true, { timeoutMs: 20_000, what: 'frozen node rejoined' });
      const after = await c.active();
      assert.notEqual(after?.node, a.node);
    });
  });

  test('(e2) SIGKILL of the active\'s guard, then SIGSTOP of its agent: the service dies with its guard, never two actives', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      const guardPid = readGuardPid(c, a.node);
      assert.ok(guardPid !== null, 'the active has a guard');
      process.kill(guardPid, 'SIGKILL');
      process.kill(c.agentPid(a.node), 'SIGSTOP');
      try {
        await eventually(() => !isAlive(a.pid), { timeoutMs: 2_000, what: 'the service ended with its guard' });
        const b = await c.waitActive((x) => x.node !== a.node, 20_000, 'group active elsewhere');
        assert.ok(b.epoch > a.epoch);
        assertHandedOver(c, a.pid, b.pid);
      } finally {
        process.kill(c.agentPid(a.node), 'SIGCONT');
      }
    });
  });

  test('(f) switchover and switchback through the CLI: no overlap, epoch increases', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      const target: NodeName = a.node === 'n2' ? 'n3' : 'n2';
      const r1 = await c.cli(['switchover', 'web', '--to', target]);
      assert.equal(r1.code, 0, r1.stderr + r1.stdout);
      const b = await c.waitActive((x) => x.node === target, 10_000, `active on ${target}`);
      assert.ok(b.epoch > a.epoch);
      const r2 = await c.cli(['switchover', 'web', '--to', a.node]);
      assert.equal(r2.code, 0, r2.stderr + r2.stdout);
      const back = await c.waitActive((x) => x.node === a.node, 10_000, `back on ${a.node}`);
      assert.ok(back.epoch > b.epoch);
      const recs = c.records();
      const stopOld = recs.find((r) => r.pid === a.pid && r.event === 'stop');
      const startNew = recs.find((r) => r.pid === b.pid && r.event === 'start');
      assert.ok(stopOld && startNew && stopOld.at <= startNew.at, 'graceful: the old active stopped before the new one started');
      const evs = await c.events();
      assert.equal(evs.filter((e) => e.kind === 'switched-over').length, 2);
    });
  });

  test('(g) agent restart re-adopts the running service (same PID)', async () => {
    await withCluster({ timing: { leaseTtlMs: 4000, safetyMarginMs: 1000, renewIntervalMs: 300, maxLoopLagMs: 300 } }, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      process.kill(c.agentPid(a.node), 'SIGKILL');
      c.startAgent(a.node);
      await eventually(
        async () => {
          const g = await c.group();
          const v = g.nodes.find((n) => n.node === a.node);
          return v?.online === true && v.state === 'running';
        },
        { timeoutMs: 20_000, what: 'restarted agent reports the group running' },
      );
      // Let a few monitor intervals pass: the adopted service must stay the same process.
      await new Promise((r) => setTimeout(r, 2000));
      const b = await c.active();
      assert.equal(b?.node, a.node);
      assert.equal(b?.pid, a.pid, 'the same service process runs on, adopted');
      assert.ok(isAlive(a.pid));
      const evs = await c.events();
      assert.ok(evs.some((e) => e.kind === 'resource-adopted'));
      assert.ok(!evs.some((e) => e.kind === 'resource-restarted'), 'nothing was restarted');
    });
  });

  test('(h) an invalid config sent to the API is rejected whole; the cluster is unchanged', async () => {
    await withCluster({}, async (c) => {
      const a = await c.waitActive(() => true, 20_000, 'web active');
      const before = (await (await c.api('/v1/config')).json()) as { version: number; source: string };
      const bad = before.source.replace('maxRestarts: 3', 'maxRestarts: "three"').replace('failureThreshold: 2', 'failureThreshold: 0');
      assert.notEqual(bad, before.source);
      const r = await c.api('/v1/config', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: bad, file: 'bad.yaml' }) });
      assert.equal(r.status, 400);
      const body = (await r.json()) as { code: string; issues: { path: string; line: number }[] };
      assert.equal(body.code, 'HA_CONFIG_INVALID');
      assert.ok(body.issues.some((i) => i.path.endsWith('recovery.maxRestarts') && i.line > 0), JSON.stringify(body.issues));
      assert.ok(body.issues.some((i) => i.path.endsWith('failureThreshold')), JSON.stringify(body.issues));
      const afterCfg = (await (await c.api('/v1/config')).json()) as { version: number; source: string };
      assert.equal(afterCfg.version, before.version);
      assert.equal(afterCfg.source, before.source);
      const b = await c.active();
      assert.deepEqual(b, a, 'the cluster kept running exactly as before');
    });
  });
});

/** The old instance's last sign of life (its own records) precedes the new instance's start. */
function assertHandedOver(c: TestCluster, oldPid: number, newPid: number): void {
  const recs = c.records();
  const oldLast = Math.max(...recs.filter((r) => r.pid === oldPid).map((r) => r.at));
  const newStart = recs.find((r) => r.pid === newPid && r.event === 'start');
  assert.ok(newStart, 'the new instance recorded its start');
  assert.ok(oldLast < newStart.at, `old instance's last sign of life (${oldLast}) precedes the new start (${newStart.at})`);
}

function readGuardPid(c: TestCluster, node: string): number | null {
  try {
    const j = JSON.parse(readFileSync(`${c.dir}/state/${node}/web/app/pid.json`, 'utf8')) as { guardPid?: number };
    return j.guardPid ?? null;
  } catch {
    return null;
  }
}

