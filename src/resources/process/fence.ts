import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../../platform/proc.js';

/**
 * The fence file: one decimal number, the CLOCK_MONOTONIC millisecond (as `monotonicNowMs()`) after
 * which nothing of this node's active resources may still run. The node agent pushes it forward
 * while its session lease is valid; guards kill their process group once it is in the past.
 *
 * Writers must replace it atomically (`writeFenceDeadline`): a guard that reads an empty or torn
 * file treats it as expired and kills at once.
 */

/** The deadline, or null when the file is missing or does not hold a non-negative integer. */
export function readFenceDeadline(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const t = text.trim();
  if (!/^\d{1,16}$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : null;
}

/** Atomically sets the deadline (tmp file + rename; no fsync: a monotonic deadline means nothing after a reboot). */
export function writeFenceDeadline(path: string, deadlineMs: number): void {
  if (!Number.isSafeInteger(deadlineMs) || deadlineMs < 0) throw new RangeError(`invalid fence deadline ${deadlineMs}`);
  writeFileAtomicSync(path, `${deadlineMs}\n`, { fsync: false });
}
