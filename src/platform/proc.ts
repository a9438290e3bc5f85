import { closeSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, writeSync } from 'node:fs';

/**
 * Thin helpers over Linux process primitives (/proc and kill(2)). Synchronous on purpose: each is
 * one small syscall or a read of a tiny procfs file, and the fencing guard calls them from a 20 ms
 * timer where an extra await would only add latency.
 */

/** Fields of /proc/<pid>/stat this project uses. */
export interface ProcStat {
  /** One-letter state: R, S, D, T, t, Z, X, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
  /** Field 22: start time in clock ticks after boot. Together with the pid it identifies one process. */
  readonly startTime: string;
}

/** Parses /proc/<pid>/stat; null when the process does not exist (or procfs is unreadable). */
export function readProcStat(pid: number): ProcStat | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) is in parentheses and may itself contain spaces or ')': split after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const session = Number(rest[3]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(ppid) || !Number.isInteger(pgrp) || !Number.isInteger(session)) {
    return null;
  }
  return { state, ppid, pgrp, session, startTime };
}

/** Start time (field 22 of /proc/<pid>/stat) or null when there is no such process. */
export function readStartTime(pid: number): string | null {
  return readProcStat(pid)?.startTime ?? null;
}

function isZombie(state: string): boolean {
  return state === 'Z' || state === 'X' || state === 'x';
}

/**
 * True while `pid` exists and is not a zombie. A zombie has finished running; it only waits for its
 * parent to reap it, and counting it as alive would make "stopped" depend on someone else's wait().
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    if (errnoOf(e) !== 'EPERM') return false;
  }
  const st = readProcStat(pid);
  // Without procfs (or if it exited in between) there is nothing better than kill(0).
  return st === null ? existsByKill(pid) : !isZombie(st.state);
}

function existsByKill(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM';
  }
}

/** True when `pid` is alive and still the process that started at `startTime` (guards against pid reuse). */
export function isSameProcess(pid: number, startTime: string): boolean {
  const st = readProcStat(pid);
  return st !== null && !isZombie(st.state) && st.startTime === startTime;
}

/**
 * Sends `signal` to every process of group `pgid`. Returns false when the group no longer exists
 * (ESRCH); other errors (EPERM) are thrown, since they mean we are about to leave something running.
 */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) throw new RangeError(`refusing to signal process group ${pgid}`);
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') return false;
    throw e;
  }
}

/** Sends `signal` to one process; false when it does not exist. */
export function killPid(pid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pid) || pid <= 1) throw new RangeError(`refusing to signal pid ${pid}`);
  try {
    process.kill(pid, signal);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') return false;
    throw e;
  }
}

/** Pids of the live (non-zombie) members of process group `pgid`, found by scanning /proc. */
export function groupMembers(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return existsByKill(-pgid) ? [pgid] : [];
  }
  const out: number[] = [];
  for (const name of entries) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    const st = readProcStat(pid);
    if (st !== null && st.pgrp === pgid && !isZombie(st.state)) out.push(pid);
  }
  return out;
}

/** True while some live process belongs to group `pgid`. */
export function groupAlive(pgid: number): boolean {
  if (!existsByKill(-pgid)) return false;
  return groupMembers(pgid).length > 0;
}

/** The process's command line arguments (NUL-separated in procfs); null when it does not exist. */
export function readCmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw.split('\0').filter((s) => s.length > 0);
  } catch {
    return null;
  }
}

/** CLOCK_MONOTONIC in milliseconds; the same value in every process on this machine. */
export function monotonicNowMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/**
 * Replaces `path` with `data` so that a reader sees either the old or the new content, never a
 * partial write: write a sibling temporary file, fsync it (unless `fsync: false`, for content that
 * means nothing after a reboot), rename it over `path`.
 */
export function writeFileAtomicSync(path: string, data: string, opts: { fsync?: boolean } = {}): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, data);
    if (opts.fsync !== false) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function errnoOf(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code: unknown = e.code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
