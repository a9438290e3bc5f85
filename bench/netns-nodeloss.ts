import { setTimeout as sleep } from 'node:timers/promises';
import { NetnsCluster, SERVICE_PORT, TIMING } from '../test/netns/cluster.js';
import { netnsSkipReason, NetnsHosts } from '../test/netns/hosts.js';
import { etcdSkipReason } from '../test/support/etcd.js';
import { isAlive } from '../src/platform/proc.js';
import { readGuardPid } from './procfs.js';
import type { Log, Series } from './failover.js';

/**
 * Node loss on the production setup: three hosts as network namespaces on one bridge, each with an
 * etcd member (heartbeat 50 ms, election 500 ms) and a halo agent (test/netns/cluster.ts), the
 * sample service in group "web". Each trial starts from steady state, injects one fault on the
 * host that runs the group and times fault -> the service answers on another host (probed from
 * inside each surviving host, every ~10 ms). Then it undoes the fault and waits for steady state.
 *
 * Faults:
 * - `agent-killed`: SIGKILL of the agent, its guard and the service (the etcd member stays up);
 *   the controller runs on another host.
 * - `host-isolated`: nft drops every frame to and from the host at the bridge (links stay up);
 *   the controller runs on another host.
 * - `controller-isolated`: the same, but the host also runs the controller, so a new controller
 *   must be elected before the group is placed.
 *
 * In every trial etcd's leader is on a surviving host (moved there before the fault when needed):
 * losing etcd's leader adds an etcd election (~1 s here), which is etcd's figure, not halo's.
 */

export const NETNS_RUN = 155;
export const NETNS_FAULTS = ['agent-killed', 'host-isolated', 'controller-isolated'] as const;
export type NetnsFault = (typeof NETNS_FAULTS)[number];

export interface NetnsTiming {
  readonly leaseTtlMs: number;
  readonly renewIntervalMs: number;
  readonly safetyMarginMs: number;
  readonly maxLoopLagMs: number;
}

/** The two timings measured: the netns test timing (1 s lease) and the same shape at 2 s. */
export const NETNS_TIMINGS: readonly NetnsTiming[] = [TIMING, { leaseTtlMs: 2000, renewIntervalMs: 300, safetyMarginMs: 500, maxLoopLagMs: 200 }];

const TRIAL_TIMEOUT_MS = 30_000;
const SETTLE_MS = 500;
const ALL = ['h1', 'h2', 'h3'] as const;

/** Why the netns bench cannot run here (not root, no nft, no etcd), or undefined. Never throws. */
export function netnsBenchSkipReason(): string | undefined {
  try {
    return netnsSkipReason() ?? etcdSkipReason();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

interface Active {
  readonly node: string;
  readonly epoch: number;
  readonly pid: number;
  readonly controller: string | null;
}

export interface NetnsNodeLossResult {
  readonly timing: NetnsTiming;
  /** Trials whose starting position (placement, steady state) could not be reached and were redone. */
  readonly setupFailures: number;
  /** Fault -> the service answers on another host. */
  readonly series: Readonly<Record<NetnsFault, Series>>;
  /** Fault -> the new instance's own start record (its process began; from the shared clock). */
  readonly started: Readonly<Record<NetnsFault, Series>>;
  /** Fault -> the controller's `failed-over` event (the group reassigned), from the event log. */
  readonly reassigned: Readonly<Record<NetnsFault, Series>>;
}

/** When (epoch ms) the first event of `kind` at or after `since` was recorded, asked from `host`. */
async function eventAt(c: NetnsCluster, host: string, kind: string, since: number): Promise<number | null> {
  const r = await c.api(host, '/v1/events?limit=200', { timeoutMs: 2000 });
  if (r?.status !== 200) return null;
  const body = JSON.parse(r.text) as { events?: { at?: number; kind?: string }[] };
  const hit = (body.events ?? []).find((e) => e.kind === kind && typeof e.at === 'number' && e.at >= since);
  return hit?.at ?? null;
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Every agent agrees on the active instance and the controller, every node is online everywhere,
 * and no node has failure records (a guard that fenced on a starved machine leaves one: cleared,
 * as an operator would, so the next trial can place the group anywhere).
 */
async function steady(c: NetnsCluster, log: Log): Promise<Active> {
  return await until('steady state (all agents agree, all nodes online)', 60_000, async () => {
    const failed = (await c.status('h1'))?.groups.find((g) => g.name === 'web')?.failures ?? [];
    if (failed.length > 0) {
      log(`    cleanup: failure records on ${failed.map((f) => f.node).join(', ')}`);
      await c.post('h1', '/v1/groups/web/cleanup', {});
      return null;
    }
    const a = await c.agreedActive(ALL);
    if (!a || a.controller === null) return null;
    const views = await Promise.all(ALL.map((n) => c.status(n)));
    if (!views.every((v) => v !== null && v.nodes.every((x) => x.online))) return null;
    return a;
  });
}

/** Puts the group on the controller's host (`onController`) or off it; returns the new steady state. */
async function place(c: NetnsCluster, a: Active, onController: boolean, log: Log): Promise<Active> {
  const ctl = a.controller;
  if (ctl === null || (a.node === ctl) === onController) return a;
  const to = onController ? ctl : (ALL.find((n) => n !== ctl && n !== a.node) ?? ctl);
  const r = await c.post(to, '/v1/groups/web/switchover', { to });
  if (r?.status !== 202) log(`    switchover to ${to} refused: ${r?.status ?? 'no answer'} ${r?.text ?? ''}`);
  await until(`group on ${to}`, TRIAL_TIMEOUT_MS, async () => ((await c.agreedActive(ALL))?.node === to ? true : null));
  return await steady(c, log);
}

/** Probes the service on each of `hosts` (from inside that host) until another instance answers there. */
async function servedElsewhere(c: NetnsCluster, hosts: readonly string[], old: Active, t0: number): Promise<{ ms: number; node: string } | null> {
  const ac = new AbortController();
  const probe = async (h: string): Promise<{ ms: number; node: string } | null> => {
    while (!ac.signal.aborted && Date.now() - t0 < TRIAL_TIMEOUT_MS) {
      const r = await c.hosts.fetchFrom(h, `http://${c.address(h)}:${SERVICE_PORT}/`, { timeoutMs: 250 });
      if (r?.status === 200) {
        const at = Date.now();
        const body = JSON.parse(r.text) as { node?: string; pid?: number };
        if (body.pid !== old.pid && body.node !== old.node) return { ms: at - t0, node: h };
      }
      await sleep(10);
    }
    return null;
  };
  const first = await Promise.any(hosts.map(async (h) => (await probe(h)) ?? Promise.reject(new Error('none')))).catch(() => null);
  ac.abort();
  return first;
}

interface TrialResult {
  readonly ms: number;
  readonly startedMs: number | null;
  readonly reassignedMs: number | null;
  readonly from: string;
  readonly to: string;
}

async function trial(c: NetnsCluster, fault: NetnsFault, log: Log): Promise<TrialResult | null> {
  let a = await steady(c, log);
  a = await place(c, a, fault === 'controller-isolated', log);
  const g = a.node;
  const survivors = ALL.filter((n) => n !== g);
  if ((await c.etcdLeader()) === g) await c.moveEtcdLeader(survivors[0] ?? 'h1');
  await sleep(SETTLE_MS);
  a = await steady(c, log);
  if (a.node !== g) return await trial(c, fault, log);
  const guardPid = readGuardPid(`${c.dir}/state`, g);
  const agentPid = c.agentPid(g);
  const t0 = Date.now();
  if (fault === 'agent-killed') {
    for (const pid of [agentPid, guardPid, a.pid]) {
      if (pid === undefined || pid === null) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } else {
    c.hosts.isolate(g);
  }
  c.mark(`${fault} ${g}`);
  const got = await servedElsewhere(c, survivors, a, t0);
  // Undo the fault: the agent comes back (finds its service gone), the host is reachable again.
  if (fault === 'agent-killed') {
    await until(`killed agent on ${g} gone`, 5000, async () => (agentPid === undefined || !isAlive(agentPid) ? true : null));
    c.startAgent(g);
  } else {
    c.hosts.heal(g);
  }
  c.mark(`undone ${fault} ${g}`);
  if (got === null) return null;
  const start = c.records().find((r) => r.event === 'start' && r.at >= t0 && r.node !== g);
  const reassigned = await eventAt(c, got.node, 'failed-over', t0);
  return { ms: got.ms, startedMs: start === undefined ? null : start.at - t0, reassignedMs: reassigned === null ? null : reassigned - t0, from: g, to: got.node };
}

/** Runs every fault `trials` times for each timing in NETNS_TIMINGS. */
export async function benchNetnsNodeLoss(trials: number, log: Log): Promise<NetnsNodeLossResult[]> {
  const hosts = NetnsHosts.create({ run: NETNS_RUN, count: 3 });
  const out: NetnsNodeLossResult[] = [];
  try {
    for (const timing of NETNS_TIMINGS) {
      const c = new NetnsCluster(hosts, { name: `bench-ttl${timing.leaseTtlMs}`, timing });
      const empty = (): Series => ({ samples: [], timedOut: 0 });
      const series: Record<NetnsFault, Series> = { 'agent-killed': empty(), 'host-isolated': empty(), 'controller-isolated': empty() };
      const started: Record<NetnsFault, Series> = { 'agent-killed': empty(), 'host-isolated': empty(), 'controller-isolated': empty() };
      const reassigned: Record<NetnsFault, Series> = { 'agent-killed': empty(), 'host-isolated': empty(), 'controller-isolated': empty() };
      let ok = false;
      let setupFailures = 0;
      try {
        log(`  lease TTL ${timing.leaseTtlMs} ms: starting 3 hosts (etcd + agent each) in ${c.dir}`);
        await c.start();
        for (const fault of NETNS_FAULTS) {
          for (let i = 0; i < trials; i++) {
            let r: TrialResult | null;
            try {
              r = await trial(c, fault, log);
            } catch (e) {
              // Getting to the starting position failed (e.g. a switchover cut short when an agent
              // fenced on a loaded machine): not a figure. Try that trial again, a few times at most.
              if (++setupFailures > 10) throw e;
              log(`  ttl ${timing.leaseTtlMs} ${fault} ${i + 1}/${trials}: setup failed (${e instanceof Error ? e.message : String(e)}); again`);
              i--;
              continue;
            }
            if (r === null) series[fault].timedOut++;
            else series[fault].samples.push(r.ms);
            if (r?.startedMs !== null && r?.startedMs !== undefined) started[fault].samples.push(r.startedMs);
            else started[fault].timedOut++;
            if (r?.reassignedMs !== null && r?.reassignedMs !== undefined) reassigned[fault].samples.push(r.reassignedMs);
            else reassigned[fault].timedOut++;
            log(
              `  ttl ${timing.leaseTtlMs} ${fault} ${i + 1}/${trials}: ` +
                (r === null ? 'timed out' : `${r.from} -> ${r.to} serving after ${r.ms} ms (reassigned after ${r.reassignedMs ?? '?'} ms, new instance started after ${r.startedMs ?? '?'} ms)`),
            );
          }
        }
        ok = true;
      } finally {
        hosts.healAll();
        await c.stop({ keep: !ok });
        if (!ok) log(`  logs kept in ${c.dir}`);
      }
      out.push({ timing, setupFailures, series, started, reassigned });
    }
  } finally {
    await hosts.teardown();
  }
  return out;
}
