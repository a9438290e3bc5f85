/**
 * Fence-action guard: for resources that leave state behind rather than a process (a floating IP,
 * whatever an OCF agent set up), a small detached process that undoes it when the node's fence
 * deadline passes — so a killed or frozen agent cannot leave an address on two hosts.
 *
 * Run as `node fence-action.js '<FenceActionSpec JSON>'` by `startFenceAction`, in its own session.
 *
 * Contract:
 *  - `<stateDir>/fence-guard.json` ({ pid, startTime }) is written once the guard runs.
 *  - Every FENCE_POLL_MS the fence file is read; when it is missing, unreadable or in the past the
 *    guard runs the action (`command args`, environment `env` added, killed after `timeoutMs`),
 *    writes `<stateDir>/fence-action.json` ("fencing"), runs the action, retries it every 500 ms
 *    until it exits 0 (at most `timeoutMs` in all), rewrites the file with the outcome and exits.
 *  - SIGTERM: the resource was stopped properly; the guard exits without running the action.
 *  - It ignores SIGHUP/SIGINT and has no pipe to the agent, so it outlives a killed agent.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isSameProcess, killPid, monotonicNowMs, readStartTime, writeFileAtomicSync } from '../platform/proc.js';
import { readFenceDeadline } from './process/fence.js';
import { runTool } from './exec.js';

export const FENCE_ACTION_SCRIPT = fileURLToPath(new URL('./fence-action.js', import.meta.url));
const FENCE_POLL_MS = 20;
const GUARD_FILE = 'fence-guard.json';
const RESULT_FILE = 'fence-action.json';

export interface FenceActionSpec {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly stateDir: string;
  readonly fenceFile: string;
  readonly timeoutMs: number;
}

interface GuardRecord {
  readonly pid: number;
  readonly startTime: string;
}

function readGuard(stateDir: string): GuardRecord | null {
  try {
    const v: unknown = JSON.parse(readFileSync(join(stateDir, GUARD_FILE), 'utf8'));
    if (typeof v !== 'object' || v === null || !('pid' in v) || !('startTime' in v)) return null;
    const { pid, startTime } = v;
    return typeof pid === 'number' && typeof startTime === 'string' ? { pid, startTime } : null;
  } catch {
    return null;
  }
}

/** The guard of `stateDir` when it runs (pid and start time match), else null. */
export function runningFenceAction(stateDir: string): GuardRecord | null {
  const g = readGuard(stateDir);
  return g !== null && isSameProcess(g.pid, g.startTime) ? g : null;
}

/**
 * Whether a guard runs for `stateDir` and has not fired: true means the resource is covered. A
 * guard that is still running its action after the deadline passed counts as fired.
 */
export function fenceActionArmed(stateDir: string): boolean {
  return runningFenceAction(stateDir) !== null && !existsSync(join(stateDir, RESULT_FILE));
}

/** What the last fence action did (written by the guard after the deadline passed), or null. */
export function lastFenceAction(stateDir: string): string | null {
  try {
    const v: unknown = JSON.parse(readFileSync(join(stateDir, RESULT_FILE), 'utf8'));
    return typeof v === 'object' && v !== null && 'detail' in v && typeof v.detail === 'string' ? v.detail : null;
  } catch {
    return null;
  }
}

/**
 * Starts the guard unless one already runs for `stateDir`; resolves once its record is written
 * (so a stop right after cannot miss it). Throws only when the guard cannot be started at all.
 */
export async function startFenceAction(spec: FenceActionSpec): Promise<void> {
  if (runningFenceAction(spec.stateDir) !== null) return;
  rmSync(join(spec.stateDir, RESULT_FILE), { force: true });
  const child = spawn(process.execPath, [FENCE_ACTION_SCRIPT, JSON.stringify(spec)], { detached: true, stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) {
    const why = await new Promise<string>((resolve) => child.once('error', (e) => resolve(e.message)));
    throw new Error(`could not start the fence-action guard: ${why}`);
  }
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; i < 500; i++) {
    const g = readGuard(spec.stateDir);
    if (g !== null && g.pid === pid) return;
    if (await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10))])) {
      throw new Error(`the fence-action guard exited at once: ${lastFenceAction(spec.stateDir) ?? 'no record'}`);
    }
  }
  throw new Error('the fence-action guard did not start within 5 s');
}

/** Ends the guard of `stateDir` without running its action (the resource was stopped properly). */
export async function releaseFenceAction(stateDir: string): Promise<void> {
  const g = runningFenceAction(stateDir);
  if (g !== null) {
    try {
      killPid(g.pid, 'SIGTERM');
    } catch {
      // gone
    }
    for (let i = 0; i < 100 && isSameProcess(g.pid, g.startTime); i++) await new Promise((r) => setTimeout(r, 10));
  }
  rmSync(join(stateDir, GUARD_FILE), { force: true });
}

function parseSpec(text: string | undefined): FenceActionSpec | null {
  if (text === undefined) return null;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return null;
    const o = Object.fromEntries(Object.entries(v));
    const { command, args, env, stateDir, fenceFile, timeoutMs } = o;
    if (typeof command !== 'string' || typeof stateDir !== 'string' || typeof fenceFile !== 'string' || typeof timeoutMs !== 'number') return null;
    if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string')) return null;
    if (typeof env !== 'object' || env === null) return null;
    const e: Record<string, string> = {};
    for (const [k, val] of Object.entries(env)) if (typeof val === 'string') e[k] = val;
    return { command, args, env: e, stateDir, fenceFile, timeoutMs };
  } catch {
    return null;
  }
}

function runGuard(spec: FenceActionSpec): void {
  process.on('SIGHUP', () => undefined);
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => process.exit(0));
  const violation = (): string | null => {
    const deadline = readFenceDeadline(spec.fenceFile);
    const now = monotonicNowMs();
    if (deadline !== null && now <= deadline) return null;
    return deadline === null ? `fence file ${spec.fenceFile} missing or unreadable` : `fence deadline passed ${now - deadline} ms ago`;
  };
  // An already expired deadline is marked before the guard record appears, so nobody ever sees this guard armed.
  const initial = violation();
  if (initial !== null) markFiring(spec, initial);
  writeFileAtomicSync(join(spec.stateDir, GUARD_FILE), JSON.stringify({ pid: process.pid, startTime: readStartTime(process.pid) ?? '' }), { fsync: false });
  if (initial !== null) {
    void act(spec, initial);
    return;
  }
  const timer = setInterval(() => {
    const why = violation();
    if (why === null) return;
    clearInterval(timer);
    void act(spec, why);
  }, FENCE_POLL_MS);
}

/** Marks the guard as fired before it acts, so a start racing with the deadline sees it (fenceActionArmed). */
function markFiring(spec: FenceActionSpec, why: string): void {
  try {
    writeFileAtomicSync(join(spec.stateDir, RESULT_FILE), JSON.stringify({ at: Date.now(), detail: `fencing (${why})` }), { fsync: false });
  } catch {
    // the action matters more than the marker
  }
}

async function act(spec: FenceActionSpec, why: string): Promise<void> {
  const until = Date.now() + spec.timeoutMs;
  markFiring(spec, why);
  let last = '';
  for (;;) {
    const r = await runTool(spec.command, spec.args, { env: { ...process.env, ...spec.env }, timeoutMs: Math.max(100, until - Date.now()) });
    last = r.code === 0 ? 'ok' : `exit ${String(r.code)}${r.timedOut ? ' (timed out)' : ''}: ${(r.stderr.trim() || r.stdout.trim()).slice(0, 300)}`;
    if (r.code === 0 || Date.now() + 500 >= until) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  const detail = `fenced (${why}): ${spec.command} ${spec.args.join(' ')}: ${last}`;
  process.stderr.write(`[halo-fence-action ${process.pid}] ${new Date().toISOString()} ${detail}\n`);
  try {
    writeFileAtomicSync(join(spec.stateDir, RESULT_FILE), JSON.stringify({ at: Date.now(), detail }), { fsync: false });
  } catch {
    // the action ran; the record is only for the reader
  }
  process.exit(0);
}

const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const spec = parseSpec(process.argv[2]);
  if (spec === null) {
    process.stderr.write('usage: fence-action.js <spec JSON>\n');
    process.exit(2);
  }
  runGuard(spec);
}
