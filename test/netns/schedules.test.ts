import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from '../../src/platform/proc.js';
import { activeIntervals, overlaps } from '../e2e/harness.js';
import { NetnsCluster } from './cluster.js';
import { outages, quantile, Sampler, type Outage } from './checker.js';
import { etcdSkipReason } from '../support/etcd.js';
import { netnsSkipReason, NetnsHosts } from './hosts.js';
import { rng } from '../sim/world.js';
import { describeSchedule, FAULT_KINDS, scheduleFor, seedOf, type FaultKind, type HostName, type Schedule, type Target } from './schedule.js';

/**
 * Seeded random fault schedules on one real netns/etcd cluster (test/netns/cluster.ts), reused
 * across schedules: each schedule is a short sequence of faults (kill or freeze an agent, kill
 * halo on a host, isolate a host or the controller's host, one-way cuts, kill or freeze the
 * service), each held for a while and healed at once or at the end; then everything is healed and
 * the cluster must converge (every agent agrees on one running instance, every node online).
 *
 * Checked across all schedules: no two active intervals of the group overlap (the service's own
 * records) and no two instances are ever alive at once (a sampler); each outage's length is
 * reported. A failure prints the schedule's seed and its steps; replay it with
 * HALO_FAULT_SEED=<seed>. HALO_FAULT_SCHEDULES=N runs N schedules (default 50);
 * HALO_FAULT_BASE_SEED fixes the seeds of a whole run. See docs/fault-testing.md.
 */
const skip = netnsSkipReason() ?? etcdSkipReason();
const RUN = 154;
const ALL: readonly HostName[] = ['h1', 'h2', 'h3'];

function envInt(name: string, dflt: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

const REPLAY = process.env['HALO_FAULT_SEED'];
const REPLAY_SEED = REPLAY === undefined || REPLAY === '' ? null : envInt('HALO_FAULT_SEED', 0, 0, 0xffffffff);
const COUNT = REPLAY_SEED !== null ? 1 : envInt('HALO_FAULT_SCHEDULES', 50, 1, 100_000);
const BASE_SEED = envInt('HALO_FAULT_BASE_SEED', randomInt(0, 0x7fffffff), 0, 0x7fffffff);
/** After the last heal, the cluster must converge within this (generous: availability is measured, not asserted tightly). */
const CONVERGE_LIMIT_MS = 60_000;
/** Failure records expire by themselves, so convergence needs no operator step (no cleanup). */
const FAILURE_TIMEOUT_MS = 5000;

interface Ran {
  readonly schedule: Schedule;
  readonly log: string[];
  readonly outages: Outage[];
  readonly convergedMs: number;
  readonly ms: number;
}

describe('fault schedule generator', () => {
  test('the same seed draws the same schedule; seeds differ across a run; every kind is drawn', () => {
    assert.deepEqual(scheduleFor(12345), scheduleFor(12345));
    const seeds = Array.from({ length: 200 }, (_, i) => seedOf(7, i));
    assert.equal(new Set(seeds).size, seeds.length);
    const kinds = new Set(seeds.flatMap((x) => scheduleFor(x).steps.map((st) => st.kind)));
    assert.deepEqual([...kinds].sort(), [...FAULT_KINDS].sort());
    for (const x of seeds) {
      const sc = scheduleFor(x);
      assert.ok(sc.steps.length >= 1 && sc.steps.length <= 3);
      assert.ok(sc.steps.every((st) => st.holdMs >= 300 && st.holdMs < 3500));
    }
  });
});

describe('seeded random fault schedules on one network-namespace cluster', { skip: skip ?? false, timeout: Math.max(900_000, COUNT * 60_000) }, () => {
  let hosts: NetnsHosts;
  let c: NetnsCluster;
  let sampler: Sampler | null = null;
  let ok = false;
  /** Agents killed on purpose and not yet healed: the supervisor leaves them down. */
  const down = new Set<string>();
  /** Restarts done by the supervisor since the last look (what systemd's Restart=always would do). */
  const supervised: string[] = [];
  let supervising = true;
  let supervisor: Promise<void> | null = null;

  /**
   * Stands in for the service manager that runs halo in production: an agent that exits (e.g. it
   * could not register with etcd while its host was cut off: it fails fast by design) is started
   * again after 500 ms, unless the schedule killed it on purpose.
   */
  async function supervise(): Promise<void> {
    while (supervising) {
      await sleep(500);
      for (const n of ALL) {
        if (!supervising || down.has(n) || c.agentRunning(n)) continue;
        c.startAgent(n);
        supervised.push(n);
        c.mark(`supervisor: the agent on ${n} had exited, started it again`);
      }
    }
  }

  before(async () => {
    hosts = NetnsHosts.create({ run: RUN, count: 3 });
    c = new NetnsCluster(hosts, { name: 'sched', recovery: { failureTimeoutMs: FAILURE_TIMEOUT_MS } });
    await c.start();
    sampler = new Sampler(() => c.liveInstances(), 25);
    supervisor = supervise();
  });

  after(async () => {
    supervising = false;
    await supervisor;
    await sampler?.stop();
    if (c) {
      hosts.healAll();
      for (const n of ALL) {
        const pid = c.agentPid(n);
        if (pid !== undefined) process.kill(pid, 'SIGCONT');
      }
      await c.stop({ keep: !ok });
    }
    await hosts?.teardown();
  });

  /** Agents that answer right now as far as the schedule knows (not killed, not frozen). */
  const frozen = new Set<string>();

  async function resolve(target: Target, r: () => number): Promise<HostName> {
    const live = await c.liveInstances();
    const activeNode = live.length === 1 ? (live[0]?.node as HostName | undefined) : undefined;
    const pickFrom = (xs: readonly HostName[]): HostName => xs[Math.floor(r() * xs.length)] ?? 'h1';
    switch (target) {
      case 'active':
        return activeNode ?? pickFrom(ALL);
      case 'standby':
        return pickFrom(ALL.filter((n) => n !== activeNode));
      case 'controller': {
        for (const n of ALL) {
          if (frozen.has(n) || !c.agentRunning(n)) continue;
          const ctl = (await c.status(n))?.controller?.node;
          if (ctl !== undefined && (ALL as readonly string[]).includes(ctl)) return ctl as HostName;
        }
        return pickFrom(ALL);
      }
      default:
        return target;
    }
  }

  /** Injects one fault on `node`; returns how to heal it and what was done. */
  async function inject(kind: FaultKind, node: HostName): Promise<{ did: string; heal: () => Promise<void> }> {
    const others = ALL.filter((n) => n !== node);
    switch (kind) {
      case 'kill-agent':
      case 'kill-halo': {
        if (!c.agentRunning(node)) return { did: `${kind} ${node}: no agent runs (no-op)`, heal: async () => undefined };
        down.add(node);
        const pids = await c.killAgent(node, { withResources: kind === 'kill-halo' });
        frozen.delete(node);
        return {
          did: `${kind} ${node} (${pids.length} processes)`,
          heal: async () => {
            down.delete(node);
            if (!c.agentRunning(node)) c.startAgent(node);
          },
        };
      }
      case 'stop-agent': {
        const pid = c.agentPid(node);
        if (pid === undefined || frozen.has(node)) return { did: `stop-agent ${node}: none running or frozen already (no-op)`, heal: async () => undefined };
        c.signalAgent(node, 'SIGSTOP');
        frozen.add(node);
        return {
          did: `stop-agent ${node}`,
          heal: async () => {
            if (isAlive(pid)) process.kill(pid, 'SIGCONT');
            frozen.delete(node);
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
    }
  }

  /** Runs one schedule; `log` gets each step as it happens (so a failure can show how far it got). */
  async function runSchedule(s: Schedule, log: string[]): Promise<Ran> {
    const r = rng(s.seed ^ 0x5bd1e995);
    const from = c.mark(`schedule seed ${s.seed}: ${describeSchedule(s)}`);
    const pending: (() => Promise<void>)[] = [];
    for (const step of s.steps) {
      const node = await resolve(step.target, r);
      const { did, heal } = await inject(step.kind, node);
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
    down.clear();
    const healedAt = c.mark('healed');
    log.push(`+${healedAt - from} ms all healed`);
    await c.converged({ timeoutMs: CONVERGE_LIMIT_MS });
    const convergedMs = Date.now() - healedAt;
    if (supervised.length > 0) log.push(`supervisor restarted the agent on ${supervised.splice(0).join(', ')}`);
    const to = Date.now();
    return { schedule: s, log, outages: outages(c.records(), { from, to }), convergedMs, ms: to - from };
  }

  test(REPLAY_SEED !== null ? `replay of schedule seed ${REPLAY_SEED}` : `${COUNT} seeded random fault schedules: never two actives, convergence after every heal`, async (t) => {
    const started = Date.now();
    if (REPLAY_SEED === null) t.diagnostic(`base seed ${BASE_SEED} (HALO_FAULT_BASE_SEED=${BASE_SEED} draws the same ${COUNT} schedules)`);
    const ran: Ran[] = [];
    for (let i = 0; i < COUNT; i++) {
      const s = scheduleFor(REPLAY_SEED ?? seedOf(BASE_SEED, i));
      const from = Date.now();
      const fail = (why: string, log: readonly string[]): never =>
        assert.fail(
          `schedule ${i + 1}/${COUNT} failed: ${why}\n  seed ${s.seed}: ${describeSchedule(s)}\n  ${log.join('\n  ')}\n  replay this schedule on a fresh cluster: HALO_FAULT_SEED=${s.seed} node --test dist/test/netns/schedules.test.js\n  replay the run up to it: HALO_FAULT_BASE_SEED=${BASE_SEED} HALO_FAULT_SCHEDULES=${i + 1} node --test dist/test/netns/schedules.test.js\n  logs and records: ${c.dir}`,
        );
      const log: string[] = [];
      let res: Ran;
      try {
        res = await runSchedule(s, log);
      } catch (e) {
        return fail(e instanceof Error ? e.message : String(e), supervised.length > 0 ? [...log, `supervisor restarted the agent on ${supervised.join(', ')}`] : log);
      }
      const ov = overlaps(c.records());
      if (ov.length > 0) fail(`overlapping active intervals: ${ov.join('; ')}`, res.log);
      const doubles = sampler?.doubleSince(from) ?? [];
      if (doubles.length > 0) fail(`two live instances at once: ${doubles.slice(0, 3).map((d) => `${d.at}: ${d.pids.join(',')}`).join('; ')}`, res.log);
      ran.push(res);
      t.diagnostic(
        `#${i + 1} seed ${s.seed} [${describeSchedule(s)}] -> ${res.log.join(', ')}; outages [${res.outages.map((o) => `${o.ms} ms ${o.before}->${o.after}`).join(', ')}]; converged ${res.convergedMs} ms after the heal; ${res.ms} ms`,
      );
    }
    const all = ran.flatMap((x) => x.outages.map((o) => o.ms));
    const conv = ran.map((x) => x.convergedMs);
    const total = Date.now() - started;
    t.diagnostic(
      `summary: ${ran.length} schedules in ${(total / 1000).toFixed(0)} s; ${activeIntervals(c.records()).length} instances; ${all.length} outages, p50 ${quantile(all, 0.5)} ms, p90 ${quantile(all, 0.9)} ms, max ${Math.max(0, ...all)} ms; convergence after the heal p50 ${quantile(conv, 0.5)} ms, max ${Math.max(0, ...conv)} ms; overlaps 0; at most ${sampler?.maxLive ?? '?'} live instance(s) in ${sampler?.samples ?? 0} samples`,
    );
    assert.deepEqual(overlaps(c.records()), [], 'no two active intervals overlap across all schedules');
    assert.ok((sampler?.maxLive ?? 0) <= 1, `at most one live instance in every sample (saw ${sampler?.maxLive ?? '?'}: ${sampler?.maxLiveAt.join(', ') ?? ''})`);
    ok = true;
  });
});
