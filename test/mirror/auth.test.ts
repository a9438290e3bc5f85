import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { describe, test, type TestContext } from 'node:test';
import { MirrorClient } from '../../src/mirror/client.js';
import { encodeFrame } from '../../src/mirror/protocol.js';
import { MirrorReceiver, type ReceiverEvent } from '../../src/mirror/receiver.js';
import { MirrorSource } from '../../src/mirror/source.js';
import { SyncSocketServer } from '../../src/mirror/sync-socket.js';
import { testCerts, tlsOf } from '../support/certs.js';
import { eventually, expectCode } from '../support/util.js';
import { portBlock, tempDir, treeOf } from './helpers.js';

/**
 * The mirror link admits only nodes of the cluster: a peer without a certificate, with one of
 * another CA, or with a person's certificate of the cluster CA (role admin) is refused before a
 * frame is read, and the standby's directory, epoch and status do not change. The active, for its
 * part, refuses a standby that is not the node it addressed.
 */

const port = portBlock(9);
const certs = await testCerts(['n1', 'n2', 'sb']);
const foreign = await testCerts(['n1'], { ca: 'other' });
const admin = await testCerts(['alice'], { role: 'admin' });

/** What a raw peer got: the bytes the standby sent back (none expected) and how it ended. */
async function rawPeer(p: number, tls: ConnectionOptions): Promise<{ received: number; error: string | null }> {
  return await new Promise((resolve) => {
    let received = 0;
    let error: string | null = null;
    const s = connect({ host: '127.0.0.1', port: p, rejectUnauthorized: false, ...tls });
    const frames = [
      ...encodeFrame({ kind: 'hello', id: 1, epoch: 9, group: 'g', source: 'n1' }),
      ...encodeFrame({ kind: 'batch', id: 2, epoch: 9, ops: [{ op: 'write', path: 'evil', offset: 0, len: 4 }] }, [Buffer.from('evil')]),
      ...encodeFrame({ kind: 'resynced', id: 3, epoch: 9 }),
    ];
    s.on('secureConnect', () => {
      for (const f of frames) s.write(f);
    });
    s.on('data', (d: Buffer) => (received += d.length));
    s.on('error', (e) => (error = e.message));
    s.on('close', () => resolve({ received, error }));
    setTimeout(() => s.destroy(), 3000).unref();
  });
}

async function standby(t: TestContext): Promise<{ root: string; data: string; p: number; rcv: MirrorReceiver; events: ReceiverEvent[] }> {
  const root = tempDir(t);
  const data = join(root, 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'keep'), 'standby data');
  const p = port();
  const events: ReceiverEvent[] = [];
  const rcv = new MirrorReceiver({ dir: data, metaDir: join(root, 'meta'), host: '127.0.0.1', port: p, tls: tlsOf(certs, 'sb'), onEvent: (e) => events.push(e) });
  await rcv.start();
  t.after(() => rcv.stop());
  return { root, data, p, rcv, events };
}

describe('mirror link authentication', { timeout: 30_000 }, () => {
  test('peers without a node certificate of the cluster CA are refused before any frame; a real active still syncs', async (t) => {
    const sb = await standby(t);
    const before = { tree: treeOf(sb.data), meta: readFileSync(join(sb.root, 'meta', 'journal')).toString('hex'), status: sb.rcv.status() };
    const cluster = tlsOf(certs, 'n1');
    const peers: Record<string, ConnectionOptions> = {
      'no certificate': { ca: cluster.ca },
      'a certificate of another CA': { ca: cluster.ca, cert: tlsOf(foreign, 'n1').cert, key: tlsOf(foreign, 'n1').key },
      'a certificate of role admin': { ca: cluster.ca, cert: tlsOf(admin, 'alice').cert, key: tlsOf(admin, 'alice').key },
    };
    for (const [what, opts] of Object.entries(peers)) {
      const r = await rawPeer(sb.p, opts);
      assert.equal(r.received, 0, `${what}: the standby answered nothing`);
      await eventually(() => sb.events.filter((e) => e.kind === 'unauthenticated').length >= Object.keys(peers).indexOf(what) + 1, { timeoutMs: 2000, what: `${what}: refusal reported` });
    }
    const refusals = sb.events.filter((e) => e.kind === 'unauthenticated');
    assert.equal(refusals.length, 3);
    assert.match(JSON.stringify(refusals[2]), /role \\"admin\\"/);
    assert.deepEqual(sb.events.filter((e) => e.kind !== 'unauthenticated'), [], 'no session, no refusal of a frame: nothing was read');
    assert.deepEqual(treeOf(sb.data), before.tree);
    assert.equal(readFileSync(join(sb.root, 'meta', 'journal')).toString('hex'), before.meta);
    assert.deepEqual(sb.rcv.status(), before.status);
    assert.ok(!JSON.stringify(treeOf(sb.root)).includes('evil'));

    // A MirrorClient with a foreign certificate fails too, with the usual link error.
    const c = await MirrorClient.open('127.0.0.1', sb.p, 9, { tls: { ...tlsOf(foreign, 'n1'), ca: cluster.ca }, peer: 'sb' }).catch((e: unknown) => e);
    if (c instanceof MirrorClient) await expectCode(c.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_UNAVAILABLE');

    // The real active still syncs.
    const src = join(sb.root, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'keep'), 'active data');
    writeFileSync(join(src, 'new'), 'x'.repeat(100_000));
    const s = new MirrorSource({ dir: src, group: 'g', node: 'n1', epoch: 2, mode: 'async', standbys: [{ name: 'sb', host: '127.0.0.1', port: sb.p }], tls: cluster, scanIntervalMs: 20 });
    s.start();
    t.after(() => s.stop());
    await eventually(() => JSON.stringify(treeOf(sb.data)) === JSON.stringify(treeOf(src)), { timeoutMs: 10_000, what: 'synced after the refusals' });
  });

  test('a session busy checksumming a huge sparse file does not hold up a newer active', async (t) => {
    const sb = await standby(t);
    // A node (valid certificate) makes an 8 TiB sparse file and asks for its checksums: reading it
    // would take hours, and requests are handled one at a time.
    const hostile = await MirrorClient.open('127.0.0.1', sb.p, 5, { tls: tlsOf(certs, 'n1'), peer: 'sb', answerTimeoutMs: 60_000 });
    t.after(() => hostile.close());
    await hostile.request({ kind: 'hello', group: 'g', source: 'n1' });
    await hostile.request({ kind: 'batch', ops: [{ op: 'truncate', path: 'big', size: 2 ** 43 }] });
    const busy = hostile.request({ kind: 'sums', path: 'big' });
    busy.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));

    // The active of a newer epoch takes over at once: the checksums are cut short.
    const src = join(sb.root, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'proof'), 'the newer active');
    const s = new MirrorSource({ dir: src, group: 'g', node: 'n1', epoch: 6, mode: 'async', standbys: [{ name: 'sb', host: '127.0.0.1', port: sb.p }], tls: tlsOf(certs, 'n1'), scanIntervalMs: 20 });
    s.start();
    t.after(() => s.stop());
    await eventually(() => s.status()[0]?.inSync === true, { timeoutMs: 15_000, what: 'the newer active in sync' });
    assert.deepEqual(readdirSync(sb.data), ['proof'], 'the huge file is gone with the resync');
    assert.equal(readFileSync(join(sb.data, 'proof'), 'utf8'), 'the newer active');
    await expectCode(busy, 'HA_MIRROR_PROTOCOL');
  });

  test('the fsync socket of sync mode is owner-only (0600)', async (t) => {
    const root = tempDir(t);
    const old = process.umask(0);
    t.after(() => process.umask(old));
    const srv = new SyncSocketServer(join(root, 'm', 'fsync.sock'), async () => []);
    await srv.start();
    t.after(() => srv.stop());
    assert.equal(statSync(join(root, 'm', 'fsync.sock')).mode & 0o777, 0o600);
    assert.equal(statSync(join(root, 'm')).mode & 0o777, 0o700);
  });

  test('a node cannot open a session in another node\'s name', async (t) => {
    const sb = await standby(t);
    const c = await MirrorClient.open('127.0.0.1', sb.p, 3, { tls: tlsOf(certs, 'n2'), peer: 'sb' });
    t.after(() => c.close());
    await expectCode(c.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_PROTOCOL');
    assert.equal(sb.rcv.status().epoch, 0, 'the epoch was not accepted');
  });

  test('the active refuses a standby that is not the node it addressed, or not a node of its CA', async (t) => {
    const sb = await standby(t);
    await expectCode(MirrorClient.open('127.0.0.1', sb.p, 1, { tls: tlsOf(certs, 'n1'), peer: 'n2' }), 'HA_MIRROR_UNAVAILABLE');
    // A standby with a certificate of another CA.
    const root = tempDir(t);
    const p = port();
    const other = new MirrorReceiver({ dir: join(root, 'data'), metaDir: join(root, 'meta'), host: '127.0.0.1', port: p, tls: tlsOf(foreign, 'n1') });
    await other.start();
    t.after(() => other.stop());
    await expectCode(MirrorClient.open('127.0.0.1', p, 1, { tls: tlsOf(certs, 'n1'), peer: 'n1' }), 'HA_MIRROR_UNAVAILABLE');
    assert.equal(other.status().epoch, 0);
  });
});
