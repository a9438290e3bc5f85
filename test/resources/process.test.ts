import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ProcessResourceSchema } from '../../src/domain/config.js';
import { makeMonitor } from '../../src/monitors/index.js';
import { groupAlive, isAlive, monotonicNowMs, readCmdline, readProcStat, readStartTime } from '../../src/platform/proc.js';
import { makeResourceAgent } from '../../src/resources/index.js';
import { ProcessAgent } from '../../src/resources/process/agent.js';
import { readExitRecord, readPidRecord, type PidRecord } from '../../src/resources/process/files.js';
import { eventually, FenceKeeper, nodeScript, sandbox, type Sandbox } from './helpers.js';
import { freePort } from '../support/util.js';

const KEEP_ALIVE = 'setInterval(() => {}, 1000);';
const SAMPLE_SERVICE = fileURLToPath(new URL('../../../examples/sample-service.mjs', import.meta.url));

describe('ProcessAgent', { timeout: 30_000 }, () => {
  test('start, probe and stop are idempotent; env carries the fencing token; output goes to the logs', async (t) => {
    const sb = sandbox(t, { epoch: 42, role: 'standby' });
    const agent = new ProcessAgent(
      nodeScript(
        `console.log('env', process.env.HALO_EPOCH, process.env.HALO_ROLE, process.env.HALO_NODE, process.env.HALO_GROUP, process.env.HALO_RESOURCE, process.env.GREETING);
         console.error('to stderr');
         ${KEEP_ALIVE}`,
        { env: { GREETING: 'hi-${HALO_NODE}-${HALO_NODE_ADDRESS}' } },
      ),
      { HALO_NODE: 'n1', HALO_NODE_ADDRESS: '127.0.0.9' },
    );

    assert.deepEqual(await agent.probe(sb.ctx), { kind: 'stopped', detail: 'not started' });
    const first = await agent.start(sb.ctx);
    assert.equal(first.ok, true, first.detail);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    assert.equal(first.detail, `pid ${rec.pid}`);
    assert.equal(rec.pgid, rec.pid, 'the command leads its own process group');
    assert.equal(readProcStat(rec.pid)?.pgrp, rec.pid);
    assert.equal(rec.startTime, readStartTime(rec.pid));
    assert.equal(rec.epoch, 42);
    assert.equal(rec.role, 'standby');

    const second = await agent.start(sb.ctx);
    assert.equal(second.ok, true);
    assert.match(second.detail, /already running/);
    assert.equal(readPidRecord(sb.ctx.stateDir)?.pid, rec.pid, 'a second start does not start another process');

    const obs = await agent.probe(sb.ctx);
    assert.equal(obs.kind, 'running');
    assert.ok(obs.kind === 'running');
    assert.equal(obs.pid, rec.pid);
    assert.equal(obs.startedAt, rec.startedAt);

    await eventually('stdout line', () => sb.stdout().includes('env 42 standby n1 web svc hi-n1-127.0.0.9'), { timeoutMs: 5_000 });
    await eventually('stderr line', () => sb.stderr().includes('to stderr'), { timeoutMs: 5_000 });

    const stopped = await agent.stop(sb.ctx);
    assert.equal(stopped.ok, true, stopped.detail);
    assert.equal(isAlive(rec.pid), false);
    assert.equal(groupAlive(rec.pgid), false);
    await eventually('guard exit', () => !isAlive(rec.guardPid), { timeoutMs: 2_000 });
    assert.equal(readPidRecord(sb.ctx.stateDir), null, 'stop removes pid.json');
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');

    const again = await agent.stop(sb.ctx);
    assert.deepEqual(again, { ok: true, detail: 'not running' });
  });

  test('stop escalates to SIGKILL when the process ignores SIGTERM', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(`process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('ready'); ${KEEP_ALIVE}`, { stopTimeoutMs: 300 }));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    await eventually('handler installed', () => sb.stdout().includes('ready'), { timeoutMs: 5_000 });

    const t0 = monotonicNowMs();
    const res = await agent.stop(sb.ctx);
    const took = monotonicNowMs() - t0;
    assert.equal(res.ok, true, res.detail);
    assert.match(res.detail, /killed after 300 ms/);
    assert.ok(took >= 300, `escalated after the grace period, took ${took} ms`);
    assert.ok(took < 3_000, `took ${took} ms`);
    assert.equal(isAlive(rec.pid), false);
    assert.match(sb.stdout(), /ignoring SIGTERM/, 'SIGTERM was delivered first');
  });

  test('an aborted stop skips the grace period and kills', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(`process.on('SIGTERM', () => {}); console.log('ready'); ${KEEP_ALIVE}`, { stopTimeoutMs: 10_000 }));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    await eventually('handler installed', () => sb.stdout().includes('ready'), { timeoutMs: 5_000 });
    const t0 = monotonicNowMs();
    const res = await agent.stop(sb.ctx, AbortSignal.timeout(200));
    const took = monotonicNowMs() - t0;
    assert.deepEqual(res, { ok: true, detail: 'stop aborted: killed' });
    assert.ok(took < 2_000, `took ${took} ms`);
    assert.equal(isAlive(rec.pid), false);
  });

  test('an already aborted start starts nothing', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    const res = await agent.start(sb.ctx, AbortSignal.abort());
    assert.ok(!res.ok && res.code === 'HA_OPERATION_TIMEOUT', JSON.stringify(res));
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
    assert.equal(readPidRecord(sb.ctx.stateDir), null);
  });

  test('a start aborted at any moment of the guard\'s own start leaves nothing running', async (t) => {
    // The abort lands before, during and after the guard spawns the command and records it; a
    // guard killed between the two would leave the command running unguarded.
    const marker = `halo-abort-sweep-${process.pid}-${Date.now()}`;
    const agent = new ProcessAgent(nodeScript(`/* ${marker} */ ${KEEP_ALIVE}`));
    const survivors = (): number[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map(Number)
        .filter((pid) => isAlive(pid) && (readCmdline(pid) ?? []).some((a) => a.includes(marker)));
    let aborted = 0;
    for (let delay = 0; delay <= 300; delay += 10) {
      const sb = sandbox(t);
      const res = await agent.start(sb.ctx, AbortSignal.timeout(delay));
      if (res.ok) assert.equal((await agent.stop(sb.ctx)).ok, true);
      else aborted += 1;
      assert.deepEqual(survivors(), [], `after a start aborted at ${delay} ms (${res.ok ? 'started' : res.detail})`);
    }
    t.diagnostic(`${aborted} of 31 starts aborted before the command was recorded`);
  });

  test('SIGTERM to the guard stops the command gracefully and records it', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(`process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(0); }); console.log('ready'); ${KEEP_ALIVE}`));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    await eventually('handler installed', () => sb.stdout().includes('ready'), { timeoutMs: 5_000 });
    const exited = agent.exited(sb.ctx, AbortSignal.timeout(5_000));
    process.kill(rec.guardPid, 'SIGTERM');
    assert.equal(await exited, 'stopped (code 0)');
    assert.match(sb.stdout(), /got SIGTERM/);
  });

  test('a SIGSTOPped process is stopped', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE, { stopTimeoutMs: 500 }));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    process.kill(rec.pid, 'SIGSTOP');
    await eventually('stopped state', () => readProcStat(rec.pid)?.state === 'T', { timeoutMs: 2_000 });
    const res = await agent.stop(sb.ctx);
    assert.equal(res.ok, true, res.detail);
    assert.equal(isAlive(rec.pid), false);
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
  });

  test('a new agent instance re-adopts the running process, watches it and stops it', async (t) => {
    const sb = sandbox(t);
    const cfg = nodeScript(KEEP_ALIVE);
    const first = new ProcessAgent(cfg);
    assert.equal((await first.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);

    const second = new ProcessAgent(cfg);
    const obs = await second.probe(sb.ctx);
    assert.ok(obs.kind === 'running', JSON.stringify(obs));
    assert.equal(obs.pid, rec.pid);
    const start = await second.start(sb.ctx);
    assert.equal(start.ok, true);
    assert.match(start.detail, /already running/);
    assert.equal(readPidRecord(sb.ctx.stateDir)?.pid, rec.pid);

    // Adopted: exit is noticed by polling the pid.
    const exited = second.exited(sb.ctx, AbortSignal.timeout(5_000));
    process.kill(rec.pid, 'SIGKILL');
    assert.match(await exited, /SIGKILL/);
    assert.equal((await second.probe(sb.ctx)).kind, 'stopped');
    assert.equal((await second.stop(sb.ctx)).ok, true);
  });

  test('a pid record whose start time does not match (pid reuse) counts as stopped and is never signalled', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    mkdirSync(sb.ctx.stateDir, { recursive: true });
    // Our own pid (certainly alive) with a start time it never had.
    writeFileSync(
      join(sb.ctx.stateDir, 'pid.json'),
      JSON.stringify({ guardPid: process.pid, guardStartTime: '1', pid: process.pid, pgid: process.pid, startTime: '1', epoch: 1, role: 'active', startedAt: 1 }),
    );
    const obs = await agent.probe(sb.ctx);
    assert.equal(obs.kind, 'stopped');
    assert.match(obs.detail, /another process/);
    const res = await agent.stop(sb.ctx);
    assert.deepEqual(res, { ok: true, detail: 'not running' });
    assert.equal(readPidRecord(sb.ctx.stateDir), null);
    // and a start after that works normally
    const started = await agent.start(sb.ctx);
    assert.equal(started.ok, true, started.detail);
    assert.notEqual(readPidRecord(sb.ctx.stateDir)?.pid, process.pid);
    assert.equal((await agent.stop(sb.ctx)).ok, true);
  });

  test('exited() resolves when the child is SIGKILLed, and rejects with the abort reason', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);

    const ac = new AbortController();
    const reason = new Error('no longer interested');
    const aborted = agent.exited(sb.ctx, ac.signal);
    ac.abort(reason);
    await assert.rejects(aborted, (e) => e === reason);

    const exited = agent.exited(sb.ctx, AbortSignal.timeout(5_000));
    process.kill(rec.pid, 'SIGKILL');
    assert.equal(await exited, 'exited on signal SIGKILL');
    const exit = readExitRecord(sb.ctx.stateDir);
    assert.ok(exit !== null && exit.reason === 'exited');
    assert.equal(exit.signal, 'SIGKILL');
    await eventually('guard exit', () => !isAlive(rec.guardPid), { timeoutMs: 2_000 });
  });

  test('a command that exits by itself is reported with its code', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(`setTimeout(() => process.exit(3), 150); ${KEEP_ALIVE}`));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    assert.equal(await agent.exited(sb.ctx, AbortSignal.timeout(5_000)), 'exited with code 3');
    assert.deepEqual(await agent.probe(sb.ctx), { kind: 'stopped', detail: 'exited with code 3' });
    // exited() on something that is not running answers at once
    assert.equal(await agent.exited(sb.ctx, AbortSignal.timeout(1_000)), 'exited with code 3');
  });

  test('a command that cannot be executed fails to start', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(ProcessResourceSchema.parse({ name: 'svc', type: 'process', command: join(sb.dir, 'no-such-binary') }));
    const res = await agent.start(sb.ctx);
    assert.equal(res.ok, false);
    assert.ok(!res.ok && res.code === 'HA_RESOURCE_START_FAILED');
    assert.match(res.detail, /ENOENT/);
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
  });

  test('the sample service runs under the agent and answers with its epoch', async (t) => {
    const sb = sandbox(t, { epoch: 5 });
    const port = await freePort();
    const record = join(sb.dir, 'record.jsonl');
    const cfg = ProcessResourceSchema.parse({
      name: 'svc',
      type: 'process',
      command: process.execPath,
      args: [SAMPLE_SERVICE],
      env: { PORT: String(port), HOST: '${HALO_NODE_ADDRESS}', SAMPLE_RECORD_FILE: record },
    });
    const agent = makeResourceAgent(cfg, { HALO_NODE_ADDRESS: '127.0.0.1', HALO_NODE: 'n1' });
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const ready = makeMonitor({ kind: 'http', url: `http://\${HALO_NODE_ADDRESS}:${port}/`, bodyMatch: '"epoch":5', intervalMs: 100, timeoutMs: 500, failureThreshold: 1, recoveryThreshold: 1 }, { HALO_NODE_ADDRESS: '127.0.0.1' });
    const check = await eventually('service ready', async () => {
      const r = await ready.check();
      return r.ok ? r : undefined;
    }, { timeoutMs: 5_000, intervalMs: 50 });
    assert.equal(check.detail, 'status 200');

    assert.equal((await agent.stop(sb.ctx)).ok, true);
    const events = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; epoch: number; node: string; group: string });
    assert.deepEqual(events.map((e) => [e.event, e.epoch, e.node, e.group]), [['start', 5, 'n1', 'web'], ['stop', 5, 'n1', 'web']]);
  });
});

/**
 * Starts `command args` through a ProcessAgent living in a process of its own (the "agent host"),
 * so that a test can kill or freeze the agent; resolves with that process once the start succeeded.
 */
async function startInAgentHost(t: TestContext, sb: Sandbox, command: string, args: readonly string[]): Promise<ChildProcess> {
  const agentModule = new URL('../../src/resources/process/agent.js', import.meta.url).href;
  const cfg = { name: 'svc', type: 'process', command, args, env: {}, startTimeoutMs: 5000, stopTimeoutMs: 1000, monitors: [] };
  const script = `
    const { ProcessAgent } = await import(${JSON.stringify(agentModule)});
    const agent = new ProcessAgent(${JSON.stringify(cfg)});
    console.log(JSON.stringify(await agent.start(JSON.parse(process.argv[1]))));
    setInterval(() => {}, 1000);
  `;
  const host = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(sb.ctx)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => host.kill('SIGKILL'));
  let out = '';
  host.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  await eventually('agent host started the resource', () => out.includes('"ok":true'), { timeoutMs: 10_000 });
  return host;
}

/** Live (not zombie) processes of group `pgid`. */
function groupMembers(pgid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      const st = readProcStat(pid);
      return st?.pgrp === pgid && st.state !== 'Z';
    });
}

/** The guard's leash: the member of the command's group that the guard forked besides the command. */
function leashOf(rec: PidRecord): number | undefined {
  return groupMembers(rec.pgid).find((pid) => pid !== rec.pid && readProcStat(pid)?.ppid === rec.guardPid);
}

describe('fencing guard', { timeout: 30_000 }, () => {
  test('kills the command once the fence deadline passes without a refresh', async (t) => {
    const sb = sandbox(t, { fenceAheadMs: 300 });
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    // The node stops refreshing: the last deadline written (at most 300 ms ahead) is final.
    sb.fence.stop();
    const deadline = sb.fence.lastDeadline;
    assert.ok(deadline > monotonicNowMs(), 'the fence was still valid when refreshing stopped');
    assert.equal(isAlive(rec.pid), true);

    await eventually('fenced kill', () => !isAlive(rec.pid), { timeoutMs: 3_000, intervalMs: 5 });
    const late = monotonicNowMs() - deadline;
    t.diagnostic(`killed ${late} ms after the deadline`);
    assert.ok(late < 300, `killed ${late} ms after the deadline`);
    const exit = await eventually('exit record', () => readExitRecord(sb.ctx.stateDir) ?? undefined, { timeoutMs: 2_000 });
    assert.equal(exit.reason, 'fenced');
    assert.match((await agent.probe(sb.ctx)).detail, /killed by fencing/);
    assert.match(sb.stderr(), /fenced pid/);
  });

  test('keeps the command running while the fence is refreshed', async (t) => {
    const sb = sandbox(t);
    sb.fence.stop();
    const keeper = new FenceKeeper(sb.ctx.fenceFile, 300).start(50);
    t.after(() => keeper.stop());
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    // Watch for longer than the 300 ms fence window: the command must not exit.
    await assert.rejects(agent.exited(sb.ctx, AbortSignal.timeout(1_000)), { name: 'TimeoutError' });
    assert.equal((await agent.probe(sb.ctx)).kind, 'running');
    assert.equal((await agent.stop(sb.ctx)).ok, true);
  });

  test('kills the command at once when the fence file becomes unreadable', async (t) => {
    const sb = sandbox(t);
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    sb.fence.stop();
    const validUntil = sb.fence.lastDeadline;
    writeFileSync(sb.ctx.fenceFile, 'not a number\n');
    await eventually('fenced kill', () => !isAlive(rec.pid), { timeoutMs: 3_000, intervalMs: 5 });
    assert.ok(monotonicNowMs() < validUntil, 'killed before the last valid deadline');
    const exit = await eventually('exit record', () => readExitRecord(sb.ctx.stateDir) ?? undefined, { timeoutMs: 2_000 });
    assert.ok(exit.reason === 'fenced');
    assert.match(exit.detail, /missing or unreadable/);
  });

  test('refuses to start the command when the fence file is missing', async (t) => {
    const sb = sandbox(t);
    sb.fence.stop();
    rmSync(sb.ctx.fenceFile, { force: true });
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    const res = await agent.start(sb.ctx);
    assert.equal(res.ok, false);
    assert.match(res.detail, /fencing/);
    assert.equal((await agent.probe(sb.ctx)).kind, 'stopped');
  });

  // The guard's own death must never leave its command unfenced: a SIGKILLed guard (alone, or with
  // the agent that started it) takes the command and everything in its group with it, at once and
  // not at the fence deadline (a minute away here); so does a SIGKILL of the guard's leash.
  for (const victim of ['guard', 'leash', 'guard and agent'] as const) {
    test(`the command does not outlive its fencing: SIGKILL of the ${victim}`, async (t) => {
      const sb = sandbox(t, { fenceAheadMs: 60_000 });
      // The agent runs in a process of its own, so that it can be killed too.
      const host = await startInAgentHost(t, sb, '/bin/sh', ['-c', 'sleep 300 & exec sleep 301']);
      const rec = readPidRecord(sb.ctx.stateDir);
      assert.ok(rec !== null);
      const members = (): number[] => groupMembers(rec.pgid);
      // Both sleeps of the command, and the leash.
      await eventually('the command and its child', () => members().length === 3, { timeoutMs: 2_000 });
      const leash = leashOf(rec);
      assert.ok(leash !== undefined, `the leash is in the command's group: ${JSON.stringify(members())}`);

      if (victim === 'guard and agent' && host.pid !== undefined) process.kill(host.pid, 'SIGKILL');
      process.kill(victim === 'leash' ? leash : rec.guardPid, 'SIGKILL');
      await eventually('nothing of the group left', () => members().length === 0, { timeoutMs: 2_000, intervalMs: 5 });
      assert.ok(monotonicNowMs() < sb.fence.lastDeadline - 50_000, 'ended long before the fence deadline');
      assert.equal(groupAlive(rec.pgid), false);
      assert.equal((await new ProcessAgent(nodeScript(KEEP_ALIVE)).probe(sb.ctx)).kind, 'stopped', 'a new agent sees the service stopped');
      if (victim === 'leash') {
        const exit = await eventually('exit record', () => readExitRecord(sb.ctx.stateDir) ?? undefined, { timeoutMs: 2_000 });
        assert.equal(exit.reason, 'fenced');
      }
    });
  }

  test('a command whose guard and leash are both gone is killed by the agent watching it', async (t) => {
    const sb = sandbox(t, { fenceAheadMs: 60_000 });
    const agent = new ProcessAgent(nodeScript(KEEP_ALIVE));
    assert.equal((await agent.start(sb.ctx)).ok, true);
    const rec = readPidRecord(sb.ctx.stateDir);
    assert.ok(rec !== null);
    const leash = leashOf(rec);
    assert.ok(leash !== undefined, 'the leash runs');
    const watching = agent.exited(sb.ctx, AbortSignal.timeout(5_000));
    // Both gone before either can act on the other's death: the guard is stopped (for real: a
    // SIGSTOP takes effect when the kernel next runs the process, not when kill() returns), the
    // leash killed, then the guard. Not the leash stopped too: a group left with a stopped member
    // and no parent outside it is orphaned, and the kernel then sends every member SIGHUP, which
    // would end the command by itself.
    process.kill(rec.guardPid, 'SIGSTOP');
    await eventually('guard stopped', () => readProcStat(rec.guardPid)?.state === 'T', { timeoutMs: 2_000, intervalMs: 5 });
    process.kill(leash, 'SIGKILL');
    await eventually('leash dead', () => !isAlive(leash), { timeoutMs: 2_000, intervalMs: 5 });
    process.kill(rec.guardPid, 'SIGKILL');
    const why = await watching;
    assert.match(why, /guard .* is gone/);
    assert.equal(isAlive(rec.pid), false);
    assert.equal(groupAlive(rec.pgid), false);
    assert.ok(monotonicNowMs() < sb.fence.lastDeadline - 50_000, 'long before the fence deadline');
  });

  for (const fate of ['SIGKILL', 'SIGSTOP'] as const) {
    test(`keeps fencing after the agent that started it gets ${fate}`, async (t) => {
      const sb = sandbox(t, { fenceAheadMs: 400 });
      const host = await startInAgentHost(t, sb, process.execPath, ['-e', KEEP_ALIVE]);
      const rec = readPidRecord(sb.ctx.stateDir);
      assert.ok(rec !== null);

      assert.ok(host.pid !== undefined);
      process.kill(host.pid, fate);
      if (fate === 'SIGKILL') await eventually('agent host gone', () => host.exitCode !== null || host.signalCode !== null, { timeoutMs: 2_000 });
      else await eventually('agent host frozen', () => host.pid !== undefined && readProcStat(host.pid)?.state === 'T', { timeoutMs: 2_000 });
      assert.equal(isAlive(rec.pid), true, 'the command outlives its agent');
      assert.equal(isAlive(rec.guardPid), true, 'the guard outlives its agent');

      sb.fence.stop();
      const deadline = sb.fence.lastDeadline;
      await eventually('fenced kill', () => !isAlive(rec.pid), { timeoutMs: 5_000, intervalMs: 10 });
      const late = monotonicNowMs() - deadline;
      t.diagnostic(`killed ${late} ms after the deadline`);
      assert.ok(late < 300, `killed ${late} ms after the deadline`);
      // The guard kills first and writes its record afterwards.
      const exit = await eventually('exit record', () => readExitRecord(sb.ctx.stateDir) ?? undefined, { timeoutMs: 2_000 });
      assert.equal(exit.reason, 'fenced');
    });
  }
});
