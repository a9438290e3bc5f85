import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { parseDocument } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';
import { connectEtcd, EtcdCoordinator } from '../../src/coord/etcd/index.js';
import type { Coordinator } from '../../src/coord/coordinator.js';
import { makeCoordinatorClient } from '../../src/agent/run.js';
import { writeDemoConfig } from '../../src/demo/run.js';
import { isClusterError } from '../../src/domain/errors.js';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { expectCode } from '../support/util.js';

/**
 * The etcd coordinator over TLS with client-certificate authentication, against a real etcd member
 * on loopback. A CA, a server certificate (for 127.0.0.1) and a client certificate are made with
 * `openssl` in a temp dir; the halo config names them relative to the config file.
 */

function opensslSkipReason(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const why = 'openssl not found; install it with: apt-get install -y openssl';
  if (process.env['CI'] === 'true') throw new Error(`etcd TLS tests cannot run in CI: ${why}`);
  return `skipped: ${why}`;
}

const skip = etcdSkipReason() ?? opensslSkipReason();

function openssl(cwd: string, args: readonly string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A CA, a certificate it signs for `cn` with `san`, and a second unrelated CA, all PEM in `dir`. */
function makeCerts(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const ca = (name: string): void =>
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`]);
  const signed = (name: string, cn: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  };
  ca('ca');
  ca('other-ca');
  signed('server', 'etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  signed('client', 'halo', 'extendedKeyUsage=clientAuth\n');
}

if (skip !== undefined) {
  test('etcd coordinator over TLS', (t) => t.skip(skip));
} else {
  describe('etcd coordinator over TLS with client certificates', () => {
    let dir = '';
    let certs = '';
    let etcd: EtcdCluster | undefined;
    const endpoint = (): string => {
      const e = etcd?.endpoints[0];
      if (e === undefined) throw new Error('etcd did not start');
      return e;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'halo-etcd-tls-'));
      certs = join(dir, 'certs');
      makeCerts(certs);
      etcd = await startEtcdCluster({
        members: 1,
        clientTls: { certFile: join(certs, 'server.pem'), keyFile: join(certs, 'server-key.pem'), caFile: join(certs, 'ca.pem') },
      });
    });
    after(async () => {
      await etcd?.stop();
      if (dir !== '' && !process.env['HALO_KEEP_TEST_DIRS']) rmSync(dir, { recursive: true, force: true });
    });

    /** A halo config in its own dir under `dir`, naming the certificates relative to itself. */
    async function configured(name: string, tls: Record<string, string>): Promise<Coordinator> {
      const cfgDir = join(dir, name);
      mkdirSync(cfgDir, { recursive: true });
      const file = writeDemoConfig(cfgDir, (doc: ReturnType<typeof parseDocument>) => {
        doc.setIn(['coordinator'], { kind: 'etcd', endpoints: [endpoint()], prefix: `/tls-${name}`, tls, dialTimeoutMs: 1500, requestTimeoutMs: 1500 });
      });
      const loaded = await loadConfigFile(file);
      assert.ok(loaded.ok, `config loads: ${JSON.stringify(loaded.ok ? null : loaded.issues)}`);
      return makeCoordinatorClient(loaded.config, file, false);
    }

    test('a config naming CA, client certificate and key relative to itself connects; reads, writes, leases and watches work', async () => {
      assert.match(endpoint(), /^https:\/\//);
      const coord = await configured('good', { ca: '../certs/ca.pem', cert: '../certs/client.pem', key: '../certs/client-key.pem' });
      try {
        const r1 = await coord.put('/k', 'over tls');
        assert.equal((await coord.get('/k'))?.value, 'over tls');
        const lease = await coord.grantLease(1000);
        assert.equal((await coord.renewLease(lease.id)).ok, true);
        const it = coord.watch('/', r1, { signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
        const next = it.next();
        const r2 = await coord.put('/k2', 'watched', { lease: lease.id });
        const got = await next;
        assert.equal(got.done, false);
        assert.deepEqual(
          got.value?.map((e) => (e.kind === 'put' ? [e.kv.key, e.kv.value, e.kv.modRevision] : [e.key])),
          [['/k2', 'watched', r2]],
        );
        await it.return?.();
        await coord.revokeLease(lease.id);
        await coord.deletePrefix('');
      } finally {
        await coord.close();
      }
    });

    test('without a client certificate, or trusting another CA: HA_COORD_UNAVAILABLE naming the endpoint, the TLS failure and the configured files', async (t) => {
      const certsDir = certs;
      for (const [why, tls, precise] of [
        ['no client certificate', { ca: join(certsDir, 'ca.pem') }, /TLS handshake failure: the member refused our client certificate; none is configured: set coordinator\.tls\.cert/],
        [
          'another CA',
          { ca: join(certsDir, 'other-ca.pem'), cert: join(certsDir, 'client.pem'), key: join(certsDir, 'client-key.pem') },
          new RegExp(`TLS certificate verify failed \\(unable to verify the first certificate\\): the member's certificate is not trusted by coordinator\\.tls\\.ca ${join(certsDir, 'other-ca.pem')}`),
        ],
      ] as const) {
        await assert.rejects(connectEtcd({ endpoints: [endpoint()], tls, dialTimeoutMs: 1500 }), (e: unknown) => {
          assert.ok(isClusterError(e, 'HA_COORD_UNAVAILABLE'), `${why}: expected HA_COORD_UNAVAILABLE, got ${String(e)}`);
          assert.ok(e.message.includes(endpoint()), `${why}: the message names the endpoint: ${e.message}`);
          assert.match(e.message, precise, `${why}: the message says what failed, naming the configured files`);
          t.diagnostic(`${why}: ${e.message}`);
          return true;
        });
      }
    });

    test('a certificate path that cannot be read: HA_CONFIG_INVALID naming the resolved path', async () => {
      await assert.rejects(
        configured('missing', { ca: 'no-such-ca.pem' }),
        (e: unknown) => isClusterError(e, 'HA_CONFIG_INVALID') && e.message.includes(join(dir, 'missing', 'no-such-ca.pem')),
      );
      await expectCode(
        Promise.resolve().then(() => new EtcdCoordinator({ endpoints: [endpoint()], tls: { ca: join(certs, 'ca.pem'), cert: join(certs, 'client.pem') } })),
        'HA_CONFIG_INVALID',
      );
    });
  });
}
