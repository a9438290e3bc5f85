import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WatchEvent } from '../../src/coord/coordinator.js';
import { EmbeddedCoordinator, startCoordinatorServer, type CoordinatorServer } from '../../src/coord/embedded/index.js';
import { parseRevision } from '../../src/domain/ids.js';
import { eventually, expectCode } from '../support/util.js';

const SECRET = 'persistence-test-secret-0123456789abcdef';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'halo-coord-persist-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function start(
  dataDir: string,
  extra: { compactAfterRecords?: number } = {},
): Promise<{ server: CoordinatorServer; coord: EmbeddedCoordinator; stop: () => Promise<void> }> {
  const server = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir, secret: SECRET, ...extra });
  const coord = new EmbeddedCoordinator({ url: server.url, secret: SECRET });
  return {
    server,
    coord,
    stop: async () => {
      await coord.close();
      await server.close();
    },
  };
}



describe('embedded coordinator persistence', () => {
  test('keys, revisions and history survive a restart; revisions continue', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      const r1 = await a.coord.put('/p/a', '1');
      const r2 = await a.coord.put('/p/b', '2');
      const r3 = await a.coord.put('/p/a', '3');
      const r4 = await a.coord.delete('/p/b');
      const before = await a.coord.list('/p/');
      await a.stop();

      const b = await start(dir);
      try {
        const after = await b.coord.list('/p/');
        assert.deepEqual(after, before);
        assert.equal(after.revision, r4);
        assert.deepEqual(await b.coord.get('/p/a'), {
          key: '/p/a',
          value: '3',
          createRevision: r1,
          modRevision: r3,
          version: 2,
          lease: null,
        });
        // History is kept too: a watcher can resume from before the restart.
        const events: WatchEvent[] = [];
        for await (const batch of b.coord.watch('/p/', parseRevision(0), { signal: AbortSignal.timeout(5000) })) {
          events.push(...batch);
          if (events.length >= 4) break;
        }
        assert.deepEqual(
          events.map((e) => (e.kind === 'put' ? [e.kv.key, e.kv.modRevision] : [e.key, e.modRevision])),
          [
            ['/p/a', r1],
            ['/p/b', r2],
            ['/p/a', r3],
            ['/p/b', r4],
          ],
        );
        assert.equal(await b.coord.put('/p/c', '4'), r4 + 1);
      } finally {
        await b.stop();
      }
    }));

  test('a lease survives a restart with a fresh TTL, then expires without renewal', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      const lease = await a.coord.grantLease(400);
      await a.coord.put('/s/n1', 'up', { lease: lease.id });
      await a.stop();

      const b = await start(dir);
      try {
        assert.equal((await b.coord.get('/s/n1'))?.lease, lease.id);
        assert.deepEqual(await b.coord.renewLease(lease.id), { ok: true, ttlMs: 400 });
        await eventually(async () => (await b.coord.get('/s/n1')) === undefined, { timeoutMs: 3000, what: 'the key to vanish' });
        assert.deepEqual(await b.coord.renewLease(lease.id), { ok: false });
        // Lease ids are not reused after a restart.
        const next = await b.coord.grantLease(1000);
        assert.notEqual(next.id, lease.id);
      } finally {
        await b.stop();
      }
    }));

  test('millisecond TTLs: a 200 ms lease expires promptly, not early', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      try {
        const granted = performance.now();
        const lease = await a.coord.grantLease(200);
        assert.equal(lease.ttlMs, 200);
        await a.coord.put('/t/k', 'v', { lease: lease.id });
        await eventually(async () => (await a.coord.get('/t/k')) === undefined, { timeoutMs: 2000, what: 'the key to vanish' });
        assert.ok(performance.now() - granted >= 195, 'lease expired before its TTL');
      } finally {
        await a.stop();
      }
    }));

  test('the log is compacted into a snapshot and a restart still has everything', () =>
    withDir(async (dir) => {
      const a = await start(dir, { compactAfterRecords: 10 });
      const lease = await a.coord.grantLease(60_000);
      for (let i = 0; i < 35; i++) await a.coord.put(`/c/k${i % 7}`, String(i), i % 2 === 0 ? { lease: lease.id } : {});
      const before = await a.coord.list('/c/');
      await a.stop();
      await stat(join(dir, 'snapshot.json'));
      const logLines = (await readFile(join(dir, 'changes.jsonl'), 'utf8')).split('\n').filter((l) => l !== '');
      assert.ok(logLines.length < 10, `log holds ${logLines.length} records after compaction`);

      const b = await start(dir, { compactAfterRecords: 10 });
      try {
        assert.deepEqual(await b.coord.list('/c/'), before);
        assert.equal((await b.coord.renewLease(lease.id)).ok, true);
      } finally {
        await b.stop();
      }
    }));

  test('a torn last line is dropped; damage in the middle refuses to start', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      const r = await a.coord.put('/x/a', '1');
      await a.coord.put('/x/b', '2');
      await a.stop();
      const log = join(dir, 'changes.jsonl');
      await appendFile(log, '{"seq":3,"record":{"kind":"wri');

      const b = await start(dir);
      try {
        assert.equal((await b.coord.list('/x/')).items.length, 2);
        await b.coord.put('/x/c', '3');
      } finally {
        await b.stop();
      }
      const c = await start(dir);
      try {
        assert.deepEqual(
          (await c.coord.list('/x/')).items.map((kv) => kv.value),
          ['1', '2', '3'],
        );
      } finally {
        await c.stop();
      }

      const lines = (await readFile(log, 'utf8')).split('\n');
      lines[0] = '{"seq":1,"record":{"kind":"write","revision":' + String(r) + ',"chan';
      await writeFile(log, lines.join('\n'));
      await expectCode(startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: dir, secret: SECRET }), 'HA_INTERNAL');
    }));
});

describe('embedded coordinator client failures', () => {
  test('a stopped server is HA_COORD_UNAVAILABLE for reads, writes and watches', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      const url = a.server.url;
      await a.coord.put('/k', 'v');
      await a.stop();
      const coord = new EmbeddedCoordinator({ url, requestTimeoutMs: 1000, secret: SECRET });
      try {
        await expectCode(coord.get('/k'), 'HA_COORD_UNAVAILABLE');
        await expectCode(coord.put('/k', 'v2'), 'HA_COORD_UNAVAILABLE');
        await expectCode(coord.grantLease(1000), 'HA_COORD_UNAVAILABLE');
        const it = coord.watch('/', parseRevision(0))[Symbol.asyncIterator]();
        await expectCode(it.next(), 'HA_COORD_UNAVAILABLE');

        // Back on the same address: the same client works again and sees the old data.
        const port = Number(new URL(url).port);
        const again = await startCoordinatorServer({ host: '127.0.0.1', port, dataDir: dir, secret: SECRET });
        try {
          assert.equal((await coord.get('/k'))?.value, 'v');
          await coord.put('/k', 'v2');
          assert.equal((await coord.get('/k'))?.version, 2);
        } finally {
          await again.close();
        }
      } finally {
        await coord.close();
      }
    }));

  test('a client that was connected before a restart recovers on its own', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      const port = Number(new URL(a.server.url).port);
      const coord = new EmbeddedCoordinator({ url: a.server.url, requestTimeoutMs: 1000, secret: SECRET });
      try {
        await coord.put('/k', '1');
        await a.server.close();
        const b = await startCoordinatorServer({ host: '127.0.0.1', port, dataDir: dir, secret: SECRET });
        try {
          assert.equal(await coord.put('/k', '2'), 2);
          assert.equal((await coord.get('/k'))?.value, '2');
        } finally {
          await b.close();
        }
      } finally {
        await coord.close();
        await a.stop();
      }
    }));

  test('no answer in time: a read is HA_COORD_UNAVAILABLE, a write HA_COORD_OUTCOME_UNKNOWN', async () => {
    // A listener that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const silent = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    assert.ok(typeof address === 'object' && address !== null);
    const coord = new EmbeddedCoordinator({ url: `http://127.0.0.1:${address.port}`, requestTimeoutMs: 200, secret: SECRET });
    try {
      await expectCode(coord.get('/k'), 'HA_COORD_UNAVAILABLE');
      await expectCode(coord.put('/k', 'v'), 'HA_COORD_OUTCOME_UNKNOWN');
      const reason = new Error('stop');
      const ac = new AbortController();
      const pending = coord.put('/k', 'v', { signal: ac.signal });
      ac.abort(reason);
      await assert.rejects(pending, (e: unknown) => e === reason);
    } finally {
      await coord.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  test('close() ends an open watch cleanly and refuses later calls', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      try {
        const coord = new EmbeddedCoordinator({ url: a.server.url, secret: SECRET });
        const it = coord.watch('/', parseRevision(0))[Symbol.asyncIterator]();
        const pending = it.next();
        await coord.close();
        assert.deepEqual(await pending, { done: true, value: undefined });
        await expectCode(coord.get('/k'), 'HA_COORD_UNAVAILABLE');
      } finally {
        await a.stop();
      }
    }));

  test('bad request bodies are 400 HA_BAD_REQUEST naming the field', () =>
    withDir(async (dir) => {
      const a = await start(dir);
      const post = async (path: string, body: string): Promise<{ status: number; json: unknown }> => {
        const res = await fetch(`${a.server.url}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
          body,
        });
        return { status: res.status, json: await res.json() };
      };
      try {
        const cases: [string, string, string][] = [
          ['/v1/kv/put', '{"key":"/k"}', 'value'],
          ['/v1/kv/put', '{"key":"","value":"v"}', 'key'],
          ['/v1/kv/put', '{"key":"/k","value":"v","extra":1}', 'extra'],
          ['/v1/kv/txn', '{"compares":[{"key":"/k","modRevision":-1}],"ops":[]}', 'compares.0.modRevision'],
          ['/v1/kv/txn', '{"compares":[],"ops":[{"kind":"move","key":"/k"}]}', 'ops.0'],
          ['/v1/lease/grant', '{"ttlMs":0}', 'ttlMs'],
          ['/v1/watch', '{"prefix":"/","afterRevision":0,"waitMs":999999}', 'waitMs'],
          ['/v1/kv/get', '{not json', ''],
        ];
        for (const [path, body, field] of cases) {
          const { status, json } = await post(path, body);
          assert.equal(status, 400, `${path} ${body}`);
          assert.ok(typeof json === 'object' && json !== null && 'code' in json && 'message' in json);
          assert.equal(json.code, 'HA_BAD_REQUEST');
          assert.ok(String(json.message).includes(field), `message ${String(json.message)} should name ${field}`);
        }
        assert.equal((await post('/v1/nope', '{}')).status, 404);
        assert.deepEqual((await a.coord.list('/')).items, [], 'nothing was written');
      } finally {
        await a.stop();
      }
    }));
});
