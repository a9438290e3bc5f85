import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Etcd3 } from 'etcd3';
import { connectEtcd, EtcdCoordinator, type EtcdCoordinatorOptions } from '../../src/coord/etcd/index.js';
import type { WatchEvent } from '../../src/coord/coordinator.js';
import { isClusterError } from '../../src/domain/errors.js';
import { parseRevision, type Revision } from '../../src/domain/ids.js';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { coordinatorContract } from './coordinator.contract.js';
import { eventually, expectCode, freePort } from '../support/util.js';

const skip = etcdSkipReason();

if (skip !== undefined) {
  test('etcd coordinator', (t) => t.skip(skip));
} else {
  describe('etcd (3-member cluster)', () => {
    let cluster: EtcdCluster | undefined;
    const endpoints = (): string[] => {
      if (!cluster) throw new Error('etcd cluster did not start');
      return [...cluster.endpoints];
    };
    /** Each coordinator gets its own namespace, so tests never see each other's keys. */
    const namespace = (): string => `/halo-test/${randomBytes(6).toString('hex')}`;

    before(async () => {
      cluster = await startEtcdCluster({ members: 3 });
    });
    after(async () => {
      await cluster?.stop();
    });

    coordinatorContract('etcd', async () => {
      const coord = new EtcdCoordinator({ endpoints: endpoints(), prefix: namespace() });
      return {
        coord,
        cleanup: async () => {
          await coord.deletePrefix('');
          await coord.close();
        },
      };
    });

    describe('etcd specifics', () => {
      test('connect to endpoints where nothing listens: HA_COORD_UNAVAILABLE naming each endpoint', async () => {
        const dead = [`127.0.0.1:${await freePort()}`, `http://127.0.0.1:${await freePort()}`];
        const started = Date.now();
        await assert.rejects(connectEtcd({ endpoints: dead, dialTimeoutMs: 800 }), (e: unknown) => {
          assert.ok(isClusterError(e, 'HA_COORD_UNAVAILABLE'), `expected HA_COORD_UNAVAILABLE, got ${String(e)}`);
          for (const ep of dead) assert.ok(e.message.includes(ep), `message must name ${ep}: ${e.message}`);
          assert.match(e.message, /ECONNREFUSED/);
          return true;
        });
        assert.ok(Date.now() - started < 3000, 'gave up within its dial timeout (plus slack)');
      });

      test('a member that accepts connections but never answers: reads fail in time, aborts reject at once', async () => {
        const silent = await silentServer();
        const coord = new EtcdCoordinator({ endpoints: [silent.endpoint], requestTimeoutMs: 600 });
        try {
          const started = Date.now();
          await expectCode(coord.get('/k'), 'HA_COORD_UNAVAILABLE');
          assert.ok(Date.now() - started < 2000, `read gave up after ${Date.now() - started} ms`);

          const ac = new AbortController();
          const reason = new Error('caller gave up');
          const pending = coord.put('/k', 'v', { signal: ac.signal });
          setTimeout(() => ac.abort(reason), 50);
          const abortAt = Date.now();
          await assert.rejects(pending, (e: unknown) => e === reason);
          assert.ok(Date.now() - abortAt < 300, 'rejected promptly after the abort');
        } finally {
          await coord.close();
          await silent.close();
        }
      });

      test('TTLs are granted in whole seconds, rounded up, and reported as granted', async () => {
        const coord = new EtcdCoordinator({ endpoints: endpoints(), prefix: namespace() });
        const raw = new Etcd3({ hosts: endpoints() });
        try {
          for (const [asked, granted] of [
            [1, 1000],
            [1000, 1000],
            [1001, 2000],
            [2500, 3000],
          ] as const) {
            const lease = await coord.grantLease(asked);
            assert.equal(lease.ttlMs, granted, `asked ${asked} ms`);
            const ttl = await raw.leaseClient.leaseTimeToLive({ ID: lease.id });
            assert.equal(Number(ttl.grantedTTL) * 1000, granted, 'etcd holds the TTL that was reported');
            assert.deepEqual(await coord.renewLease(lease.id), { ok: true, ttlMs: granted });
            await coord.revokeLease(lease.id);
          }
        } finally {
          raw.close();
          await coord.close();
        }
      });

      test('the key prefix namespaces every key and is invisible to callers', async () => {
        const ns = namespace();
        const a = new EtcdCoordinator({ endpoints: endpoints(), prefix: `${ns}/a` });
        const b = new EtcdCoordinator({ endpoints: endpoints(), prefix: `${ns}/b` });
        const raw = new Etcd3({ hosts: endpoints() });
        try {
          await a.put('/k', 'from a');
          assert.equal(await b.get('/k'), undefined);
          assert.deepEqual((await b.list('')).items, []);
          assert.equal(await raw.get(`${ns}/a/k`).string(), 'from a');
          assert.deepEqual(
            (await a.list('')).items.map((kv) => kv.key),
            ['/k'],
          );
          assert.equal(await b.deletePrefix(''), 0);
          assert.equal(await a.deletePrefix(''), 1);
        } finally {
          raw.close();
          await a.close();
          await b.close();
        }
      });

      test('SIGKILL of the leader: operations and an open watch resume with the two members left', async (t) => {
        const c = cluster;
        assert.ok(c, 'cluster started');
        // A short call deadline: a write sent to a follower just as the leader dies waits for it.
        const coord = new EtcdCoordinator({ endpoints: endpoints(), prefix: namespace(), requestTimeoutMs: 1500 });
        const watchAbort = new AbortController();
        const leader = await c.leaderIndex();
        try {
          const r0 = await coord.put('/before', 'x');
          const seen = watchUntil(coord, '/', r0, (e) => e.kind === 'put' && e.kv.key === '/after', watchAbort.signal);

          const killedAt = Date.now();
          await c.stopMember(leader, 'SIGKILL');
          let resumedAt: number | undefined;
          const failures = new Map<string, number>();
          while (resumedAt === undefined && Date.now() - killedAt < 10_000) {
            try {
              await coord.put('/after', 'y');
              resumedAt = Date.now();
            } catch (e) {
              const code = isClusterError(e) ? e.code : String(e);
              failures.set(code, (failures.get(code) ?? 0) + 1);
              assert.ok(
                isClusterError(e, 'HA_COORD_UNAVAILABLE') || isClusterError(e, 'HA_COORD_OUTCOME_UNKNOWN'),
                `a write during the election fails as unavailable or unknown, not ${String(e)}`,
              );
            }
          }
          assert.ok(resumedAt !== undefined, `writes did not resume within 10 s (failures: ${JSON.stringify([...failures])})`);
          const resumeMs = resumedAt - killedAt;
          t.diagnostic(`writes resumed ${resumeMs} ms after SIGKILL of the leader; failed attempts: ${JSON.stringify([...failures])}`);
          assert.ok(resumeMs < 5000, `writes resumed only after ${resumeMs} ms`);

          assert.equal((await coord.get('/before'))?.value, 'x');
          const got = await coord.get('/after');
          assert.equal(got?.value, 'y');
          const tx = await coord.txn([{ key: '/after', modRevision: got?.modRevision ?? ('absent' as const) }], [
            { kind: 'put', key: '/after', value: 'z' },
          ]);
          assert.equal(tx.ok, true);
          const lease = await coord.grantLease(1000);
          assert.equal((await coord.renewLease(lease.id)).ok, true);
          await coord.revokeLease(lease.id);

          const events = await seen;
          assert.ok(
            events.some((e) => e.kind === 'put' && e.kv.key === '/after'),
            `the watch opened before the kill saw the write after it: ${JSON.stringify(events.map(summary))}`,
          );
        } finally {
          watchAbort.abort();
          await coord.deletePrefix('').catch(() => undefined);
          await coord.close();
          if (!c.members[leader]?.running) await c.startMember(leader);
        }
      });

      test('a member that goes silent (SIGSTOP: connections stay open, nothing answers): calls and an open watch move to another member', async (t) => {
        const c = cluster;
        assert.ok(c, 'cluster started');
        const leader = await c.leaderIndex();
        const followers = c.members.filter((_, i) => i !== leader);
        const ns = namespace();
        // Only the followers: stopping either leaves the other in a quorum with the leader.
        const watcher = new EtcdCoordinator({ endpoints: followers.map((m) => m.clientUrl), prefix: ns });
        const writer = new EtcdCoordinator({ endpoints: [c.members[leader]?.clientUrl ?? ''], prefix: ns });
        const ac = new AbortController();
        let stopped: number | undefined;
        try {
          const r0 = await watcher.put('/w/0', 'first');
          const current = watcher.memberStates().find((m) => m.current);
          assert.ok(current, `a current member after a call: ${JSON.stringify(watcher.memberStates())}`);
          const events: WatchEvent[] = [];
          const seen = (async () => {
            for await (const batch of watcher.watch('/w/', r0, { signal: ac.signal })) events.push(...batch);
          })().catch(() => undefined);
          await writer.put('/w/1', 'before');
          await eventually(async () => events.length === 1, { timeoutMs: 3000, what: 'the watch delivers', everyMs: 20 });

          stopped = c.members.find((m) => m.clientUrl === current.endpoint)?.pid;
          assert.ok(stopped !== undefined);
          const stoppedAt = Date.now();
          process.kill(stopped, 'SIGSTOP');
          const r2 = await writer.put('/w/2', 'while silent');
          await eventually(async () => events.some((e) => e.kind === 'put' && e.kv.key === '/w/2'), { timeoutMs: 5000, what: 'the watch delivers after its member went silent', everyMs: 20 });
          const watchMs = Date.now() - stoppedAt;
          const readFrom = Date.now();
          assert.equal((await watcher.get('/w/2'))?.modRevision, r2);
          const readMs = Date.now() - readFrom;
          const lease = await watcher.grantLease(1000);
          const renewFrom = Date.now();
          assert.equal((await watcher.renewLease(lease.id, { signal: AbortSignal.timeout(300) })).ok, true);
          const renewMs = Date.now() - renewFrom;
          await eventually(async () => watcher.memberStates().find((m) => m.endpoint === current.endpoint)?.state === 'down', {
            timeoutMs: 3000,
            what: 'the silent member is down',
            everyMs: 20,
          });
          t.diagnostic(`watch delivered ${watchMs} ms after SIGSTOP of its member; then a read took ${readMs} ms, a renewal ${renewMs} ms`);
          // Health check: intervalMs 200 + timeoutMs 1000, plus the reopen and slack for a busy machine.
          assert.ok(watchMs < 2500, `the watch moved after ${watchMs} ms`);

          process.kill(stopped, 'SIGCONT');
          stopped = undefined;
          await eventually(async () => watcher.memberStates().every((m) => m.state === 'up'), { timeoutMs: 5000, what: 'the member is up again', everyMs: 20 });
          assert.deepEqual(
            events.map((e) => (e.kind === 'put' ? e.kv.key : e.key)),
            ['/w/1', '/w/2'],
            'nothing lost or repeated',
          );
          ac.abort();
          await seen;
        } finally {
          if (stopped !== undefined) process.kill(stopped, 'SIGCONT');
          ac.abort();
          await writer.deletePrefix('').catch(() => undefined);
          await watcher.close();
          await writer.close();
        }
      });

      test('a watch whose only member restarts reopens from where it was and misses nothing', async (t) => {
        const c = cluster;
        assert.ok(c, 'cluster started');
        const leader = await c.leaderIndex();
        const member = (leader + 1) % c.members.length;
        const url = c.members[member]?.clientUrl;
        assert.ok(url !== undefined);
        const ns = namespace();
        const watcher = new EtcdCoordinator({ endpoints: [url], prefix: ns, requestTimeoutMs: 8000 });
        const writer = new EtcdCoordinator({ endpoints: endpoints(), prefix: ns });
        try {
          const from = await writer.put('/w/0', 'first');
          const events: WatchEvent[] = [];
          const seen = (async () => {
            for await (const batch of watcher.watch('/w/', parseRevision(from - 1), { signal: AbortSignal.timeout(15_000) })) {
              events.push(...batch);
              if (batch.some((e) => e.kind === 'put' && e.kv.key === '/w/3')) return;
            }
          })();
          // The watch is open once it delivered the first key; then its member goes away.
          await eventually(async () => events.length > 0, { timeoutMs: 3000, what: 'watch events', everyMs: 25 });
          const stoppedAt = Date.now();
          await c.stopMember(member, 'SIGTERM');
          const r1 = await writer.put('/w/1', 'while down');
          const r2 = await writer.delete('/w/0');
          await c.startMember(member);
          const r3 = await writer.put('/w/3', 'after');
          await seen;
          t.diagnostic(`member back after ${Date.now() - stoppedAt} ms; watch complete`);
          assert.deepEqual(events.map(summary), [
            ['put', '/w/0', 'first', from],
            ['put', '/w/1', 'while down', r1],
            ['delete', '/w/0', undefined, r2],
            ['put', '/w/3', 'after', r3],
          ]);
          // Calls through the single endpoint work again at once.
          assert.equal((await watcher.get('/w/3'))?.value, 'after');
        } finally {
          await writer.deletePrefix('');
          await watcher.close();
          await writer.close();
          if (!c.members[member]?.running) await c.startMember(member);
        }
      });

      test('password auth: the right user works under its prefix; others are HA_PERMISSION', async () => {
        // Its own single member: enabling auth on the shared cluster would change every other test.
        const single = await startEtcdCluster({ members: 1 });
        const raw = new Etcd3({ hosts: [...single.endpoints] });
        const opened: EtcdCoordinator[] = [];
        const open = (o: Omit<EtcdCoordinatorOptions, 'endpoints'>): EtcdCoordinator => {
          const coord = new EtcdCoordinator({ endpoints: [...single.endpoints], requestTimeoutMs: 2000, ...o });
          opened.push(coord);
          return coord;
        };
        try {
          await raw.user('root').create('root-secret');
          await raw.user('root').addRole('root');
          await raw.role('halo').create();
          await raw.role('halo').grant({ permission: 'Readwrite', range: raw.range({ prefix: '/halo/' }) });
          await raw.user('halo').create('halo-secret');
          await raw.user('halo').addRole('halo');
          await raw.auth.authEnable();

          const good = await connectEtcd({ endpoints: [...single.endpoints], prefix: '/halo/x', auth: { username: 'halo', password: 'halo-secret' } });
          opened.push(good);
          const r = await good.put('/k', 'v');
          assert.equal((await good.get('/k'))?.modRevision, r);
          const lease = await good.grantLease(1000);
          assert.equal((await good.renewLease(lease.id)).ok, true);

          const wrong = open({ prefix: '/halo/x', auth: { username: 'halo', password: 'wrong' } });
          await expectCode(wrong.get('/k'), 'HA_PERMISSION');
          await expectCode(wrong.put('/k', 'w'), 'HA_PERMISSION');
          const anonymous = open({ prefix: '/halo/x' });
          await expectCode(anonymous.get('/k'), 'HA_PERMISSION');
          const outside = open({ prefix: '/elsewhere', auth: { username: 'halo', password: 'halo-secret' } });
          await expectCode(outside.put('/k', 'w'), 'HA_PERMISSION');
          await expectCode(outside.watch('/', r, { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]().next(), 'HA_PERMISSION');
          assert.equal((await good.get('/k'))?.value, 'v');
        } finally {
          for (const coord of opened) await coord.close();
          raw.close();
          await single.stop();
        }
      });

      test('a watch from compacted history is HA_COORD_COMPACTED; watching from a fresh list works', async () => {
        const coord = new EtcdCoordinator({ endpoints: endpoints(), prefix: namespace() });
        const raw = new Etcd3({ hosts: endpoints() });
        try {
          const from = (await coord.list('')).revision;
          let last: Revision = from;
          for (let i = 0; i < 3; i++) last = await coord.put('/k', String(i));
          await raw.kv.compact({ revision: last, physical: true });
          const it = coord.watch('/', from, { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
          await expectCode(it.next(), 'HA_COORD_COMPACTED');

          const { revision } = await coord.list('');
          const fresh = watchUntil(coord, '/', revision, () => true, AbortSignal.timeout(5000));
          const r = await coord.put('/k', 'after');
          assert.deepEqual((await fresh).map(summary), [['put', '/k', 'after', r]]);
        } finally {
          raw.close();
          await coord.deletePrefix('');
          await coord.close();
        }
      });
    });
  });
}

function summary(e: WatchEvent): [string, string, string | undefined, Revision] {
  return e.kind === 'put' ? ['put', e.kv.key, e.kv.value, e.kv.modRevision] : ['delete', e.key, undefined, e.modRevision];
}

/** Collect watch events until one matches `done` (or the signal ends the watch). */
async function watchUntil(
  coord: EtcdCoordinator,
  prefix: string,
  after: Revision,
  done: (e: WatchEvent) => boolean,
  signal: AbortSignal,
): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  for await (const batch of coord.watch(prefix, after, { signal })) {
    out.push(...batch);
    if (batch.some(done)) break;
  }
  return out;
}



/** A TCP server that accepts connections and never says anything: a hung member. */
async function silentServer(): Promise<{ readonly endpoint: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    endpoint: `127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
