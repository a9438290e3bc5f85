import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertNever } from '../../domain/errors.js';

/**
 * Runtime files of one process resource, all under its stateDir. Shared by the guard (writer) and
 * the agent (reader). Kept free of heavy imports: the guard loads this on every start.
 *
 *  pid.json    written by the guard once the command runs (atomic: tmp + rename)
 *  exit.json   written by the guard when the command ended and why
 *  stdout.log  / stderr.log   the command's (and the guard's) output, appended
 */
export const PID_FILE = 'pid.json';
export const EXIT_FILE = 'exit.json';
export const STDOUT_LOG = 'stdout.log';
export const STDERR_LOG = 'stderr.log';

export const pidFilePath = (stateDir: string): string => join(stateDir, PID_FILE);
export const exitFilePath = (stateDir: string): string => join(stateDir, EXIT_FILE);

export interface PidRecord {
  readonly guardPid: number;
  /** Start time of the guard (/proc field 22), so a reused guard pid is never signalled. */
  readonly guardStartTime: string;
  /** The command's pid; also its process group id. */
  readonly pid: number;
  readonly pgid: number;
  /** /proc/<pid>/stat field 22 of the command: a live process with this pid but another start time is not ours. */
  readonly startTime: string;
  readonly epoch: number;
  readonly role: string;
  /** Wall-clock epoch ms. */
  readonly startedAt: number;
}

export type ExitRecord =
  | { readonly reason: 'exited'; readonly code: number | null; readonly signal: string | null; readonly at: number }
  | { readonly reason: 'fenced'; readonly at: number; readonly detail: string }
  | { readonly reason: 'stopped'; readonly code: number | null; readonly signal: string | null; readonly at: number }
  | { readonly reason: 'spawn-failed'; readonly error: string; readonly at: number };

function obj(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v)) : null;
}
const int = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const str = (v: unknown): v is string => typeof v === 'string';
const intOrNull = (v: unknown): v is number | null => v === null || int(v);
const strOrNull = (v: unknown): v is string | null => v === null || str(v);

export function parsePidRecord(v: unknown): PidRecord | null {
  const o = obj(v);
  if (o === null) return null;
  const { guardPid, guardStartTime, pid, pgid, startTime, epoch, role, startedAt } = o;
  if (!int(guardPid) || !str(guardStartTime) || !int(pid) || !int(pgid) || !str(startTime) || !int(epoch) || !str(role) || !num(startedAt)) {
    return null;
  }
  return { guardPid, guardStartTime, pid, pgid, startTime, epoch, role, startedAt };
}

export function parseExitRecord(v: unknown): ExitRecord | null {
  const o = obj(v);
  if (o === null || !num(o['at'])) return null;
  const at = o['at'];
  switch (o['reason']) {
    case 'exited':
    case 'stopped': {
      const { code, signal } = o;
      if (!intOrNull(code) || !strOrNull(signal)) return null;
      return { reason: o['reason'], code, signal, at };
    }
    case 'fenced':
      return { reason: 'fenced', at, detail: str(o['detail']) ? o['detail'] : '' };
    case 'spawn-failed':
      return { reason: 'spawn-failed', at, error: str(o['error']) ? o['error'] : '' };
    default:
      return null;
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The pid record, or null when absent or unreadable (an unreadable record is treated as absent). */
export function readPidRecord(stateDir: string): PidRecord | null {
  return parsePidRecord(readJson(pidFilePath(stateDir)));
}

export function readExitRecord(stateDir: string): ExitRecord | null {
  return parseExitRecord(readJson(exitFilePath(stateDir)));
}

/** One line for an operator: how the last run ended. */
export function describeExit(e: ExitRecord): string {
  switch (e.reason) {
    case 'exited':
      return e.signal !== null ? `exited on signal ${e.signal}` : `exited with code ${String(e.code)}`;
    case 'stopped':
      return e.signal !== null ? `stopped (signal ${e.signal})` : `stopped (code ${String(e.code)})`;
    case 'fenced':
      return `killed by fencing${e.detail ? `: ${e.detail}` : ''}`;
    case 'spawn-failed':
      return `could not start: ${e.error}`;
    default:
      return assertNever(e);
  }
}
