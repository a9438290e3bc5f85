import type { GroupConfig, HaloConfig, MonitorConfig, ResourceConfig } from '../domain/config.js';
import { assertNever } from '../domain/errors.js';

/** Worst-case figures derived from the timing settings, in milliseconds. Pure arithmetic. */
export type TimingBounds = {
  /** Failure of a node -> its groups may be reassigned (lease expiry + one reconcile). */
  readonly nodeLossDetectMs: number;
  /** Last successful renewal sent -> the agent must have stopped its active resources. */
  readonly selfFenceAfterMs: number;
  /** Renewals that may fail outright (e.g. connection refused) in a row without the agent fencing itself. */
  readonly tolerableLostRenewals: number;
  /** Renewals that may hang until abandoned (after 2 x renewIntervalMs) in a row without fencing. */
  readonly tolerableHungRenewals: number;
};

/** The agent abandons a renewal request after this many renewal intervals. */
export const RENEW_TIMEOUT_INTERVALS = 2;

export function timingBounds(cfg: HaloConfig): TimingBounds {
  const t = cfg.timing;
  const fence = t.leaseTtlMs - t.safetyMarginMs;
  const r = t.renewIntervalMs;
  // The agent sleeps renewIntervalMs after each renewal attempt ends. Attempts sent strictly
  // before the fence deadline can still save the lease, so all but the last of them may fail.
  // Failing fast, attempt k goes out at k * r. Hanging until abandoned, each attempt takes
  // RENEW_TIMEOUT_INTERVALS * r more, so attempt k goes out at r + (k - 1) * (1 + RENEW_TIMEOUT_INTERVALS) * r.
  const fastAttempts = Math.max(0, Math.ceil(fence / r) - 1);
  const hungAttempts = fence > r ? Math.ceil((fence - r) / ((1 + RENEW_TIMEOUT_INTERVALS) * r)) : 0;
  return {
    nodeLossDetectMs: t.leaseTtlMs + t.reconcileIntervalMs,
    selfFenceAfterMs: fence,
    tolerableLostRenewals: Math.max(0, fastAttempts - 1),
    tolerableHungRenewals: Math.max(0, hungAttempts - 1),
  };
}

/**
 * Worst-case time from "the application hangs" to "the monitor declares it failed". The agent
 * waits `intervalMs` after a check finishes before starting the next one, and a check against a
 * hung application only fails when its `timeoutMs` runs out. The hang can start just after a
 * quick passing check; then `failureThreshold` checks must fail in a row, each taking
 * `intervalMs + timeoutMs`.
 */
export function hangDetectionMs(m: MonitorConfig): number {
  return m.failureThreshold * (m.intervalMs + m.timeoutMs);
}

function monitorLabel(m: MonitorConfig): string {
  switch (m.kind) {
    case 'tcp':
      return `tcp ${m.host}:${m.port}`;
    case 'http':
      return `http ${m.url}`;
    case 'command':
      return `command ${[m.command, ...m.args].join(' ')}`;
    case 'disk':
      return `disk ${m.path}`;
    default:
      return assertNever(m);
  }
}

function monitorLine(g: GroupConfig, r: ResourceConfig, m: MonitorConfig, i: number): string {
  const worst = hangDetectionMs(m);
  const n = m.failureThreshold;
  return (
    `group ${g.name} / resource ${r.name} / monitor ${i} (${monitorLabel(m)}): a hung application is declared failed at most ${worst} ms after it stops answering` +
    ` (failureThreshold ${n} x (intervalMs ${m.intervalMs} + timeoutMs ${m.timeoutMs})): it can hang just after a passing check, the next check starts` +
    ` intervalMs after the previous one finished, and each of the ${n} failing check${n === 1 ? '' : 's'} needed only fails when its timeout runs out.`
  );
}

function recoveryLine(g: GroupConfig): string {
  const rec = g.recovery;
  const restarts =
    rec.maxRestarts === 0
      ? 'no restart in place: the first failure fails the group over'
      : `restarted in place up to ${rec.maxRestarts} time${rec.maxRestarts === 1 ? '' : 's'} within ${rec.windowMs} ms (backoff from ${rec.backoffInitialMs} ms doubling up to ${rec.backoffMaxMs} ms), then the group fails over`;
  const fallback = g.redundancy === 'none' ? ' (redundancy none: there is no standby to fail over to)' : '';
  return `group ${g.name}: a failed resource is ${restarts}${fallback}; a node the group failed on stays ineligible for it for ${rec.failureTimeoutMs} ms.`;
}

/**
 * Human-readable statements of the worst-case detection and recovery times implied by the
 * configuration, each with its reasoning. For `halo config check --explain` and the docs.
 */
export function explainTiming(cfg: HaloConfig): string[] {
  const t = cfg.timing;
  const b = timingBounds(cfg);
  const lines: string[] = [];
  lines.push(
    `node loss: a failed or cut-off node's groups can be reassigned at most ${b.nodeLossDetectMs} ms after the failure` +
      ` (leaseTtlMs ${t.leaseTtlMs} + reconcileIntervalMs ${t.reconcileIntervalMs}): the node may fail just after a successful renewal,` +
      ` so its lease lives a full TTL at the coordinator, and the controller notices the expiry within one reconcile interval.`,
  );
  lines.push(
    `self-fence: an agent that cannot renew stops its active resources at most ${b.selfFenceAfterMs} ms after it sent its last successful renewal` +
      ` (leaseTtlMs ${t.leaseTtlMs} - safetyMarginMs ${t.safetyMarginMs}), measured on its own monotonic clock; the coordinator counts the TTL` +
      ` from when it received that renewal, which is later, so the node has stopped before anyone else may take over.` +
      ` The ${t.safetyMarginMs} ms margin absorbs event-loop stalls up to maxLoopLagMs (${t.maxLoopLagMs} ms) and clock-rate differences.`,
  );
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  lines.push(
    `lease renewal: every ${t.renewIntervalMs} ms (the agent waits that long after each attempt ends); before the ${b.selfFenceAfterMs} ms deadline,` +
      ` ${plural(b.tolerableLostRenewals, 'renewal')} failing outright, or ${plural(b.tolerableHungRenewals, 'renewal')} hanging until abandoned` +
      ` after ${RENEW_TIMEOUT_INTERVALS * t.renewIntervalMs} ms, can be lost in a row without fencing a healthy node; the next one must succeed in time.`,
  );
  for (const g of cfg.groups) {
    const startBudget = g.resources.reduce((sum, r) => sum + r.startTimeoutMs, 0);
    lines.push(
      `group ${g.name}: after a node loss the group is running again elsewhere within ${b.nodeLossDetectMs + startBudget} ms` +
        ` (${b.nodeLossDetectMs} ms to reassign + up to ${startBudget} ms to start its ${g.resources.length} resource${g.resources.length === 1 ? '' : 's'} in order, the sum of their startTimeoutMs).`,
    );
    for (const r of g.resources) {
      if (r.type === 'vip') {
        lines.push(`group ${g.name} / resource ${r.name}: ${r.address}/${r.prefixLength} is checked on ${r.interface} every ${r.checkIntervalMs} ms; a missing address counts as a failure at once.`);
      } else if (r.type === 'ocf') {
        lines.push(`group ${g.name} / resource ${r.name}: the agent's monitor runs every ${r.monitorIntervalMs} ms (timeout ${r.monitorTimeoutMs} ms); one result other than running counts as a failure.`);
      } else if (r.monitors.length === 0) {
        lines.push(`group ${g.name} / resource ${r.name}: no monitors, so a hung process is not detected; only its exit is.`);
      }
      r.monitors.forEach((m, i) => lines.push(monitorLine(g, r, m, i)));
    }
    lines.push(recoveryLine(g));
  }
  return lines;
}
