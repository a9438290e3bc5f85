import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { WatchEvent } from '../../src/coord/coordinator.js';
import { KvStore, MemoryCoordinator, StoreSnapshotSchema, type StoreRecord } from '../../src/coord/memory/index.js';
import { isClusterError } from '../../src/domain/errors.js';
import { parseRevision } from '../../src/domain/ids.js';
import { ManualClock } from '../../src/platform/clock.js';
import { expectCode } from '../support/util.js';


function manual(historyLimit?: number): { clock: ManualClock; coord: MemoryCoordinator } {
  const clock = new ManualClock();
  const coord = new MemoryCoordinator(historyLimit === undefined ? { clock } : { clock, historyLimit });
  return { clock, coord };
}

describe('MemoryCoordinator on a manual clock', () => {
  test('a lease expires exactly at its TTL after the last renewal', async () => {
    const { clock, coord } = manual();
    const lease = await coord.grantLease(1000);
    await coord.put('/k', 'v', { lease: lease.id });
    clock.advance(999);
    assert.equal((await coord.get('/k'))?.value, 'v');
    assert.deepEqual(await coord.renewLease(lease.id), { ok: true, ttlMs: 1000 });
    clock.advance(999);
    assert.equal((await coord.get('/k'))?.value, 'v');
    clock.advance(1);
    assert.equal(await coord.get('/k'), undefined);
    assert.deepEqual(await coord.renewLease(lease.id), { ok: false });
  });

  test('expired leases end in deadline order, each lease at its own revision', async () => {
    const { clock, coord } = manual();
    const late = await coord.grantLease(300);
    const early = await coord.grantLease(100);
    await coord.put('/a', '1', { lease: late.id });
    await coord.put('/b', '2', { lease: early.id });
    await coord.put('/c', '3', { lease: late.id });
    const from = (await coord.list('/')).revision;
    clock.advance(500);
    coord.expireLeases();
    const seen: WatchEvent[] = [];
    for await (const batch of coord.watch('/', from)) {
      seen.push(...batch);
      if (seen.length >= 3) break;
    }
    assert.deepEqual(
      seen.map((e) => (e.kind === 'delete' ? [e.key, e.modRevision] : ['put?', 0])),
      [
        ['/b', from + 1],
        ['/a', from + 2],
        ['/c', from + 2],
      ],
    );
  });

  test('a watcher sees expiry when expireLeases runs, with no other traffic', async () => {
    const { clock, coord } = manual();
    const lease = await coord.grantLease(100);
    const r = await coord.put('/s', 'x', { lease: lease.id });
    const it = coord.watch('/', r)[Symbol.asyncIterator]();
    const next = it.next();
    clock.advance(100);
    coord.expireLeases();
    const res = await next;
    assert.equal(res.done, false);
    assert.deepEqual(res.value, [{ kind: 'delete', key: '/s', modRevision: r + 1 }]);
    await it.return?.();
  });

  test('a watcher that stops reading is cut off with HA_COORD_COMPACTED instead of buffering forever', async () => {
    const { coord } = manual(5);
    const it = coord.watch('/', parseRevision(0))[Symbol.asyncIterator]();
    await coord.put('/k', '0');
    assert.equal((await it.next()).done, false);
    for (let i = 1; i <= 8; i++) await coord.put('/k', String(i));
    await expectCode(it.next(), 'HA_COORD_COMPACTED');
  });

  test('history keeps exactly historyLimit revisions', async () => {
    const { coord } = manual(5);
    for (let i = 1; i <= 8; i++) await coord.put('/k', String(i)); // revisions 1..8, keeps 4..8
    await expectCode(coord.watch('/', parseRevision(2))[Symbol.asyncIterator]().next(), 'HA_COORD_COMPACTED');
    const it = coord.watch('/', parseRevision(3))[Symbol.asyncIterator]();
    const first = await it.next();
    const batch: readonly WatchEvent[] = first.done === true ? [] : first.value;
    assert.deepEqual(
      batch.map((e) => (e.kind === 'put' ? e.kv.value : '')),
      ['4', '5', '6', '7', '8'],
    );
    await it.return?.();
  });
});

describe('MemoryCoordinator fault injection', () => {
  test('while unavailable every call fails and open watches end with HA_COORD_UNAVAILABLE', async () => {
    const { clock, coord } = manual();
    const lease = await coord.grantLease(1000);
    await coord.put('/k', 'v', { lease: lease.id });
    const r = (await coord.list('/')).revision;
    const it = coord.watch('/', r)[Symbol.asyncIterator]();
    const pending = it.next();
    coord.setUnavailable(true);
    await expectCode(pending, 'HA_COORD_UNAVAILABLE');
    await expectCode(coord.get('/k'), 'HA_COORD_UNAVAILABLE');
    await expectCode(coord.put('/k', 'w'), 'HA_COORD_UNAVAILABLE');
    await expectCode(coord.renewLease(lease.id), 'HA_COORD_UNAVAILABLE');
    await expectCode(coord.watch('/', r)[Symbol.asyncIterator]().next(), 'HA_COORD_UNAVAILABLE');
    // The store keeps time while we cannot reach it: the lease expires behind our back.
    clock.advance(1000);
    coord.expireLeases();
    coord.setUnavailable(false);
    assert.equal(await coord.get('/k'), undefined);
    assert.deepEqual(await coord.renewLease(lease.id), { ok: false });
  });

  test('coordinators sharing one store are made unavailable one at a time', async () => {
    const { clock, coord: n1 } = manual();
    const n2 = new MemoryCoordinator({ store: n1.store });
    const lease = await n2.grantLease(1000);
    await n2.put('/nodes/n2', 'up', { lease: lease.id });
    n2.setUnavailable(true);
    await expectCode(n2.renewLease(lease.id), 'HA_COORD_UNAVAILABLE');
    assert.equal((await n1.get('/nodes/n2'))?.value, 'up');
    clock.advance(1000);
    assert.equal(await n1.get('/nodes/n2'), undefined, 'the partitioned node lost its lease');
    n2.setUnavailable(false);
    assert.deepEqual(await n2.renewLease(lease.id), { ok: false });
    await n2.close();
    assert.equal(await n1.put('/k', 'still served'), (await n1.list('/')).revision);
  });

  test('close ends open watches cleanly and refuses later calls', async () => {
    const { coord } = manual();
    const it = coord.watch('/', parseRevision(0))[Symbol.asyncIterator]();
    const pending = it.next();
    await coord.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await expectCode(coord.get('/k'), 'HA_COORD_UNAVAILABLE');
  });
});

describe('KvStore records, replay and snapshots', () => {
  test('replaying the persisted records rebuilds the same state', () => {
    const clock = new ManualClock();
    const records: StoreRecord[] = [];
    const a = new KvStore({ clock, persist: (r) => records.push(r) });
    const l1 = a.grantLease(500);
    const l2 = a.grantLease(5000);
    a.put('/a', '1', l1.id);
    a.put('/b', '2', l2.id);
    a.txn([{ key: '/c', modRevision: 'absent' }], [
      { kind: 'put', key: '/c', value: '3' },
      { kind: 'delete', key: '/a' },
    ]);
    a.put('/d', '4', l1.id);
    clock.advance(500);
    a.expireLeases();
    assert.equal(a.get('/d'), undefined);

    const b = new KvStore({ clock });
    for (const r of records) b.replay(r);
    assert.deepEqual(b.snapshot(), a.snapshot());
  });

  test('a snapshot restores keys, revision, history and leases (with a fresh TTL)', () => {
    const clock = new ManualClock();
    const a = new KvStore({ clock, historyLimit: 3 });
    const lease = a.grantLease(1000);
    a.put('/x', '1', lease.id);
    a.put('/y', '2');
    a.put('/y', '3');
    a.delete('/y');
    clock.advance(900);
    const snap = StoreSnapshotSchema.parse(JSON.parse(JSON.stringify(a.snapshot())));

    const b = new KvStore({ clock, historyLimit: 3 });
    b.restore(snap);
    assert.deepEqual(b.list('/'), a.list('/'));
    assert.deepEqual(b.changesSince('/', 1), a.changesSince('/', 1));
    assert.throws(() => b.changesSince('/', 0), (e: unknown) => isClusterError(e, 'HA_COORD_COMPACTED'));
    // 900 ms of the lease had passed; the restored one starts over.
    clock.advance(500);
    assert.equal(a.get('/x'), undefined);
    assert.equal(b.get('/x')?.value, '1');
    // Lease ids keep counting from where the snapshot was.
    assert.notEqual(b.grantLease(10).id, lease.id);
  });

  test('a failing persist leaves the state untouched', () => {
    const clock = new ManualClock();
    let fail = false;
    const store = new KvStore({
      clock,
      persist: () => {
        if (fail) throw new Error('disk full');
      },
    });
    store.put('/k', '1');
    fail = true;
    assert.throws(() => store.put('/k', '2'), /disk full/);
    assert.throws(() => store.grantLease(100), /disk full/);
    fail = false;
    assert.equal(store.get('/k')?.value, '1');
    assert.equal(store.currentRevision(), 1);
    assert.equal(store.leaseCount(), 0);
  });

  test('a txn touching one key twice is refused', () => {
    const store = new KvStore({ clock: new ManualClock() });
    assert.throws(
      () =>
        store.txn([], [
          { kind: 'put', key: '/k', value: '1' },
          { kind: 'delete', key: '/k' },
        ]),
      (e: unknown) => isClusterError(e, 'HA_BAD_REQUEST'),
    );
    assert.equal(store.currentRevision(), 0);
  });
});
