import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { connectEtcd } from '../../src/coord/etcd/index.js';
import { HALO_BIN } from '../../src/demo/run.js';
import { isClusterError } from '../../src/domain/errors.js';
import { etcdSkipReason, startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { enableEtcdAuth, etcdAuthToolsSkipReason, etcdctl, makeEtcdCerts, type EtcdCertFiles } from '../support/etcd-auth.js';
import { overlaps, TestCluster, type NodeName } from './harness.js';

/**
 * The whole cluster on a secured etcd: three members on loopback with TLS for clients and peers,
 * client certificates required (--client-cert-auth), and etcd user auth switched on with etcdctl
 * (root, a role with readwrite on halo's prefix, a `halo` user with that role). Auth tokens expire
 * after 3 s without use. The agents run as processes with halo's own security on (HTTPS API, tokens)
 * and reach etcd with a client certificate plus username and a password file. Checked: the group
 * runs, a switchover, failover after the active node's agent and service are killed, and the
 * refusals: no client certificate, a wrong password, and an agent with a wrong password exits at
 * once with the error.
 */

const skip = etcdSkipReason() ?? etcdAuthToolsSkipReason();
const PORT_OFFSET = 14_000;
const PREFIX = `/e2e-${PORT_OFFSET}`;
const HALO_PASSWORD = 'halo-e2e-pw';

describe('e2e on etcd with TLS, client certificates and user auth', { skip: skip ?? false, timeout: 240_000 }, () => {
  let dir = '';
  let certs: EtcdCertFiles;
  let etcd: EtcdCluster;
  let passwordFile = '';
  const tlsOf = (c: EtcdCertFiles): { ca: string; cert: string; key: string } => ({ ca: c.ca, cert: c.client.cert, key: c.client.key });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'halo-e2e-etcdsec-'));
    certs = makeEtcdCerts(join(dir, 'certs'));
    const member = { certFile: certs.server.cert, keyFile: certs.server.key, caFile: certs.ca };
    etcd = await startEtcdCluster({ members: 3, clientTls: member, peerTls: member, extraArgs: ['--auth-token=simple', '--auth-token-ttl=3'] });
    // Before auth is on, any client certificate the CA signed may set it up; afterwards root's (CN=root) acts as root.
    enableEtcdAuth({ endpoints: etcd.endpoints, tls: { ca: certs.ca, ...certs.root } }, { prefix: PREFIX, rootPassword: 'root-e2e-pw', haloPassword: HALO_PASSWORD });
    passwordFile = join(dir, 'etcd.pw');
    writeFileSync(passwordFile, `${HALO_PASSWORD}\n`, { mode: 0o600 });
  });
  after(async () => {
    await etcd?.stop();
    if (dir !== '' && !process.env['HALO_KEEP_TEST_DIRS']) rmSync(dir, { recursive: true, force: true });
  });

  test('etcd is secured as intended: peers and clients on TLS, auth enabled, halo confined to its prefix', () => {
    assert.ok(etcd.endpoints.every((e) => e.startsWith('https://')));
    assert.ok(etcd.members.every((m) => m.peerUrl.startsWith('https://')));
    // With auth on, halo's certificate (CN=halo, no password) acts as user halo: its prefix only.
    const asHalo = { endpoints: etcd.endpoints, tls: tlsOf(certs) };
    etcdctl(asHalo, ['put', `${PREFIX}/probe`, 'x']);
    assert.throws(() => etcdctl(asHalo, ['put', '/outside', 'x']), /permission denied/);
    assert.match(etcdctl({ endpoints: etcd.endpoints, tls: { ca: certs.ca, ...certs.root } }, ['user', 'list']), /halo\nroot/);
    etcdctl(asHalo, ['del', `${PREFIX}/probe`]);
  });

  test('an etcd client without a client certificate is refused: the TLS handshake failure is named', async () => {
    await assert.rejects(
      connectEtcd({ endpoints: etcd.endpoints, prefix: PREFIX, tls: { ca: certs.ca }, auth: { username: 'halo', password: HALO_PASSWORD }, dialTimeoutMs: 1500 }),
      (e: unknown) => {
        assert.ok(isClusterError(e, 'HA_COORD_UNAVAILABLE'), String(e));
        assert.match(e.message, /TLS handshake failure: the member refused our client certificate; none is configured/);
        return true;
      },
    );
  });

  test('an etcd client with a client certificate but a wrong password is refused: HA_PERMISSION', async () => {
    const started = Date.now();
    await assert.rejects(
      connectEtcd({ endpoints: etcd.endpoints, prefix: PREFIX, tls: tlsOf(certs), auth: { username: 'halo', password: 'wrong' }, dialTimeoutMs: 3000 }),
      (e: unknown) => {
        assert.ok(isClusterError(e, 'HA_PERMISSION'), String(e));
        assert.match(e.message, /etcd refused the credentials .*authentication failed/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 3000, 'refused at once, not after the dial timeout');
  });

  test('the group runs, switches over, and fails over after the active node is killed', async (t) => {
    const c = new TestCluster({
      portOffset: PORT_OFFSET,
      net: 81,
      stopTimeoutMs: 1000,
      etcdEndpoints: etcd.endpoints,
      etcdSettings: { tls: tlsOf(certs), auth: { username: 'halo', passwordFile } },
    });
    try {
      await c.start();
      const a = await c.waitActive(() => true, 20_000, 'web active');
      t.diagnostic(`active on ${a.node} (epoch ${a.epoch})`);

      // Switchover through the CLI (HTTPS API, admin token).
      const target: NodeName = a.node === 'n2' ? 'n3' : 'n2';
      const sw = await c.cli(['switchover', 'web', '--to', target]);
      assert.equal(sw.code, 0, sw.stderr + sw.stdout);
      const b = await c.waitActive((x) => x.node === target, 15_000, `active on ${target}`);
      assert.ok(b.epoch > a.epoch);
      // Longer than the token TTL: every agent's watches and calls carry on with new tokens.
      await new Promise((r) => setTimeout(r, 4000));

      // Failover: the active node's agent, service and guard die at once.
      const guard = (JSON.parse(readFileSync(`${c.dir}/state/${b.node}/web/app/pid.json`, 'utf8')) as { guardPid: number }).guardPid;
      process.kill(c.agentPid(b.node), 'SIGKILL');
      process.kill(b.pid, 'SIGKILL');
      process.kill(guard, 'SIGKILL');
      const f = await c.waitActive((x) => x.node !== b.node, 25_000, 'group active elsewhere');
      assert.ok(f.epoch > b.epoch);
      assert.equal((await c.serve(f.node))?.node, f.node);
      assert.deepEqual(overlaps(c.records()), []);
      const kinds = (await c.events()).map((e) => e.kind);
      assert.ok(kinds.includes('switched-over'), kinds.join(','));

      // The stored configuration, as the API shows it, names the password file, never a password.
      const shown = await c.cli(['config', 'get']);
      assert.equal(shown.code, 0, shown.stderr);
      assert.ok(shown.stdout.includes(passwordFile) && !shown.stdout.includes(HALO_PASSWORD));

      // An agent configured with a wrong password exits with the error, in bounded time.
      const doc = parseDocument(readFileSync(c.configFile, 'utf8'));
      doc.setIn(['coordinator', 'auth'], { username: 'halo', password: 'not-the-password' });
      doc.setIn(['stateDir'], join(c.dir, 'state-wrong'));
      const wrongConfig = join(c.dir, 'wrong-password.yaml');
      writeFileSync(wrongConfig, doc.toString());
      const r = await runHalo(['agent', '--config', wrongConfig, '--node', f.node], 20_000);
      t.diagnostic(`wrong password: exit ${r.code} after ${r.ms} ms (${r.errorToExitMs ?? '?'} ms after the error): ${r.stderr.trim()}`);
      assert.equal(r.code, 1, `exits 1 (got ${r.code}); stderr: ${r.stderr}`);
      assert.ok(r.ms < 10_000, `exits within 10 s (took ${r.ms} ms)`);
      // Once the error is out the process ends: nothing left open keeps it alive (it lingered for seconds, or for good).
      assert.ok(r.errorToExitMs !== undefined && r.errorToExitMs < 2000, `exits within 2 s of reporting the error (took ${r.errorToExitMs ?? '?'} ms)`);
      assert.match(r.stderr, /^halo: HA_PERMISSION: .*etcd refused the credentials .*authentication failed/m);
      assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
    } finally {
      await c.stop();
    }
  });
});

/**
 * Runs the halo CLI; a process still running after `limitMs` is killed and reported with code -1.
 * `errorToExitMs`: from the first "halo: " error line on stderr to the exit.
 */
function runHalo(args: readonly string[], limitMs: number): Promise<{ code: number; stderr: string; ms: number; errorToExitMs: number | undefined }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const p = spawn(process.execPath, [HALO_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let errorAt: number | undefined;
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (errorAt === undefined && /^halo: /m.test(stderr)) errorAt = Date.now();
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const now = Date.now();
      resolve({ code: code ?? -1, stderr, ms: now - started, errorToExitMs: errorAt === undefined ? undefined : now - errorAt });
    });
  });
}
