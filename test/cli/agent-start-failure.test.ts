import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HALO_BIN, writeDemoConfig } from '../../src/demo/run.js';

/**
 * `halo agent` that fails while starting exits with the error. Here its etcd member accepts
 * connections and never answers (so the etcd client's health checks stay in flight), and the
 * node's TLS files are missing, which fails the start right after the etcd client was made.
 * Before the fix the process printed the error and then stayed alive on the open etcd client.
 */
test('halo agent failing at start exits with the error even while its etcd client waits on a silent member', { timeout: 30_000 }, async () => {
  const sockets = new Set<Socket>();
  const silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const addr = silent.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const dir = mkdtempSync(join(tmpdir(), 'halo-agent-start-'));
  try {
    const file = writeDemoConfig(
      dir,
      (doc) => doc.setIn(['coordinator'], { kind: 'etcd', endpoints: [`http://127.0.0.1:${port}`], auth: { username: 'halo', password: 'pw' } }),
      { tls: { ca: join(dir, 'missing', 'ca.crt'), cert: join(dir, 'missing', '${HALO_NODE}.crt'), key: join(dir, 'missing', '${HALO_NODE}.key') } },
    );
    const r = await new Promise<{ code: number; stderr: string; errorToExitMs: number | undefined }>((resolve) => {
      const p = spawn(process.execPath, [HALO_BIN, 'agent', '--config', file, '--node', 'n1'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      let errorAt: number | undefined;
      p.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (errorAt === undefined && /^halo: /m.test(stderr)) errorAt = Date.now();
      });
      const limit = setTimeout(() => p.kill('SIGKILL'), 15_000);
      p.on('exit', (code) => {
        clearTimeout(limit);
        resolve({ code: code ?? -1, stderr, errorToExitMs: errorAt === undefined ? undefined : Date.now() - errorAt });
      });
    });
    assert.match(r.stderr, /^halo: HA_CONFIG_INVALID: security\.tls\.ca: cannot read .*missing\/ca\.crt \(ENOENT\)/m);
    assert.equal(r.code, 1, `exits 1, not killed after 15 s (stderr: ${r.stderr})`);
    assert.ok(r.errorToExitMs !== undefined && r.errorToExitMs < 2000, `exits within 2 s of the error (took ${r.errorToExitMs ?? '?'} ms)`);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
