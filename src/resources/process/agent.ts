import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ProcessResourceConfig } from '../../domain/config.js';
import { SystemClock, type Clock } from '../../platform/clock.js';
import { groupAlive, isAlive, isSameProcess, killGroup, killPid } from '../../platform/proc.js';
import { substituteNodeVars } from '../../domain/node-vars.js';
import type { ActionResult, Observation, ResourceAgent, ResourceContext } from '../types.js';
import { describeExit, pidFilePath, readExitRecord, readPidRecord, STDERR_LOG, STDOUT_LOG, type PidRecord } from './files.js';
import { abortable } from '../../platform/abortable.js';
import { ensureNative } from '../../platform/native.js';
import { resolveRunAs, runAsEnv, setprivArgv, type RunAsPlan } from '../../platform/run-as.js';

/**
 * The fencing guard (native/halo-guard.c; its header is the contract) is compiled into `native/`
 * of the node's state directory, where the fence file lives.
 */
export function guardBinary(fenceFile: string, signal?: AbortSignal): Promise<string> {
  return ensureNative('halo-guard', join(dirname(fenceFile), 'native'), signal ? { signal } : {});
}

const START_POLL_MS = 10;
const STOP_POLL_MS = 20;
const EXIT_POLL_MS = 50;
/** After SIGKILL the kernel needs a moment (longer for a process in uninterruptible sleep). */
const KILL_WAIT_MS = 5_000;
/** How long a command may run with neither its guard nor its leash before the agent kills it. */
const UNGUARDED_GRACE_MS = 100;
/** The guard exits on its own right after its command; this is how long we let it before killing it. */
const GUARD_EXIT_WAIT_MS = 1_000;

interface OwnGuard {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
  done: boolean;
}

/**
 * A `process` resource: one command run under a fencing guard (native/halo-guard.c) in its own process
 * group. All state lives in `ctx.stateDir` (pid.json, exit.json, logs), so a new ProcessAgent —
 * e.g. after the node agent restarted — re-adopts a running process through `probe` alone.
 *
 * start/stop calls on one instance are serialised. An aborted start returns HA_OPERATION_TIMEOUT
 * and leaves nothing running; an aborted stop skips the rest of the grace period and SIGKILLs (a
 * stop must still end with nothing running). probe and exited reject with the abort reason.
 */
export class ProcessAgent implements ResourceAgent {
  readonly config: ProcessResourceConfig;
  private readonly vars: Readonly<Record<string, string>>;
  private readonly clock: Clock = new SystemClock();
  private guard: OwnGuard | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(config: ProcessResourceConfig, vars: Record<string, string> = {}) {
    this.config = config;
    this.vars = { ...vars };
  }

  async probe(ctx: ResourceContext, signal?: AbortSignal): Promise<Observation> {
    signal?.throwIfAborted();
    const rec = readPidRecord(ctx.stateDir);
    if (rec === null) return { kind: 'stopped', detail: this.lastExit(ctx) ?? 'not started' };
    if (rec.startTime !== '' && isSameProcess(rec.pid, rec.startTime)) {
      const unguarded = rec.guardStartTime === '' || !isSameProcess(rec.guardPid, rec.guardStartTime);
      return {
        kind: 'running',
        pid: rec.pid,
        startedAt: rec.startedAt,
        detail: `pid ${rec.pid} epoch ${rec.epoch} role ${rec.role}${unguarded ? ' (guard gone: not fenced)' : ''}`,
      };
    }
    const reused = isAlive(rec.pid) ? ` (pid ${rec.pid} now belongs to another process)` : '';
    return { kind: 'stopped', detail: `${this.lastExit(ctx) ?? `pid ${rec.pid} is gone`}${reused}` };
  }

  start(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    return this.serial(() => this.doStart(ctx, signal));
  }

  stop(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    return this.serial(() => this.doStop(ctx, signal));
  }

  async exited(ctx: ResourceContext, signal: AbortSignal): Promise<string> {
    signal.throwIfAborted();
    const rec = readPidRecord(ctx.stateDir);
    if (rec === null || !isSameProcess(rec.pid, rec.startTime)) {
      return (await this.exitDetail(ctx, rec, signal)) ?? 'not running';
    }
    const own = this.guard;
    if (own !== null && !own.done && own.pid === rec.guardPid) {
      await abortable(own.exited, signal);
    }
    // Adopted process, or our guard died while its command lives on: watch the pid itself. Without
    // its guard nothing fences the command at the deadline: the guard's leash ends it when the
    // guard dies, and if the leash is gone too, this does, once the leash had its moment.
    let unguardedSince: number | null = null;
    while (isSameProcess(rec.pid, rec.startTime)) {
      const guarded = rec.guardStartTime !== '' && isSameProcess(rec.guardPid, rec.guardStartTime);
      const now = this.clock.now();
      if (guarded) unguardedSince = null;
      else if (unguardedSince === null) unguardedSince = now;
      else if (now - unguardedSince >= UNGUARDED_GRACE_MS) {
        sendGroup(rec.pgid, 'SIGKILL');
        await this.waitGone(rec.pgid, KILL_WAIT_MS, undefined);
        return `pid ${rec.pid} killed: its fencing guard (pid ${rec.guardPid}) is gone`;
      }
      await this.clock.sleep(EXIT_POLL_MS, signal);
    }
    return (await this.exitDetail(ctx, rec, signal)) ?? `pid ${rec.pid} exited`;
  }

  // ---------------------------------------------------------------------------------------------

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private lastExit(ctx: ResourceContext): string | null {
    const e = readExitRecord(ctx.stateDir);
    return e === null ? null : describeExit(e);
  }

  /** How the run recorded in `rec` ended; waits briefly for the guard to write exit.json. */
  private async exitDetail(ctx: ResourceContext, rec: PidRecord | null, signal: AbortSignal): Promise<string | null> {
    if (rec === null) return this.lastExit(ctx);
    for (let waited = 0; ; waited += START_POLL_MS) {
      const e = readExitRecord(ctx.stateDir);
      if (e !== null && e.at >= rec.startedAt) return describeExit(e);
      if (waited >= 200) return null;
      await this.clock.sleep(START_POLL_MS, signal);
    }
  }

  private childEnv(ctx: ResourceContext, runAs: RunAsPlan | null): Record<string, string> {
    // HOME, USER and LOGNAME follow `user:`; an explicit `env:` entry still wins.
    const env: Record<string, string> = runAs === null ? {} : runAsEnv(runAs.identity);
    for (const [k, v] of Object.entries(this.config.env)) env[k] = substituteNodeVars(v, this.vars);
    const address = this.vars['HALO_NODE_ADDRESS'];
    if (address !== undefined) env['HALO_NODE_ADDRESS'] = address;
    env['HALO_EPOCH'] = String(ctx.epoch);
    env['HALO_ROLE'] = ctx.role;
    env['HALO_NODE'] = ctx.node;
    env['HALO_GROUP'] = ctx.group;
    env['HALO_RESOURCE'] = this.config.name;
    return env;
  }

  private async doStart(ctx: ResourceContext, signal: AbortSignal | undefined): Promise<ActionResult> {
    const current = await this.probe(ctx);
    if (current.kind === 'running') return { ok: true, detail: `already running: ${current.detail}` };
    if (signal?.aborted === true) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: 'start aborted before it began' };

    // Leftovers of an earlier run (a guard still winding down, group remnants, a stale pid.json).
    const cleanup = await this.doStop(ctx, undefined);
    if (!cleanup.ok) return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `could not clear previous run: ${cleanup.detail}` };

    // Resolved at every start: the user database may have changed since the last one.
    const runAs = await resolveRunAs({ user: this.config.user, group: this.config.group }, signal === undefined ? {} : { signal });
    if (isAborted(signal)) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: 'start aborted' };
    if (!runAs.ok) return { ok: false, code: runAs.code, detail: runAs.detail };
    const plan = runAs.plan;

    let guardBin: string;
    try {
      guardBin = await guardBinary(ctx.fenceFile, signal);
    } catch (e) {
      if (isAborted(signal)) return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: 'start aborted' };
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: e instanceof Error ? e.message : String(e) };
    }

    // The state dir and the logs stay root's: halo opens the logs and hands the command the open files.
    mkdirSync(ctx.stateDir, { recursive: true });
    const command = substituteNodeVars(this.config.command, this.vars);
    const args = this.config.args.map((a) => substituteNodeVars(a, this.vars));
    // Not the ids through the guard: setpriv sets supplementary groups, gid, then uid right before
    // the exec, for good (real, effective and saved ids; no_new_privs). The guard stays root on
    // purpose: the command, running as another user, can neither signal it nor touch its records.
    const setpriv = plan === null ? null : plan.setpriv;
    const argv = plan === null || setpriv === null ? [command, ...args] : [setpriv, ...setprivArgv(plan.identity, command, args)];
    const out = openSync(join(ctx.stateDir, STDOUT_LOG), 'a');
    const err = openSync(join(ctx.stateDir, STDERR_LOG), 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(guardBin, [ctx.stateDir, ctx.fenceFile, String(this.config.stopTimeoutMs), String(ctx.epoch), ctx.role, this.config.cwd ?? '', '--', ...argv], {
        detached: true,
        stdio: ['ignore', out, err],
        env: { ...process.env, ...this.childEnv(ctx, plan) },
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const guardPid = proc.pid;
    if (guardPid === undefined) {
      const why = await new Promise<string>((resolve) => proc.once('error', (e) => resolve(e.message)));
      return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `could not start guard: ${why}` };
    }
    proc.unref();
    const guard: OwnGuard = {
      proc,
      pid: guardPid,
      done: false,
      exited: new Promise<void>((resolve) => {
        proc.once('exit', () => {
          guard.done = true;
          resolve();
        });
      }),
    };
    this.guard = guard;

    const deadline = this.clock.now() + this.config.startTimeoutMs;
    for (;;) {
      const rec = readPidRecord(ctx.stateDir);
      if (rec !== null && rec.guardPid === guardPid) {
        if (isSameProcess(rec.pid, rec.startTime)) return { ok: true, detail: `pid ${rec.pid}` };
        const how = await this.exitDetail(ctx, rec, AbortSignal.timeout(1_000)).catch(() => null);
        // Through setpriv a missing or non-executable command is an exit code (127/126), not a spawn error.
        const hint = setpriv !== null && how !== null && /code 12[67]$/.test(how) ? `: ${this.config.user ?? this.config.group ?? ''} cannot execute ${command} (see stderr.log)` : '';
        return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: `pid ${rec.pid} ${how ?? 'exited'} right after start${hint}` };
      }
      if (guard.done) {
        return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: this.lastExit(ctx) ?? 'guard exited before starting the command' };
      }
      if (isAborted(signal) || this.clock.now() >= deadline) {
        // Do not leave a half-started guard behind: it may still spawn the command later. Not
        // SIGKILL first: a guard killed between spawning the command and recording it would leave
        // the command unguarded; doStop asks with SIGTERM (the guard then stops its command), and
        // only then kills.
        await this.doStop(ctx, undefined);
        const why = isAborted(signal) ? 'aborted' : `no pid after ${this.config.startTimeoutMs} ms`;
        return { ok: false, code: 'HA_OPERATION_TIMEOUT', detail: `start ${why}` };
      }
      await Promise.race([this.clock.sleep(START_POLL_MS), guard.exited]);
    }
  }

  private async doStop(ctx: ResourceContext, signal: AbortSignal | undefined): Promise<ActionResult> {
    const rec = readPidRecord(ctx.stateDir);
    const notes: string[] = [];

    if (rec !== null) {
      const ours = rec.startTime !== '' && isSameProcess(rec.pid, rec.startTime);
      // The group is ours while its leader is, or — leader gone — while its pid is not reused and members remain.
      const groupIsOurs = ours || (!isAlive(rec.pid) && groupAlive(rec.pgid));
      if (groupIsOurs) {
        sendGroup(rec.pgid, 'SIGTERM');
        sendGroup(rec.pgid, 'SIGCONT');
        const graceful = await this.waitGone(rec.pgid, this.config.stopTimeoutMs, signal);
        if (!graceful) {
          sendGroup(rec.pgid, 'SIGKILL');
          const killed = await this.waitGone(rec.pgid, KILL_WAIT_MS, undefined);
          if (!killed) return { ok: false, code: 'HA_RESOURCE_STOP_FAILED', detail: `process group ${rec.pgid} survived SIGKILL` };
          notes.push(signal?.aborted === true ? 'stop aborted: killed' : `killed after ${this.config.stopTimeoutMs} ms`);
        } else {
          notes.push(`pid ${rec.pid} stopped`);
        }
      }
      if (rec.guardStartTime !== '' && isSameProcess(rec.guardPid, rec.guardStartTime)) {
        const gone = await this.waitPid(rec.guardPid, GUARD_EXIT_WAIT_MS);
        if (!gone) {
          killPidQuietly(rec.guardPid);
          await this.waitPid(rec.guardPid, KILL_WAIT_MS);
        }
      }
    }

    // A guard this instance started that has not written pid.json yet (start in flight or failed).
    const own = this.guard;
    if (own !== null && !own.done && (rec === null || rec.guardPid !== own.pid)) {
      killPidQuietly(own.pid, 'SIGTERM');
      await Promise.race([own.exited, this.clock.sleep(GUARD_EXIT_WAIT_MS)]);
      if (!own.done) killPidQuietly(own.pid);
      // It may have spawned the command just before it died.
      const late = readPidRecord(ctx.stateDir);
      if (late !== null && late.guardPid === own.pid && isSameProcess(late.pid, late.startTime)) {
        sendGroup(late.pgid, 'SIGKILL');
        await this.waitGone(late.pgid, KILL_WAIT_MS, undefined);
      }
    }

    rmSync(pidFilePath(ctx.stateDir), { force: true });
    return { ok: true, detail: notes.length > 0 ? notes.join('; ') : 'not running' };
  }

  /** Polls until nothing of group `pgid` runs; false at `timeoutMs` or abort. */
  private async waitGone(pgid: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      // The leader check is one syscall; the group scan reads /proc, so only do it once the leader is gone.
      if (!isAlive(pgid) && !groupAlive(pgid)) return true;
      if (this.clock.now() >= deadline || signal?.aborted === true) return false;
      await this.clock.sleep(STOP_POLL_MS);
    }
  }

  private async waitPid(pid: number, timeoutMs: number): Promise<boolean> {
    const deadline = this.clock.now() + timeoutMs;
    while (isAlive(pid)) {
      if (this.clock.now() >= deadline) return false;
      await this.clock.sleep(STOP_POLL_MS);
    }
    return true;
  }
}

/** Read through a call so checks after an `await` are not narrowed away by an earlier one. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function sendGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    killGroup(pgid, sig);
  } catch {
    // EPERM: not ours to signal; waitGone reports that it is still there.
  }
}

function killPidQuietly(pid: number, sig: NodeJS.Signals = 'SIGKILL'): void {
  try {
    killPid(pid, sig);
  } catch {
    // already gone or not ours
  }
}

