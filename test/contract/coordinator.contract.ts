import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as realSleep } from 'node:timers/promises';
import type { Coordinator, WatchEvent } from '../../src/coord/coordinator.js';
import type { Revision } from '../../src/domain/ids.js';
import { expectCode } from '../support/util.js';

/**
 * The behaviour every Coordinator backend must show. It runs unchanged against memory (system and
 * manual clock), embedded and etcd, so it assumes nothing a backend may legitimately differ in:
 * no absolute revision numbers (only order and equality), no millisecond-precise lease expiry
 * (a backend may round TTLs up and expire a little late), and no shared state between tests
 * (each test works under its own random prefix).
 */
export interface ContractHarness {
  readonly coord: Coordinator;
  /**
   * Move the backend's time forward (manual clock) and let it act on it (expire leases). Without it
   * the suite waits in real time.
   */
  readonly advance?: (ms: number) => Promise<void>;
  /** Set when the backend keeps only this many revisions of history; enables the compaction test. */
  readonly historyLimit?: number;
  readonly cleanup: () => Promise<void>;
}

const LEASE_TTL_MS = 1000;
/** How late past its TTL a backend may expire a lease (etcd checks expiry in coarse steps). */
const EXPIRY_SLACK_MS = 5000;
const WATCH_LIMIT_MS = 5000;

export function coordinatorContract(name: string, make: () => Promise<ContractHarness>): void {
  const withCoord = async (fn: (h: ContractHarness, p: string) => Promise<void>): Promise<void> => {
    const h = await make();
    try {
      await fn(h, `/contract/${randomBytes(6).toString('hex')}/`);
    } finally {
      await h.cleanup();
    }
  };

  describe(`Coordinator contract: ${name}`, () => {
    describe('keys', () => {
      test('get of an absent key is undefined', () =>
        withCoord(async ({ coord }, p) => {
          assert.equal(await coord.get(`${p}nothing`), undefined);
        }));

      test('put then get: create/mod revision, version, no lease', () =>
        withCoord(async ({ coord }, p) => {
          const r1 = await coord.put(`${p}k`, 'one');
          assert.deepEqual(await coord.get(`${p}k`), {
            key: `${p}k`,
            value: 'one',
            createRevision: r1,
            modRevision: r1,
            version: 1,
            lease: null,
          });
          const r2 = await coord.put(`${p}k`, 'two');
          assert.ok(r2 > r1, `second put revision ${r2} must exceed ${r1}`);
          assert.deepEqual(await coord.get(`${p}k`), {
            key: `${p}k`,
            value: 'two',
            createRevision: r1,
            modRevision: r2,
            version: 2,
            lease: null,
          });
        }));

      test('values round-trip exactly (empty, unicode, JSON, large)', () =>
        withCoord(async ({ coord }, p) => {
          const values = ['', 'héllo ✓ 日本', JSON.stringify({ a: [1, 2], b: 'x"y' }), 'z'.repeat(100_000)];
          for (const [i, v] of values.entries()) await coord.put(`${p}v${i}`, v);
          for (const [i, v] of values.entries()) assert.equal((await coord.get(`${p}v${i}`))?.value, v);
        }));

      test('list returns the keys under a prefix sorted, at one revision', () =>
        withCoord(async ({ coord }, p) => {
          await coord.put(`${p}dir/c`, '3');
          await coord.put(`${p}dir/a`, '1');
          const last = await coord.put(`${p}dir/b`, '2');
          await coord.put(`${p}dirx`, 'outside');
          await coord.put(`${p}other/a`, 'outside');
          const { items, revision } = await coord.list(`${p}dir/`);
          assert.deepEqual(
            items.map((kv) => [kv.key, kv.value]),
            [
              [`${p}dir/a`, '1'],
              [`${p}dir/b`, '2'],
              [`${p}dir/c`, '3'],
            ],
          );
          assert.ok(revision > last, `list revision ${revision} must include the later writes (> ${last})`);
          const empty = await coord.list(`${p}none/`);
          assert.deepEqual(empty.items, []);
          assert.ok(empty.revision >= revision);
        }));

      test('delete removes a key; deleting an absent key changes nothing', () =>
        withCoord(async ({ coord }, p) => {
          const r1 = await coord.put(`${p}k`, 'v');
          const r2 = await coord.delete(`${p}k`);
          assert.ok(r2 > r1);
          assert.equal(await coord.get(`${p}k`), undefined);
          const before = (await coord.list(p)).revision;
          const r3 = await coord.delete(`${p}k`);
          const after = (await coord.list(p)).revision;
          assert.ok(r3 >= before && r3 <= after, `no-op delete returned ${r3}, store was at ${before}..${after}`);
          // Recreated keys start over.
          const r4 = await coord.put(`${p}k`, 'again');
          const kv = await coord.get(`${p}k`);
          assert.equal(kv?.createRevision, r4);
          assert.equal(kv?.version, 1);
        }));

      test('deletePrefix removes exactly the keys under the prefix and counts them', () =>
        withCoord(async ({ coord }, p) => {
          await coord.put(`${p}d/a`, '1');
          await coord.put(`${p}d/b`, '2');
          await coord.put(`${p}d/c/deep`, '3');
          await coord.put(`${p}dd`, 'keep');
          await coord.put(`${p}e/a`, 'keep');
          assert.equal(await coord.deletePrefix(`${p}d/`), 3);
          assert.deepEqual(
            (await coord.list(p)).items.map((kv) => kv.key),
            [`${p}dd`, `${p}e/a`],
          );
          assert.equal(await coord.deletePrefix(`${p}d/`), 0);
        }));
    });

    describe('txn', () => {
      test('absent compare: creates once, then reports the current revision', () =>
        withCoord(async ({ coord }, p) => {
          const k = `${p}lock`;
          const first = await coord.txn([{ key: k, modRevision: 'absent' }], [{ kind: 'put', key: k, value: 'me' }]);
          assert.equal(first.ok, true);
          if (!first.ok) return;
          const kv = await coord.get(k);
          assert.equal(kv?.modRevision, first.revision);
          assert.equal(kv?.value, 'me');
          const second = await coord.txn([{ key: k, modRevision: 'absent' }], [{ kind: 'put', key: k, value: 'you' }]);
          assert.deepEqual(second, { ok: false, key: k, current: first.revision });
          assert.equal((await coord.get(k))?.value, 'me');
        }));

      test('stale modRevision fails and writes nothing; current one succeeds', () =>
        withCoord(async ({ coord }, p) => {
          const k = `${p}k`;
          const r1 = await coord.put(k, 'a');
          const r2 = await coord.put(k, 'b');
          const stale = await coord.txn([{ key: k, modRevision: r1 }], [{ kind: 'put', key: k, value: 'c' }]);
          assert.deepEqual(stale, { ok: false, key: k, current: r2 });
          assert.equal((await coord.get(k))?.value, 'b');
          const fresh = await coord.txn([{ key: k, modRevision: r2 }], [{ kind: 'put', key: k, value: 'c' }]);
          assert.equal(fresh.ok, true);
          assert.equal((await coord.get(k))?.value, 'c');
          // Comparing an absent key against a revision fails with 'absent'.
          const gone = await coord.txn([{ key: `${p}missing`, modRevision: r2 }], []);
          assert.deepEqual(gone, { ok: false, key: `${p}missing`, current: 'absent' });
        }));

      test('several ops apply at one revision, all or nothing', () =>
        withCoord(async ({ coord }, p) => {
          const rb = await coord.put(`${p}b`, 'old');
          const start = (await coord.list(p)).revision;
          const res = await coord.txn(
            [
              { key: `${p}a`, modRevision: 'absent' },
              { key: `${p}b`, modRevision: rb },
            ],
            [
              { kind: 'put', key: `${p}a`, value: 'A' },
              { kind: 'delete', key: `${p}b` },
              { kind: 'put', key: `${p}c`, value: 'C' },
            ],
          );
          assert.equal(res.ok, true);
          if (!res.ok) return;
          assert.ok(res.revision > start);
          assert.equal((await coord.get(`${p}a`))?.modRevision, res.revision);
          assert.equal((await coord.get(`${p}c`))?.modRevision, res.revision);
          assert.equal(await coord.get(`${p}b`), undefined);

          // The first compare holds, the second does not: nothing at all is written.
          const before = (await coord.list(p)).revision;
          const failed = await coord.txn(
            [
              { key: `${p}c`, modRevision: res.revision },
              { key: `${p}a`, modRevision: 'absent' },
            ],
            [
              { kind: 'put', key: `${p}x`, value: 'X' },
              { kind: 'delete', key: `${p}c` },
            ],
          );
          assert.deepEqual(failed, { ok: false, key: `${p}a`, current: res.revision });
          assert.equal(await coord.get(`${p}x`), undefined);
          assert.equal((await coord.get(`${p}c`))?.value, 'C');
          assert.equal((await coord.list(p)).revision, before);
        }));

      test('an empty txn succeeds without writing; deleting an absent key is fine', () =>
        withCoord(async ({ coord }, p) => {
          const r = await coord.put(`${p}k`, 'v');
          const res = await coord.txn([{ key: `${p}k`, modRevision: r }], []);
          assert.equal(res.ok, true);
          assert.equal((await coord.get(`${p}k`))?.version, 1);
          // Deleting an absent key inside a txn is not an error and leaves the others alone.
          const del = await coord.txn([], [
            { kind: 'delete', key: `${p}absent` },
            { kind: 'put', key: `${p}k2`, value: 'w' },
          ]);
          assert.equal(del.ok, true);
          assert.deepEqual(
            (await coord.list(p)).items.map((kv) => kv.key),
            [`${p}k`, `${p}k2`],
          );
        }));
    });

    describe('leases', () => {
      test('grant returns an id and at least the requested TTL', () =>
        withCoord(async ({ coord }) => {
          const lease = await coord.grantLease(LEASE_TTL_MS);
          assert.equal(typeof lease.id, 'string');
          assert.ok(lease.id.length > 0);
          assert.ok(lease.ttlMs >= LEASE_TTL_MS, `granted ${lease.ttlMs} < requested ${LEASE_TTL_MS}`);
          await coord.revokeLease(lease.id);
        }));

      test('keys bound to a lease vanish after its TTL without renewal; others stay', () =>
        withCoord(async (h, p) => {
          const { coord } = h;
          const lease = await coord.grantLease(LEASE_TTL_MS);
          await coord.put(`${p}s/a`, '1', { lease: lease.id });
          await coord.put(`${p}s/b`, '2', { lease: lease.id });
          await coord.put(`${p}s/keep`, '3');
          assert.equal((await coord.get(`${p}s/a`))?.lease, lease.id);
          await passTime(h, lease.ttlMs / 2);
          assert.equal((await coord.list(`${p}s/`)).items.length, 3, 'keys must survive half the TTL');
          await waitUntil(h, async () => (await coord.list(`${p}s/`)).items.length === 1, lease.ttlMs + EXPIRY_SLACK_MS);
          assert.deepEqual(
            (await coord.list(`${p}s/`)).items.map((kv) => kv.key),
            [`${p}s/keep`],
          );
          assert.deepEqual(await coord.renewLease(lease.id), { ok: false });
          await expectCode(coord.put(`${p}s/a`, 'late', { lease: lease.id }), 'HA_LEASE_LOST');
        }));

      test('renewal keeps the keys alive past several TTLs', () =>
        withCoord(async (h, p) => {
          const { coord } = h;
          const lease = await coord.grantLease(LEASE_TTL_MS);
          await coord.put(`${p}alive`, 'yes', { lease: lease.id });
          for (let i = 0; i < 5; i++) {
            await passTime(h, lease.ttlMs * 0.4);
            const renewal = await coord.renewLease(lease.id);
            assert.equal(renewal.ok, true, `renewal ${i} failed`);
            if (renewal.ok) assert.ok(renewal.ttlMs >= LEASE_TTL_MS);
            assert.equal((await coord.get(`${p}alive`))?.value, 'yes', `key lost after renewal ${i}`);
          }
          await coord.revokeLease(lease.id);
        }));

      test('revoke deletes the keys at once; revoking again is a no-op', () =>
        withCoord(async ({ coord }, p) => {
          const lease = await coord.grantLease(LEASE_TTL_MS * 30);
          await coord.put(`${p}a`, '1', { lease: lease.id });
          await coord.put(`${p}b`, '2', { lease: lease.id });
          await coord.revokeLease(lease.id);
          assert.deepEqual((await coord.list(p)).items, []);
          assert.deepEqual(await coord.renewLease(lease.id), { ok: false });
          await coord.revokeLease(lease.id);
        }));

      test('put or txn with a lease that no longer exists is HA_LEASE_LOST and writes nothing', () =>
        withCoord(async ({ coord }, p) => {
          const lease = await coord.grantLease(LEASE_TTL_MS * 30);
          await coord.revokeLease(lease.id);
          await expectCode(coord.put(`${p}k`, 'v', { lease: lease.id }), 'HA_LEASE_LOST');
          await expectCode(
            coord.txn(
              [{ key: `${p}k`, modRevision: 'absent' }],
              [
                { kind: 'put', key: `${p}other`, value: 'v' },
                { kind: 'put', key: `${p}k`, value: 'v', lease: lease.id },
              ],
            ),
            'HA_LEASE_LOST',
          );
          assert.deepEqual((await coord.list(p)).items, []);
        }));

      test('re-putting a leased key without a lease detaches it from the lease', () =>
        withCoord(async ({ coord }, p) => {
          const lease = await coord.grantLease(LEASE_TTL_MS * 30);
          await coord.put(`${p}k`, 'leased', { lease: lease.id });
          await coord.put(`${p}k`, 'plain');
          assert.equal((await coord.get(`${p}k`))?.lease, null);
          await coord.revokeLease(lease.id);
          assert.equal((await coord.get(`${p}k`))?.value, 'plain');
        }));
    });

    describe('watch', () => {
      test('sees puts and deletes under the prefix, in order, from history and live', () =>
        withCoord(async ({ coord }, p) => {
          const from = (await coord.list(p)).revision;
          const revs: Revision[] = [];
          revs.push(await coord.put(`${p}w/a`, '1'));
          revs.push(await coord.put(`${p}w/b`, '2'));
          await coord.put(`${p}elsewhere`, 'ignored');
          revs.push(await coord.put(`${p}w/a`, '3'));
          revs.push(await coord.delete(`${p}w/b`));
          const expected = [
            ['put', `${p}w/a`, '1', revs[0]],
            ['put', `${p}w/b`, '2', revs[1]],
            ['put', `${p}w/a`, '3', revs[2]],
            ['delete', `${p}w/b`, undefined, revs[3]],
          ];
          // Started after the writes: replayed from history.
          const replayed = await collect(coord, `${p}w/`, from, expected.length);
          assert.deepEqual(replayed.map(summary), expected);
          const put = replayed[2];
          assert.equal(put?.kind, 'put');
          if (put?.kind === 'put') {
            assert.equal(put.kv.createRevision, revs[0]);
            assert.equal(put.kv.version, 2);
          }

          // Started before the writes: delivered live.
          const liveFrom = (await coord.list(p)).revision;
          const live = collect(coord, `${p}w/`, liveFrom, 3);
          const r1 = await coord.put(`${p}w/c`, '4');
          await coord.put(`${p}other`, 'ignored');
          const tx = await coord.txn([], [
            { kind: 'delete', key: `${p}w/a` },
            { kind: 'put', key: `${p}w/d`, value: '5' },
          ]);
          assert.equal(tx.ok, true);
          const txRev = tx.ok ? tx.revision : undefined;
          assert.deepEqual((await live).map(summary), [
            ['put', `${p}w/c`, '4', r1],
            ['delete', `${p}w/a`, undefined, txRev],
            ['put', `${p}w/d`, '5', txRev],
          ]);
        }));

      test('sees the deletes caused by lease expiry', () =>
        withCoord(async (h, p) => {
          const { coord } = h;
          const lease = await coord.grantLease(LEASE_TTL_MS);
          const r = await coord.put(`${p}session`, 'n1', { lease: lease.id });
          const ac = new AbortController();
          let done = false;
          const events = collect(coord, `${p}session`, r, 1, ac.signal).finally(() => {
            done = true;
          });
          await waitUntil(h, async () => done, lease.ttlMs + EXPIRY_SLACK_MS);
          ac.abort();
          const got = await events;
          assert.equal(got.length, 1);
          assert.equal(got[0]?.kind, 'delete');
          assert.equal(await coord.get(`${p}session`), undefined);
        }));

      test('ends without error when its signal aborts', () =>
        withCoord(async ({ coord }, p) => {
          const from = (await coord.list(p)).revision;
          // Already aborted: ends at once.
          const pre = new AbortController();
          pre.abort();
          const it0 = coord.watch(p, from, { signal: pre.signal })[Symbol.asyncIterator]();
          assert.deepEqual(await within(it0.next(), WATCH_LIMIT_MS), { done: true, value: undefined });

          // Waiting for changes: abort wakes it and ends it.
          const ac = new AbortController();
          const it = coord.watch(p, from, { signal: ac.signal })[Symbol.asyncIterator]();
          const pending = it.next();
          ac.abort();
          assert.deepEqual(await within(pending, WATCH_LIMIT_MS), { done: true, value: undefined });

          // After delivering a batch.
          const ac2 = new AbortController();
          const it2 = coord.watch(p, from, { signal: ac2.signal })[Symbol.asyncIterator]();
          await coord.put(`${p}x`, '1');
          const first = await within(it2.next(), WATCH_LIMIT_MS);
          assert.equal(first.done, false);
          ac2.abort();
          assert.deepEqual(await within(it2.next(), WATCH_LIMIT_MS), { done: true, value: undefined });
        }));

      test('breaking out of the loop releases the watch', () =>
        withCoord(async ({ coord }, p) => {
          const from = (await coord.list(p)).revision;
          await coord.put(`${p}a`, '1');
          await coord.put(`${p}b`, '2');
          let batches = 0;
          for await (const batch of coord.watch(p, from, { signal: AbortSignal.timeout(WATCH_LIMIT_MS) })) {
            batches++;
            assert.ok(batch.length > 0, 'batches are never empty');
            break;
          }
          assert.equal(batches, 1);
          assert.equal((await coord.get(`${p}a`))?.value, '1');
        }));

      test('history older than the retained window is HA_COORD_COMPACTED', (t) =>
        withCoord(async ({ coord, historyLimit }, p) => {
          if (historyLimit === undefined) {
            t.skip('backend does not expose a small history limit');
            return;
          }
          const from = (await coord.list(p)).revision;
          for (let i = 0; i < historyLimit + 3; i++) await coord.put(`${p}k`, String(i));
          const it = coord.watch(p, from, { signal: AbortSignal.timeout(WATCH_LIMIT_MS) })[Symbol.asyncIterator]();
          await expectCode(it.next(), 'HA_COORD_COMPACTED');
          // Re-list and watch from its revision: works again.
          const { revision } = await coord.list(p);
          const fresh = collect(coord, p, revision, 1);
          const r = await coord.put(`${p}k`, 'after');
          assert.deepEqual((await fresh).map(summary), [['put', `${p}k`, 'after', r]]);
        }));
    });

    describe('abort signals', () => {
      test('every method rejects with the abort reason of an aborted signal, and writes nothing', () =>
        withCoord(async ({ coord }, p) => {
          const ac = new AbortController();
          const reason = new Error('caller gave up');
          ac.abort(reason);
          const signal = ac.signal;
          const lease = await coord.grantLease(LEASE_TTL_MS * 30);
          const calls: [string, () => Promise<unknown>][] = [
            ['get', () => coord.get(`${p}k`, { signal })],
            ['list', () => coord.list(p, { signal })],
            ['put', () => coord.put(`${p}k`, 'v', { signal })],
            ['delete', () => coord.delete(`${p}k`, { signal })],
            ['deletePrefix', () => coord.deletePrefix(p, { signal })],
            ['txn', () => coord.txn([], [{ kind: 'put', key: `${p}k`, value: 'v' }], { signal })],
            ['grantLease', () => coord.grantLease(LEASE_TTL_MS, { signal })],
            ['renewLease', () => coord.renewLease(lease.id, { signal })],
            ['revokeLease', () => coord.revokeLease(lease.id, { signal })],
          ];
          for (const [method, call] of calls) {
            await assert.rejects(call(), (e: unknown) => e === reason, `${method} must reject with the abort reason`);
          }
          assert.deepEqual((await coord.list(p)).items, []);
          assert.equal((await coord.renewLease(lease.id)).ok, true, 'aborted revoke must not have revoked');
          await coord.revokeLease(lease.id);
        }));
    });
  });
}

function summary(e: WatchEvent): [string, string, string | undefined, Revision] {
  return e.kind === 'put' ? ['put', e.kv.key, e.kv.value, e.kv.modRevision] : ['delete', e.key, undefined, e.modRevision];
}

/** Watch until `count` events arrived (or the limit/`signal` ends it) and return what came. */
async function collect(
  coord: Coordinator,
  prefix: string,
  after: Revision,
  count: number,
  signal?: AbortSignal,
): Promise<WatchEvent[]> {
  const limit = AbortSignal.timeout(WATCH_LIMIT_MS + EXPIRY_SLACK_MS);
  const out: WatchEvent[] = [];
  for await (const batch of coord.watch(prefix, after, { signal: signal ? AbortSignal.any([signal, limit]) : limit })) {
    out.push(...batch);
    if (out.length >= count) break;
  }
  return out;
}

/** Let `ms` of the backend's time pass: advance a manual clock, or wait for real. */
async function passTime(h: ContractHarness, ms: number): Promise<void> {
  if (h.advance) await h.advance(ms);
  else await realSleep(ms);
}

/** Poll `check` until it holds, letting backend time pass in steps, for at most `limitMs` of it. */
async function waitUntil(h: ContractHarness, check: () => Promise<boolean>, limitMs: number): Promise<void> {
  const step = h.advance ? 100 : 25;
  for (let waited = 0; waited <= limitMs; waited += step) {
    if (await check()) return;
    await passTime(h, step);
    // Give in-process watchers a turn to see what the step changed.
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.fail(`condition not met within ${limitMs} ms`);
}

async function within<T>(p: Promise<T>, ms: number): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  return await Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timeout.addEventListener('abort', () => reject(new Error(`no answer within ${ms} ms`)), { once: true });
    }),
  ]);
}

