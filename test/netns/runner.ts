import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, readCmdline, readProcStat } from '../../src/platform/proc.js';
import { rng } from '../sim/world.js';
import { activeIntervals, overlaps } from '../e2e/harness.js';
import { outages, quantile, Sampler, type Outage } from './checker.js';
import type { NetnsCluster } from './cluster.js';
import type { NetnsHosts } from './hosts.js';
import { describeSchedule, scheduleFor, seedOf, type FaultKind, type HostName, type Schedule, type Target } from './schedule.js';

/**
 * Runs seeded fault schedules (test/netns/schedule.ts) on one NetnsCluster, reused across
 * schedules: each step injects a fault, holds it, heals it at once or at the end; then everything
 * is healed and the cluster must converge. After each schedule: no overlapping active intervals,
 * never two live instances in the sampler, and the caller's own check. A failure names the seed,
 * the steps as they happened, and the commands that replay it (see docs/fault-testing.md).
 */

const ALL: readonly HostName[] = ['h1', 'h2', 'h3'];

export function envInt(name: string, dflt: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

/** How many schedules and which seeds: `<prefix>_SEED` replays one, `<prefix>_SCHEDULES` and `<prefix>_BASE_SEED` a run. */
export interface RunPlan {
  readonly replaySeed: number | null;
  readonly count: number;
  readonly baseSeed: number;
  /** Names of the variables, for the replay commands. */
  readonly prefix: string;
}

export function planFromEnv(prefix: string, dfltCount: number): RunPlan {
  const replay = process.env[`${prefix}_SEED`];
  const replaySeed = replay === undefined || replay === '' ? null : envInt(`${prefix}_SEED`, 0, 0, 0xffffffff);
  return {
    replaySeed,
    count: replaySeed !== null ? 1 : envInt(`${prefix}_SCHEDULES`, dfltCount, 1, 100_000),
    baseSeed: envInt(`${prefix}_BASE_SEED`, randomInt(0, 0x7fffffff), 0, 0x7fffffff),
    prefix,
  };
}

export interface Ran {
  readonly schedule: Schedule;
  readonly log: string[];
  readonly outages: Outage[];
  readonly convergedMs: number;
  readonly ms: number;
  /** When the schedule started and when the cluster had converged after it (wall clock ms). */
  readonly from: number;
  readonly to: number;
  /** The active the cluster converged on. */
  readonly active: { readonly node: string; readonly epoch: number };
}

export class FaultRunner {
  /** Agents killed on purpose and not yet healed: the supervisor leaves them down. */
  private readonly down = new Set<string>();
  private readonly frozen = new Set<string>();
  /** Restarts done by the supervisor since the last look (what systemd's Restart=always would do). */
  private readonly supervised: string[] = [];
  private supervising = false;
  private supervisor: Promise<void> | null = null;
  readonly sampler: Sampler;

  constructor(
    readonly hosts: NetnsHosts,
    readonly c: NetnsCluster,
    readonly o: { readonly convergeLimitMs: number },
  ) {
    this.sampler = new Sampler(() => c.liveInstances(), 25);
    this.supervising = true;
    this.supervisor = this.supervise();
  }

  /**
   * Stands in for the service manager that runs halo in production: an agent that exits (e.g. it
   * could not register with etcd while its host was cut off: it fails fast by design) is started
   * again after 500 ms, unless the schedule killed it on purpose.
   */
  private async supervise(): Promise<void> {
    while (this.supervising) {
      await sleep(500);
      for (const n of ALL) {
        if (!this.supervising || this.down.has(n) || this.c.agentRunning(n)) continue;
        this.c.startAgent(n);
        this.supervised.push(n);
        this.c.mark(`supervisor: the agent on ${n} had exited, started it again`);
      }
    }
  }

  /** Stops the supervisor and the sampler, heals every cut and thaws every agent. */
  async stop(): Promise<void> {
    this.supervising = false;
    await this.supervisor;
    await this.sampler.stop();
    this.hosts.healAll();
    for (const n of ALL) {
      const pid = this.c.agentPid(n);
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
    }
  }

  private async resolve(target: Target, r: () => number): Promise<HostName> {
    const live = await this.c.liveInstances();
    const activeNode = live.length === 1 ? (live[0]?.node as HostName | undefined) : undefined;
    const pickFrom = (xs: readonly HostName[]): HostName => xs[Math.floor(r() * xs.length)] ?? 'h1';
    switch (target) {
      case 'active':
        return activeNode ?? pickFrom(ALL);
      case 'standby':
        return pickFrom(ALL.filter((n) => n !== activeNode));
      case 'controller': {
        for (const n of ALL) {
          if (this.frozen.has(n) || !this.c.agentRunning(n)) continue;
          const ctl = (await this.c.status(n))?.controller?.node;
          if (ctl !== undefined && (ALL as readonly string[]).includes(ctl)) return ctl as HostName;
        }
        return pickFrom(ALL);
      }
      default:
        return target;
    }
  }

  /** Injects one fault on `node`; returns how to heal it and what was done. */
  private async inject(kind: FaultKind, node: HostName): Promise<{ did: string; heal: () => Promise<void> }> {
    const { c, hosts } = this;
    const others = ALL.filter((n) => n !== node);
    switch (kind) {
      case 'kill-agent':
      case 'kill-halo': {
        if (!c.agentRunning(node)) return { did: `${kind} ${node}: no agent runs (no-op)`, heal: async () => undefined };
        this.down.add(node);
        const pids = await c.killAgent(node, { withResources: kind === 'kill-halo' });
        this.frozen.delete(node);
        return {
          did: `${kind} ${node} (${pids.length} processes)`,
          heal: async () => {
            this.down.delete(node);
            if (!c.agentRunning(node)) c.startAgent(node);
          },
        };
      }
      case 'stop-agent': {
        const pid = c.agentPid(node);
        if (pid === undefined || this.frozen.has(node)) return { did: `stop-agent ${node}: none running or frozen already (no-op)`, heal: async () => undefined };
        c.signalAgent(node, 'SIGSTOP');
        this.frozen.add(node);
        return {
          did: `stop-agent ${node}`,
          heal: async () => {
            if (isAlive(pid)) process.kill(pid, 'SIGCONT');
            this.frozen.delete(node);
          },
        };
      }
      case 'isolate':
        hosts.isolate(node);
        return { did: `isolate ${node}`, heal: async () => hosts.heal(node) };
      case 'deafen':
        for (const o of others) hosts.cutOneWay(o, node);
        return { did: `deafen ${node}`, heal: async () => others.forEach((o) => hosts.healOneWay(o, node)) };
      case 'mute':
        for (const o of others) hosts.cutOneWay(node, o);
        return { did: `mute ${node}`, heal: async () => others.forEach((o) => hosts.healOneWay(node, o)) };
      case 'kill-service':
      case 'stop-service': {
        const inst = (await c.liveInstances()).find((l) => l.node === node);
        if (!inst) return { did: `${kind} ${node}: no instance there (no-op)`, heal: async () => undefined };
        process.kill(inst.pid, kind === 'kill-service' ? 'SIGKILL' : 'SIGSTOP');
        return {
          did: `${kind} ${node} pid ${inst.pid}`,
          heal: async () => {
            if (kind === 'stop-service' && isAlive(inst.pid)) process.kill(inst.pid, 'SIGCONT');
          },
        };
      }
      case 'kill-guard': {
        const inst = (await c.liveInstances()).find((l) => l.node === node);
        // The guard is the nearest ancestor of the service that runs native/halo-guard.
        let guard = inst === undefined ? undefined : readProcStat(inst.pid)?.ppid;
        while (guard !== undefined && guard > 1 && !(readCmdline(guard)?.[0] ?? '').endsWith('halo-guard')) guard = readProcStat(guard)?.ppid;
        if (!inst || guard === undefined || guard <= 1) return { did: `kill-guard ${node}: no guarded instance there (no-op)`, heal: async () => undefined };
        process.kill(guard, 'SIGKILL');
        return { did: `kill-guard ${node} guard pid ${guard} of pid ${inst.pid}`, heal: async () => undefined };
      }
    }
  }

  /** Runs one schedule; `log` gets each step as it happens (so a failure can show how far it got). */
  async runSchedule(s: Schedule, log: string[]): Promise<Ran> {
    const { c, hosts } = this;
    const r = rng(s.seed ^ 0x5bd1e995);
    const from = c.mark(`schedule seed ${s.seed}: ${describeSchedule(s)}`);
    const pending: (() => Promise<void>)[] = [];
    for (const step of s.steps) {
      const node = await this.resolve(step.target, r);
      const { did, heal } = await this.inject(step.kind, node);
      log.push(`+${Date.now() - from} ms ${did}`);
      c.mark(did);
      await sleep(step.holdMs);
      if (step.healAfterHold) {
        await heal();
        log.push(`+${Date.now() - from} ms healed ${did}`);
      } else pending.push(heal);
    }
    for (const heal of pending.reverse()) await heal();
    // Everything the steps did is undone by now; this only guards against a slip in the bookkeeping.
    hosts.healAll();
    this.down.clear();
    const healedAt = c.mark('healed');
    log.push(`+${healedAt - from} ms all healed`);
    const active = await c.converged({ timeoutMs: this.o.convergeLimitMs });
    const convergedMs = Date.now() - healedAt;
    if (this.supervised.length > 0) log.push(`supervisor restarted the agent on ${this.supervised.splice(0).join(', ')}`);
    const to = Date.now();
    return { schedule: s, log, outages: outages(c.records(), { from, to }), convergedMs, ms: to - from, from, to, active: { node: active.node, epoch: active.epoch } };
  }

  /**
   * Runs the plan's schedules in order; after each one the safety checks and `check` (returns a
   * problem or null). Fails at the first problem with the seed, the steps and replay commands.
   */
  async runAll(t: TestContext, plan: RunPlan, testFile: string, check?: (res: Ran) => Promise<string | null>): Promise<Ran[]> {
    const { c } = this;
    const started = Date.now();
    if (plan.replaySeed === null) t.diagnostic(`base seed ${plan.baseSeed} (${plan.prefix}_BASE_SEED=${plan.baseSeed} draws the same ${plan.count} schedules)`);
    const ran: Ran[] = [];
    for (let i = 0; i < plan.count; i++) {
      const s = scheduleFor(plan.replaySeed ?? seedOf(plan.baseSeed, i));
      const from = Date.now();
      const fail = (why: string, log: readonly string[]): never =>
        assert.fail(
          `schedule ${i + 1}/${plan.count} failed: ${why}\n  seed ${s.seed}: ${describeSchedule(s)}\n  ${log.join('\n  ')}\n  replay this schedule on a fresh cluster: ${plan.prefix}_SEED=${s.seed} node --test ${testFile}\n  replay the run up to it: ${plan.prefix}_BASE_SEED=${plan.baseSeed} ${plan.prefix}_SCHEDULES=${i + 1} node --test ${testFile}\n  logs and records: ${c.dir}`,
        );
      const log: string[] = [];
      let res: Ran;
      try {
        res = await this.runSchedule(s, log);
      } catch (e) {
        return fail(e instanceof Error ? e.message : String(e), this.supervised.length > 0 ? [...log, `supervisor restarted the agent on ${this.supervised.join(', ')}`] : log);
      }
      const ov = overlaps(c.records());
      if (ov.length > 0) fail(`overlapping active intervals: ${ov.join('; ')}`, res.log);
      const doubles = this.sampler.doubleSince(from);
      if (doubles.length > 0) fail(`two live instances at once: ${doubles.slice(0, 3).map((d) => `${d.at}: ${d.pids.join(',')}`).join('; ')}`, res.log);
      const problem = check ? await check(res) : null;
      if (problem !== null) fail(problem, res.log);
      ran.push(res);
      t.diagnostic(
        `#${i + 1} seed ${s.seed} [${describeSchedule(s)}] -> ${res.log.join(', ')}; outages [${res.outages.map((o) => `${o.ms} ms ${o.before}->${o.after}`).join(', ')}]; converged ${res.convergedMs} ms after the heal on ${res.active.node} e${res.active.epoch}; ${res.ms} ms`,
      );
    }
    const all = ran.flatMap((x) => x.outages.map((o) => o.ms));
    const conv = ran.map((x) => x.convergedMs);
    const total = Date.now() - started;
    t.diagnostic(
      `summary: ${ran.length} schedules in ${(total / 1000).toFixed(0)} s; ${activeIntervals(c.records()).length} instances; ${all.length} outages, p50 ${quantile(all, 0.5)} ms, p90 ${quantile(all, 0.9)} ms, max ${Math.max(0, ...all)} ms; convergence after the heal p50 ${quantile(conv, 0.5)} ms, max ${Math.max(0, ...conv)} ms; overlaps 0; at most ${this.sampler.maxLive} live instance(s) in ${this.sampler.samples} samples`,
    );
    assert.deepEqual(overlaps(c.records()), [], 'no two active intervals overlap across all schedules');
    assert.ok(this.sampler.maxLive <= 1, `at most one live instance in every sample (saw ${this.sampler.maxLive}: ${this.sampler.maxLiveAt.join(', ')})`);
    return ran;
  }
}
