import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { MirrorResourceSchema } from '../../src/domain/config.js';
import { ClusterError } from '../../src/domain/errors.js';
import { parseGroupId, parseNodeId, type NodeId } from '../../src/domain/ids.js';
import type { MirrorSyncRecord } from '../../src/domain/state.js';
import { MirrorAgent } from '../../src/resources/mirror/agent.js';
import type { ResourceContext } from '../../src/resources/types.js';
import { testCerts, tlsOf } from '../support/certs.js';
import { eventually } from '../support/util.js';
import { portBlock, tempDir, treeOf } from './helpers.js';

const port = portBlock(3);
const certs = await testCerts(['n1', 'n2']);

/** Two nodes on one host: n1 on 127.0.0.1, n2 on 127.0.0.2, the same port (as in a real config). */
function twoNodes(t: TestContext, mode: 'sync' | 'async', scanIntervalMs = 20) {
  const root = tempDir(t);
  const p = port();
  const records: MirrorSyncRecord[] = [];
  /** Nodes whose record writes fail (their store is unreachable). */
  const failing = new Set<string>();
  const addr = { n1: '127.0.0.1', n2: '127.0.0.2' } as const;
  const mk = (self: 'n1' | 'n2') => {
    const other = self === 'n1' ? 'n2' : 'n1';
    const cfg = MirrorResourceSchema.parse({ name: 'data', type: 'mirror', path: join(root, self, 'data'), port: p, mode, scanIntervalMs, syncTimeoutMs: 500 });
    const a = new MirrorAgent(cfg, {
      node: parseNodeId(self),
      group: parseGroupId('db'),
      address: addr[self],
      peers: [{ name: parseNodeId(other), host: addr[other], port: p }],
      metaDir: join(root, self, 'meta'),
      tls: tlsOf(certs, self),
      publish: async (rec) => {
        if (failing.has(self)) throw new ClusterError('HA_COORD_UNAVAILABLE', 'the store cannot be reached');
        records.push(rec);
      },
    });
    t.after(() => a.close());
    return a;
  };
  const ctx = (node: string, epoch: number): ResourceContext => ({
    node: parseNodeId(node),
    group: parseGroupId('db'),
    epoch,
    role: 'active',
    stateDir: join(root, node, 'meta'),
    fenceFile: join(root, 'fence'),
  });
  return { root, n1: mk('n1'), n2: mk('n2'), ctx, records, failing, lastInSync: (): NodeId[] => records.at(-1)?.inSync ?? [] };
}

describe('MirrorAgent (resource)', { timeout: 60_000 }, () => {
  test('standby receives, active ships and publishes the in-sync set; a switchover reverses the roles without quarantine', async (t) => {
    const { root, n1, n2, ctx, records, lastInSync } = twoNodes(t, 'sync');
    await n1.serveStandby();
    await n2.serveStandby();
    assert.equal((await n1.probe(ctx('n1', 1))).kind, 'stopped');
    const started = await n1.start(ctx('n1', 1));
    assert.ok(started.ok, started.detail);
    assert.deepEqual(records[0]?.inSync, [], 'the first record of an epoch lists nobody in sync');
    assert.equal(records[0]?.epoch, 1);
    writeFileSync(join(root, 'n1/data/file'), 'epoch 1 data');
    await eventually(() => lastInSync().includes(parseNodeId('n2')), { timeoutMs: 5000, what: 'n2 published in sync' });
    await eventually(() => existsSync(join(root, 'n2/data/file')), { timeoutMs: 5000, what: 'file shipped' });
    assert.equal(n1.status().role, 'active');
    assert.equal(n2.status().role, 'standby');

    // Switchover: n1 stops (becomes a standby again), n2 becomes active at epoch 2.
    assert.ok((await n1.stop(ctx('n1', 1))).ok);
    assert.equal(n1.status().role, 'standby');
    assert.ok((await n2.start(ctx('n2', 2))).ok);
    writeFileSync(join(root, 'n2/data/more'), 'epoch 2 data');
    await eventually(() => JSON.stringify(treeOf(join(root, 'n1/data'))) === JSON.stringify(treeOf(join(root, 'n2/data'))), { timeoutMs: 5000, what: 'n1 follows n2' });
    await eventually(() => records.at(-1)?.epoch === 2 && lastInSync().includes(parseNodeId('n1')), { timeoutMs: 5000, what: 'n1 in sync at epoch 2' });
    assert.ok(!existsSync(join(root, 'n1/meta/quarantine')), 'a clean switchover quarantines nothing');
    assert.equal(readFileSync(join(root, 'n1/data/file'), 'utf8'), 'epoch 1 data');
  });

  test('async: an orderly stop ships what the application wrote since the last scan, and reports nothing pending', async (t) => {
    // Scans a minute apart: after the first one, only the stop itself can ship the new file.
    const { root, n1, n2, ctx, records, lastInSync } = twoNodes(t, 'async', 60_000);
    await n1.serveStandby();
    await n2.serveStandby();
    assert.ok((await n1.start(ctx('n1', 1))).ok);
    await eventually(() => lastInSync().includes(parseNodeId('n2')), { timeoutMs: 5000, what: 'n2 published in sync' });
    writeFileSync(join(root, 'n1/data/last-words'), 'written just before the stop');
    assert.ok((await n1.stop(ctx('n1', 1))).ok);
    assert.equal(readFileSync(join(root, 'n2/data/last-words'), 'utf8'), 'written just before the stop');
    await eventually(() => records.at(-1)?.standbys[0]?.lastAckAt != null, { timeoutMs: 2000, what: 'the record published at the stop' });
    const last = records.at(-1);
    assert.equal(last?.standbys[0]?.pendingBytes, 0, `the last record says nothing is pending: ${JSON.stringify(last)}`);
    assert.equal(last?.totalBytes, 'written just before the stop'.length);
  });

  test('an old active that returns with divergent files gets them quarantined', async (t) => {
    const { root, n1, n2, ctx } = twoNodes(t, 'async');
    await n2.serveStandby();
    assert.ok((await n1.start(ctx('n1', 1))).ok);
    writeFileSync(join(root, 'n1/data/shared'), 'v1');
    await eventually(() => existsSync(join(root, 'n2/data/shared')), { timeoutMs: 5000, what: 'shipped' });
    // n1 is cut off (its mirror stops shipping, as when its node is isolated) and keeps writing.
    await n1.close();
    writeFileSync(join(root, 'n1/data/shared'), 'v1 + unshipped write on the old active');
    // n2 takes over at epoch 2 and writes on its own.
    assert.ok((await n2.start(ctx('n2', 2))).ok);
    writeFileSync(join(root, 'n2/data/new'), 'epoch 2');
    // n1 returns as a standby.
    await n1.serveStandby();
    await eventually(() => JSON.stringify(treeOf(join(root, 'n1/data'))) === JSON.stringify(treeOf(join(root, 'n2/data'))), { timeoutMs: 5000, what: 'n1 resynced' });
    assert.equal(readFileSync(join(root, 'n1/data/shared'), 'utf8'), 'v1', 'the live directory holds the new active data');
    const q = treeOf(join(root, 'n1/meta/quarantine'));
    const kept = Object.entries(q).find(([p]) => p.endsWith('/shared'));
    assert.ok(kept, `quarantine holds the divergent file: ${JSON.stringify(Object.keys(q))}`);
    assert.equal(Buffer.from(kept[1], 'base64').toString(), 'v1 + unshipped write on the old active');
  });

  test('a start that fails half-way (its record cannot be written) leaves the node serving as a standby', async (t) => {
    const { root, n1, n2, ctx, failing } = twoNodes(t, 'async');
    await n2.serveStandby();
    failing.add('n2');
    const r = await n2.start(ctx('n2', 2));
    assert.equal(r.ok, false);
    assert.equal(n2.status().role, 'standby', 'back to receiving after the failed start');
    assert.ok((await n1.start(ctx('n1', 3))).ok);
    writeFileSync(join(root, 'n1/data/after'), 'epoch 3');
    await eventually(() => existsSync(join(root, 'n2/data/after')), { timeoutMs: 5000, what: 'n2 receives from the new active' });
  });
});
