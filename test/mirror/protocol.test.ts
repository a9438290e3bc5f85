import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isClusterError } from '../../src/domain/errors.js';
import { MirrorClient } from '../../src/mirror/client.js';
import { encodeFrame, FrameDecoder, type Op } from '../../src/mirror/protocol.js';
import { MirrorReceiver, type ReceiverEvent } from '../../src/mirror/receiver.js';
import { encodeJournal, Replica } from '../../src/mirror/replica.js';
import { testCerts, tlsOf } from '../support/certs.js';
import { eventually, expectCode } from '../support/util.js';
import { portBlock, tempDir } from './helpers.js';

const port = portBlock(0);
const certs = await testCerts(['n1', 'n2', 'sb']);

describe('mirror frames', () => {
  test('a frame split at every byte boundary decodes to the same header and payload', () => {
    const parts = Buffer.concat(encodeFrame({ kind: 'x', n: 1 }, [Buffer.from('hello'), Buffer.from(' world')]));
    for (let cut = 1; cut < parts.length; cut++) {
      const d = new FrameDecoder();
      const a = d.push(parts.subarray(0, cut));
      const b = d.push(parts.subarray(cut));
      const all = [...a, ...b];
      assert.equal(all.length, 1);
      assert.deepEqual(all[0]?.header, { kind: 'x', n: 1 });
      assert.equal(all[0]?.payload.toString(), 'hello world');
    }
  });

  test('an absurd length is a typed protocol error', () => {
    const d = new FrameDecoder();
    assert.throws(() => d.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])), (e: unknown) => isClusterError(e, 'HA_MIRROR_PROTOCOL'));
  });
});

describe('Replica', () => {
  test('applies writes, truncates, mkdir, rename, unlink and metadata durably', async (t) => {
    const root = tempDir(t);
    const r = new Replica({ dir: join(root, 'data'), metaDir: join(root, 'meta') });
    await r.open();
    await r.beginSession(1);
    const ops: Op[] = [
      { op: 'mkdir', path: 'a', mode: 0o755 },
      { op: 'write', path: 'a/f', offset: 0, len: 5 },
      { op: 'write', path: 'a/f', offset: 10, len: 3 },
      { op: 'meta', path: 'a/f', mode: 0o600, mtimeMs: 1_700_000_000_123.5 },
      { op: 'create', path: 'empty', mode: 0o644 },
    ];
    await r.applyBatch(1, ops, Buffer.from('hellofoo'));
    const f = readFileSync(join(root, 'data/a/f'));
    assert.equal(f.length, 13);
    assert.equal(f.subarray(0, 5).toString(), 'hello');
    assert.equal(f.subarray(10).toString(), 'foo');
    const m = (await r.manifest()).find((e) => e.path === 'a/f');
    assert.equal(m?.mode, 0o600);
    assert.ok(Math.abs((m?.mtimeMs ?? 0) - 1_700_000_000_123.5) < 0.01);
    await r.applyBatch(1, [{ op: 'truncate', path: 'a/f', size: 2 }], Buffer.alloc(0));
    assert.equal(readFileSync(join(root, 'data/a/f'), 'utf8'), 'he');
    await r.applyBatch(1, [{ op: 'rename', from: 'a/f', to: 'b/g' }], Buffer.alloc(0));
    assert.equal(readFileSync(join(root, 'data/b/g'), 'utf8'), 'he');
    assert.ok(!existsSync(join(root, 'data/a/f')));
    await r.applyBatch(1, [{ op: 'unlink', path: 'b/g' }, { op: 'rmdir', path: 'a' }], Buffer.alloc(0));
    assert.ok(!existsSync(join(root, 'data/b/g')));
    assert.ok(!existsSync(join(root, 'data/a')));
    await r.close();
  });

  test('never goes through a symlink or a file: batches that would are refused before they are journaled', async (t) => {
    const root = tempDir(t);
    const outside = join(root, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'z'), 'outside');
    const r = new Replica({ dir: join(root, 'data'), metaDir: join(root, 'meta') });
    await r.open();
    await r.beginSession(1);
    await r.applyBatch(1, [{ op: 'symlink', path: 'ln', target: outside }, { op: 'symlink', path: 'lnf', target: join(outside, 'z') }, { op: 'create', path: 'f', mode: 0o644 }], Buffer.alloc(0));
    const journal = readFileSync(join(root, 'meta', 'journal'));
    const refused: [string, Op[], string][] = [
      ['write through a symlink', [{ op: 'write', path: 'ln/x', offset: 0, len: 1 }], 'x'],
      ['symlink then write through it, one batch', [{ op: 'symlink', path: 'a', target: outside }, { op: 'write', path: 'a/y', offset: 0, len: 1 }], 'y'],
      ['mkdir through a symlink', [{ op: 'mkdir', path: 'ln/d/e', mode: 0o755 }], ''],
      ['unlink through a symlink', [{ op: 'unlink', path: 'ln/z' }], ''],
      ['rmdir through a symlink', [{ op: 'rmdir', path: 'ln/z' }], ''],
      ['meta through a symlink', [{ op: 'meta', path: 'ln/z', mode: 0o777, mtimeMs: 0 }], ''],
      ['rename into a symlinked directory', [{ op: 'rename', from: 'f', to: 'ln/f' }], ''],
      ['rename out of a symlinked directory', [{ op: 'rename', from: 'ln/z', to: 'stolen' }], ''],
      ['write to a symlink', [{ op: 'write', path: 'lnf', offset: 0, len: 1 }], 'w'],
      ['truncate a symlink', [{ op: 'truncate', path: 'lnf', size: 0 }], ''],
      ['a file as a directory', [{ op: 'write', path: 'f/x', offset: 0, len: 1 }], 'x'],
      ['a rename of nothing', [{ op: 'rename', from: 'nothing', to: 'g' }], ''],
    ];
    for (const [what, ops, data] of refused) {
      await expectCode(r.applyBatch(1, ops, Buffer.from(data)), 'HA_MIRROR_PROTOCOL').catch((e: unknown) => assert.fail(`${what}: ${String(e)}`));
    }
    assert.deepEqual(readdirSync(outside), ['z']);
    assert.equal(readFileSync(join(outside, 'z'), 'utf8'), 'outside');
    assert.ok(readFileSync(join(root, 'meta', 'journal')).equals(journal), 'nothing was journaled');
    assert.deepEqual(await r.sums('ln/z'), { size: -1, sums: [] }, 'no checksums of a file outside');
    assert.deepEqual(await r.sums('lnf'), { size: -1, sums: [] });
    // Replacing the symlink by a directory in one batch is fine.
    await r.applyBatch(1, [{ op: 'unlink', path: 'ln' }, { op: 'mkdir', path: 'ln', mode: 0o755 }, { op: 'write', path: 'ln/x', offset: 0, len: 1 }], Buffer.from('x'));
    assert.equal(readFileSync(join(root, 'data', 'ln', 'x'), 'utf8'), 'x');
    assert.deepEqual(readdirSync(outside), ['z']);
    await r.close();
  });

  test('a rename must be alone in its batch; payload length must match', async (t) => {
    const root = tempDir(t);
    const r = new Replica({ dir: join(root, 'data'), metaDir: join(root, 'meta') });
    await r.open();
    t.after(() => r.close());
    await expectCode(r.applyBatch(0, [{ op: 'create', path: 'x', mode: 0o644 }, { op: 'rename', from: 'x', to: 'y' }], Buffer.alloc(0)), 'HA_MIRROR_PROTOCOL');
    await expectCode(r.applyBatch(0, [{ op: 'write', path: 'x', offset: 0, len: 4 }], Buffer.from('ab')), 'HA_MIRROR_PROTOCOL');
  });

  test('a journal left by a crash is applied at open, and applying it twice gives the same tree', async (t) => {
    const root = tempDir(t);
    const data = join(root, 'data');
    const meta = join(root, 'meta');
    mkdirSync(data, { recursive: true });
    mkdirSync(meta, { recursive: true });
    writeFileSync(join(data, 'f'), 'old content here');
    const ops: Op[] = [
      { op: 'truncate', path: 'f', size: 0 },
      { op: 'write', path: 'f', offset: 0, len: 3 },
      { op: 'write', path: 'g', offset: 2, len: 2 },
      { op: 'unlink', path: 'gone' },
    ];
    // As if the crash came after the journal was durable and half of it applied.
    writeFileSync(join(data, 'g'), 'zz');
    writeFileSync(join(meta, 'journal'), encodeJournal(ops, Buffer.from('newab')));
    const r = new Replica({ dir: data, metaDir: meta });
    await r.open();
    assert.equal(readFileSync(join(data, 'f'), 'utf8'), 'new');
    assert.equal(readFileSync(join(data, 'g'), 'utf8'), 'zzab');
    await r.close();
    // Replayed once: the journal is invalidated, a second open changes nothing.
    writeFileSync(join(data, 'f'), 'changed by the application');
    await r.open();
    assert.equal(readFileSync(join(data, 'f'), 'utf8'), 'changed by the application');
    await r.close();
  });

  test('a torn journal (checksum mismatch) was never acknowledged and is ignored', async (t) => {
    const root = tempDir(t);
    const data = join(root, 'data');
    const meta = join(root, 'meta');
    mkdirSync(meta, { recursive: true });
    const j = encodeJournal([{ op: 'write', path: 'f', offset: 0, len: 3 }], Buffer.from('abc'));
    j.writeUInt8((j.at(-1) ?? 0) ^ 0xff, j.length - 1);
    writeFileSync(join(meta, 'journal'), j);
    const r = new Replica({ dir: data, metaDir: meta });
    await r.open();
    assert.ok(!existsSync(join(data, 'f')));
    await r.close();
  });

  test('stale epochs are refused with a typed error and the accepted epoch survives a restart', async (t) => {
    const root = tempDir(t);
    const opts = { dir: join(root, 'data'), metaDir: join(root, 'meta') };
    const r = new Replica(opts);
    await r.open();
    t.after(() => r.close());
    await r.beginSession(5);
    await expectCode(r.beginSession(4), 'HA_MIRROR_STALE_EPOCH');
    await expectCode(r.applyBatch(4, [{ op: 'create', path: 'x', mode: 0o644 }], Buffer.alloc(0)), 'HA_MIRROR_STALE_EPOCH');
    const again = new Replica(opts);
    await again.open();
    t.after(() => again.close());
    assert.equal(again.epochs.accepted, 5);
    await expectCode(again.beginSession(3), 'HA_MIRROR_STALE_EPOCH');
    assert.ok(!existsSync(join(root, 'data/x')));
  });

  test('paths escaping the directory are refused by the schema', async (t) => {
    const root = tempDir(t);
    const p = port();
    const rcv = new MirrorReceiver({ dir: join(root, 'data'), metaDir: join(root, 'meta'), host: '127.0.0.1', port: p, tls: tlsOf(certs, 'sb') });
    await rcv.start();
    t.after(() => rcv.stop());
    const c = await MirrorClient.open('127.0.0.1', p, 1, { tls: tlsOf(certs, 'n1') });
    t.after(() => c.close());
    await c.request({ kind: 'hello', group: 'g', source: 'n1' });
    await expectCode(c.request({ kind: 'batch', ops: [{ op: 'write', path: '../evil', offset: 0, len: 1 }] }, [Buffer.from('x')]), 'HA_MIRROR_PROTOCOL');
    assert.ok(!existsSync(join(root, 'evil')));
  });
});

describe('MirrorReceiver over TLS', () => {
  test('hello returns the manifest; batches are acknowledged once durable; a newer epoch fences the old sender', async (t) => {
    const root = tempDir(t);
    const p = port();
    const events: ReceiverEvent[] = [];
    const rcv = new MirrorReceiver({ dir: join(root, 'data'), metaDir: join(root, 'meta'), host: '127.0.0.1', port: p, tls: tlsOf(certs, 'sb'), onEvent: (e) => events.push(e) });
    await rcv.start();
    t.after(() => rcv.stop());
    const old = await MirrorClient.open('127.0.0.1', p, 3, { tls: tlsOf(certs, 'n1') });
    t.after(() => old.close());
    const w = await old.request({ kind: 'hello', group: 'g', source: 'n1' });
    assert.equal(w.kind, 'welcome');
    assert.deepEqual(w.kind === 'welcome' ? w.manifest : null, []);
    const ack = await old.request({ kind: 'batch', ops: [{ op: 'write', path: 'log', offset: 0, len: 4 }] }, [Buffer.from('rec1')]);
    assert.equal(ack.kind, 'ack');
    // Acknowledged once durable in the journal; applied right after.
    await eventually(() => existsSync(join(root, 'data/log')) && readFileSync(join(root, 'data/log'), 'utf8') === 'rec1', { timeoutMs: 2000, what: 'batch applied' });

    const next = await MirrorClient.open('127.0.0.1', p, 4, { tls: tlsOf(certs, 'n2') });
    t.after(() => next.close());
    const w2 = await next.request({ kind: 'hello', group: 'g', source: 'n2' });
    assert.deepEqual(w2.kind === 'welcome' ? w2.manifest.map((e) => [e.path, e.size]) : null, [['log', 4]]);
    // The old active (epoch 3) is now refused, whether on its old connection or a new one.
    await assert.rejects(old.request({ kind: 'batch', ops: [{ op: 'write', path: 'log', offset: 4, len: 4 }] }, [Buffer.from('rec2')]));
    const again = await MirrorClient.open('127.0.0.1', p, 3, { tls: tlsOf(certs, 'n1') });
    t.after(() => again.close());
    await expectCode(again.request({ kind: 'hello', group: 'g', source: 'n1' }), 'HA_MIRROR_STALE_EPOCH');
    assert.equal(readFileSync(join(root, 'data/log'), 'utf8'), 'rec1');
    assert.equal(rcv.status().epoch, 4);
    assert.ok(events.some((e) => e.kind === 'refused' && e.code === 'HA_MIRROR_STALE_EPOCH'));
  });
});
