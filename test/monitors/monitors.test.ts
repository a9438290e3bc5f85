import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MonitorConfigSchema, type MonitorConfig } from '../../src/domain/config.js';
import { CommandMonitor, DiskMonitor, HttpMonitor, makeMonitor, TcpMonitor } from '../../src/monitors/index.js';
import { substituteNodeVars } from '../../src/domain/node-vars.js';
import { isAlive } from '../../src/platform/proc.js';

const cfg = (v: unknown): MonitorConfig => MonitorConfigSchema.parse(v);

function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : 0);
    });
  });
}

async function eventually(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('monitors', { timeout: 30_000 }, () => {
  let dir = '';
  let httpPort = 0;
  let silentPort = 0;
  const http = createHttpServer((req, res) => {
    switch (req.url) {
      case '/health':
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        return;
      case '/json':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ role: 'active', epoch: 3 }));
        return;
      case '/down':
        res.writeHead(503).end('unavailable');
        return;
      case '/teapot':
        res.writeHead(418).end('teapot');
        return;
      default:
        res.writeHead(404).end();
    }
  });
  // Accepts connections, reads (so it notices the client closing) and never answers.
  const silentSockets = new Set<Socket>();
  const silent = createTcpServer((s) => {
    silentSockets.add(s);
    s.resume();
    s.on('close', () => silentSockets.delete(s));
  });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'halo-mon-'));
    httpPort = await listen(http);
    silentPort = await listen(silent);
  });
  after(() => {
    http.closeAllConnections();
    http.close();
    for (const s of silentSockets) s.destroy();
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('http', () => {
    test('passes on 2xx by default and reports the status', async () => {
      const r = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${httpPort}/health` })).check();
      assert.equal(r.ok, true, r.detail);
      assert.equal(r.detail, 'status 200');
      assert.ok(r.latencyMs >= 0);
    });

    test('fails on a non-2xx status, or a status other than the expected one', async () => {
      const down = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${httpPort}/down` })).check();
      assert.deepEqual([down.ok, down.detail], [false, 'status 503, expected 2xx']);
      const wrong = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${httpPort}/health`, expectStatus: 204 })).check();
      assert.deepEqual([wrong.ok, wrong.detail], [false, 'status 200, expected 204']);
      const teapot = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${httpPort}/teapot`, expectStatus: 418 })).check();
      assert.equal(teapot.ok, true, teapot.detail);
    });

    test('checks the body against bodyMatch', async () => {
      const match = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${httpPort}/json`, bodyMatch: '"role":"active"' })).check();
      assert.equal(match.ok, true, match.detail);
      const mismatch = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${httpPort}/json`, bodyMatch: '"role":"standby"' })).check();
      assert.equal(mismatch.ok, false);
      assert.match(mismatch.detail, /body does not match/);
    });

    test('times out against a server that never answers', async () => {
      const started = Date.now();
      const r = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${silentPort}/`, timeoutMs: 200 })).check();
      const took = Date.now() - started;
      assert.deepEqual([r.ok, r.detail], [false, 'timed out after 200 ms']);
      assert.ok(took >= 190 && took < 1_500, `took ${took} ms`);
      await eventually('client socket closed', () => silentSockets.size === 0, 2_000);
    });

    test('an abort from the caller ends the check early, without throwing', async () => {
      const ac = new AbortController();
      const pending = makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${silentPort}/`, timeoutMs: 5_000 })).check(ac.signal);
      ac.abort();
      const r = await pending;
      assert.deepEqual([r.ok, r.detail], [false, 'aborted']);
    });

    test('fails with the connection error when nothing listens', async () => {
      const closed = createTcpServer();
      const port = await listen(closed);
      await new Promise((r) => closed.close(r));
      const r = await makeMonitor(cfg({ kind: 'http', url: `http://127.0.0.1:${port}/` })).check();
      assert.equal(r.ok, false);
      assert.match(r.detail, /ECONNREFUSED/);
    });

    test('fills node placeholders into the url', async () => {
      const m = makeMonitor(cfg({ kind: 'http', url: `http://\${HALO_NODE_ADDRESS}:${httpPort}/health` }), { HALO_NODE_ADDRESS: '127.0.0.1' });
      assert.ok(m instanceof HttpMonitor);
      assert.equal((await m.check()).ok, true);
    });
  });

  describe('tcp', () => {
    test('passes when a connection is accepted', async () => {
      const m = makeMonitor(cfg({ kind: 'tcp', port: httpPort }));
      assert.ok(m instanceof TcpMonitor);
      const r = await m.check();
      assert.deepEqual([r.ok, r.detail], [true, `connected to 127.0.0.1:${httpPort}`]);
    });

    test('fails when the connection is refused', async () => {
      const closed = createTcpServer();
      const port = await listen(closed);
      await new Promise((r) => closed.close(r));
      const r = await makeMonitor(cfg({ kind: 'tcp', host: '${HALO_NODE_ADDRESS}', port }), { HALO_NODE_ADDRESS: '127.0.0.1' }).check();
      assert.equal(r.ok, false);
      assert.match(r.detail, /ECONNREFUSED 127\.0\.0\.1/);
    });
  });

  describe('command', () => {
    test('passes on exit code 0', async () => {
      const m = makeMonitor(cfg({ kind: 'command', command: process.execPath, args: ['-e', 'console.log("fine")'] }));
      assert.ok(m instanceof CommandMonitor);
      const r = await m.check();
      assert.deepEqual([r.ok, r.detail], [true, 'exit 0: fine']);
    });

    test('fails on a non-zero exit code, with the output tail', async () => {
      const r = await makeMonitor(cfg({ kind: 'command', command: process.execPath, args: ['-e', 'console.error("broken"); process.exit(1)'] })).check();
      assert.deepEqual([r.ok, r.detail], [false, 'exit 1: broken']);
    });

    test('fails when the command cannot be run', async () => {
      const r = await makeMonitor(cfg({ kind: 'command', command: join(dir, 'missing') })).check();
      assert.equal(r.ok, false);
      assert.match(r.detail, /ENOENT/);
    });

    test('on timeout kills the command and everything in its process group', async () => {
      const pids = join(dir, 'pids');
      // The shell starts a background sleeper, records both pids, then waits forever.
      const script = `sleep 30 & echo "$$ $!" > ${pids}; wait`;
      const started = Date.now();
      const r = await makeMonitor(cfg({ kind: 'command', command: '/bin/sh', args: ['-c', script], timeoutMs: 300 })).check();
      const took = Date.now() - started;
      assert.deepEqual([r.ok, r.detail], [false, 'timed out after 300 ms']);
      assert.ok(took < 1_500, `took ${took} ms`);
      const [shell, sleeper] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
      assert.ok(shell !== undefined && sleeper !== undefined);
      await eventually('shell and sleeper killed', () => !isAlive(shell) && !isAlive(sleeper), 2_000);
    });

    test('fills node placeholders into command arguments', async () => {
      const r = await makeMonitor(cfg({ kind: 'command', command: process.execPath, args: ['-e', 'process.exit(process.argv[1] === "n7" ? 0 : 1)', '${HALO_NODE}'] }), { HALO_NODE: 'n7' }).check();
      assert.equal(r.ok, true, r.detail);
    });
  });

  describe('disk', () => {
    test('writes, syncs and removes a probe file', async () => {
      const m = makeMonitor(cfg({ kind: 'disk', path: dir }));
      assert.ok(m instanceof DiskMonitor);
      const r = await m.check();
      assert.equal(r.ok, true, r.detail);
      assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.halo-disk-check')), []);
    });

    test('fails on a directory that does not exist', async () => {
      const r = await makeMonitor(cfg({ kind: 'disk', path: join(dir, 'nope') })).check();
      assert.equal(r.ok, false);
      assert.match(r.detail, /ENOENT/);
    });
  });

  test('substituteNodeVars replaces only known placeholders that have values', () => {
    assert.equal(substituteNodeVars('${HALO_NODE}@${HALO_NODE_ADDRESS}:${OTHER}', { HALO_NODE: 'n1', HALO_NODE_ADDRESS: '10.0.0.1' }), 'n1@10.0.0.1:${OTHER}');
    assert.equal(substituteNodeVars('${HALO_NODE_ADDRESS}', { HALO_NODE: 'n1' }), '${HALO_NODE_ADDRESS}');
    assert.equal(substituteNodeVars('${HALO_NODE}', undefined), '${HALO_NODE}');
  });
});
