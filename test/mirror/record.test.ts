import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { putMirrorRecord } from '../../src/agent/mirrors.js';
import type { Compare, Coordinator, TxnOp } from '../../src/coord/coordinator.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { parseGroupId, parseNodeId, parseResourceId } from '../../src/domain/ids.js';
import type { MirrorSyncRecord } from '../../src/domain/state.js';
import { ManualClock } from '../../src/platform/clock.js';
import { expectCode } from '../support/util.js';

/**
 * The mirror record is what lets a standby be promoted (sync mode): a stale record put back over a
 * newer one could list a standby as in sync after it was removed. Writes are compare-and-swap and
 * newest-only; these cases try to put an older record over a newer one.
 */

const KEY = '/halo/t/mirror/db/data';
const rec = (epoch: number, updatedAt: number, inSync: readonly string[]): MirrorSyncRecord => ({
  group: parseGroupId('db'),
  resource: parseResourceId('data'),
  epoch,
  node: parseNodeId('n1'),
  mode: 'sync',
  inSync: inSync.map(parseNodeId),
  totalBytes: 0,
  standbys: [],
  updatedAt,
});
const stored = async (coord: Coordinator): Promise<MirrorSyncRecord | undefined> => {
  const kv = await coord.get(KEY);
  return kv ? (JSON.parse(kv.value) as MirrorSyncRecord) : undefined;
};

describe('mirror record writes (newest only)', () => {
  test('a first record is written; a newer one replaces it; an older one of the same epoch does not', async () => {
    const coord = new MemoryCoordinator({ clock: new ManualClock() });
    assert.equal(await putMirrorRecord(coord, KEY, rec(3, 1000, ['n2'])), 'written');
    assert.equal(await putMirrorRecord(coord, KEY, rec(3, 2000, [])), 'written');
    assert.equal(await putMirrorRecord(coord, KEY, rec(3, 1500, ['n2'])), 'superseded');
    assert.deepEqual((await stored(coord))?.inSync, [], 'the standby removed from the in-sync set stays removed');
    assert.equal((await stored(coord))?.updatedAt, 2000);
  });

  test('a record of an older epoch is refused with HA_MIRROR_STALE_EPOCH and changes nothing', async () => {
    const coord = new MemoryCoordinator({ clock: new ManualClock() });
    await putMirrorRecord(coord, KEY, rec(4, 1000, []));
    await expectCode(putMirrorRecord(coord, KEY, rec(3, 9000, ['n2', 'n3'])), 'HA_MIRROR_STALE_EPOCH');
    assert.equal((await stored(coord))?.epoch, 4);
    assert.deepEqual((await stored(coord))?.inSync, []);
  });

  test('a newer record landing between the read and the write is not overwritten (compare-and-swap, re-read)', async () => {
    const inner = new MemoryCoordinator({ clock: new ManualClock() });
    await putMirrorRecord(inner, KEY, rec(5, 1000, ['n2']));
    let raced = false;
    // Another write lands right before our txn: e.g. a put of this node that timed out earlier.
    const coord = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'txn') {
          return async (compares: readonly Compare[], ops: readonly TxnOp[]) => {
            if (!raced) {
              raced = true;
              await target.put(KEY, JSON.stringify(rec(5, 3000, [])));
            }
            return await target.txn(compares, ops);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    assert.equal(await putMirrorRecord(coord, KEY, rec(5, 2000, ['n2'])), 'superseded');
    assert.ok(raced);
    assert.deepEqual((await stored(inner))?.inSync, []);
    assert.equal((await stored(inner))?.updatedAt, 3000);
  });
});
