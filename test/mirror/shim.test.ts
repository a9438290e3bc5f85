import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { SyncSocketServer } from '../../src/mirror/sync-socket.js';
import { ensureNative } from '../../src/platform/native.js';
import { tempDir } from './helpers.js';

/**
 * The fsync shim's other ways to ask for durability, with real processes: writes to O_SYNC /
 * O_DSYNC descriptors and syncfs() are shipped (the agent's socket is asked) and fail with EIO when
 * no agent answers; ordinary writes and files outside the mirrored directory are not.
 */

const skip = spawnSync('cc', ['--version']).status === 0 ? false : 'cc (gcc) not found; install with: apt-get install -y gcc libc6-dev';
if (skip !== false && process.env['CI'] === 'true') throw new Error(`shim tests cannot run in CI: ${skip}`);

interface Run {
  readonly code: number | null;
  readonly stderr: string;
}

/** Runs `cmd` with the shim's environment (asynchronously: the agent's socket is served by this process). */
function run(env: Record<string, string>, cmd: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.once('close', (c) => resolve({ code: c, stderr }));
  });
}

/** Runs node with `code` (argv[1] = the file), the shim preloaded. */
const runNode = (env: Record<string, string>, code: string, file: string): Promise<Run> => run(env, process.execPath, ['-e', code, file]);

const DSYNC_WRITES = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_APPEND | fs.constants.O_DSYNC);
for (let i = 0; i < 3; i++) fs.writeSync(fd, 'line ' + i + '\\n');
fs.writeSync(fd, Buffer.from('positional\\n'), 0, 11, 0);
fs.writevSync(fd, [Buffer.from('a'), Buffer.from('b\\n')]);
`;
const PLAIN_WRITES = `
const fs = require('node:fs');
const fd = fs.openSync(process.argv[1], 'a');
for (let i = 0; i < 3; i++) fs.writeSync(fd, 'line ' + i + '\\n');
`;

async function setup(t: TestContext): Promise<{ root: string; dir: string; env: Record<string, string>; asked: string[]; server: SyncSocketServer }> {
  const root = tempDir(t, 'halo-shim-');
  const dir = join(root, 'data');
  mkdirSync(dir);
  const shim = await ensureNative('halo-fsync.so', join(root, 'shim'));
  const socket = join(root, 'fsync.sock');
  const asked: string[] = [];
  const server = new SyncSocketServer(socket, async (p) => {
    asked.push(p);
    return ['n2'];
  });
  await server.start();
  t.after(() => server.stop());
  return { root, dir, env: { LD_PRELOAD: shim, HALO_MIRROR_DIR: dir, HALO_MIRROR_SOCKET: socket }, asked, server };
}

describe('fsync shim: O_SYNC/O_DSYNC writes and syncfs', { skip, timeout: 60_000 }, () => {
  test('each write to an O_DSYNC descriptor under the mirror is shipped before it returns (write, pwrite, writev)', async (t) => {
    const { dir, env, asked } = await setup(t);
    const file = join(dir, 'wal');
    const r = await runNode(env, DSYNC_WRITES, file);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(asked, [file, file, file, file, file]);
  });

  test('ordinary writes, and O_DSYNC writes outside the mirrored directory, are not shipped', async (t) => {
    const { root, dir, env, asked } = await setup(t);
    assert.equal((await runNode(env, PLAIN_WRITES, join(dir, 'plain'))).code, 0);
    assert.equal((await runNode(env, DSYNC_WRITES, join(root, 'outside'))).code, 0);
    assert.deepEqual(asked, []);
  });

  test('without an agent an O_DSYNC write under the mirror fails with EIO', async (t) => {
    const { dir, env, server } = await setup(t);
    await server.stop();
    const r = await runNode(env, DSYNC_WRITES, join(dir, 'wal'));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /EIO/);
  });

  test('syncfs (sync -f) asks for the whole mirrored tree, and fails without an agent', async (t) => {
    const { dir, env, asked, server } = await setup(t);
    const ok = await run(env, 'sync', ['-f', dir]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(asked, [dir]);
    await server.stop();
    const failed = await run(env, 'sync', ['-f', dir]);
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /Input\/output error/);
  });
});
