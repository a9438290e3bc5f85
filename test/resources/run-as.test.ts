import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { MonitorConfigSchema, ProcessResourceSchema } from '../../src/domain/config.js';
import { makeMonitor } from '../../src/monitors/index.js';
import { isAlive, monotonicNowMs } from '../../src/platform/proc.js';
import { decideSwitch, resolveRunAs, setprivArgv, type RunAsIdentity } from '../../src/platform/run-as.js';
import { ProcessAgent } from '../../src/resources/process/agent.js';
import { readExitRecord, readPidRecord } from '../../src/resources/process/files.js';
import { eventually, sandbox } from './helpers.js';

// Only users every Debian host has: root and nobody (group nogroup).
const NOBODY_UID = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
const NOBODY_GID = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
const NOBODY_GROUPS = execFileSync('id', ['-G', 'nobody'], { encoding: 'utf8' }).trim().split(/\s+/).map(Number);
const NOBODY_HOME = execFileSync('getent', ['passwd', 'nobody'], { encoding: 'utf8' }).trim().split(':')[5] ?? '';
const NOGROUP_GID = Number((execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).trim().split(':')[2] ?? 'x'));
const isRoot = process.getuid?.() === 0;

/** The Uid/Gid/Groups/NoNewPrivs/CapEff lines of /proc/<pid>/status, whitespace normalised. */
function credentials(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(Uid|Gid|Groups|NoNewPrivs|CapEff):\s*(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2].trim().split(/\s+/).join(' ');
  }
  return out;
}

/** Waits until `pid` has exec'd `comm`: pid.json appears when setpriv runs, before it has set the ids and exec'd the command. */
async function execd(pid: number, comm: string): Promise<void> {
  await eventually(`pid ${pid} runs ${comm}`, () => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm;
    } catch {
      return false;
    }
  }, { timeoutMs: 5_000 });
}

/** A root-owned directory with the given mode, removed after the test. */
function rootDir(t: TestContext, mode: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'halo-runas-'));
  chmodSync(dir, mode);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const SHELL_SERVICE = `
  echo "env HOME=$HOME USER=$USER LOGNAME=$LOGNAME"
  if touch "$1/by-service" 2>/dev/null; then echo "locked: wrote"; else echo "locked: denied"; fi
  if touch "$2/by-service" 2>/dev/null; then echo "open: wrote"; else echo "open: denied"; fi
  exec sleep 600
`;

describe('process resources with user/group', { timeout: 30_000, skip: isRoot ? false : 'needs root' }, () => {
  test('user: nobody runs with the uid, gid and supplementary groups of nobody, its HOME/USER/LOGNAME, and cannot write a root-owned 0755 directory', async (t) => {
    const sb = sandbox(t);
    // The sandbox (0700) would hide the test directories from nobody: open the way to them.
    chmodSync(sb.dir, 0o755);
    const locked = rootDir(t, 0o755);
    const open = rootDir(t, 0o777);
    const agent = new ProcessAgent(ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: '/bin/sh', args: ['-c', SHELL_SERVICE, 'sh', locked, open], user: 'nobody' }));
    const res = await agent.start(sb.ctx);
    assert.equal(res.ok, true, res.detail);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    assert.equal(rec.pgid, rec.pid, 'still the leader of its own process group');

    await eventually('service output', () => sb.stdout().includes('open:'), { timeoutMs: 5_000 });
    await execd(rec.pid, 'sleep');
    assert.equal(
      sb.stdout(),
      `env HOME=${NOBODY_HOME} USER=nobody LOGNAME=nobody\nlocked: denied\nopen: wrote\n`,
    );
    const creds = credentials(rec.pid);
    assert.deepEqual(creds, {
      Uid: Array(4).fill(NOBODY_UID).join(' '),
      Gid: Array(4).fill(NOBODY_GID).join(' '),
      Groups: NOBODY_GROUPS.join(' '),
      NoNewPrivs: '1',
      CapEff: '0000000000000000',
    });
    assert.equal(existsSync(join(locked, 'by-service')), false);
    assert.equal(statSync(join(open, 'by-service')).uid, NOBODY_UID);
    // halo opened the logs: they stay root's, and the service writes to them all the same.
    assert.equal(statSync(join(sb.ctx.stateDir, 'stdout.log')).uid, 0);
    // The guard stays root, so the service cannot take its fencing away.
    assert.equal(credentials(rec.guardPid)['Uid'], '0 0 0 0');
    const killGuard = spawnSync('/usr/bin/setpriv', setprivArgv({ uid: NOBODY_UID, gid: NOBODY_GID, groups: NOBODY_GROUPS }, 'kill', ['-9', String(rec.guardPid)]));
    assert.notEqual(killGuard.status, 0, 'nobody cannot signal the guard');
    assert.equal(isAlive(rec.guardPid), true);

    const stopped = await agent.stop(sb.ctx);
    assert.equal(stopped.ok, true, stopped.detail);
    assert.equal(isAlive(rec.pid), false);
  });

  test('a process running as nobody is killed by the guard at the fence deadline', async (t) => {
    const sb = sandbox(t, { fenceAheadMs: 300 });
    const agent = new ProcessAgent(ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: '/bin/sh', args: ['-c', 'exec sleep 600'], user: 'nobody' }));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    await execd(rec.pid, 'sleep');
    assert.equal(credentials(rec.pid)['Uid'], Array(4).fill(NOBODY_UID).join(' '));
    sb.fence.stop();
    const deadline = sb.fence.lastDeadline;
    await eventually('fenced kill', () => !isAlive(rec.pid), { timeoutMs: 3_000, intervalMs: 5 });
    const late = monotonicNowMs() - deadline;
    assert.ok(late < 300, `killed ${late} ms after the deadline`);
    const exit = await eventually('exit record', () => readExitRecord(sb.ctx.stateDir) ?? undefined, { timeoutMs: 2_000 });
    assert.equal(exit.reason, 'fenced');
  });

  test('group alone sets the gid and the only supplementary group; the user stays the agent\'s', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: '/bin/sh', args: ['-c', 'exec sleep 600'], group: 'nogroup' }));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    await execd(rec.pid, 'sleep');
    const creds = credentials(rec.pid);
    assert.equal(creds['Uid'], '0 0 0 0');
    assert.equal(creds['Gid'], Array(4).fill(NOGROUP_GID).join(' '));
    assert.equal(creds['Groups'], String(NOGROUP_GID));
    assert.equal((await agent.stop(sb.ctx)).ok, true);
  });

  test('an unknown user or group is a start failure naming the field, and nothing runs', async (t) => {
    const sb = sandbox(t);
    const noUser = new ProcessAgent(ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: '/bin/true', user: 'halo-no-such-user' }));
    assert.deepEqual(await noUser.start(sb.ctx), {
      ok: false,
      code: 'HA_RESOURCE_START_FAILED',
      detail: 'user: no user "halo-no-such-user" on this node (getent passwd halo-no-such-user found nothing)',
    });
    assert.equal(readPidRecord(sb.ctx.stateDir), null);
    assert.equal((await noUser.probe(sb.ctx)).kind, 'stopped');

    const noGroup = new ProcessAgent(ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: '/bin/true', user: 'nobody', group: 'halo-no-such-group' }));
    assert.deepEqual(await noGroup.start(sb.ctx), {
      ok: false,
      code: 'HA_RESOURCE_START_FAILED',
      detail: 'group: no group "halo-no-such-group" on this node (getent group halo-no-such-group found nothing)',
    });
  });

  test('an agent that is not root refuses to start a resource as another user', async (t) => {
    // A real agent process running as nobody, asked to start a resource as root.
    const state = rootDir(t, 0o777);
    mkdirSync(join(state, 'svc'), { mode: 0o777 });
    chmodSync(join(state, 'svc'), 0o777);
    const agentModule = new URL('../../src/resources/process/agent.js', import.meta.url).href;
    const script = `
      const { ProcessAgent } = await import(${JSON.stringify(agentModule)});
      const ctx = JSON.parse(process.argv[1]);
      const agent = new ProcessAgent({ name: 'svc', type: 'process', command: '/bin/true', args: [], env: {}, user: 'root', startTimeoutMs: 5000, stopTimeoutMs: 1000, monitors: [] });
      console.log(JSON.stringify(await agent.start(ctx)));
    `;
    const ctx = { node: 'n1', group: 'web', epoch: 1, role: 'active', stateDir: join(state, 'svc'), fenceFile: join(state, 'fence') };
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(ctx)], { uid: NOBODY_UID, gid: NOBODY_GID, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
      let s = '';
      p.stdout.on('data', (c: Buffer) => (s += c.toString()));
      p.once('error', reject);
      p.once('exit', () => resolve(s));
    });
    assert.deepEqual(JSON.parse(out), {
      ok: false,
      code: 'HA_PERMISSION',
      detail: `user: "root" (uid 0) is not the agent's own user (uid ${NOBODY_UID}), and only an agent running as root can switch users; run the agent as root or remove user:`,
    });
    assert.equal(existsSync(join(state, 'svc', 'pid.json')), false);
  });
});

describe('resolveRunAs', () => {
  const nobody: RunAsIdentity = { uid: NOBODY_UID, gid: NOBODY_GID, groups: NOBODY_GROUPS, login: { name: 'nobody', home: NOBODY_HOME } };

  test('no fields: nothing to do', async () => {
    assert.deepEqual(await resolveRunAs({}), { ok: true, plan: null });
  });

  test('as root: the identity of the user, through setpriv', async () => {
    assert.deepEqual(await resolveRunAs({ user: 'nobody' }, { self: { uid: 0, gid: 0 } }), { ok: true, plan: { identity: nobody, setpriv: '/usr/bin/setpriv' } });
    assert.deepEqual(await resolveRunAs({ user: String(NOBODY_UID) }, { self: { uid: 0, gid: 0 } }), { ok: true, plan: { identity: nobody, setpriv: '/usr/bin/setpriv' } });
  });

  test('as the user itself: nothing to switch, HOME and the rest still follow the user', async () => {
    assert.deepEqual(await resolveRunAs({ user: 'nobody' }, { self: { uid: NOBODY_UID, gid: NOBODY_GID } }), { ok: true, plan: { identity: nobody, setpriv: null } });
  });

  test('not root and another user or group: refused with the reason', () => {
    assert.deepEqual(decideSwitch({ user: 'nobody' }, nobody, { uid: 1000, gid: 1000 }), {
      kind: 'refuse',
      detail: `user: "nobody" (uid ${NOBODY_UID}) is not the agent's own user (uid 1000), and only an agent running as root can switch users; run the agent as root or remove user:`,
    });
    assert.deepEqual(decideSwitch({ user: 'nobody', group: 'staff' }, { ...nobody, gid: 50 }, { uid: NOBODY_UID, gid: NOBODY_GID }), {
      kind: 'refuse',
      detail: `group: "staff" (gid 50) is not the agent's own group (gid ${NOBODY_GID}), and only an agent running as root can switch groups`,
    });
    assert.deepEqual(decideSwitch({ user: 'nobody' }, nobody, { uid: 0, gid: 0 }), { kind: 'switch' });
  });

  test('without setpriv: a start failure that says what is missing', async () => {
    const r = await resolveRunAs({ user: 'nobody' }, { self: { uid: 0, gid: 0 }, setprivPaths: ['/nonexistent/setpriv'] });
    assert.deepEqual(r, {
      ok: false,
      code: 'HA_RESOURCE_START_FAILED',
      detail: 'user: running a command as another user needs setpriv (util-linux), not found in /usr/bin/setpriv, /bin/setpriv, /usr/sbin/setpriv, /sbin/setpriv',
    });
  });

  test('setpriv argv: groups, gid, uid, no inheritable capabilities, no new privileges, then the command after --', () => {
    assert.deepEqual(setprivArgv({ uid: 5, gid: 6, groups: [6, 7] }, '-x', ['a']), ['--reuid=5', '--regid=6', '--groups=6,7', '--inh-caps=-all', '--no-new-privs', '--', '-x', 'a']);
    assert.deepEqual(setprivArgv({ uid: 5, gid: 6, groups: [] }, 'cmd', []), ['--reuid=5', '--regid=6', '--clear-groups', '--inh-caps=-all', '--no-new-privs', '--', 'cmd']);
  });
});

describe('command monitors with user', { timeout: 30_000, skip: isRoot ? false : 'needs root' }, () => {
  test('the check command runs as that user', async (t) => {
    const dir = rootDir(t, 0o777);
    const file = join(dir, 'id');
    const cfg = MonitorConfigSchema.parse({ kind: 'command', command: '/bin/sh', args: ['-c', `{ id -u; id -g; id -G; echo "$HOME $USER"; } > ${file}`], user: 'nobody', timeoutMs: 5_000 });
    const monitor = makeMonitor(cfg);
    const r = await monitor.check();
    assert.equal(r.ok, true, r.detail);
    assert.equal(readFileSync(file, 'utf8'), `${NOBODY_UID}\n${NOBODY_GID}\n${NOBODY_GROUPS.join(' ')}\n${NOBODY_HOME} nobody\n`);
    assert.equal(statSync(file).uid, NOBODY_UID);
  });

  test('an unknown user fails the check with the reason', async () => {
    const monitor = makeMonitor(MonitorConfigSchema.parse({ kind: 'command', command: '/bin/true', user: 'halo-no-such-user', timeoutMs: 5_000 }));
    const r = await monitor.check();
    assert.equal(r.ok, false);
    assert.equal(r.detail, 'command monitor user: no user "halo-no-such-user" on this node (getent passwd halo-no-such-user found nothing)');
  });
});
