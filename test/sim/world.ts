import type { Clock, ManualClock } from '../../src/platform/clock.js';
import type { Coordinator, Compare, Opts, TxnOp } from '../../src/coord/coordinator.js';
import { ClusterError } from '../../src/domain/errors.js';
import type { LeaseId, Revision } from '../../src/domain/ids.js';
import type { ResourceConfig } from '../../src/domain/config.js';
import type { ActionResult, Observation, ResourceAgent, ResourceContext } from '../../src/resources/types.js';

/**
 * The simulated machine room: fake processes that a guard kills once their node's fence deadline
 * passes (exactly what the real guard does, independent of the agent), per-agent clocks that can
 * be frozen (SIGSTOP), and per-agent links to the coordinator that can be cut.
 */

interface Instance {
  readonly node: string;
  readonly group: string;
  readonly resource: string;
  readonly epoch: number;
  readonly pid: number;
  readonly startedAt: number;
  readonly exitListeners: ((detail: string) => void)[];
}

export class World {
  private nextPid = 1000;
  readonly instances = new Map<string, Instance>();
  /** Fence deadlines (monotonic ms) per node, as the agents publish them. */
  readonly fence = new Map<string, number>();
  /** Nodes whose service crashes right after every start (crash loop). */
  readonly crashing = new Set<string>();
  readonly log: string[] = [];

  constructor(readonly clock: ManualClock) {}

  private key(node: string, group: string, resource: string): string {
    return `${node}/${group}/${resource}`;
  }

  probe(node: string, group: string, resource: string): Instance | undefined {
    return this.instances.get(this.key(node, group, resource));
  }

  start(node: string, group: string, resource: string, epoch: number): Instance {
    const inst: Instance = { node, group, resource, epoch, pid: this.nextPid++, startedAt: this.clock.now(), exitListeners: [] };
    this.instances.set(this.key(node, group, resource), inst);
    this.log.push(`${this.clock.now()} start ${node} ${group}/${resource} e${epoch} pid${inst.pid}`);
    return inst;
  }

  kill(inst: Instance, detail: string): void {
    if (this.instances.get(this.key(inst.node, inst.group, inst.resource)) !== inst) return;
    this.instances.delete(this.key(inst.node, inst.group, inst.resource));
    this.log.push(`${this.clock.now()} exit ${inst.node} ${inst.group}/${inst.resource} pid${inst.pid}: ${detail}`);
    for (const l of inst.exitListeners) l(detail);
  }

  killNode(node: string, detail: string): void {
    for (const inst of [...this.instances.values()]) if (inst.node === node) this.kill(inst, detail);
  }

  /** The guards: whatever runs past its node's fence deadline is killed. Call after every step. */
  enforceFences(): void {
    const now = this.clock.now();
    for (const inst of [...this.instances.values()]) {
      const deadline = this.fence.get(inst.node) ?? 0;
      if (now > deadline) this.kill(inst, `fenced (deadline ${deadline}, now ${now})`);
    }
  }

  /** Crash-looping services die shortly after they start. */
  crashLoops(): void {
    for (const inst of [...this.instances.values()]) {
      if (this.crashing.has(inst.node) && this.clock.now() - inst.startedAt >= 100) this.kill(inst, 'exit code 1 (crash loop)');
    }
  }

  /** Groups running on more than one node right now. */
  dualActives(): string[] {
    const byGroup = new Map<string, Set<string>>();
    for (const inst of this.instances.values()) {
      const s = byGroup.get(inst.group) ?? new Set<string>();
      s.add(inst.node);
      byGroup.set(inst.group, s);
    }
    return [...byGroup].filter(([, nodes]) => nodes.size > 1).map(([g, nodes]) => `${g} on ${[...nodes].join(',')}`);
  }

  resourceAgent(cfg: ResourceConfig, node: string): ResourceAgent {
    const world = this;
    return {
      config: cfg,
      async probe(ctx: ResourceContext): Promise<Observation> {
        const i = world.probe(node, ctx.group, cfg.name);
        return i ? { kind: 'running', pid: i.pid, startedAt: i.startedAt, detail: `pid ${i.pid}` } : { kind: 'stopped', detail: 'not running' };
      },
      async start(ctx: ResourceContext): Promise<ActionResult> {
        const i = world.probe(node, ctx.group, cfg.name) ?? world.start(node, ctx.group, cfg.name, ctx.epoch);
        return { ok: true, detail: `pid ${i.pid}` };
      },
      async stop(ctx: ResourceContext): Promise<ActionResult> {
        const i = world.probe(node, ctx.group, cfg.name);
        if (i) world.kill(i, 'stopped');
        return { ok: true, detail: 'stopped' };
      },
      exited(ctx: ResourceContext, signal: AbortSignal): Promise<string> {
        return new Promise((resolve, reject) => {
          const i = world.probe(node, ctx.group, cfg.name);
          if (!i) return resolve('not running');
          i.exitListeners.push(resolve);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      },
    };
  }
}

/**
 * One agent's view of time: monotonic time is shared (it passes for a frozen process too), but a
 * frozen agent's timers fire only when it is thawed — as with SIGSTOP/SIGCONT.
 */
export class FreezableClock implements Clock {
  private frozen = false;
  private held: (() => void)[] = [];

  constructor(private readonly base: ManualClock) {}

  now(): number {
    return this.base.now();
  }
  wallNow(): number {
    return this.base.wallNow();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return this.base.sleep(ms, signal).then(
      () =>
        new Promise<void>((resolve, reject) => {
          if (!this.frozen) return resolve();
          // A SIGKILL of a frozen process still ends it: honour the abort while held.
          if (signal?.aborted) return reject(signal.reason);
          this.held.push(resolve);
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    );
  }
  freeze(): void {
    this.frozen = true;
  }
  thaw(): void {
    this.frozen = false;
    const h = this.held;
    this.held = [];
    for (const r of h) r();
  }
}

/** A link to the coordinator that can be cut (requests fail as unreachable). */
export class CuttableCoordinator implements Coordinator {
  cut = false;
  constructor(private readonly inner: Coordinator) {}

  private check(): void {
    if (this.cut) throw new ClusterError('HA_COORD_UNAVAILABLE', 'link cut by the simulator');
  }
  async get(key: string, opts?: Opts) {
    this.check();
    return this.inner.get(key, opts);
  }
  async list(prefix: string, opts?: Opts) {
    this.check();
    return this.inner.list(prefix, opts);
  }
  async put(key: string, value: string, opts?: Opts & { readonly lease?: LeaseId }) {
    this.check();
    return this.inner.put(key, value, opts);
  }
  async delete(key: string, opts?: Opts) {
    this.check();
    return this.inner.delete(key, opts);
  }
  async deletePrefix(prefix: string, opts?: Opts) {
    this.check();
    return this.inner.deletePrefix(prefix, opts);
  }
  async txn(compares: readonly Compare[], ops: readonly TxnOp[], opts?: Opts) {
    this.check();
    return this.inner.txn(compares, ops, opts);
  }
  async grantLease(ttlMs: number, opts?: Opts) {
    this.check();
    return this.inner.grantLease(ttlMs, opts);
  }
  async renewLease(id: LeaseId, opts?: Opts) {
    this.check();
    return this.inner.renewLease(id, opts);
  }
  async revokeLease(id: LeaseId, opts?: Opts) {
    this.check();
    return this.inner.revokeLease(id, opts);
  }
  async *watch(prefix: string, afterRevision: Revision, opts?: Opts) {
    this.check();
    for await (const batch of this.inner.watch(prefix, afterRevision, opts)) {
      this.check();
      yield batch;
    }
  }
  async close(): Promise<void> {}
}

/** Small seeded PRNG (mulberry32): a failing schedule replays from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
