import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText, redactConfigSource } from '../../src/config/index.js';
import { etcdPassword } from '../../src/agent/run.js';
import { isClusterError } from '../../src/domain/errors.js';

const base = (coordinator: string, timing = '') => `cluster: prod
coordinator:
${coordinator}
${timing}
nodes:
  - { name: n1, address: 10.0.0.1, apiPort: 7401 }
`;

test('an etcd coordinator parses with its defaults', () => {
  const r = parseConfigText(base('  kind: etcd\n  endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]'), 'halo.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.deepEqual(r.config.coordinator, {
    kind: 'etcd',
    endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    prefix: '',
    dialTimeoutMs: 3000,
    requestTimeoutMs: 2000,
  });
});

test('etcd needs at least one endpoint', () => {
  const r = parseConfigText(base('  kind: etcd\n  endpoints: []'), 'halo.yaml');
  assert.ok(!r.ok);
  assert.equal(r.issues[0]?.path, 'coordinator.endpoints');
  assert.equal(r.issues[0]?.line, 4);
});

test('etcd leases are whole seconds: a 1500 ms TTL is refused with what to use instead', () => {
  const r = parseConfigText(base('  kind: etcd\n  endpoints: [http://10.0.0.1:2379]', 'timing: { leaseTtlMs: 3500, renewIntervalMs: 300, safetyMarginMs: 500 }'), 'halo.yaml');
  assert.ok(!r.ok);
  const issue = r.issues.find((i) => i.path === 'timing.leaseTtlMs');
  assert.ok(issue, JSON.stringify(r.issues));
  assert.match(issue.message, /whole seconds.*4000/);
});

const etcdWithAuth = (auth: string): string => base(`  kind: etcd\n  endpoints: [https://10.0.0.1:2379]\n  auth:\n${auth}`);

test('etcd auth takes password or passwordFile', () => {
  const inline = parseConfigText(etcdWithAuth('    username: halo\n    password: pw'), 'halo.yaml');
  assert.ok(inline.ok, JSON.stringify(!inline.ok && inline.issues));
  assert.deepEqual(inline.config.coordinator.kind === 'etcd' && inline.config.coordinator.auth, { username: 'halo', password: 'pw' });
  const file = parseConfigText(etcdWithAuth('    username: halo\n    passwordFile: secrets/etcd.pw'), 'halo.yaml');
  assert.ok(file.ok, JSON.stringify(!file.ok && file.issues));
  assert.deepEqual(file.config.coordinator.kind === 'etcd' && file.config.coordinator.auth, { username: 'halo', passwordFile: 'secrets/etcd.pw' });
});

test('etcd auth with both password and passwordFile, or neither: an issue at the field, without echoing the password', () => {
  const both = parseConfigText(etcdWithAuth('    username: halo\n    password: hunter2\n    passwordFile: etcd.pw'), 'halo.yaml');
  assert.ok(!both.ok);
  assert.deepEqual(both.issues.map((i) => [i.path, i.line, i.message]), [['coordinator.auth.passwordFile', 8, 'give either password or passwordFile, not both']]);
  assert.ok(!JSON.stringify(both.issues).includes('hunter2'));
  const neither = parseConfigText(etcdWithAuth('    username: halo'), 'halo.yaml');
  assert.ok(!neither.ok);
  assert.equal(neither.issues[0]?.path, 'coordinator.auth');
  assert.match(neither.issues[0]?.message ?? '', /needs password or passwordFile/);
});

test('passwordFile: read relative to the config, trailing newline dropped; refused when group/others can read it, missing, empty or several lines', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-etcd-pw-'));
  const resolve = (p: string): string => join(dir, p);
  const expectInvalid = async (file: string, pattern: RegExp): Promise<void> => {
    await assert.rejects(etcdPassword({ passwordFile: file }, resolve), (e: unknown) => {
      assert.ok(isClusterError(e, 'HA_CONFIG_INVALID'), String(e));
      assert.match(e.message, pattern);
      return true;
    });
  };
  try {
    writeFileSync(join(dir, 'ok.pw'), 'pa ss:word\n', { mode: 0o600 });
    assert.equal(await etcdPassword({ passwordFile: 'ok.pw' }, resolve), 'pa ss:word');
    assert.equal(await etcdPassword({ password: 'inline' }, resolve), 'inline');
    writeFileSync(join(dir, 'open.pw'), 'pw\n');
    chmodSync(join(dir, 'open.pw'), 0o644);
    await expectInvalid('open.pw', new RegExp(`etcd password file \\(coordinator\\.auth\\.passwordFile\\) ${join(dir, 'open.pw')} has mode 0644: group and others must have no access to it; run: chmod 600`));
    await expectInvalid('missing.pw', new RegExp(`cannot read etcd password file \\(coordinator\\.auth\\.passwordFile\\) ${join(dir, 'missing.pw')} \\(ENOENT\\)`));
    writeFileSync(join(dir, 'empty.pw'), '', { mode: 0o600 });
    await expectInvalid('empty.pw', /empty\.pw \(coordinator\.auth\.passwordFile\): expected the password on one line, got an empty file/);
    writeFileSync(join(dir, 'two.pw'), 'a\nb\n', { mode: 0o600 });
    await expectInvalid('two.pw', /got several lines/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('redactConfigSource replaces only an inline etcd password, keeping the text byte for byte', () => {
  const src = etcdWithAuth("    username: halo\n    password: 'it''s' # comment kept");
  assert.equal(redactConfigSource(src), src.replace("'it''s'", '"***"'));
  const flow = base('  kind: etcd\n  endpoints: [https://10.0.0.1:2379]\n  auth: { username: halo, password: pw }');
  assert.equal(redactConfigSource(flow), flow.replace('password: pw', 'password: "***"'));
  const noPassword = etcdWithAuth('    username: halo\n    passwordFile: /etc/halo/etcd.pw');
  assert.equal(redactConfigSource(noPassword), noPassword);
  const alias = `x: &pw hunter2\n${etcdWithAuth('    username: halo\n    password: *pw')}`;
  assert.ok(!redactConfigSource(alias).replace('&pw hunter2', '').includes('hunter2'));
  assert.match(redactConfigSource(alias), /password: "\*\*\*"/);
});
