import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MirrorsResponseSchema } from '../../src/api/schemas.js';
import { renderMirrors } from '../../src/cli/views.js';
import { parseResourceId } from '../../src/domain/ids.js';
import type { MirrorSyncRecord } from '../../src/domain/state.js';
import { harness, json, keys, n1, n2, n3, web } from './fixtures.js';

const data = parseResourceId('data');
/** ManualClock(0)'s wall clock starts here. */
const W = 1_700_000_000_000;

function rec(over: Partial<MirrorSyncRecord> = {}): MirrorSyncRecord {
  return {
    group: web,
    resource: data,
    epoch: 4,
    node: n1,
    mode: 'sync',
    inSync: [n2],
    totalBytes: 1000,
    standbys: [
      { node: n2, state: 'synced', pendingBytes: 0, behindSinceAt: null, lagMs: 0, lastAckAt: W + 900, brokeAt: null, resync: null },
      { node: n3, state: 'syncing', pendingBytes: 250, behindSinceAt: W + 700, lagMs: 300, lastAckAt: W + 800, brokeAt: null, resync: { doneBytes: 400, totalBytes: 1000, etaMs: 1500 } },
    ],
    updatedAt: W + 1000,
    ...over,
  };
}

describe('GET /v1/mirrors and halo mirror status', () => {
  test('each published record with its derived state, diff % and resync progress', async () => {
    const h = await harness();
    try {
      h.clock.advance(1000);
      await h.coord.put(keys.mirror(web, data), JSON.stringify(rec()));
      const res = await h.app.inject({ method: 'GET', url: '/v1/mirrors' });
      assert.equal(res.statusCode, 200);
      const body = MirrorsResponseSchema.parse(json(res.body));
      assert.equal(body.mirrors.length, 1);
      const m = body.mirrors[0];
      assert.ok(m);
      assert.equal(m.state, 'syncing', 'n3 is connected and catching up');
      assert.equal(m.diffPercent, 25);
      const table = renderMirrors(body, W + 1000);
      assert.match(table, /web\/data\s+sync syncing\s+n1 @4\s+25%\s+n2 \(in sync\)\s+synced/);
      assert.match(table, /n3\s+syncing\s+300ms\s+250\s+40% eta 1\.5 s/);
    } finally {
      await h.close();
    }
  });

  test('a record not refreshed for 30 s is stale; no record says so', async () => {
    const h = await harness();
    try {
      const empty = MirrorsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/mirrors' })).body));
      assert.match(renderMirrors(empty, 0), /no mirror has published/);
      await h.coord.put(keys.mirror(web, data), JSON.stringify(rec({ updatedAt: W })));
      h.clock.advance(31_000);
      const body = MirrorsResponseSchema.parse(json((await h.app.inject({ method: 'GET', url: '/v1/mirrors' })).body));
      assert.equal(body.mirrors[0]?.state, 'stale');
    } finally {
      await h.close();
    }
  });
});
