import type { Compare, Coordinator, TxnOp } from '../coord/coordinator.js';
import type { ClusterSnapshot } from '../coord/snapshot.js';
import { isClusterError } from '../domain/errors.js';
import type { GroupId, LeaseId, NodeId } from '../domain/ids.js';
import { clusterKeys, type ClusterKeys } from '../domain/keys.js';
import type { ClusterEvent, ControllerRecord } from '../domain/state.js';
import { plan, type ControllerAction, type GroupDecision, type PlanInput } from '../core/plan.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../observability/log.js';
import { appendEvent, eventPut, trimEvents } from '../observability/events.js';
import { trimAudit } from '../observability/audit.js';
import { sweepSessions } from '../security/credentials.js';
import { appendJournal } from '../observability/journal.js';
import type { Metrics } from '../observability/metrics.js';

export interface ControllerDeps {
  readonly coord: Coordinator;
  readonly clock: Clock;
  readonly self: NodeId;
  readonly cluster: string;
  readonly sessionId: string;
  /** The hosting agent's lease; the controller key is bound to it. */
  readonly lease: () => LeaseId | null;
  readonly snapshot: () => ClusterSnapshot;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** How many events the cluster keeps. */
  readonly eventRetention?: number;
  /** Audit records kept (default 10 000). */
  readonly auditRetention?: number;
}

/**
 * The thin driver around `plan()`: wins the election, feeds plan() a snapshot and writes its
 * decisions with compare-and-swap. Every write is guarded by the revisions the decision relied
 * on, so a decision taken from a stale view is simply refused by the store and re-planned.
 */
export class Controller {
  private readonly keys: ClusterKeys;
  private leader = false;
  private readonly lastJournal = new Map<GroupId, string>();
  private knownSessions: Set<NodeId> | null = null;
  private lastTrimAt = 0;

  constructor(private readonly deps: ControllerDeps) {
    this.keys = clusterKeys(deps.cluster);
  }

  /** One controller cycle: campaign, then (if elected) plan and act. */
  async tick(signal: AbortSignal): Promise<void> {
    const snap = this.deps.snapshot();
    const lease = this.deps.lease();
    const wasLeader = this.leader;
    this.leader = !!lease && snap.controller?.node === this.deps.self && snap.controller.sessionId === this.deps.sessionId;
    if (!this.leader) {
      if (wasLeader) this.deps.log.info({ node: this.deps.self }, 'no longer the controller');
      this.knownSessions = null;
      if (lease && !snap.controller) await this.campaign(lease, signal);
      return;
    }
    const stored = snap.config?.value;
    if (!stored) return;
    this.trackSessions(snap);
    const input: PlanInput = {
      now: this.deps.clock.wallNow(),
      self: this.deps.self,
      config: stored.config,
      sessions: new Map([...snap.sessions].map(([n, v]) => [n, v.value])),
      assignments: snap.assignments,
      status: new Map([...snap.status].map(([n, m]) => [n, new Map([...m].map(([g, v]) => [g, v.value]))])),
      failures: snap.failures,
      maintenance: snap.maintenance,
      standbyNodes: snap.standbyNodes,
      moves: snap.moves,
      drains: snap.drains,
      mirrors: snap.mirrors,
    };
    const out = plan(input);
    for (const d of out.decisions) await this.apply(d, snap, signal);
    if (this.deps.clock.wallNow() - this.lastTrimAt > 10_000) {
      this.lastTrimAt = this.deps.clock.wallNow();
      await trimEvents(this.deps.coord, this.deps.cluster, this.deps.eventRetention ?? 2000, { signal }).catch(() => undefined);
      await trimAudit(this.deps.coord, this.deps.cluster, this.deps.auditRetention ?? 10_000, { signal }).catch(() => undefined);
      await sweepSessions(this.deps.coord, this.deps.cluster, this.deps.clock.wallNow(), { signal }).catch(() => undefined);
    }
  }

  private async campaign(lease: LeaseId, signal: AbortSignal): Promise<void> {
    const rec: ControllerRecord = { node: this.deps.self, sessionId: this.deps.sessionId, since: this.deps.clock.wallNow() };
    try {
      const r = await this.deps.coord.txn(
        [{ key: this.keys.controller, modRevision: 'absent' }],
        [{ kind: 'put', key: this.keys.controller, value: JSON.stringify(rec), lease }],
        { signal },
      );
      if (r.ok) {
        this.deps.log.info({ node: this.deps.self }, 'elected controller');
        await this.event({ kind: 'controller-elected', node: this.deps.self, group: null, resource: null, message: `${this.deps.self} is the controller`, epoch: null }, signal);
      }
    } catch (e) {
      if (!isClusterError(e)) throw e;
    }
  }

  /** node-joined is said by the agent itself; node-lost only the controller can see. */
  private trackSessions(snap: ClusterSnapshot): void {
    const now = new Set(snap.sessions.keys());
    const before = this.knownSessions;
    this.knownSessions = now;
    if (!before) return;
    for (const n of before) {
      if (!now.has(n)) {
        void this.event({ kind: 'node-lost', node: n, group: null, resource: null, message: `${n} lost its session (lease expired or revoked)`, epoch: null });
      }
    }
  }

  /**
   * Executes the decision's actions in order. Its events (a failover, what it may have lost) are
   * written in the same transaction as its assignment: a controller that dies right after the
   * assignment landed must not leave the move without its record (a `mirror-data-loss` event
   * went missing that way). A decision without an assignment write appends them afterwards.
   */
  private async apply(d: GroupDecision, snap: ClusterSnapshot, signal: AbortSignal): Promise<void> {
    let allOk = true;
    const carrier = d.actions.findIndex((a) => a.kind === 'writeAssignment');
    // One transaction gives the events one revision: they are stamped 1 ms apart, in the
    // decision's order (node-lost before failed-over), which is how readers order a revision's events.
    const now = this.deps.clock.wallNow();
    const events: ClusterEvent[] = d.events.map((ev, i) => ({ ...ev, at: now + i }));
    for (const [i, a] of d.actions.entries()) {
      const ok = await this.execute(a, snap, signal, i === carrier ? events : []);
      allOk &&= ok;
      if (!ok) break;
    }
    if (!allOk) return; // the store moved on; the next cycle re-plans from a fresh view
    const sig = JSON.stringify([d.rule, d.reason.code, d.actions.map(describe)]);
    if (this.lastJournal.get(d.group) === sig && d.actions.length === 0) return;
    this.lastJournal.set(d.group, sig);
    if (carrier < 0) for (const ev of d.events) await this.event(ev, signal);
    await appendJournal(
      this.deps.coord,
      this.deps.cluster,
      {
        at: this.deps.clock.wallNow(),
        node: this.deps.self,
        group: d.group,
        rule: d.rule,
        code: d.reason.code,
        message: d.reason.message,
        actions: d.actions.map(describe),
        revision: snap.revision,
      },
      { signal },
    ).catch(() => undefined);
  }

  private async execute(a: ControllerAction, snap: ClusterSnapshot, signal: AbortSignal, events: readonly ClusterEvent[]): Promise<boolean> {
    const k = this.keys;
    const compares: Compare[] = [];
    const ops: TxnOp[] = events.map((ev) => eventPut(this.deps.cluster, ev));
    switch (a.kind) {
      case 'writeAssignment': {
        compares.push({ key: k.assign(a.group), modRevision: a.expect });
        const prev = snap.assignments.get(a.group)?.value;
        const prior = prev?.active ?? prev?.transition?.from ?? null;
        if (prior !== null && a.assignment.active !== null && a.assignment.active !== prior) {
          // The decision relied on `prior` having released the group: pin exactly what showed it.
          const st = snap.status.get(prior)?.get(a.group);
          if (snap.sessions.has(prior)) {
            if (!st) return false;
            compares.push({ key: k.status(prior, a.group), modRevision: st.revision });
          } else {
            compares.push({ key: k.node(prior), modRevision: 'absent' });
          }
        }
        ops.push({ kind: 'put', key: k.assign(a.group), value: JSON.stringify(a.assignment) });
        if (a.consumeMove !== undefined) {
          compares.push({ key: k.move(a.group), modRevision: a.consumeMove });
          ops.push({ kind: 'delete', key: k.move(a.group) });
        }
        break;
      }
      case 'deleteAssignment':
        compares.push({ key: k.assign(a.group), modRevision: a.expect });
        ops.push({ kind: 'delete', key: k.assign(a.group) });
        break;
      case 'deleteFailure':
        compares.push({ key: k.failure(a.group, a.node), modRevision: a.expect });
        ops.push({ kind: 'delete', key: k.failure(a.group, a.node) });
        break;
      case 'rejectMove':
        compares.push({ key: k.move(a.group), modRevision: a.expect });
        ops.push({ kind: 'delete', key: k.move(a.group) });
        break;
    }
    try {
      const r = await this.deps.coord.txn(compares, ops, { signal });
      if (!r.ok) this.deps.log.debug({ action: describe(a), key: r.key }, 'controller write refused: stale view');
      if (r.ok) for (const ev of events) this.deps.metrics?.countEvent(ev);
      if (r.ok && a.kind === 'rejectMove') {
        await this.event({ kind: 'waiting', node: null, group: a.group, resource: null, message: `move of ${a.group} rejected: ${a.reason}`, epoch: null }, signal);
      }
      return r.ok;
    } catch (e) {
      if (!isClusterError(e)) throw e;
      this.deps.log.warn({ action: describe(a), err: e.message }, 'controller write failed');
      return false;
    }
  }

  private async event(ev: Omit<ClusterEvent, 'at'>, signal?: AbortSignal): Promise<void> {
    const full: ClusterEvent = { ...ev, at: this.deps.clock.wallNow() };
    this.deps.metrics?.countEvent(full);
    await appendEvent(this.deps.coord, this.deps.cluster, full, signal ? { signal } : {}).catch(() => undefined);
  }
}

function describe(a: ControllerAction): string {
  switch (a.kind) {
    case 'writeAssignment': {
      const x = a.assignment;
      if (x.transition?.drainUntil !== undefined && x.active !== null) return `drain ${a.group} on ${x.active} before ${x.transition.kind} (until ${new Date(x.transition.drainUntil).toISOString()})`;
      return x.active ? `assign ${a.group} active=${x.active} epoch=${x.epoch} standbys=[${x.standbys.join(',')}]` : `release ${a.group} from ${x.transition?.from ?? '?'} (${x.transition?.kind ?? 'none'})`;
    }
    case 'deleteAssignment':
      return `remove assignment of ${a.group}`;
    case 'deleteFailure':
      return `expire failure of ${a.group} on ${a.node}`;
    case 'rejectMove':
      return `reject move of ${a.group}: ${a.reason}`;
  }
}
