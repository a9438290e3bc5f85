import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { overlaps, TestCluster } from './harness.js';

/**
 * The same agents, agreeing through a real 3-member etcd instead of the embedded coordinator:
 * placement, and failover after an agent is killed together with its service.
 */
const skip = etcdSkipReason();

describe('e2e on etcd', { skip: skip ?? false, timeout: 180_000 }, () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcdCluster({ members: 3 });
  });
  after(async () => {
    await etcd?.stop();
  });

  test('agents on etcd place the group and fail it over when its node dies', async () => {
    const c = new TestCluster({ portOffset: 12_000, net: 79, stopTimeoutMs: 1000, etcdEndpoints: etcd.endpoints });
    try {
      await c.start();
      const a = await c.waitActive(() => true, 20_000, 'web active');
      const guard = (JSON.parse(readFileSync(`${c.dir}/state/${a.node}/web/app/pid.json`, 'utf8')) as { guardPid: number }).guardPid;
      process.kill(c.agentPid(a.node), 'SIGKILL');
      process.kill(a.pid, 'SIGKILL');
      process.kill(guard, 'SIGKILL');
      const b = await c.waitActive((x) => x.node !== a.node, 20_000, 'group active elsewhere');
      assert.ok(b.epoch > a.epoch);
      assert.equal((await c.serve(b.node))?.node, b.node);
      assert.deepEqual(overlaps(c.records()), []);
    } finally {
      await c.stop();
    }
  });
});
