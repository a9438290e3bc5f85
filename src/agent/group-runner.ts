import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import type { GroupConfig, MonitorConfig, ResourceConfig } from '../domain/config.js';
import type { Epoch, GroupId, NodeId } from '../domain/ids.js';
import type { ClusterEvent, GroupStatus, MonitorResult, ResourceStatus } from '../domain/state.js';

/** An event as a group runner reports it; the agent adds the node and the time. */
export type LocalEvent = Omit<ClusterEvent, 'at' | 'node'>;
import type { AgentTarget } from '../core/agent-decide.js';
import { initialLadder, observeExit, observeMonitor, recordRestart, type LadderState, type LadderStep } from '../core/ladder.js';
import type { Monitor } from '../monitors/types.js';
import type { ResourceAgent, ResourceContext } from '../resources/types.js';
import type { Clock } from '../platform/clock.js';
import type { Logger } from '../observability/log.js';

export interface GroupRunnerDeps {
  readonly node: NodeId;
  readonly clock: Clock;
  readonly log: Logger;
  /** Base directory of this node's runtime state. */
  readonly stateDir: string;
  readonly fenceFile: string;
  readonly makeResource: (cfg: ResourceConfig) => ResourceAgent;
  readonly makeMonitor: (cfg: MonitorConfig) => Monitor;
  readonly emit: (ev: LocalEvent) => void;
  /** Called whenever the observable status may have changed. */
  readonly changed: () => void;
  /** An operation finished: reconcile again soon (not called when nothing could be done). */
  readonly wake: () => void;
  /**
   * Called right before the first resource is started for `epoch`. Must atomically confirm the
   * assignment still makes this node active (compare-and-swap) and record 'starting'; returns
   * false when it does not, and then nothing is started.
   */
  readonly confirmStart: (epoch: Epoch) => Promise<boolean>;
  /** Every monitor check result (metrics). */
  readonly observeMonitor?: (m: { group: string; resource: string; monitor: string; ok: boolean; latencyMs: number }) => void;
  /** The recovery ladder gave up here: record it durably (failure record) before the group is reported failed. */
  readonly recordGiveUp: (epoch: Epoch, reason: string) => Promise<void>;
}

interface MonitorSlot {
  /** The monitor's key in its resource's recovery ladder (its position in the config). */
  readonly key: string;
  readonly cfg: MonitorConfig;
  readonly monitor: Monitor;
  last: MonitorResult | null;
}

interface ResourceSlot {
  readonly cfg: ResourceConfig;
  readonly agent: ResourceAgent;
  readonly ctxDir: string;
  state: ResourceStatus['state'];
  pid: number | null;
  startedAt: number | null;
  ladder: LadderState;
  restarts: number;
  detail: string;
  readonly monitors: MonitorSlot[];
  readonly readiness: Monitor | null;
  /** Aborts this resource's monitor loops and exit watch. */
  watch: AbortController | null;
}

type Op = { readonly name: string; readonly abort: AbortController; readonly done: Promise<void> };

/**
 * Runs one group's resources on this node: starts them in order and stops them in reverse,
 * watches them (monitors + process exit) and climbs the recovery ladder. It never decides whether
 * the group should be active here — `reconcile` is told the target by the pure agent decision.
 * At most one operation (start, stop, restart) runs at a time.
 */
export class GroupRunner {
  readonly group: GroupId;
  private cfg: GroupConfig;
  private readonly slots: ResourceSlot[];
  private op: Op | null = null;
  private epoch: Epoch = 0;
  private role: GroupStatus['role'] = 'none';
  private gaveUp: { epoch: Epoch; reason: string } | null = null;
  private target: AgentTarget = { kind: 'stopped' };
  private closed = false;

  constructor(
    cfg: GroupConfig,
    private readonly deps: GroupRunnerDeps,
  ) {
    this.group = cfg.name;
    this.cfg = cfg;
    this.slots = cfg.resources.map((r) => this.makeSlot(r));
  }

  /**
   * Same resources (by name, type and settings)? Otherwise the runner must be replaced. Parsed
   * configs are shared objects until the stored config changes, so the deep comparison runs only then.
   */
  sameShape(cfg: GroupConfig): boolean {
    return cfg.resources === this.cfg.resources || JSON.stringify(cfg.resources) === JSON.stringify(this.cfg.resources);
  }

  updatePolicy(cfg: GroupConfig): void {
    this.cfg = cfg;
  }

  get busy(): boolean {
    return this.op !== null;
  }

  get anyRunning(): boolean {
    return this.slots.some((s) => s.state !== 'stopped');
  }

  private makeSlot(r: ResourceConfig): ResourceSlot {
    const ctxDir = join(this.deps.stateDir, this.cfg.name, r.name);
    return {
      cfg: r,
      agent: this.deps.makeResource(r),
      ctxDir,
      state: 'stopped',
      pid: null,
      startedAt: null,
      ladder: initialLadder,
      restarts: 0,
      detail: '',
      monitors: r.monitors.map((m, i) => ({ key: String(i), cfg: m, monitor: this.deps.makeMonitor(m), last: null })),
      readiness: r.readiness ? this.deps.makeMonitor(r.readiness) : null,
      watch: null,
    };
  }

  /** The resource agent creates the directory when it starts something there. */
  private ctx(slot: ResourceSlot, epoch: Epoch): ResourceContext {
    return { node: this.deps.node, group: this.group, epoch, role: 'active', stateDir: slot.ctxDir, fenceFile: this.deps.fenceFile };
  }

  /**
   * Look at what already runs (after an agent restart): running resources are adopted, not
   * restarted. Their monitors start as for a fresh start.
   */
  async adopt(signal: AbortSignal): Promise<number> {
    let adopted = 0;
    for (const slot of this.slots) {
      const obs = await slot.agent.probe(this.ctx(slot, this.epoch), signal);
      if (obs.kind === 'running') {
        slot.state = 'running';
        slot.pid = obs.pid;
        slot.startedAt = obs.startedAt;
        slot.detail = `adopted: ${obs.detail}`;
        adopted++;
        this.watchSlot(slot, this.epoch);
        this.deps.emit({ kind: 'resource-adopted', group: this.group, resource: slot.cfg.name, message: `re-adopted running ${slot.cfg.name} (${obs.detail}) after agent start`, epoch: null });
      }
    }
    if (adopted > 0) this.role = 'active';
    this.deps.changed();
    return adopted;
  }

  /** Drive toward `target`. Cheap and idempotent; call it whenever anything may have changed. */
  reconcile(target: AgentTarget): void {
    if (this.closed) return;
    const prev = this.target;
    this.target = target;
    if (target.kind === 'stopped' && this.op?.name.startsWith('start') && prev.kind !== 'stopped') {
      // A start in progress is abandoned at once: being stopped wins over being started.
      this.op.abort.abort(new Error('target changed to stopped'));
    }
    if (this.op) return;
    switch (target.kind) {
      case 'unmanaged':
        return;
      case 'stopped':
        if (this.anyRunning) this.run('stop', (s) => this.stopAll(s));
        else if (this.role !== 'none') {
          this.role = 'none';
          this.deps.changed();
        }
        return;
      case 'active': {
        if (this.gaveUp && this.gaveUp.epoch >= target.epoch) return;
        if (this.gaveUp && this.gaveUp.epoch < target.epoch) this.gaveUp = null;
        if (target.epoch !== this.epoch && !this.anyRunning) this.epoch = target.epoch;
        if (target.epoch !== this.epoch && this.anyRunning && this.role === 'active') {
          // Adopted instances (or a re-assignment to us at a newer epoch) keep running; the epoch follows the assignment.
          this.epoch = target.epoch;
          this.deps.changed();
        }
        if (this.slots.every((s) => s.state === 'running')) return;
        this.run(`start@${target.epoch}`, (s) => this.startAll(target.epoch, s));
        return;
      }
    }
  }

  /** Run one operation; `fn` returns false when it could not do anything (then no immediate re-reconcile). */
  private run(name: string, fn: (signal: AbortSignal) => Promise<boolean | void>): void {
    const abort = new AbortController();
    const done = (async () => {
      let progressed = true;
      try {
        progressed = (await fn(abort.signal)) !== false;
      } catch (e) {
        if (!abort.signal.aborted) this.deps.log.error({ group: this.group, op: name, err: String(e) }, 'group operation failed');
      } finally {
        this.op = null;
        this.deps.changed();
        if (progressed) this.deps.wake();
      }
    })();
    this.op = { name, abort, done };
    this.deps.changed();
  }

  private async startAll(epoch: Epoch, signal: AbortSignal): Promise<boolean> {
    if (!(await this.deps.confirmStart(epoch))) return false;
    this.epoch = epoch;
    this.role = 'active';
    const startedAt = this.deps.clock.now();
    for (const slot of this.slots) {
      if (signal.aborted) return true;
      if (slot.state === 'running') continue;
      const ok = await this.startOne(slot, epoch, signal);
      if (!ok) return true;
    }
    const ms = this.deps.clock.now() - startedAt;
    this.deps.emit({ kind: 'group-started', group: this.group, resource: null, message: `${this.group} started in ${ms} ms`, epoch });
    return true;
  }

  /** Start one resource and wait for readiness. On failure the ladder decides what comes next. */
  private async startOne(slot: ResourceSlot, epoch: Epoch, signal: AbortSignal): Promise<boolean> {
    slot.state = 'starting';
    slot.detail = 'starting';
    this.deps.changed();
    const res = await slot.agent.start(this.ctx(slot, epoch), signal);
    if (!res.ok) {
      slot.state = 'failed';
      slot.detail = res.detail;
      this.climb(slot, observeExit(slot.ladder, `start failed: ${res.detail}`, this.deps.clock.now(), this.cfg.recovery));
      return false;
    }
    const obs = await slot.agent.probe(this.ctx(slot, epoch), signal);
    slot.pid = obs.kind === 'running' ? obs.pid : null;
    slot.startedAt = obs.kind === 'running' ? obs.startedAt : null;
    if (slot.readiness && !(await this.waitReady(slot, signal))) {
      if (signal.aborted) return false;
      slot.state = 'failed';
      slot.detail = `not ready within ${slot.cfg.startTimeoutMs} ms`;
      this.climb(slot, observeExit(slot.ladder, slot.detail, this.deps.clock.now(), this.cfg.recovery));
      return false;
    }
    slot.state = 'running';
    slot.detail = res.detail;
    // Without monitors, a successful start (and readiness) is the only evidence of health there is.
    if (slot.monitors.length === 0) slot.ladder = { ...slot.ladder, healthy: true };
    this.watchSlot(slot, epoch);
    this.deps.changed();
    return true;
  }

  private async waitReady(slot: ResourceSlot, signal: AbortSignal): Promise<boolean> {
    const readiness = slot.readiness;
    if (!readiness) return true;
    const deadline = this.deps.clock.now() + slot.cfg.startTimeoutMs;
    const pause = Math.min(100, readiness.config.intervalMs);
    while (!signal.aborted && this.deps.clock.now() < deadline) {
      const r = await readiness.check(signal);
      if (r.ok) return true;
      slot.detail = `waiting for readiness: ${r.detail}`;
      try {
        await this.deps.clock.sleep(pause, signal);
      } catch {
        return false;
      }
    }
    return false;
  }

  /** Monitors and the exit watch for a running resource. */
  private watchSlot(slot: ResourceSlot, epoch: Epoch): void {
    slot.watch?.abort();
    const watch = new AbortController();
    // Every monitor loop of the resource waits on this one signal: many listeners are expected.
    setMaxListeners(0, watch.signal);
    slot.watch = watch;
    const signal = watch.signal;
    void slot.agent.exited(this.ctx(slot, epoch), signal).then(
      (detail) => {
        if (signal.aborted || slot.watch !== watch) return;
        watch.abort();
        slot.state = 'failed';
        slot.detail = detail;
        slot.pid = null;
        this.deps.emit({ kind: 'resource-exited', group: this.group, resource: slot.cfg.name, message: `${slot.cfg.name} exited: ${detail}`, epoch: this.epoch });
        this.climb(slot, observeExit(slot.ladder, detail, this.deps.clock.now(), this.cfg.recovery));
      },
      () => undefined,
    );
    for (const m of slot.monitors) void this.monitorLoop(slot, m, signal);
  }

  private async monitorLoop(slot: ResourceSlot, m: MonitorSlot, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    while (!signal.aborted) {
      try {
        await clock.sleep(m.cfg.intervalMs, signal);
      } catch {
        return;
      }
      const r = await m.monitor.check(signal);
      if (signal.aborted) return;
      this.deps.observeMonitor?.({ group: this.group, resource: slot.cfg.name, monitor: m.cfg.kind, ok: r.ok, latencyMs: r.latencyMs });
      const wasHealthy = slot.ladder.healthy;
      const out = observeMonitor(slot.ladder, m.key, r.ok ? { kind: 'ok' } : { kind: 'fail', detail: r.detail }, clock.now(), this.cfg.recovery, {
        failureThreshold: m.cfg.failureThreshold,
        recoveryThreshold: m.cfg.recoveryThreshold,
      });
      const consecutiveFailures = out.state.monitors[m.key]?.failures ?? 0;
      const flipped = m.last?.ok !== r.ok;
      m.last = { kind: m.cfg.kind, ok: r.ok, at: clock.wallNow(), latencyMs: r.latencyMs, detail: r.detail, consecutiveFailures };
      if (out.state.healthy !== wasHealthy) {
        this.deps.emit({
          kind: out.state.healthy ? 'monitor-recovered' : 'monitor-failed',
          group: this.group,
          resource: slot.cfg.name,
          message: `${slot.cfg.name} ${m.cfg.kind} monitor ${out.state.healthy ? 'recovered' : `failed ${consecutiveFailures} times: ${r.detail}`}`,
          epoch: this.epoch,
        });
      }
      // Only a result that changes what the status says is worth a status pass now; fresh figures
      // (latency, time of the last check) go out with the next periodic one. With 100 monitors a
      // pass per check was most of an idle agent's CPU.
      if (flipped || out.state.healthy !== wasHealthy || out.step.kind !== 'none') this.deps.changed();
      if (out.step.kind !== 'none') {
        watchAbort(slot);
        this.climb(slot, out);
        return;
      }
      slot.ladder = out.state;
    }
  }

  /** Apply a ladder step for a resource that failed. */
  private climb(slot: ResourceSlot, out: { state: LadderState; step: LadderStep }): void {
    slot.ladder = out.state;
    const step = out.step;
    if (this.target.kind === 'unmanaged') {
      this.deps.log.warn({ group: this.group, resource: slot.cfg.name, step: step.kind }, 'failure in maintenance: no recovery action');
      return;
    }
    if (this.target.kind !== 'active') return;
    const epoch = this.epoch;
    switch (step.kind) {
      case 'none':
        return;
      case 'restart':
        this.queue(`restart ${slot.cfg.name}`, async (signal) => {
          if (step.delayMs > 0) await this.deps.clock.sleep(step.delayMs, signal);
          await this.restartFrom(slot, epoch, step, signal);
        });
        return;
      case 'escalate':
        this.queue('give up', async (signal) => {
          this.deps.emit({ kind: 'group-failed', group: this.group, resource: slot.cfg.name, message: `${this.group} gave up on ${this.deps.node}: ${step.reason}`, epoch });
          await this.stopAll(signal);
          // The failure record goes first: 'failed' must never be visible without it.
          await this.deps.recordGiveUp(epoch, step.reason);
          this.gaveUp = { epoch, reason: step.reason };
        });
        return;
    }
  }

  /** Run `fn` after the current operation (restarts and give-ups queue behind a start). */
  private queue(name: string, fn: (signal: AbortSignal) => Promise<boolean | void>): void {
    const prev = this.op;
    if (!prev) return this.run(name, fn);
    void prev.done.then(() => {
      if (this.closed || this.op) return;
      this.run(name, fn);
    });
  }

  /** Restart a resource in place together with every resource started after it (they may depend on it). */
  private async restartFrom(slot: ResourceSlot, epoch: Epoch, step: Extract<LadderStep, { kind: 'restart' }>, signal: AbortSignal): Promise<void> {
    if (this.target.kind !== 'active') return;
    const idx = this.slots.indexOf(slot);
    const tail = this.slots.slice(idx);
    for (const s of [...tail].reverse()) await this.stopOne(s, signal);
    slot.ladder = recordRestart(slot.ladder, this.deps.clock.now(), this.cfg.recovery);
    slot.restarts++;
    this.deps.emit({ kind: 'resource-restarted', group: this.group, resource: slot.cfg.name, message: `restarting ${slot.cfg.name} in place (attempt ${step.attempt}): ${step.reason}`, epoch });
    for (const s of tail) {
      if (signal.aborted || this.target.kind !== 'active') return;
      if (!(await this.startOne(s, epoch, signal))) return;
    }
    this.deps.emit({ kind: 'group-started', group: this.group, resource: slot.cfg.name, message: `${this.group} running again after restarting ${slot.cfg.name} in place`, epoch });
  }

  private async stopAll(signal: AbortSignal): Promise<void> {
    const wasRunning = this.anyRunning;
    for (const slot of [...this.slots].reverse()) await this.stopOne(slot, signal);
    if (wasRunning) this.deps.emit({ kind: 'group-stopped', group: this.group, resource: null, message: `${this.group} stopped on ${this.deps.node}`, epoch: this.epoch });
    this.role = 'none';
  }

  private async stopOne(slot: ResourceSlot, signal: AbortSignal): Promise<void> {
    watchAbort(slot);
    if (slot.state === 'stopped') return;
    slot.state = 'stopping';
    this.deps.changed();
    // Stopping must finish even when the operation that asked for it is cancelled.
    const res = await slot.agent.stop(this.ctx(slot, this.epoch), AbortSignal.timeout(slot.cfg.stopTimeoutMs + 10_000));
    void signal;
    slot.state = res.ok ? 'stopped' : 'failed';
    slot.detail = res.detail;
    slot.pid = null;
    slot.startedAt = null;
    for (const m of slot.monitors) {
      m.last = null;
    }
    slot.ladder = { ...slot.ladder, monitors: {}, healthy: true };
    this.deps.changed();
  }

  /** The status this node reports for the group. */
  status(now: number): Omit<GroupStatus, 'node' | 'group' | 'updatedAt'> & { readonly at: number } {
    const resources: ResourceStatus[] = this.slots.map((s) => ({
      name: s.cfg.name,
      state: s.state,
      pid: s.pid,
      startedAt: s.startedAt,
      healthy: s.state === 'running' && s.ladder.healthy,
      restarts: s.restarts,
      monitors: s.monitors.flatMap((m) => (m.last ? [m.last] : [])),
      detail: s.detail,
    }));
    let state: GroupStatus['state'];
    if (this.gaveUp && !this.anyRunning) state = 'failed';
    else if (!this.anyRunning && !this.op) state = 'stopped';
    else if (this.op?.name === 'stop' || this.op?.name === 'give up') state = 'stopping';
    else if (this.op?.name.startsWith('start')) state = 'starting';
    else if (this.op) state = 'recovering';
    else if (this.slots.every((s) => s.state === 'running')) state = 'running';
    else state = 'recovering';
    const detail = this.gaveUp ? `gave up: ${this.gaveUp.reason}` : this.op ? this.op.name : '';
    return { epoch: this.epoch, role: this.anyRunning ? this.role : 'none', state, resources, detail, at: now };
  }

  /** Stop watching (resources keep running — used when the agent exits for an upgrade). */
  detach(): void {
    this.closed = true;
    this.op?.abort.abort(new Error('agent exiting'));
    for (const s of this.slots) watchAbort(s);
  }

  /** Stop everything of the group and wait for it. */
  async shutdown(): Promise<void> {
    this.op?.abort.abort(new Error('agent shutting down'));
    await this.op?.done;
    this.closed = true;
    await this.stopAll(AbortSignal.timeout(60_000));
  }
}

function watchAbort(slot: ResourceSlot): void {
  slot.watch?.abort();
  slot.watch = null;
}
