import { ClusterError } from '../domain/errors.js';
import type { GroupId, NodeId, ResourceId } from '../domain/ids.js';
import type { ClusterEvent } from '../domain/state.js';

/**
 * Availability accounting: from the cluster event log, when was each group serving, when not,
 * and why. Pure: the caller passes the events and the window; nothing here reads a clock.
 *
 * The rules (docs/availability.md explains them with examples):
 *
 * - Only events with `at <= to` are used, so the report of a past window does not change later.
 *   Events before `from` are replayed to know the state at `from`.
 * - A group is accounted from its first `group-started`. A group whose first event is anything
 *   else, or that has no event at all (the log was trimmed, or it ran before the log began), is
 *   taken as serving from `from`.
 * - An incident opens on the first event that shows the serving instance down: `monitor-failed`,
 *   `resource-exited` (down from that moment),
 *   `group-failed`, `fenced`, `node-lost` (the plan's group-scoped one), `group-stopped`,
 *   `failed-over` / `switched-over` without a stop before them. Events of other nodes than the
 *   one serving are ignored (a returning node stopping a stale copy is not an outage).
 * - `downAt` (service stopped): for `node-lost`, detection minus `nodeLossDetectionMs` (the lease
 *   TTL: the last renewal was at least that long before the lease expired); for `monitor-failed`,
 *   detection minus `monitorDetectionMs(group)` (the first failing check); otherwise the event's
 *   time. Never earlier than the last evidence the group served (its last start or recovery).
 * - `recoveredAt`: the next `group-started` (a new instance serving, on any node) or
 *   `monitor-recovered`. An in-place restart has no end event in the log: when the next relevant
 *   event is not another restart attempt or a give-up, the restart is taken as successful at the
 *   time it was issued (`recoveryEstimated: true`).
 * - Incidents not recovered by `to` stay open and count as down until `to`. Incidents that touch
 *   or overlap are merged (the first cause wins, actions are concatenated).
 * - Planned moves (`switched-over`: switchover, evacuation, failback) count as downtime but are
 *   listed apart and kept out of MTBF and MTTR. A plain stop followed by a start is unplanned.
 */

export type IncidentCauseKind =
  | 'monitor-failed'
  /** The process exited by itself: down from the moment it was seen to exit. */
  | 'resource-exited'
  | 'node-lost'
  | 'fenced'
  | 'group-failed'
  /** A restart in place with no failure event before it. */
  | 'restarted'
  /** The serving instance stopped, and nothing said why (e.g. a configuration change). */
  | 'stopped'
  /** An operator-requested failover. */
  | 'failover'
  /** A planned move: switchover, evacuation (node standby) or failback. */
  | 'switchover';

/** The first event that took the service down. */
export interface IncidentCause {
  readonly kind: IncidentCauseKind;
  readonly at: number;
  readonly node: NodeId | null;
  readonly resource: ResourceId | null;
  readonly message: string;
}

export type IncidentActionKind = 'restart' | 'failover' | 'switchover' | 'place';

/** What halo did about it, in order. `node` is where the action ran or the group went. */
export interface IncidentAction {
  readonly kind: IncidentActionKind;
  readonly at: number;
  readonly node: NodeId | null;
  readonly resource: ResourceId | null;
}

export interface Incident {
  readonly group: GroupId;
  readonly planned: boolean;
  readonly cause: IncidentCause;
  /** When the service stopped serving (see the rules above); may precede `from`. */
  readonly downAt: number;
  /** When halo noticed (time of the cause event). */
  readonly detectedAt: number;
  /** When a new instance served again; null while the incident is open at `to`. */
  readonly recoveredAt: number | null;
  /** Node serving again (null when open, or recovered by an in-place restart of unknown node). */
  readonly recoveredOn: NodeId | null;
  /** `recoveredAt` is when an in-place restart was issued; the log has no event for its end. */
  readonly recoveryEstimated: boolean;
  /** detectedAt - downAt. */
  readonly detectionMs: number;
  /** recoveredAt - detectedAt; null when open. */
  readonly recoveryMs: number | null;
  /** recoveredAt - downAt: the recovery time achieved (RTO); null when open. */
  readonly outageMs: number | null;
  /** Downtime of this incident inside the accounted window. */
  readonly downInWindowMs: number;
  readonly actions: readonly IncidentAction[];
  /** Data lost (RPO achieved), in ms of writes; null when the group has no replicated data to judge. */
  readonly rpoMs: number | null;
}

export interface AvailabilityStats {
  /** Time accounted: the window, from the group's first start if that lies inside it. */
  readonly observedMs: number;
  readonly upMs: number;
  /** All downtime, planned included. */
  readonly downMs: number;
  readonly plannedDownMs: number;
  /** upMs / observedMs in [0, 1]; null when nothing was accounted. */
  readonly uptime: number | null;
  /** -log10(1 - uptime); null when uptime is null, or when uptime is 1 (infinitely many nines). */
  readonly nines: number | null;
  /** Unplanned incidents in the window (open ones included). */
  readonly failures: number;
  readonly plannedMoves: number;
  /** Incidents still open at `to`. */
  readonly open: number;
  /** upMs / failures; null without failures. */
  readonly mtbfMs: number | null;
  /** Mean outageMs of the recovered unplanned incidents; null when there are none. */
  readonly mttrMs: number | null;
}

export interface GroupAvailability extends AvailabilityStats {
  readonly group: GroupId;
  readonly from: number;
  readonly to: number;
  /** Start of the accounting inside the window; null when the group never started by `to`. */
  readonly observedFrom: number | null;
  /** Unplanned incidents overlapping the window, oldest first. */
  readonly incidents: readonly Incident[];
  /** Planned moves overlapping the window, oldest first. */
  readonly planned: readonly Incident[];
}

export interface ClusterAvailability extends AvailabilityStats {
  readonly from: number;
  readonly to: number;
  readonly groups: readonly GroupAvailability[];
}

export interface AvailabilityOptions {
  /** Window start, epoch ms (inclusive). */
  readonly from: number;
  /** Window end, epoch ms; must not be before `from`. */
  readonly to: number;
  /** How long before a node loss is reported the node may have stopped serving: the lease TTL. Default 0. */
  readonly nodeLossDetectionMs?: number;
  /** Per group: how long before a monitor failure is reported the checks were already failing. Default 0. */
  readonly monitorDetectionMs?: (group: GroupId) => number;
}

/** -log10(1 - uptime); null for "no downtime" (infinite) and for an unknown uptime. */
export function ninesOf(uptime: number | null): number | null {
  if (uptime === null || uptime >= 1) return null;
  return Math.log10(1 / (1 - Math.max(0, uptime)));
}

interface Draft {
  planned: boolean;
  cause: IncidentCause;
  downAt: number;
  detectedAt: number;
  recoveredAt: number | null;
  recoveredOn: NodeId | null;
  recoveryEstimated: boolean;
  actions: IncidentAction[];
}

const causeOf = (kind: IncidentCauseKind, e: ClusterEvent): IncidentCause => ({ kind, at: e.at, node: e.node, resource: e.resource, message: e.message });
const actionOf = (kind: IncidentActionKind, e: ClusterEvent): IncidentAction => ({ kind, at: e.at, node: e.node, resource: e.resource });

/** Kinds that say something about whether a group serves; every other kind is ignored. */
const RELEVANT: ReadonlySet<ClusterEvent['kind']> = new Set<ClusterEvent['kind']>([
  'group-placed',
  'group-started',
  'group-stopped',
  'monitor-failed',
  'resource-exited',
  'monitor-recovered',
  'resource-restarted',
  'group-failed',
  'failed-over',
  'switched-over',
  'fenced',
  'node-lost',
]);

/** Replays one group's events into incidents (unclipped, unmerged). */
function replay(
  group: GroupId,
  events: readonly ClusterEvent[],
  opts: AvailabilityOptions,
): { readonly observedFrom: number | null; readonly drafts: readonly Draft[] } {
  const nodeLossMs = Math.max(0, opts.nodeLossDetectionMs ?? 0);
  const monitorMs = Math.max(0, opts.monitorDetectionMs?.(group) ?? 0);
  const drafts: Draft[] = [];
  let phase: 'unknown' | 'placed' | 'up' = 'unknown';
  let observedFrom: number | null = null;
  let servingOn: NodeId | null = null;
  let lastUpAt = Number.NEGATIVE_INFINITY;
  let open: Draft | null = null;
  /** An in-place restart of the open incident was issued at this time, outcome not yet known. */
  let restartAt: number | null = null;

  const begin = (kind: IncidentCauseKind, e: ClusterEvent, downAt: number, planned = false): Draft => {
    const d: Draft = {
      planned,
      cause: causeOf(kind, e),
      downAt: Math.min(e.at, Math.max(lastUpAt, downAt)),
      detectedAt: e.at,
      recoveredAt: null,
      recoveredOn: null,
      recoveryEstimated: false,
      actions: [],
    };
    drafts.push(d);
    return d;
  };
  const recover = (d: Draft, at: number, on: NodeId | null, estimated: boolean): void => {
    d.recoveredAt = at;
    d.recoveredOn = on;
    d.recoveryEstimated = estimated;
    lastUpAt = at;
    if (on !== null) servingOn = on;
  };
  /** Events of a node other than the serving one do not concern the serving instance. */
  const fromServing = (e: ClusterEvent): boolean => servingOn === null || e.node === null || e.node === servingOn;

  for (const e of events) {
    if (e.group !== group || e.at > opts.to || !RELEVANT.has(e.kind)) continue;

    if (phase !== 'up') {
      if (e.kind === 'group-started') {
        observedFrom = e.at;
        servingOn = e.node;
        lastUpAt = e.at;
        phase = 'up';
        continue;
      }
      if (e.kind === 'group-placed' || phase === 'placed') {
        // Placed but not yet started: the first start is not an outage.
        phase = 'placed';
        continue;
      }
      // The group ran before the first event we have.
      observedFrom = Number.NEGATIVE_INFINITY;
      phase = 'up';
    }

    if (open !== null && restartAt !== null) {
      if (e.kind === 'group-started' || e.kind === 'monitor-recovered') {
        recover(open, e.at, e.node, false);
        open = null;
        restartAt = null;
        continue;
      }
      if (e.kind === 'resource-restarted' && fromServing(e)) {
        // Another attempt: the previous one did not bring the resource back.
        open.actions.push(actionOf('restart', e));
        restartAt = e.at;
        continue;
      }
      if (e.kind === 'group-failed' && fromServing(e)) {
        restartAt = null;
        continue;
      }
      // Anything else happens after the restart worked; the log has no event for its end.
      recover(open, restartAt, servingOn, true);
      open = null;
      restartAt = null;
    }

    switch (e.kind) {
      case 'group-started':
        if (open !== null) recover(open, e.at, e.node, false);
        open = null;
        servingOn = e.node;
        lastUpAt = e.at;
        break;
      case 'monitor-recovered':
        if (open !== null && fromServing(e) && (open.cause.kind === 'monitor-failed' || open.cause.kind === 'restarted')) {
          recover(open, e.at, e.node, false);
          open = null;
        }
        break;
      case 'group-placed':
        open?.actions.push(actionOf('place', e));
        break;
      case 'monitor-failed':
        if (open === null && fromServing(e)) open = begin('monitor-failed', e, e.at - monitorMs);
        break;
      case 'resource-restarted':
        if (!fromServing(e)) break;
        open ??= begin('restarted', e, e.at);
        open.actions.push(actionOf('restart', e));
        restartAt = e.at;
        break;
      case 'resource-exited':
        if (open === null && fromServing(e)) open = begin('resource-exited', e, e.at);
        break;
      case 'group-failed':
        if (open === null && fromServing(e)) open = begin('group-failed', e, e.at);
        break;
      case 'fenced':
        if (open === null && fromServing(e)) open = begin('fenced', e, e.at);
        break;
      case 'node-lost':
        if (open === null && fromServing(e)) open = begin('node-lost', e, e.at - nodeLossMs);
        break;
      case 'group-stopped':
        if (open === null && fromServing(e)) open = begin('stopped', e, e.at);
        break;
      case 'failed-over':
        if (open === null) open = begin('failover', e, e.at);
        else if (open.cause.kind === 'stopped') open.cause = { ...open.cause, kind: 'failover' };
        open.actions.push(actionOf('failover', e));
        break;
      case 'switched-over':
        if (open === null) open = begin('switchover', e, e.at, true);
        else if (open.cause.kind === 'stopped') {
          open.cause = { ...open.cause, kind: 'switchover' };
          open.planned = true;
        }
        open.actions.push(actionOf('switchover', e));
        break;
      default:
        break;
    }
  }
  // No event about the group at all (a quiet group, or a trimmed log): taken as serving throughout.
  if (phase === 'unknown') observedFrom = Number.NEGATIVE_INFINITY;
  // A restart issued before `to` with nothing said against it: taken as successful when issued.
  if (open !== null && restartAt !== null) recover(open, restartAt, servingOn, true);
  return { observedFrom, drafts };
}

/** Incidents that touch or overlap become one: the first cause wins, the last recovery ends it. */
function merge(drafts: readonly Draft[]): Draft[] {
  const out: Draft[] = [];
  for (const d of [...drafts].sort((a, b) => a.downAt - b.downAt)) {
    const prev = out[out.length - 1];
    if (prev !== undefined && (prev.recoveredAt === null || d.downAt <= prev.recoveredAt)) {
      const ends = prev.recoveredAt === null || d.recoveredAt === null ? null : Math.max(prev.recoveredAt, d.recoveredAt);
      const later = prev.recoveredAt !== null && d.recoveredAt !== null && prev.recoveredAt > d.recoveredAt ? prev : d;
      out[out.length - 1] = {
        planned: prev.planned && d.planned,
        cause: prev.cause,
        downAt: prev.downAt,
        detectedAt: Math.min(prev.detectedAt, d.detectedAt),
        recoveredAt: ends,
        recoveredOn: ends === null ? null : later.recoveredOn,
        recoveryEstimated: ends === null ? false : later.recoveryEstimated,
        actions: [...prev.actions, ...d.actions],
      };
    } else out.push({ ...d, actions: [...d.actions] });
  }
  return out;
}

function statsOf(observedMs: number, incidents: readonly Incident[]): AvailabilityStats {
  const downMs = incidents.reduce((s, i) => s + i.downInWindowMs, 0);
  const plannedDownMs = incidents.filter((i) => i.planned).reduce((s, i) => s + i.downInWindowMs, 0);
  const upMs = Math.max(0, observedMs - downMs);
  const uptime = observedMs > 0 ? upMs / observedMs : null;
  const failures = incidents.filter((i) => !i.planned);
  const repaired = failures.flatMap((i) => (i.outageMs === null ? [] : [i.outageMs]));
  return {
    observedMs,
    upMs,
    downMs,
    plannedDownMs,
    uptime,
    nines: ninesOf(uptime),
    failures: failures.length,
    plannedMoves: incidents.length - failures.length,
    open: incidents.filter((i) => i.recoveredAt === null).length,
    mtbfMs: failures.length > 0 ? upMs / failures.length : null,
    mttrMs: repaired.length > 0 ? repaired.reduce((s, x) => s + x, 0) / repaired.length : null,
  };
}

function checkWindow(opts: AvailabilityOptions): void {
  if (!Number.isFinite(opts.from) || !Number.isFinite(opts.to) || opts.to < opts.from) {
    throw new ClusterError('HA_BAD_REQUEST', `availability window: "to" (${opts.to}) must be a time at or after "from" (${opts.from})`);
  }
}

/**
 * Availability of one group over [from, to]. `events` is the cluster event log in the order the
 * coordinator accepted it (create revision), any groups mixed; older events than `from` should be
 * included so the state at `from` is known.
 */
export function groupAvailability(group: GroupId, events: readonly ClusterEvent[], opts: AvailabilityOptions): GroupAvailability {
  checkWindow(opts);
  const { from, to } = opts;
  const { observedFrom, drafts } = replay(group, events, opts);
  const start = observedFrom === null ? null : Math.max(from, observedFrom);
  const observedMs = start === null ? 0 : Math.max(0, to - start);
  const incidents: Incident[] = [];
  if (start !== null) {
    for (const d of merge(drafts)) {
      const end = d.recoveredAt ?? to;
      const inWindow = d.downAt <= to && (end > start || d.downAt >= start);
      if (!inWindow) continue;
      incidents.push({
        group,
        planned: d.planned,
        cause: d.cause,
        downAt: d.downAt,
        detectedAt: d.detectedAt,
        recoveredAt: d.recoveredAt,
        recoveredOn: d.recoveredOn,
        recoveryEstimated: d.recoveryEstimated,
        detectionMs: d.detectedAt - d.downAt,
        recoveryMs: d.recoveredAt === null ? null : d.recoveredAt - d.detectedAt,
        outageMs: d.recoveredAt === null ? null : d.recoveredAt - d.downAt,
        downInWindowMs: Math.max(0, Math.min(end, to) - Math.max(d.downAt, start)),
        actions: d.actions,
        rpoMs: null,
      });
    }
  }
  return {
    group,
    from,
    to,
    observedFrom: start,
    ...statsOf(observedMs, incidents),
    incidents: incidents.filter((i) => !i.planned),
    planned: incidents.filter((i) => i.planned),
  };
}

/**
 * Availability of every group in `groups` (default: every group named in the events), and the
 * roll-up: time-weighted over groups (uptime = sum of up time / sum of accounted time), failures
 * and planned moves summed, MTBF = total up time / failures, MTTR over every recovered failure.
 */
export function clusterAvailability(
  events: readonly ClusterEvent[],
  opts: AvailabilityOptions & { readonly groups?: readonly GroupId[] },
): ClusterAvailability {
  checkWindow(opts);
  const names = opts.groups ?? [...new Set(events.flatMap((e) => (e.group === null ? [] : [e.group])))].sort();
  const groups = names.map((g) => groupAvailability(g, events, opts));
  const all = groups.flatMap((g) => [...g.incidents, ...g.planned]);
  const observedMs = groups.reduce((s, g) => s + g.observedMs, 0);
  return { from: opts.from, to: opts.to, ...statsOf(observedMs, all), groups };
}
