import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import type { parseDocument } from 'yaml';
import { makeCoordinatorClient } from '../../src/agent/run.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { Coordinator } from '../../src/coord/coordinator.js';
import {
  EmbeddedCoordinator,
  ensureSecretFile,
  readSecretFile,
  runCoordinator,
  startCoordinatorServer,
  type CoordinatorServer,
} from '../../src/coord/embedded/index.js';
import { Paths } from '../../src/coord/embedded/protocol.js';
import { writeDemoConfig } from '../../src/demo/run.js';
import { isClusterError } from '../../src/domain/errors.js';
import { parseRevision } from '../../src/domain/ids.js';
import type { Logger } from '../../src/observability/log.js';
import { ManualClock } from '../../src/platform/clock.js';
import { createCa, issueCert } from '../../src/security/certs.js';
import type { TlsMaterial } from '../../src/security/tls.js';
import { eventually, expectCode, freePort } from '../support/util.js';

const SECRET = 'auth-test-secret-0123456789abcdefghijkl';

/** A request of every protocol path whose body would change (or read) the store if it were served. */
const VALID_BODIES: Record<keyof typeof Paths, unknown> = {
  get: { key: '/a' },
  list: { prefix: '' },
  put: { key: '/intruder', value: 'x' },
  delete: { key: '/a' },
  deletePrefix: { prefix: '' },
  txn: { compares: [], ops: [{ kind: 'put', key: '/intruder', value: 'x' }] },
  grant: { ttlMs: 60_000 },
  renew: { id: '1' },
  revoke: { id: '1' },
  watch: { prefix: '', afterRevision: 0, waitMs: 0 },
  status: {},
};

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'halo-coord-auth-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function post(url: string, body: unknown, authorization?: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) };
}

/** Everything in the store, with its revision and lease count: equal before and after means nothing was written. */
async function dump(server: CoordinatorServer, coord: Coordinator): Promise<string> {
  const all = await coord.list('');
  const status = await post(`${server.url}${Paths.status}`, {}, `Bearer ${SECRET}`);
  return JSON.stringify({ all, status });
}

function recordingLog(): { log: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const log: Logger = { info() {}, error() {}, debug() {}, warn: (_obj, msg) => void warnings.push(msg ?? '') };
  return { log, warnings };
}

describe('embedded coordinator: shared secret', () => {
  test('no credential or a wrong one is 401 on every protocol path, and the store is unchanged', () =>
    withDir(async (dir) => {
      const server = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: dir, secret: SECRET, authLimits: { maxFailures: 1000 } });
      const coord = new EmbeddedCoordinator({ url: server.url, secret: SECRET });
      try {
        await coord.put('/a', '1');
        const lease = await coord.grantLease(60_000);
        const before = await dump(server, coord);
        const wrong = [undefined, `Bearer ${SECRET}x`, `Bearer ${SECRET.slice(0, -1)}`, SECRET, `Basic ${SECRET}`, 'Bearer ', `bearer ${SECRET}`];
        for (const name of Object.keys(Paths) as (keyof typeof Paths)[]) {
          const body = name === 'renew' || name === 'revoke' ? { id: lease.id } : VALID_BODIES[name];
          for (const authorization of wrong) {
            const r = await post(`${server.url}${Paths[name]}`, body, authorization);
            assert.equal(r.status, 401, `${Paths[name]} with ${String(authorization)}`);
            assert.equal((r.json as { code: string }).code, 'HA_UNAUTHENTICATED');
          }
        }
        // Unknown paths too: nobody learns which routes exist.
        assert.equal((await post(`${server.url}/nope`, {})).status, 401);
        assert.equal(await dump(server, coord), before);
        assert.equal((await coord.renewLease(lease.id)).ok, true);
      } finally {
        await coord.close();
        await server.close();
      }
    }));

  test('the credential is checked before the body is parsed: a malformed body without it is 401, not 400', () =>
    withDir(async (dir) => {
      const server = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: dir, secret: SECRET });
      try {
        const res = await fetch(`${server.url}${Paths.put}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"key":' });
        assert.equal(res.status, 401);
        const res2 = await fetch(`${server.url}${Paths.put}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
          body: '{"key":',
        });
        assert.equal(res2.status, 400);
      } finally {
        await server.close();
      }
    }));

  test('a client with the wrong secret gets HA_UNAUTHENTICATED naming where its secret came from', () =>
    withDir(async (dir) => {
      const server = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: dir, secret: SECRET });
      const file = join(dir, 'other.secret');
      await writeFile(file, 'another-secret-0123456789abcdefghijklmnop\n', { mode: 0o600 });
      const coord = new EmbeddedCoordinator({ url: server.url, secret: { file } });
      try {
        await expectCode(coord.put('/k', 'v'), 'HA_UNAUTHENTICATED');
        await assert.rejects(coord.get('/k'), (e: unknown) => isClusterError(e, 'HA_UNAUTHENTICATED') && e.message.includes(file));
        // The file is read again after a 401: fixing it heals the client.
        await writeFile(file, `${SECRET}\n`);
        await coord.put('/k', 'v');
        assert.equal((await coord.get('/k'))?.value, 'v');
      } finally {
        await coord.close();
        await server.close();
      }
    }));

  test('failures are rate-limited per address: past the limit 429 and logged once; the real secret still passes', () =>
    withDir(async (dir) => {
      const clock = new ManualClock(1_000_000);
      const { log, warnings } = recordingLog();
      const server = await startCoordinatorServer({
        host: '127.0.0.1',
        port: 0,
        dataDir: dir,
        secret: SECRET,
        clock,
        log,
        authLimits: { maxFailures: 3, windowMs: 10_000 },
      });
      const url = `${server.url}${Paths.put}`;
      const coord = new EmbeddedCoordinator({ url: server.url, secret: SECRET });
      try {
        for (let i = 0; i < 3; i++) assert.equal((await post(url, VALID_BODIES.put, 'Bearer nope')).status, 401);
        assert.equal(warnings.length, 3);
        assert.match(warnings[2] ?? '', /reached 3 failures, further ones get 429/);
        for (let i = 0; i < 5; i++) {
          const r = await post(url, VALID_BODIES.put);
          assert.equal(r.status, 429);
          assert.equal((r.json as { code: string }).code, 'HA_RATE_LIMITED');
        }
        assert.equal(warnings.length, 3, 'rate-limited attempts are not logged one by one');
        // Agents on the same address keep working: no lockout lever for a local process.
        await coord.put('/ok', '1');
        assert.equal((await coord.list('/intruder')).items.length, 0);
        clock.advance(10_000);
        assert.equal((await post(url, VALID_BODIES.put, 'Bearer nope')).status, 401);
      } finally {
        await coord.close();
        await server.close();
      }
    }));
});

describe('embedded coordinator: secret file', () => {
  test('created once with mode 0600 and 32 random bytes; never overwritten; concurrent creators agree', () =>
    withDir(async (dir) => {
      const file = join(dir, 'sub', 'coordinator.secret');
      const results = await Promise.all([ensureSecretFile(file), ensureSecretFile(file), ensureSecretFile(file)]);
      assert.equal(results.filter((r) => r.created).length, 1);
      assert.equal(new Set(results.map((r) => r.secret)).size, 1);
      const secret = results[0]?.secret ?? '';
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(secret, 'base64url').length, 32);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal((await stat(join(dir, 'sub'))).mode & 0o777, 0o700);
      const again = await ensureSecretFile(file);
      assert.deepEqual(again, { secret, created: false });
      assert.equal((await readFile(file, 'utf8')).trim(), secret);
    }));

  test('a file group or others can access is refused with the fix; a client just reads it', () =>
    withDir(async (dir) => {
      const file = join(dir, 'coordinator.secret');
      await writeFile(file, `${SECRET}\n`, { mode: 0o600 });
      await chmod(file, 0o644);
      await assert.rejects(
        ensureSecretFile(file),
        (e: unknown) => isClusterError(e, 'HA_CONFIG_INVALID') && e.message.includes(`has mode 0644`) && e.message.includes(`chmod 600 ${file}`),
      );
      await chmod(file, 0o640);
      await expectCode(ensureSecretFile(file), 'HA_CONFIG_INVALID');
      assert.equal(await readSecretFile(file, { ownerOnly: false }), SECRET);
      await chmod(file, 0o600);
      assert.equal((await ensureSecretFile(file)).secret, SECRET);
    }));

  test('halo coordinator refuses to start with a 0644 secret; with none it creates one its clients use', () =>
    withDir(async (dir) => {
      const port = await freePort();
      const secretFile = join(dir, 'coordinator.secret');
      await writeFile(secretFile, `${SECRET}\n`, { mode: 0o644 });
      await chmod(secretFile, 0o644);
      await assert.rejects(runCoordinator({ host: '127.0.0.1', port, dataDir: join(dir, 'data'), secretFile }), /chmod 600/);
      await rm(secretFile);

      const stop = new AbortController();
      const { log } = recordingLog();
      const running = runCoordinator({ host: '127.0.0.1', port, dataDir: join(dir, 'data'), secretFile, log, signal: stop.signal });
      const coord = new EmbeddedCoordinator({ url: `http://127.0.0.1:${port}`, secret: { file: secretFile }, requestTimeoutMs: 1000 });
      try {
        await eventually(async () => (await coord.put('/k', 'v')) > 0, { timeoutMs: 5000, what: 'the coordinator answers' });
        assert.equal((await stat(secretFile)).mode & 0o777, 0o600);
      } finally {
        await coord.close();
        stop.abort();
        await running;
      }
    }));

  test('a client whose secret file is missing gets a precise error naming it, and sends nothing', () =>
    withDir(async (dir) => {
      const file = join(dir, 'missing.secret');
      const coord = new EmbeddedCoordinator({ url: 'http://127.0.0.1:9', secret: { file } });
      try {
        await assert.rejects(coord.put('/k', 'v'), (e: unknown) => isClusterError(e, 'HA_COORD_UNAVAILABLE') && e.message.includes(file) && e.message.includes('ENOENT'));
        await writeFile(file, 'short\n', { mode: 0o600 });
        await assert.rejects(coord.get('/k'), (e: unknown) => isClusterError(e, 'HA_CONFIG_INVALID') && e.message.includes(file));
      } finally {
        await coord.close();
      }
    }));
});

const opensslMissing = spawnSync('openssl', ['version']).status !== 0;

describe('embedded coordinator over TLS', { skip: opensslMissing ? 'openssl not found (apt-get install openssl)' : false }, () => {
  let dir = '';
  let certs = '';
  const pem = async (name: string): Promise<TlsMaterial> => ({
    ca: await readFile(join(certs, 'ca.crt'), 'utf8'),
    cert: await readFile(join(certs, `${name}.crt`), 'utf8'),
    key: await readFile(join(certs, `${name}.key`), 'utf8'),
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'halo-coord-tls-'));
    certs = join(dir, 'certs');
    const ca = await createCa(certs, 'test');
    await issueCert(ca, { name: 'coordinator', role: 'node', ips: ['127.0.0.1'] });
    await issueCert(ca, { name: 'n1', role: 'node', ips: ['127.0.0.1'] });
    await issueCert(ca, { name: 'alice', role: 'viewer' });
    await issueCert(ca, { name: 'root', role: 'admin' });
    const other = await createCa(join(dir, 'other'), 'other');
    await issueCert(other, { name: 'n1', role: 'node', ips: ['127.0.0.1'] });
  });
  after(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  async function withTlsServer(fn: (server: CoordinatorServer) => Promise<void>): Promise<void> {
    await withDir(async (data) => {
      const server = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir: data, secret: SECRET, tls: await pem('coordinator') });
      try {
        await fn(server);
      } finally {
        await server.close();
      }
    });
  }

  test('a node or admin certificate with the secret works; without the secret it is 401', () =>
    withTlsServer(async (server) => {
      assert.match(server.url, /^https:\/\//);
      for (const name of ['n1', 'root']) {
        const coord = new EmbeddedCoordinator({ url: server.url, secret: SECRET, tls: await pem(name) });
        const wrong = new EmbeddedCoordinator({ url: server.url, secret: `${SECRET}x`, tls: await pem(name) });
        try {
          await coord.put(`/by/${name}`, 'v');
          assert.equal((await coord.get(`/by/${name}`))?.value, 'v');
          const it = coord.watch('/by/', parseRevision(0))[Symbol.asyncIterator]();
          assert.equal((await it.next()).done, false);
          await expectCode(wrong.put('/x', 'v'), 'HA_UNAUTHENTICATED');
        } finally {
          await coord.close();
          await wrong.close();
        }
      }
    }));

  test('a client without a certificate, or with one from another CA, is refused at the handshake', () =>
    withTlsServer(async (server) => {
      const { port } = new URL(server.url);
      const ca = (await pem('n1')).ca;
      const handshake = (extra: { cert?: string; key?: string }): Promise<string> =>
        new Promise((resolve) => {
          const s = connect({ host: '127.0.0.1', port: Number(port), ca, ...extra }, () => {
            // TLS 1.3: the server's verdict on our certificate arrives after our side finished.
            s.write('POST /v1/status HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}');
          });
          s.on('data', (d: Buffer) => {
            resolve(`answered: ${d.toString('utf8').split('\r\n')[0] ?? ''}`);
            s.destroy();
          });
          s.on('error', (e: NodeJS.ErrnoException) => resolve(`refused: ${e.code ?? e.message}`));
          s.on('close', () => resolve('refused: closed'));
        });
      const bare = await handshake({});
      assert.match(bare, /^refused: /);
      const foreign = { cert: await readFile(join(dir, 'other', 'n1.crt'), 'utf8'), key: await readFile(join(dir, 'other', 'n1.key'), 'utf8') };
      assert.match(await handshake(foreign), /^refused: /);

      const noCert = new EmbeddedCoordinator({ url: server.url, secret: SECRET, tls: { ca }, requestTimeoutMs: 2000 });
      try {
        await expectCode(noCert.get('/k'), 'HA_COORD_UNAVAILABLE');
      } finally {
        await noCert.close();
      }
    }));

  test('a viewer certificate is 403 even with the secret', () =>
    withTlsServer(async (server) => {
      const viewer = new EmbeddedCoordinator({ url: server.url, secret: SECRET, tls: await pem('alice') });
      try {
        await assert.rejects(viewer.put('/k', 'v'), (e: unknown) => isClusterError(e, 'HA_PERMISSION') && e.message.includes('alice'));
      } finally {
        await viewer.close();
      }
    }));

  test('from the config: halo coordinator uses the "coordinator" certificate, an agent its node certificate, both the default secret file', () =>
    withDir(async (cfgDir) => {
      const port = await freePort();
      const file = writeDemoConfig(cfgDir, (doc: ReturnType<typeof parseDocument>) => {
        doc.setIn(['coordinator', 'address'], `127.0.0.1:${port}`);
        doc.setIn(['security', 'tls'], { ca: `${certs}/ca.crt`, cert: `${certs}/\${HALO_NODE}.crt`, key: `${certs}/\${HALO_NODE}.key` });
      });
      const loaded = await loadConfigFile(file);
      assert.ok(loaded.ok);
      const c = loaded.config.coordinator;
      assert.equal(c.kind, 'embedded');
      if (c.kind !== 'embedded') return;
      const { embeddedFiles, coordinatorTls } = await import('../../src/coord/embedded/index.js');
      const files = embeddedFiles(c, (p) => p);
      assert.equal(files.secretFile, join(cfgDir, 'coordinator.secret'));
      const tls = coordinatorTls(loaded.config.security, (p) => p);
      assert.ok(tls);
      const stop = new AbortController();
      const running = runCoordinator({ host: '127.0.0.1', port, ...files, tls, log: recordingLog().log, signal: stop.signal });
      const coord = await makeCoordinatorClient(loaded.config, file, false, 'n1');
      try {
        await eventually(async () => (await coord.put('/k', 'v')) > 0, { timeoutMs: 5000, what: 'the coordinator answers' });
      } finally {
        await coord.close();
        stop.abort();
        await running;
      }
    }));
});
