import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync, closeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { randomBytes } from 'node:crypto';
import { MirrorReceiver, type ReceiverEvent } from '../../src/mirror/receiver.js';
import { MirrorSource, type MirrorSourceOptions, type SourceEvent } from '../../src/mirror/source.js';
import { testCerts, tlsOf } from '../support/certs.js';
import { eventually } from '../support/util.js';
import { portBlock, tempDir, treeOf } from './helpers.js';

const port = portBlock(1);

interface Pair {
  readonly src: string;
  readonly dst: string;
  readonly meta: string;
  readonly port: number;
  readonly name: string;
  readonly receiver: MirrorReceiver;
  readonly rEvents: ReceiverEvent[];
}

const certs = await testCerts(['n1', 'sb', 'a', 'b', 'old']);

/**
 * A receiver on `fixed`, or on the next free port of this file's block: a port of the block may
 * still be held by another process (a connection of an earlier test, in TIME_WAIT or not).
 */
async function standby(t: TestContext, root: string, name: string, fixed?: number): Promise<Pair> {
  const dst = join(root, `${name}-data`);
  const meta = join(root, `${name}-meta`);
  const rEvents: ReceiverEvent[] = [];
  for (;;) {
    const p = fixed ?? port();
    const receiver = new MirrorReceiver({ dir: dst, metaDir: meta, host: '127.0.0.1', port: p, tls: tlsOf(certs, name), onEvent: (e) => rEvents.push(e) });
    try {
      await receiver.start();
    } catch (e) {
      await receiver.stop();
      if (fixed === undefined && typeof e === 'object' && e !== null && 'code' in e && e.code === 'EADDRINUSE') continue;
      throw e;
    }
    t.after(() => receiver.stop());
    return { src: join(root, 'src'), dst, meta, port: p, name, receiver, rEvents };
  }
}

function source(t: TestContext, dir: string, standbys: readonly Pick<Pair, 'name' | 'port'>[], extra: Partial<MirrorSourceOptions> = {}): { s: MirrorSource; events: SourceEvent[] } {
  mkdirSync(dir, { recursive: true });
  const events: SourceEvent[] = [];
  const s = new MirrorSource({
    dir,
    group: 'g',
    node: 'n1',
    epoch: 1,
    mode: 'async',
    standbys: standbys.map((b) => ({ name: b.name, host: '127.0.0.1', port: b.port })),
    tls: tlsOf(certs, 'n1'),
    scanIntervalMs: 20,
    onEvent: (e) => events.push(e),
    ...extra,
  });
  s.start();
  t.after(() => s.stop());
  return { s, events };
}

const sameTree = (a: string, b: string) => async () => JSON.stringify(treeOf(a)) === JSON.stringify(treeOf(b));

describe('MirrorSource (async)', { timeout: 60_000 }, () => {
  test('initial sync, then creates, appends, overwrites, truncates, symlinks, renames and removals follow', async (t) => {
    const root = tempDir(t);
    const src = join(root, 'src');
    mkdirSync(join(src, 'sub/deep'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha');
    writeFileSync(join(src, 'sub/deep/big.bin'), randomBytes(300_000));
    const sb = await standby(t, root, 'sb');
    const { s, events } = source(t, src, [sb]);
    await eventually(sameTree(src, sb.dst), { timeoutMs: 5000, what: 'initial sync' });
    await eventually(() => s.status()[0]?.inSync === true && s.status()[0]?.state === 'synced', { timeoutMs: 5000, what: 'in sync' });
    assert.ok(events.some((e) => e.kind === 'resynced'));

    appendFileSync(join(src, 'a.txt'), ' beta');
    const fd = openSync(join(src, 'sub/deep/big.bin'), 'r+');
    writeSync(fd, Buffer.from('PATCH'), 0, 5, 150_000);
    closeSync(fd);
    writeFileSync(join(src, 'new.txt'), 'new');
    symlinkSync('a.txt', join(src, 'link'));
    await eventually(sameTree(src, sb.dst), { timeoutMs: 5000, what: 'changes shipped' });

    renameSync(join(src, 'new.txt'), join(src, 'sub/renamed.txt'));
    writeFileSync(join(src, 'a.txt'), 'x');
    rmSync(join(src, 'sub/deep'), { recursive: true });
    await eventually(sameTree(src, sb.dst), { timeoutMs: 5000, what: 'rename, truncate and removals shipped' });
    assert.equal(s.status()[0]?.lastError, null);
    assert.ok(sb.rEvents.every((e) => e.kind !== 'quarantined'), 'nothing is quarantined on a fresh standby');
  });

  test('a standby that returns gets only what changed (block deltas), with resync progress', async (t) => {
    const root = tempDir(t);
    const src = join(root, 'src');
    mkdirSync(src, { recursive: true });
    const big = randomBytes(4 * 1024 * 1024);
    writeFileSync(join(src, 'big.bin'), big);
    for (let i = 0; i < 20; i++) writeFileSync(join(src, `small-${i}`), `v1-${i}`);
    let sb = await standby(t, root, 'sb');
    const p = sb.port;
    const { s } = source(t, src, [{ name: 'sb', port: p }]);
    await eventually(sameTree(src, sb.dst), { timeoutMs: 10_000, what: 'initial sync' });
    await eventually(() => s.status()[0]?.state === 'synced', { timeoutMs: 5000, what: 'synced' });
    const firstBytes = sb.receiver.status().bytes;
    assert.ok(firstBytes >= big.length, 'the first sync sends the whole file');

    await sb.receiver.stop();
    await eventually(() => s.status()[0]?.state === 'broken', { timeoutMs: 5000, what: 'link broken' });
    const st = s.status()[0];
    assert.equal(st?.inSync, false);
    assert.ok(st?.brokeAt !== null);
    // Change 2 blocks of the big file and one small file while the standby is away.
    const fd = openSync(join(src, 'big.bin'), 'r+');
    writeSync(fd, Buffer.alloc(10, 1), 0, 10, 1000);
    writeSync(fd, Buffer.alloc(10, 2), 0, 10, 3 * 1024 * 1024);
    fsyncSync(fd);
    closeSync(fd);
    writeFileSync(join(src, 'small-3'), 'v2-3');

    sb = await standby(t, root, 'sb', p);
    await eventually(sameTree(src, sb.dst), { timeoutMs: 10_000, what: 'incremental resync' });
    await eventually(() => s.status()[0]?.inSync === true, { timeoutMs: 5000, what: 'in sync again' });
    const sent = sb.receiver.status().bytes;
    assert.ok(sent <= 3 * 64 * 1024, `only changed blocks are sent (sent ${sent} bytes)`);
    assert.ok(sb.rEvents.every((e) => e.kind !== 'quarantined'), 'a standby of the same epoch has nothing quarantined');
  });

  test('two standbys both converge; status reports lag and pending bytes', async (t) => {
    const root = tempDir(t);
    const src = join(root, 'src');
    const a = await standby(t, root, 'a');
    const b = await standby(t, root, 'b');
    const { s } = source(t, src, [a, b]);
    for (let i = 0; i < 50; i++) writeFileSync(join(src, `f${i}`), randomBytes(10_000));
    await eventually(async () => (await sameTree(src, a.dst)()) && (await sameTree(src, b.dst)()), { timeoutMs: 10_000, what: 'both standbys converge' });
    await eventually(() => s.status().every((l) => l.state === 'synced' && l.lagMs === 0 && l.pendingBytes === 0), { timeoutMs: 5000, what: 'synced status' });
    assert.ok(s.takeLagSamples().length > 0);
  });
});

describe('MirrorSource.syncPath (sync primitive)', { timeout: 60_000 }, () => {
  test('resolves only once the standby holds the change durably', async (t) => {
    const root = tempDir(t);
    const src = join(root, 'src');
    const sb = await standby(t, root, 'sb');
    // A long scan interval: only syncPath ships.
    const { s } = source(t, src, [sb], { mode: 'sync', scanIntervalMs: 60_000 });
    await eventually(() => s.status()[0]?.inSync === true, { timeoutMs: 5000, what: 'in sync' });
    const log = join(src, 'log');
    for (let i = 0; i < 50; i++) {
      appendFileSync(log, `record ${i}\n`);
      const held = await s.syncPath(log);
      assert.deepEqual(held, ['sb']);
      // Durable on the standby (its journal) when syncPath returns: a crash now replays it.
      const journal = readFileSync(join(sb.meta, 'journal'));
      const ok = journal.includes(`record ${i}\n`) || (existsSync(join(sb.dst, 'log')) && readFileSync(join(sb.dst, 'log'), 'utf8').endsWith(`record ${i}\n`));
      assert.ok(ok, `record ${i} is durable on the standby when syncPath returns`);
    }
    await sb.receiver.stop();
    assert.equal(readFileSync(join(sb.dst, 'log'), 'utf8').split('\n').length, 51);
  });

  test('a standby that goes away leaves the in-sync set, announced before syncPath returns', async (t) => {
    const root = tempDir(t);
    const src = join(root, 'src');
    const sb = await standby(t, root, 'sb');
    const announced: string[] = [];
    const { s } = source(t, src, [sb], {
      mode: 'sync',
      scanIntervalMs: 60_000,
      syncTimeoutMs: 300,
      beforeOutOfSync: async (n) => {
        announced.push(n);
      },
    });
    await eventually(() => s.status()[0]?.inSync === true, { timeoutMs: 5000, what: 'in sync' });
    await sb.receiver.stop();
    writeFileSync(join(src, 'x'), 'x');
    const held = await s.syncPath(join(src, 'x'));
    assert.deepEqual(held, []);
    assert.deepEqual(announced, ['sb']);
    assert.equal(s.status()[0]?.inSync, false);
  });
});

describe('quarantine', { timeout: 60_000 }, () => {
  test("a returning old active's divergent files are set aside, never merged into the live directory", async (t) => {
    const root = tempDir(t);
    const src = join(root, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'shared'), 'same on both');
    writeFileSync(join(src, 'db'), 'new active version');
    // The old active: it served epoch 1 and wrote things the new active never got.
    const old = await standby(t, root, 'old');
    await old.receiver.replica.markActive(1);
    writeFileSync(join(old.dst, 'shared'), 'same on both');
    writeFileSync(join(old.dst, 'db'), 'old active divergent version');
    writeFileSync(join(old.dst, 'only-on-old'), 'unshipped write');
    // What an old active may hold too: a symlink in a loop, one that leads out, a 1 TiB sparse file
    // (set aside by a move: a copy would read the whole terabyte and fill the disk with its holes).
    symlinkSync('loop', join(old.dst, 'loop'));
    symlinkSync('/etc/hostname', join(old.dst, 'out'));
    writeFileSync(join(old.dst, 'huge'), '');
    truncateSync(join(old.dst, 'huge'), 2 ** 40);
    // The same inside a directory the new active does not have (removed whole by one rmdir).
    mkdirSync(join(old.dst, 'gone', 'deeper'), { recursive: true });
    writeFileSync(join(old.dst, 'gone', 'deeper', 'huge'), '');
    truncateSync(join(old.dst, 'gone', 'deeper', 'huge'), 2 ** 40);
    const { s } = source(t, src, [old], { epoch: 2 });
    await eventually(sameTree(src, old.dst), { timeoutMs: 5000, what: 'old active resynced to the new active' });
    await eventually(() => s.status()[0]?.inSync === true, { timeoutMs: 5000, what: 'in sync' });
    const q = old.rEvents.filter((e) => e.kind === 'quarantined');
    const paths = q.flatMap((e) => (e.kind === 'quarantined' ? e.paths : [])).sort();
    assert.deepEqual(paths, ['db', 'gone/deeper/huge', 'huge', 'loop', 'only-on-old', 'out']);
    const dir = q[0]?.kind === 'quarantined' ? q[0].dir : '';
    assert.equal(readFileSync(join(dir, 'db'), 'utf8'), 'old active divergent version');
    assert.equal(readFileSync(join(dir, 'only-on-old'), 'utf8'), 'unshipped write');
    assert.equal(readlinkSync(join(dir, 'loop')), 'loop');
    assert.equal(readlinkSync(join(dir, 'out')), '/etc/hostname');
    assert.equal(statSync(join(dir, 'huge')).size, 2 ** 40);
    assert.ok(statSync(join(dir, 'huge')).blocks < 16, 'the sparse file is still sparse in quarantine');
    assert.ok(statSync(join(dir, 'gone', 'deeper', 'huge')).blocks < 16, 'the sparse file of a removed directory is moved, not copied');
    assert.ok(!existsSync(join(old.dst, 'only-on-old')));
    assert.equal(old.receiver.status().dataEpoch, 2);
  });
});
