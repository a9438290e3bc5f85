import { randomUUID } from 'node:crypto';
import type { HaloConfig, MonitorConfig, ResourceConfig } from '../domain/config.js';
import { ClusterError, isClusterError } from '../domain/errors.js';
import type { Epoch, GroupId, LeaseId, NodeId, Revision } from '../domain/ids.js';
import { clusterKeys, type ClusterKeys } from '../domain/keys.js';
import type { ClusterEvent, DrainReport, FailureRecord, GroupStatus, NodeSession, StoredConfig } from '../domain/state.js';
import type { Compare, Coordinator } from '../coord/coordinator.js';
import { CoordinatorView } from '../coord/view.js';
import { isLogKey, parseSnapshot, type ClusterSnapshot } from '../coord/snapshot.js';
import { decideAgentGroup, type AgentGroupDecision } from '../core/agent-decide.js';
import type { Clock } from '../platform/clock.js';
import type { Monitor } from '../monitors/types.js';
import type { ResourceAgent } from '../resources/types.js';
import type { Logger } from '../observability/log.js';
import { appendEvent } from '../observability/events.js';
import type { Metrics, MonitorObservation } from '../observability/metrics.js';
import { Controller } from '../controller/controller.js';
import { EndpointManager, type EndpointStatus } from '../endpoint/index.js';
import { GroupRunner, type LocalEvent } from './group-runner.js';

export interface AgentDeps {
  readonly coord: Coordinator;
  readonly clock: Clock;
  readonly node: NodeId;
  /** The configuration this agent was started with; stored as version 1 when the cluster has none yet. */
  readonly config: HaloConfig;
  readonly configSource: string;
  readonly apiUrl: string;
  /** This node's runtime state directory. */
  readonly stateDir: string;
  /** File the fencing guards read (see ResourceContext.fenceFile). */
  readonly fenceFile: string;
  /** Publish the fencing deadline (monotonic ms) for the guards; 0 = fenced now. */
  readonly writeFence: (deadline: number) => void;
  readonly makeResource: (cfg: ResourceConfig, node: NodeId) => ResourceAgent;
  readonly makeMonitor: (cfg: MonitorConfig, node: NodeId) => Monitor;
  readonly log: Logger;
  readonly pid?: number;
  readonly metrics?: Metrics;
}

/**
 * The node daemon: holds the node's session lease, runs what is assigned here, reports status,
 * self-fences, and hosts the controller (active only on the elected node).
 *
 * Safety: a group runs active here only while `now < leaseValidUntil`, where
 * leaseValidUntil = (time the last successful renewal was SENT) + ttl - safetyMargin, on the
 * monotonic clock. The same deadline goes to the fence file, so guards kill resources even when
 * this process is frozen or dead.
 */
export class Agent {
  readonly node: NodeId;
  readonly keys: ClusterKeys;
  readonly view: CoordinatorView;
  private cfg: HaloConfig;
  private lease: { id: LeaseId; ttlMs: number } | null = null;
  private leaseValidUntil: number | null = null;
  private lagAt: number | null = null;
  private readonly sessionId = randomUUID();
  private readonly runners = new Map<GroupId, GroupRunner>();
  private readonly decisions = new Map<GroupId, AgentGroupDecision>();
  private readonly lastStatus = new Map<GroupId, { sig: string; at: number; updatedAt: number }>();
  /** The revision of our status key of each group as of our last write (see putStatus). */
  private readonly statusRevision = new Map<GroupId, Revision | 'absent'>();
  private readonly controller: Controller;
  private readonly stop = new AbortController();
  private wake: (() => void) | null = null;
  /** The view changed while a pass was running: that pass decided on a stale view. */
  private viewChanged = false;
  private statusWriting = false;
  private statusDirty = false;
  private loops: Promise<void>[] = [];
  private metricsRevision = -1;
  private readonly endpoints: EndpointManager;

  constructor(private readonly deps: AgentDeps) {
    this.node = deps.node;
    this.cfg = deps.config;
    this.keys = clusterKeys(deps.config.cluster);
    this.view = new CoordinatorView(deps.coord, this.keys.prefix, (k) => isLogKey(deps.config.cluster, k));
    this.controller = new Controller({
      coord: deps.coord,
      clock: deps.clock,
      self: deps.node,
      cluster: deps.config.cluster,
      sessionId: this.sessionId,
      lease: () => this.lease?.id ?? null,
      snapshot: () => this.snapshot(),
      log: deps.log,
      ...(deps.metrics ? { metrics: deps.metrics } : {}),
    });
    this.endpoints = new EndpointManager({ node: deps.node, log: deps.log, reportDrained: (g, epoch, startedAt) => void this.reportDrained(g, epoch, startedAt) });
    this.view.onChange(() => {
      this.viewChanged = true;
      this.poke();
    });
  }

  /** This node's endpoints: where they forward, what they hold and what is in flight. */
  endpointStatus(): EndpointStatus[] {
    return this.endpoints.status();
  }

  get config(): HaloConfig {
    return this.cfg;
  }

  /** Register, re-adopt what already runs, and start the loops. Resolves once registered. */
  async start(): Promise<void> {
    const { signal } = this.stop;
    await this.register(signal);
    await this.bootstrapConfig(signal);
    await this.view.resync(signal);
    const snap = this.snapshot();
    this.cfg = snap.config?.value.config ?? this.cfg;
    for (const g of this.cfg.groups) {
      const runner = this.runnerFor(g.name);
      if (runner) await runner.adopt(signal);
    }
    this.loops = [
      this.view.run(signal, (ms, s) => this.deps.clock.sleep(ms, s)),
      this.renewLoop(signal),
      this.tickLoop(signal),
      this.lagLoop(signal),
    ];
  }

  /**
   * Stop the agent. With keepResources the resources keep running (their guards keep fencing on
   * the last deadline) so a new agent process can re-adopt them: an in-service upgrade.
   */
  async shutdown(opts: { keepResources: boolean }): Promise<void> {
    this.stop.abort(new Error('agent stopping'));
    this.poke();
    await this.endpoints.close();
    if (opts.keepResources) {
      for (const r of this.runners.values()) r.detach();
    } else {
      await Promise.all([...this.runners.values()].map((r) => r.shutdown()));
      await this.writeAllStatus();
      if (this.lease) await this.deps.coord.revokeLease(this.lease.id, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
      this.deps.writeFence(0);
    }
    await Promise.allSettled(this.loops);
  }

  // ---- lease ---------------------------------------------------------------------------------

  private async register(signal: AbortSignal): Promise<void> {
    const { coord, clock } = this.deps;
    const sentAt = clock.now();
    const lease = await coord.grantLease(this.cfg.timing.leaseTtlMs, { signal });
    const session: NodeSession = {
      node: this.node,
      sessionId: this.sessionId,
      pid: this.deps.pid ?? process.pid,
      startedAt: clock.wallNow(),
      apiUrl: this.deps.apiUrl,
      leaseTtlMs: lease.ttlMs,
    };
    await coord.put(this.keys.node(this.node), JSON.stringify(session), { lease: lease.id, signal });
    this.lease = lease;
    this.setValidUntil(sentAt + lease.ttlMs - this.cfg.timing.safetyMarginMs);
    this.lastStatus.clear();
    this.event({ kind: 'node-joined', group: null, resource: null, message: `${this.node} joined (session ${this.sessionId.slice(0, 8)}, lease ${lease.ttlMs} ms)`, epoch: null });
    this.deps.log.info({ node: this.node, lease: lease.id, ttlMs: lease.ttlMs }, 'registered');
  }

  private setValidUntil(t: number | null): void {
    this.leaseValidUntil = t;
    this.deps.writeFence(t ?? 0);
  }

  /** One renewal. Public for the simulator, which drives time by hand. */
  async renewOnce(signal: AbortSignal = this.stop.signal): Promise<void> {
    const { coord, clock } = this.deps;
    if (!this.lease) {
      if (this.anyRunning()) return; // re-register only once everything is stopped
      try {
        await this.register(signal);
      } catch (e) {
        if (!isClusterError(e)) throw e;
      }
      return;
    }
    const sentAt = clock.now();
    try {
      // Bounded by time only: a renewal is never worth waiting for past the next one.
      const r = await coord.renewLease(this.lease.id, { signal: AbortSignal.timeout(this.cfg.timing.renewIntervalMs * 2) });
      this.deps.metrics?.observeRenewal(clock.now() - sentAt);
      if (r.ok) {
        this.setValidUntil(sentAt + this.lease.ttlMs - this.cfg.timing.safetyMarginMs);
        if (this.lagAt !== null && sentAt > this.lagAt) this.lagAt = null;
      } else {
        this.deps.log.warn({ node: this.node }, 'session lease lost: self-fencing');
        this.lease = null;
        this.setValidUntil(null);
        this.poke();
      }
    } catch (e) {
      if (signal.aborted) return;
      this.deps.log.warn({ node: this.node, err: String(e) }, 'lease renewal failed');
      this.poke();
    }
  }

  private async renewLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.renewOnce(signal);
      try {
        await this.deps.clock.sleep(this.cfg.timing.renewIntervalMs, signal);
      } catch {
        return;
      }
    }
  }

  /** Event-loop lag: a stalled loop means our lease belief may be older than we think. */
  private async lagLoop(signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const period = 50;
    while (!signal.aborted) {
      const before = clock.now();
      try {
        await clock.sleep(period, signal);
      } catch {
        return;
      }
      const lag = Math.max(0, clock.now() - before - period);
      this.deps.metrics?.setLoopLag(lag);
      if (lag > this.cfg.timing.maxLoopLagMs) {
        this.lagAt = clock.now();
        this.deps.log.warn({ node: this.node, lagMs: lag }, 'event loop stalled beyond maxLoopLagMs: no new starts until a fresh lease renewal');
        this.event({ kind: 'waiting', group: null, resource: null, message: `event loop stalled ${lag} ms (limit ${this.cfg.timing.maxLoopLagMs} ms)`, epoch: null });
        this.poke();
      }
    }
  }

  // ---- reconcile -----------------------------------------------------------------------------

  snapshot(): ClusterSnapshot {
    return parseSnapshot(this.cfg.cluster, this.view.entries(), this.view.revision);
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private async tickLoop(signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    while (!signal.aborted) {
      this.viewChanged = false;
      try {
        this.reconcileOnce();
        await this.controller.tick(signal);
      } catch (e) {
        this.deps.log.error({ node: this.node, err: e instanceof Error ? e.stack : String(e) }, 'reconcile failed');
      }
      if (this.viewChanged) {
        // The store changed during the pass (e.g. a drain report arrived while the controller was
        // writing): go again at once instead of after reconcileIntervalMs. Bounded by the rate of
        // store changes; a pass that changes nothing writes nothing.
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      let waitMs = this.cfg.timing.reconcileIntervalMs;
      if (this.leaseValidUntil !== null) waitMs = Math.max(1, Math.min(waitMs, this.leaseValidUntil - clock.now() + 1));
      const nap = new AbortController();
      const woken = new Promise<void>((resolve) => (this.wake = resolve));
      try {
        await Promise.race([clock.sleep(waitMs, nap.signal), woken]);
      } catch {
        /* the nap was cut short */
      } finally {
        nap.abort();
        this.wake = null; // a later poke must not go to this finished nap
      }
    }
  }

  /** One pass of observe -> decide -> act over every group. Public for the simulator. */
  reconcileOnce(): void {
    const snap = this.snapshot();
    const stored = snap.config?.value.config;
    if (stored) this.cfg = stored;
    if (this.deps.metrics && snap.revision !== this.metricsRevision) {
      this.metricsRevision = snap.revision;
      this.deps.metrics.updateFromSnapshot(snap, this.node);
    }
    this.endpoints.update(this.cfg, snap);
    const now = this.deps.clock.now();
    const seen = new Set<GroupId>();
    for (const g of this.cfg.groups) {
      seen.add(g.name);
      const runner = this.runnerFor(g.name);
      if (!runner) continue;
      const assignment = snap.assignments.get(g.name)?.value;
      const failure = snap.failures.find((f) => f.value.group === g.name && f.value.node === this.node)?.value;
      const d = decideAgentGroup({
        now,
        self: this.node,
        leaseValidUntil: this.lease ? this.leaseValidUntil : null,
        leaseSuspect: this.lagAt !== null,
        maintenance: snap.maintenance.cluster || snap.maintenance.groups.has(g.name) || snap.maintenance.nodes.has(this.node),
        assignment,
        failure,
        runningHere: runner.anyRunning,
      });
      const prev = this.decisions.get(g.name);
      if (prev?.rule !== d.rule) {
        this.deps.log.info({ node: this.node, group: g.name, rule: d.rule, code: d.code }, d.message);
        if (d.rule === 'self-fence' && runner.anyRunning) {
          this.event({ kind: 'fenced', group: g.name, resource: null, message: `${this.node} self-fenced ${g.name}: ${d.message}`, epoch: assignment?.epoch ?? null });
        }
      }
      this.decisions.set(g.name, d);
      runner.reconcile(d.target);
    }
    for (const [name, runner] of this.runners) {
      if (seen.has(name)) continue;
      this.runners.delete(name);
      void runner.shutdown().then(() => this.deps.coord.delete(this.keys.status(this.node, name)).catch(() => undefined));
      this.statusRevision.delete(name);
    }
    this.scheduleStatus();
  }

  private runnerFor(group: GroupId): GroupRunner | undefined {
    const g = this.cfg.groups.find((x) => x.name === group);
    if (!g) return undefined;
    const existing = this.runners.get(group);
    if (existing && existing.sameShape(g)) {
      existing.updatePolicy(g);
      return existing;
    }
    if (existing) {
      // Resource definitions changed: the old runner stops what it ran; the new one starts clean.
      this.runners.delete(group);
      void existing.shutdown();
    }
    const runner = new GroupRunner(g, {
      node: this.node,
      clock: this.deps.clock,
      log: this.deps.log,
      stateDir: this.deps.stateDir,
      fenceFile: this.deps.fenceFile,
      makeResource: (cfg) => this.deps.makeResource(cfg, this.node),
      makeMonitor: (cfg) => this.deps.makeMonitor(cfg, this.node),
      emit: (ev) => this.event(ev),
      changed: () => this.scheduleStatus(),
      wake: () => this.poke(),
      confirmStart: (epoch) => this.confirmStart(group, epoch),
      recordGiveUp: (epoch, reason) => this.recordGiveUp(group, epoch, reason),
      ...(this.deps.metrics ? { observeMonitor: (m: MonitorObservation) => this.deps.metrics?.observeMonitor(m) } : {}),
    });
    this.runners.set(group, runner);
    return runner;
  }

  private anyRunning(): boolean {
    for (const r of this.runners.values()) if (r.anyRunning) return true;
    return false;
  }

  /** Compare-and-swap: the assignment we act on is still current, and we say 'starting'. */
  private async confirmStart(group: GroupId, epoch: Epoch): Promise<boolean> {
    const lease = this.lease;
    const now = this.deps.clock.now();
    if (!lease || this.leaseValidUntil === null || now >= this.leaseValidUntil) return false;
    const a = this.snapshot().assignments.get(group);
    if (!a || a.value.active !== this.node || a.value.epoch !== epoch) return false;
    const status: GroupStatus = {
      node: this.node,
      group,
      epoch,
      role: 'active',
      state: 'starting',
      resources: [],
      updatedAt: this.deps.clock.wallNow(),
      detail: 'starting',
    };
    try {
      const ok = await this.putStatus(status, lease.id, [{ key: this.keys.assign(group), modRevision: a.revision }]);
      if (!ok) this.deps.log.info({ group, epoch }, 'assignment changed before start: not starting');
      return ok;
    } catch (e) {
      this.deps.log.warn({ group, err: String(e) }, 'could not confirm assignment: not starting');
      return false;
    }
  }

  /** Tell the controller this node's endpoints of `group` drained (see DrainReport); bound to our lease. */
  private async reportDrained(group: GroupId, epoch: Epoch, startedAt: number): Promise<void> {
    const rec: DrainReport = { node: this.node, group, epoch, startedAt, at: this.deps.clock.wallNow() };
    for (let attempt = 0; attempt < 20 && !this.stop.signal.aborted; attempt++) {
      const lease = this.lease;
      if (!lease) return;
      try {
        await this.deps.coord.put(this.keys.drain(group, this.node), JSON.stringify(rec), { lease: lease.id, signal: AbortSignal.timeout(2000) });
        this.deps.log.info({ node: this.node, group, epoch }, 'endpoints drained');
        return;
      } catch {
        await this.deps.clock.sleep(100).catch(() => undefined);
      }
    }
  }

  private async recordGiveUp(group: GroupId, epoch: Epoch, reason: string): Promise<void> {
    const rec: FailureRecord = { group, node: this.node, epoch, at: this.deps.clock.wallNow(), reason };
    for (let attempt = 0; attempt < 20 && !this.stop.signal.aborted; attempt++) {
      try {
        await this.deps.coord.put(this.keys.failure(group, this.node), JSON.stringify(rec), { signal: AbortSignal.timeout(2000) });
        break;
      } catch {
        await this.deps.clock.sleep(100).catch(() => undefined);
      }
    }
    this.lastStatus.delete(group);
    this.scheduleStatus();
  }

  // ---- status and events ---------------------------------------------------------------------

  private scheduleStatus(): void {
    if (this.statusWriting) {
      this.statusDirty = true;
      return;
    }
    this.statusWriting = true;
    void (async () => {
      try {
        do {
          this.statusDirty = false;
          await this.writeAllStatus();
        } while (this.statusDirty && !this.stop.signal.aborted);
      } finally {
        this.statusWriting = false;
      }
    })();
  }

  /** Write each group's status when something significant changed (or every 5 s for fresh monitor figures). */
  private async writeAllStatus(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const now = this.deps.clock.now();
    for (const [group, runner] of this.runners) {
      const s = runner.status(now);
      const rec: GroupStatus = {
        node: this.node,
        group,
        epoch: s.epoch,
        role: s.role,
        state: s.state,
        resources: s.resources,
        detail: this.decisions.get(group)?.message ?? s.detail,
        updatedAt: this.deps.clock.wallNow(),
      };
      const sig = JSON.stringify([rec.epoch, rec.role, rec.state, rec.detail, rec.resources.map((r) => [r.state, r.pid, r.healthy, r.restarts, r.monitors.map((m) => m.ok)])]);
      const last = this.lastStatus.get(group);
      if (last && last.sig === sig && now - last.at < 5000 && !this.statusOverwritten(group, last, now)) continue;
      try {
        await this.putStatus(rec, lease.id);
        this.lastStatus.set(group, { sig, at: now, updatedAt: rec.updatedAt });
      } catch (e) {
        // Not retried in a loop: the next reconcile (or change) writes it again.
        this.deps.log.debug({ group, err: String(e) }, 'status write failed');
        return;
      }
    }
  }

  /**
   * Stores this node's status of a group, compare-and-swap on the key's revision as of our last
   * write, so a write abandoned at its deadline that reaches the store later (a partition heals and
   * a request queued at a cut-off etcd member goes through) fails its compare instead of putting an
   * older status over a newer one (for a while every agent would see, say, the running group as
   * stopped and hold its endpoints). When our write's outcome was unknown the next one still
   * compares against the revision before it: either that write landed (the compare fails, we learn
   * the current revision and write again) or it never will. `also`: further compares (confirmStart:
   * the assignment); false when one of those failed, nothing written.
   */
  private async putStatus(rec: GroupStatus, lease: LeaseId, also: readonly Compare[] = []): Promise<boolean> {
    const key = this.keys.status(this.node, rec.group);
    for (let attempt = 0; attempt < 3; attempt++) {
      let rev = this.statusRevision.get(rec.group);
      if (rev === undefined) {
        const cur = await this.deps.coord.get(key, { signal: AbortSignal.timeout(2000) });
        rev = cur ? cur.modRevision : 'absent';
      }
      const r = await this.deps.coord.txn([...also, { key, modRevision: rev }], [{ kind: 'put', key, value: JSON.stringify(rec), lease }], { signal: AbortSignal.timeout(2000) });
      if (r.ok) {
        this.statusRevision.set(rec.group, r.revision);
        return true;
      }
      if (r.key !== key) return false;
      this.statusRevision.set(rec.group, r.current);
    }
    throw new ClusterError('HA_CONFLICT', `status ${key}: the stored status kept changing`);
  }

  /**
   * Whether the stored status is older than our last successful write (or gone) a second after it:
   * a write abandoned at its deadline can still reach the store later, e.g. when a partition
   * heals, and overwrite a newer one. The watch-fed view shows it, and the status is written again.
   */
  private statusOverwritten(group: GroupId, last: { at: number; updatedAt: number }, now: number): boolean {
    if (now - last.at < 1000) return false;
    const stored = this.snapshot().status.get(this.node)?.get(group)?.value;
    return stored === undefined || stored.updatedAt < last.updatedAt;
  }

  private event(ev: LocalEvent): void {
    const full: ClusterEvent = { ...ev, node: this.node, at: this.deps.clock.wallNow() };
    this.deps.metrics?.countEvent(full);
    void appendEvent(this.deps.coord, this.cfg.cluster, full, { signal: AbortSignal.timeout(2000) }).catch((e: unknown) =>
      this.deps.log.debug({ err: String(e) }, 'event not recorded'),
    );
  }

  /** Store the config file as version 1 when the cluster has none; otherwise the stored one wins. */
  private async bootstrapConfig(signal: AbortSignal): Promise<void> {
    const stored: StoredConfig = { version: 1, appliedAt: this.deps.clock.wallNow(), source: this.deps.configSource, config: this.deps.config };
    const r = await this.deps.coord.txn([{ key: this.keys.config, modRevision: 'absent' }], [{ kind: 'put', key: this.keys.config, value: JSON.stringify(stored) }], { signal });
    if (r.ok) this.event({ kind: 'config-applied', group: null, resource: null, message: `configuration version 1 stored by ${this.node}`, epoch: null });
  }

}
