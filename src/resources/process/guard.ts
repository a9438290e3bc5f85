/**
 * Fencing guard: a small supervisor that runs one resource command and kills it when the node's
 * fence deadline passes.
 *
 * Run as `node guard.js '<GuardSpec JSON>'`, started by ProcessAgent in its own session (detached),
 * with stdout/stderr already pointing at the resource's log files. Environment variables for the
 * command come in HALO_GUARD_ENV (a JSON object) so they do not show in the process list; the guard
 * removes that variable and passes the rest of its environment plus those values to the command.
 *
 * Contract (what the agent and the node rely on):
 *  - The command runs in a new process group whose id is its pid. Nothing else is in that group
 *    unless the command put it there.
 *  - With `runAs`, the command is exec'd through setpriv (see platform/run-as.ts): supplementary
 *    groups, gid, then uid are set in the child right before the exec, for good (real, effective
 *    and saved ids; no_new_privs). The guard itself stays root on purpose: the command, running as
 *    another user, can neither signal it nor touch its records, so it cannot escape the fence.
 *  - `<stateDir>/pid.json` (PidRecord) appears, atomically, once the command runs.
 *  - Every FENCE_POLL_MS the fence file is read. If it is missing, unreadable or its deadline is in
 *    the past (CLOCK_MONOTONIC ms), the whole group is SIGKILLed at once, exit.json says 'fenced'
 *    and the guard exits. The guard keeps fencing no matter what happens to the agent that started
 *    it: it has its own session, no pipe or IPC channel to the agent, and ignores SIGHUP/SIGINT.
 *  - When the command exits by itself, what is left of its group is SIGKILLed, exit.json records
 *    code/signal and the guard exits.
 *  - SIGTERM to the guard: SIGTERM (and SIGCONT) to the group, SIGKILL after stopTimeoutMs, exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { errnoOf, killGroup, monotonicNowMs, readStartTime, writeFileAtomicSync } from '../../platform/proc.js';
import { setprivArgv } from '../../platform/run-as.js';
import { readFenceDeadline } from './fence.js';
import { exitFilePath, pidFilePath, type ExitRecord, type PidRecord } from './files.js';

export const FENCE_POLL_MS = 20;
export const GUARD_ENV_VAR = 'HALO_GUARD_ENV';

/** Ids the command runs with (resolved by the agent) and the setpriv binary that sets them. */
export interface GuardRunAs {
  readonly setpriv: string;
  readonly uid: number;
  readonly gid: number;
  readonly groups: readonly number[];
}

export interface GuardSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string | null;
  readonly stateDir: string;
  readonly fenceFile: string;
  readonly stopTimeoutMs: number;
  readonly epoch: number;
  readonly role: string;
  /** null: the command runs as the guard's own user. */
  readonly runAs: GuardRunAs | null;
}

export function parseGuardSpec(text: string | undefined): GuardSpec | null {
  if (text === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = Object.fromEntries(Object.entries(v));
  const { command, args, cwd, stateDir, fenceFile, stopTimeoutMs, epoch, role } = o;
  const runAs = parseRunAs(o['runAs']);
  if (runAs === undefined) return null;
  if (typeof command !== 'string' || command.length === 0) return null;
  if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string')) return null;
  if (cwd !== null && typeof cwd !== 'string') return null;
  if (typeof stateDir !== 'string' || typeof fenceFile !== 'string' || typeof role !== 'string') return null;
  if (typeof stopTimeoutMs !== 'number' || !Number.isInteger(stopTimeoutMs) || stopTimeoutMs < 0) return null;
  if (typeof epoch !== 'number' || !Number.isInteger(epoch)) return null;
  return { command, args, cwd, stateDir, fenceFile, stopTimeoutMs, epoch, role, runAs };
}

/** null: absent (run as ourselves); undefined: malformed. */
function parseRunAs(v: unknown): GuardRunAs | null | undefined {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object') return undefined;
  const o = Object.fromEntries(Object.entries(v));
  const { setpriv, uid, gid, groups } = o;
  const isId = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
  if (typeof setpriv !== 'string' || !setpriv.startsWith('/') || !isId(uid) || !isId(gid)) return undefined;
  if (!Array.isArray(groups) || !groups.every(isId)) return undefined;
  return { setpriv, uid, gid, groups };
}

function parseEnv(text: string | undefined): Record<string, string> {
  if (text === undefined) return {};
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null) return {};
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

function log(msg: string): void {
  process.stderr.write(`[halo-guard ${process.pid}] ${new Date().toISOString()} ${msg}\n`);
}

function runGuard(spec: GuardSpec): void {
  const extraEnv = parseEnv(process.env[GUARD_ENV_VAR]);
  delete process.env[GUARD_ENV_VAR];

  // Only we stop the guard: a hang-up or Ctrl-C meant for whoever started it must not end fencing.
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  // SIGTERM is taken before the command is spawned: until a handler is installed its default action
  // ends the guard at once, and one arriving between the spawn and the handler would leave the
  // command running with nobody to fence or stop it. Handlers run from the event loop, i.e. after
  // the synchronous start below, when `stop` is set.
  let stop: (() => void) | null = null;
  let stopAsked = false;
  process.on('SIGTERM', () => {
    if (stop !== null) stop();
    else stopAsked = true;
  });

  const writeExit = (rec: ExitRecord): void => {
    try {
      writeFileAtomicSync(exitFilePath(spec.stateDir), JSON.stringify(rec));
    } catch (e) {
      log(`could not write exit record: ${String(e)}`);
    }
  };

  /** Why the fence no longer allows running, or null while it does. */
  const fenceViolation = (): string | null => {
    const deadline = readFenceDeadline(spec.fenceFile);
    if (deadline === null) return `fence file ${spec.fenceFile} missing or unreadable`;
    const now = monotonicNowMs();
    return now > deadline ? `fence deadline passed ${now - deadline} ms ago` : null;
  };

  try {
    rmSync(exitFilePath(spec.stateDir), { force: true });
  } catch {
    // a stale exit record only misleads a reader; not a reason not to start
  }

  const early = fenceViolation();
  if (early !== null) {
    log(`not starting: ${early}`);
    writeExit({ reason: 'fenced', at: Date.now(), detail: `not started: ${early}` });
    process.exit(3);
  }

  // Not spawn's uid/gid options: libuv would clear the supplementary groups instead of setting them.
  const [file, argv] = spec.runAs === null ? [spec.command, [...spec.args]] : [spec.runAs.setpriv, setprivArgv(spec.runAs, spec.command, spec.args)];
  let child: ChildProcess;
  try {
    child = spawn(file, argv, {
      ...(spec.cwd !== null ? { cwd: spec.cwd } : {}),
      env: { ...process.env, ...extraEnv },
      detached: true,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (e) {
    writeExit({ reason: 'spawn-failed', error: String(e), at: Date.now() });
    process.exit(1);
  }

  const pid = child.pid;
  if (pid === undefined) {
    child.on('error', (e) => {
      log(`could not start ${spec.command}: ${e.message}`);
      writeExit({ reason: 'spawn-failed', error: `${errnoOf(e) ?? 'error'}: ${e.message}`, at: Date.now() });
      process.exit(1);
    });
    return;
  }
  // The child exists (at worst as an unreaped zombie) until the event loop runs, so its start time is readable now.
  const pgid = pid;
  const rec: PidRecord = {
    guardPid: process.pid,
    guardStartTime: readStartTime(process.pid) ?? '',
    pid,
    pgid,
    startTime: readStartTime(pid) ?? '',
    epoch: spec.epoch,
    role: spec.role,
    startedAt: Date.now(),
  };
  writeFileAtomicSync(pidFilePath(spec.stateDir), JSON.stringify(rec));

  const killAll = (sig: NodeJS.Signals): void => {
    try {
      killGroup(pgid, sig);
    } catch (e) {
      log(`kill ${sig} group ${pgid}: ${String(e)}`);
    }
  };

  let stopping = false;
  let finished = false;

  const fenceTimer = setInterval(() => {
    if (finished) return;
    const why = fenceViolation();
    if (why === null) return;
    finished = true;
    // Kill first, write and log afterwards: every millisecond here is one the fenced owner could still serve.
    killAll('SIGKILL');
    clearInterval(fenceTimer);
    // The log line comes before the exit record: whoever waits for the record may read the log.
    log(`fenced pid ${pid}: ${why}`);
    writeExit({ reason: 'fenced', at: Date.now(), detail: why });
    // Reap the child before leaving: PID 1 of a container may not, and a zombie looks alive to kill(pid, 0).
    if (child.exitCode !== null || child.signalCode !== null) process.exit(0);
    child.once('exit', () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  }, FENCE_POLL_MS);

  child.on('exit', (code, signal) => {
    if (finished) return;
    finished = true;
    clearInterval(fenceTimer);
    // Whatever the command left behind in its group goes with it.
    killAll('SIGKILL');
    writeExit({ reason: stopping ? 'stopped' : 'exited', code, signal, at: Date.now() });
    process.exit(0);
  });

  stop = () => {
    if (stopping || finished) return;
    stopping = true;
    killAll('SIGTERM');
    // A stopped (SIGSTOP) process would not act on SIGTERM until continued.
    killAll('SIGCONT');
    setTimeout(() => {
      if (finished) return;
      log(`pid ${pid} still running ${spec.stopTimeoutMs} ms after SIGTERM; sending SIGKILL`);
      killAll('SIGKILL');
    }, spec.stopTimeoutMs);
  };
  if (stopAsked) stop();
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const spec = parseGuardSpec(process.argv[2]);
  if (spec === null) {
    log('usage: guard.js <spec JSON>');
    process.exit(2);
  }
  runGuard(spec);
}
