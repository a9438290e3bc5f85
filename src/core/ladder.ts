import type { RecoveryPolicy } from '../domain/config.js';

/**
 * The per-resource recovery ladder: one of its monitors fails `failureThreshold` times in a row
 * (or the process exits) -> restart in place, at most `maxRestarts` times within `windowMs`, with
 * exponential backoff -> escalate (the group fails over and this node gets a failure record).
 *
 * Pure: the caller passes `now` (milliseconds, one clock throughout; the agent uses its monotonic
 * clock) and keeps the returned state. Steps are edge-triggered: a step other than 'none' is
 * returned once per failure (when the failure count reaches the threshold, or per exit), not
 * again on every later failing check. After acting on a 'restart' step, the caller calls
 * `recordRestart`, which starts a new count.
 */

/** One monitor's run of results: at most one of the two is non-zero. */
export interface MonitorCount {
  readonly failures: number;
  readonly successes: number;
}

export interface LadderState {
  /** Times (ms) of the restarts still inside the window, oldest first. */
  readonly restarts: readonly number[];
  /**
   * Consecutive results per monitor, by the caller's key for it. Counted apart so that one
   * monitor's passing checks never excuse another's failures (a hung health check next to a
   * passing port check still reaches its threshold).
   */
  readonly monitors: Readonly<Record<string, MonitorCount>>;
  /**
   * False from the moment the failure threshold is reached (or the process exits) until
   * `recoveryThreshold` checks in a row pass.
   */
  readonly healthy: boolean;
}

export const initialLadder: LadderState = { restarts: [], monitors: {}, healthy: true };

export type MonitorVerdict = { readonly kind: 'ok' } | { readonly kind: 'fail'; readonly detail: string };

export type LadderStep =
  /** Nothing to do (healthy, or below the threshold, or the failure was already acted on). */
  | { readonly kind: 'none' }
  /** Restart in place after `delayMs`; this would be restart number `attempt` in the window. */
  | { readonly kind: 'restart'; readonly delayMs: number; readonly attempt: number; readonly reason: string }
  /** Give up here: the group fails over. */
  | { readonly kind: 'escalate'; readonly reason: string };

export interface LadderThresholds {
  readonly failureThreshold: number;
  readonly recoveryThreshold: number;
}

/** Restarts that still count at `now`: those less than `windowMs` old. */
export function restartsInWindow(restarts: readonly number[], now: number, policy: RecoveryPolicy): number[] {
  return restarts.filter((t) => now - t < policy.windowMs);
}

/** Backoff before the n-th restart in the window (n >= 1): initial * 2^(n-1), capped at backoffMaxMs. */
export function backoffMs(n: number, policy: RecoveryPolicy): number {
  return Math.min(policy.backoffMaxMs, policy.backoffInitialMs * 2 ** Math.max(0, n - 1));
}

function nextStep(restarts: readonly number[], why: string, policy: RecoveryPolicy): LadderStep {
  const attempt = restarts.length + 1;
  if (attempt > policy.maxRestarts) {
    return {
      kind: 'escalate',
      reason: `${why}; ${restarts.length} restart(s) within ${policy.windowMs}ms already (limit ${policy.maxRestarts})`,
    };
  }
  return { kind: 'restart', delayMs: backoffMs(attempt, policy), attempt, reason: `${why}; restart ${attempt} of ${policy.maxRestarts}` };
}

/** Feed one check result of the monitor the caller keys `monitor`. */
export function observeMonitor(
  s: LadderState,
  monitor: string,
  v: MonitorVerdict,
  now: number,
  policy: RecoveryPolicy,
  thresholds: LadderThresholds,
): { state: LadderState; step: LadderStep } {
  const restarts = restartsInWindow(s.restarts, now, policy);
  const prev = s.monitors[monitor] ?? { failures: 0, successes: 0 };
  if (v.kind === 'ok') {
    const count = { failures: 0, successes: prev.successes + 1 };
    const monitors = { ...s.monitors, [monitor]: count };
    const othersPass = Object.entries(monitors).every(([k, c]) => k === monitor || c.failures === 0);
    const healthy = s.healthy || (count.successes >= thresholds.recoveryThreshold && othersPass);
    return { state: { restarts, monitors, healthy }, step: { kind: 'none' } };
  }
  const count = { failures: prev.failures + 1, successes: 0 };
  const crossed = count.failures === thresholds.failureThreshold;
  const state: LadderState = { restarts, monitors: { ...s.monitors, [monitor]: count }, healthy: s.healthy && !crossed };
  if (!crossed) return { state, step: { kind: 'none' } };
  return { state, step: nextStep(restarts, `monitor failed ${count.failures} time(s) in a row: ${v.detail}`, policy) };
}

/** The process exited: no threshold, the ladder steps at once. */
export function observeExit(s: LadderState, detail: string, now: number, policy: RecoveryPolicy): { state: LadderState; step: LadderStep } {
  const restarts = restartsInWindow(s.restarts, now, policy);
  const state: LadderState = { restarts, monitors: s.monitors, healthy: false };
  return { state, step: nextStep(restarts, `process exited: ${detail}`, policy) };
}

/**
 * A restart was carried out at `now`. Counts start afresh; the resource stays unhealthy until
 * `recoveryThreshold` checks pass (the caller may feed a passing readiness check as one).
 */
export function recordRestart(s: LadderState, now: number, policy: RecoveryPolicy): LadderState {
  return { restarts: [...restartsInWindow(s.restarts, now, policy), now], monitors: {}, healthy: false };
}
