import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdCoordinator } from '../../src/coord/etcd/index.js';
import { parseRevision } from '../../src/domain/ids.js';
import type { WatchEvent } from '../../src/coord/coordinator.js';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { enableEtcdAuth, etcdAuthToolsSkipReason } from '../support/etcd-auth.js';
import { expectCode } from '../support/util.js';

/**
 * The etcd coordinator with etcd user auth, against one real member whose simple auth tokens
 * expire after 2 s without use (`--auth-token-ttl=2`), so that expiry happens within a test.
 */

const TOKEN_TTL_S = 2;
const skip = etcdSkipReason() ?? etcdAuthToolsSkipReason();

describe('etcd coordinator with user auth and expiring tokens', { skip: skip ?? false, timeout: 60_000 }, () => {
  let etcd: EtcdCluster | undefined;
  const endpoints = (): readonly string[] => etcd?.endpoints ?? [];
  const client = (password = 'halo-pw'): EtcdCoordinator =>
    new EtcdCoordinator({ endpoints: endpoints(), prefix: '/halo-auth', auth: { username: 'halo', password }, requestTimeoutMs: 2000, dialTimeoutMs: 2000 });

  before(async () => {
    etcd = await startEtcdCluster({ members: 1, extraArgs: ['--auth-token=simple', `--auth-token-ttl=${TOKEN_TTL_S}`] });
    enableEtcdAuth({ endpoints: endpoints() }, { prefix: '/halo-auth', rootPassword: 'root-pw', haloPassword: 'halo-pw' });
  });
  after(async () => {
    await etcd?.stop();
  });

  test('a watch opened after the token expired re-authenticates and delivers', async () => {
    const coord = client();
    const writer = client();
    try {
      const r = await coord.put('/w/a', '1');
      // Nothing uses coord's token for longer than its TTL: the member forgets it.
      await sleep(TOKEN_TTL_S * 1000 + 1500);
      const it = coord.watch('/w/', r, { signal: AbortSignal.timeout(10_000) })[Symbol.asyncIterator]();
      const next = it.next();
      const r2 = await writer.put('/w/b', '2');
      const got = await next;
      assert.equal(got.done, false);
      assert.deepEqual(keysOf(got.value), [['/w/b', r2]]);
      await it.return?.();
    } finally {
      await coord.close();
      await writer.close();
    }
  });

  test('an open watch keeps delivering across several token lifetimes, and reopened streams re-authenticate', async () => {
    const coord = client();
    const writer = client();
    try {
      const r = await coord.put('/k/start', '0');
      const it = coord.watch('/k/', r, { signal: AbortSignal.timeout(30_000) })[Symbol.asyncIterator]();
      for (let i = 1; i <= 3; i++) {
        await sleep(TOKEN_TTL_S * 1000 + 500);
        const next = it.next();
        const ri = await writer.put(`/k/${i}`, String(i));
        const got = await next;
        assert.equal(got.done, false, `event ${i} arrives`);
        assert.deepEqual(keysOf(got.value), [[`/k/${i}`, ri]]);
      }
      await it.return?.();
    } finally {
      await coord.close();
      await writer.close();
    }
  });

  test('a wrong password is HA_PERMISSION at once, for calls and for watches', async () => {
    const coord = client('wrong');
    try {
      const started = Date.now();
      await expectCode(coord.probe(), 'HA_PERMISSION');
      const it = coord.watch('/', parseRevision(0), { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      await expectCode(it.next(), 'HA_PERMISSION');
      assert.ok(Date.now() - started < 3000, `refused within 3 s (took ${Date.now() - started} ms)`);
    } finally {
      await coord.close();
    }
  });

  test('outside the granted prefix: HA_PERMISSION, also for a watch', async () => {
    const coord = new EtcdCoordinator({ endpoints: endpoints(), prefix: '/elsewhere', auth: { username: 'halo', password: 'halo-pw' }, requestTimeoutMs: 2000 });
    try {
      await expectCode(coord.put('/x', '1'), 'HA_PERMISSION');
      const it = coord.watch('/', parseRevision(0), { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      await expectCode(it.next(), 'HA_PERMISSION');
    } finally {
      await coord.close();
    }
  });
});

function keysOf(batch: readonly WatchEvent[] | undefined): (readonly [string, number])[] {
  return (batch ?? []).map((e) => (e.kind === 'put' ? ([e.kv.key, e.kv.modRevision] as const) : ([e.key, e.modRevision] as const)));
}
