import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Readings from Linux procfs used by the benchmark (all synchronous; each reads one tiny file). */

/** Clock ticks per second (`getconf CLK_TCK`, 100 on common kernels). */
export function clockTicks(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number((r.stdout ?? '').trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
}

/** Fields 3.. of /proc/<pid>/stat (rest[0] is field 3, so field N is rest[N - 3]); null if gone. */
function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces or ')': split after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** utime + stime of `pid` in clock ticks (fields 14 and 15). */
export function cpuTicks(pid: number): number | null {
  const f = statFields(pid);
  const u = Number(f?.[11]);
  const s = Number(f?.[12]);
  return Number.isFinite(u) && Number.isFinite(s) ? u + s : null;
}

/** Start time of `pid` in clock ticks after boot (field 22). */
export function startTicks(pid: number): number | null {
  const v = Number(statFields(pid)?.[19]);
  return Number.isFinite(v) ? v : null;
}

/** Time since boot in clock ticks, on the same clock as `startTicks` (/proc/uptime, 10 ms steps). */
export function uptimeTicks(hz: number): number {
  const s = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.round(s * hz);
}

/** VmRSS of `pid` in KiB. */
export function rssKb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** The guard pid of the `web/app` resource from the node's pid record (`<stateDir>/<node>/web/app/pid.json`). */
export function readGuardPid(stateDir: string, node: string): number | null {
  try {
    const j: unknown = JSON.parse(readFileSync(join(stateDir, node, 'web', 'app', 'pid.json'), 'utf8'));
    const g: unknown = typeof j === 'object' && j !== null ? Reflect.get(j, 'guardPid') : undefined;
    return typeof g === 'number' ? g : null;
  } catch {
    return null;
  }
}
