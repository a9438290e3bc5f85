import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupViewSchema, MoveAcceptedSchema, StatusResponseSchema, type GroupView } from '../src/api/schemas.js';
import { SAMPLE_SERVICE } from '../src/demo/run.js';
import { NODES, TestCluster, type NodeName } from '../test/e2e/harness.js';
import { isAlive } from '../src/platform/proc.js';
import { getService, pollUntil, waitServing, type Target } from './probe.js';
import { clockTicks, readGuardPid, startTicks, uptimeTicks } from './procfs.js';

/**
 * Scenarios 1-4 of the benchmark against one real three-node cluster (test/e2e/harness.ts):
 * service crash, hung service, node loss and switchover. Every trial starts from steady state
 * (group running, service answering on the active node) and returns the cluster to it.
 */

export type Log = (line: string) => void;

/** Probe cadence shared by every scenario and by the standalone start measurement. */
export const PROBE = { everyMs: 5, probeTimeoutMs: 250 } as const;

/** Limit of one trial; a trial that runs past it is counted as timed out, not as a figure. */
const TRIAL_TIMEOUT_MS = 30_000;
/** Quiet time after steady state is reached, so monitors have run at least once before the next fault. */
const SETTLE_MS = 700;

export interface Series {
  readonly samples: number[];
  timedOut: number;
}

const series = (): Series => ({ samples: [], timedOut: 0 });

export interface ClusterSetup {
  readonly portOffset: number;
  readonly net: number;
  readonly stopTimeoutMs: number;
  readonly recovery: { readonly maxRestarts: number; readonly windowMs: number; readonly failureTimeoutMs: number };
}

export const CLUSTER_SETUP: ClusterSetup = {
  portOffset: 20_000,
  net: 88,
  stopTimeoutMs: 1000,
  recovery: { maxRestarts: 1000, windowMs: 60_000, failureTimeoutMs: 600_000 },
};

function target(c: TestCluster, n: NodeName): Target {
  return { host: c.addresses[n], port: c.servicePort };
}

function asNode(s: string | null | undefined): NodeName | null {
  return NODES.find((n) => n === s) ?? null;
}

async function groupView(c: TestCluster): Promise<GroupView> {
  const r = await c.api('/v1/groups/web');
  if (!r.ok) throw new Error(`GET /v1/groups/web: ${r.status}`);
  return GroupViewSchema.parse(await r.json());
}

interface Steady {
  readonly node: NodeName;
  readonly epoch: number;
  readonly pid: number;
}

/**
 * Steady state: an active node whose group is running with no move in flight, every node online
 * and no failure records, and the service answering on the active node with the reported pid.
 */
async function steady(c: TestCluster, log: Log, timeoutMs = 60_000): Promise<Steady> {
  const got = await pollUntil(
    async (): Promise<Steady | null> => {
      const g = await groupView(c);
      if (g.failures.length > 0) {
        log(`  cleanup: failure records on ${g.failures.map((f) => f.node).join(', ')}`);
        await c.api('/v1/groups/web/cleanup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        return null;
      }
      const a = g.assignment;
      const node = asNode(a?.active);
      if (!a || !node || a.transition !== null || g.pendingMove !== null) return null;
      if (!g.nodes.every((n) => n.online)) return null;
      const v = g.nodes.find((n) => n.node === node);
      const pid = v?.resources[0]?.pid;
      if (v?.state !== 'running' || pid === null || pid === undefined) return null;
      const ans = await getService(target(c, node), 1000);
      return ans?.pid === pid ? { node, epoch: a.epoch, pid } : null;
    },
    { timeoutMs, everyMs: 50 },
  );
  if (!got) throw new Error(`cluster did not return to steady state within ${timeoutMs} ms (dir ${c.dir})`);
  await sleep(SETTLE_MS);
  return got;
}

function signal(pid: number | null, sig: NodeJS.Signals): void {
  if (pid === null) return;
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Event times (epoch ms) of the first event of `kind` at or after `since`. */
async function firstEventAt(c: TestCluster, kind: string, since: number): Promise<number | null> {
  const evs = await c.events().catch(() => []);
  const hit = evs.find((e) => e.kind === kind && typeof Reflect.get(e, 'at') === 'number' && Number(Reflect.get(e, 'at')) >= since);
  return hit ? Number(Reflect.get(hit, 'at')) : null;
}

// ------------------------------------------------------------------ 0. the app's own start time

/**
 * The sample service started alone (no halo), `trials` times, with the same node binary and the
 * same probe loop: spawn() to first answer of GET /.
 */
export async function measureStandaloneStart(trials: number, host: string, port: number, log: Log): Promise<Series> {
  const s = series();
  for (let i = 0; i < trials; i++) {
    const t0 = performance.now();
    const p = spawn(process.execPath, [SAMPLE_SERVICE], { stdio: 'ignore', env: { PATH: process.env['PATH'] ?? '', HOST: host, PORT: String(port) } });
    const got = await waitServing([{ host, port }], (a) => a.pid === p.pid, { timeoutMs: TRIAL_TIMEOUT_MS, ...PROBE });
    if (got) s.samples.push(got.at - t0);
    else s.timedOut++;
    const exited = new Promise<void>((res) => {
      if (p.exitCode !== null || p.signalCode !== null) res();
      else p.once('exit', () => res());
    });
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    log(`  standalone start ${i + 1}/${trials}: ${got ? (got.at - t0).toFixed(1) : 'timed out'} ms`);
  }
  return s;
}

// ------------------------------------------------------------------ 1. process crash

export interface CrashResult {
  /** SIGKILL to the first answer of a new instance on the same node. */
  readonly raw: Series;
  /** SIGKILL to the new process's own startedAt (its module began to run). */
  readonly killToAppStartedAt: Series;
  /**
   * Where the time goes, from /proc start times (clock ticks, 10 ms steps): kill -> new guard
   * process created (exit noticed, old run cleaned up, guard forked), guard created -> service
   * created (the guard's own start), service created -> answering (the app's start + halo's
   * readiness check + the probe).
   */
  readonly killToGuardSpawn: Series;
  readonly guardToServiceSpawn: Series;
  readonly serviceSpawnToServing: Series;
  /** Trials where the new instance answered on another node (should be none). */
  movedAway: number;
}

export async function benchCrash(c: TestCluster, trials: number, log: Log): Promise<CrashResult> {
  const out: CrashResult = {
    raw: series(),
    killToAppStartedAt: series(),
    killToGuardSpawn: series(),
    guardToServiceSpawn: series(),
    serviceSpawnToServing: series(),
    movedAway: 0,
  };
  const hz = clockTicks();
  const tickMs = 1000 / hz;
  for (let i = 0; i < trials; i++) {
    const a = await steady(c, log);
    const up0 = uptimeTicks(hz);
    const wall0 = Date.now();
    const t0 = performance.now();
    process.kill(a.pid, 'SIGKILL');
    const got = await waitServing([target(c, a.node)], (x) => x.pid !== a.pid, { timeoutMs: TRIAL_TIMEOUT_MS, ...PROBE });
    if (!got) {
      out.raw.timedOut++;
      out.killToAppStartedAt.timedOut++;
      log(`  crash ${i + 1}/${trials}: timed out`);
      continue;
    }
    if (got.answer.node !== a.node) out.movedAway++;
    out.raw.samples.push(got.at - t0);
    out.killToAppStartedAt.samples.push(got.answer.startedAt - wall0);
    const guardPid = readGuardPid(`${c.dir}/state`, a.node);
    const g = guardPid === null ? null : startTicks(guardPid);
    const svc = startTicks(got.answer.pid);
    if (g !== null && svc !== null && svc >= g) {
      out.killToGuardSpawn.samples.push((g - up0) * tickMs);
      out.guardToServiceSpawn.samples.push((svc - g) * tickMs);
      out.serviceSpawnToServing.samples.push(got.at - t0 - (svc - up0) * tickMs);
    }
    log(`  crash ${i + 1}/${trials} on ${a.node}: serving again after ${(got.at - t0).toFixed(1)} ms (new process began ${got.answer.startedAt - wall0} ms after the kill)`);
  }
  return out;
}

// ------------------------------------------------------------------ 2. hung application

export interface HangResult {
  /** SIGSTOP to the first answer of a new instance. */
  readonly recovered: Series;
  /** SIGSTOP to the agent's monitor-failed event (the failure declared). */
  readonly detected: Series;
  movedAway: number;
}

export async function benchHang(c: TestCluster, trials: number, log: Log): Promise<HangResult> {
  const out: HangResult = { recovered: series(), detected: series(), movedAway: 0 };
  for (let i = 0; i < trials; i++) {
    const a = await steady(c, log);
    const wall0 = Date.now();
    const t0 = performance.now();
    process.kill(a.pid, 'SIGSTOP');
    const got = await waitServing([target(c, a.node)], (x) => x.pid !== a.pid, { timeoutMs: TRIAL_TIMEOUT_MS, ...PROBE });
    if (!got) {
      out.recovered.timedOut++;
      log(`  hang ${i + 1}/${trials}: timed out`);
    } else {
      if (got.answer.node !== a.node) out.movedAway++;
      out.recovered.samples.push(got.at - t0);
      const det = await firstEventAt(c, 'monitor-failed', wall0);
      if (det !== null) out.detected.samples.push(det - wall0);
      else out.detected.timedOut++;
      log(`  hang ${i + 1}/${trials} on ${a.node}: new instance after ${(got.at - t0).toFixed(1)} ms (failure declared after ${det === null ? '?' : det - wall0} ms)`);
    }
    // halo must have killed the stopped process; never leave one behind.
    const gone = await pollUntil(async () => (isAlive(a.pid) ? null : true), { timeoutMs: 10_000, everyMs: 50 });
    if (!gone) {
      log(`  hang ${i + 1}: stopped process ${a.pid} still there; killing it`);
      signal(a.pid, 'SIGCONT');
      signal(a.pid, 'SIGKILL');
    }
  }
  return out;
}

// ------------------------------------------------------------------ 3. node loss

export interface NodeLossResult {
  /** SIGKILL of agent + guard + service to the first answer on another node's address. */
  readonly serving: Series;
  /** The subset of `serving` where the lost node was also the controller. */
  readonly servingControllerLost: Series;
  /** The subset of `serving` where the controller ran on a surviving node. */
  readonly servingControllerSurvived: Series;
  /** Kill to the coordinator's node-lost event. */
  readonly leaseExpired: Series;
}

export async function benchNodeLoss(c: TestCluster, trials: number, log: Log): Promise<NodeLossResult> {
  const out: NodeLossResult = { serving: series(), servingControllerLost: series(), servingControllerSurvived: series(), leaseExpired: series() };
  for (let i = 0; i < trials; i++) {
    let a = await steady(c, log);
    let status = StatusResponseSchema.parse(await (await c.api('/v1/status')).json());
    // Alternate the two cases: odd trials lose the controller's node too (a new controller must be
    // elected before anyone reassigns the group), even ones keep it. Move the group first if needed.
    const ctl = asNode(status.controller?.node);
    const wantCtl = i % 2 === 1;
    const to: NodeName | null = ctl === null ? null : wantCtl ? (ctl !== a.node ? ctl : null) : ctl === a.node ? (NODES.find((n) => n !== ctl) ?? null) : null;
    if (to !== null) {
      const r = await c.api('/v1/groups/web/switchover', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to }) });
      if (r.status !== 202) log(`  node loss ${i + 1}: could not move the group to ${to}: ${r.status} ${await r.text()}`);
      await pollUntil(async () => ((await c.active())?.node === to ? true : null), { timeoutMs: TRIAL_TIMEOUT_MS, everyMs: 50 });
      a = await steady(c, log);
      status = StatusResponseSchema.parse(await (await c.api('/v1/status')).json());
    }
    const wasController = status.controller?.node === a.node;
    const guardPid = readGuardPid(`${c.dir}/state`, a.node);
    const agentPid = c.agentPid(a.node);
    const others = NODES.filter((n) => n !== a.node);
    const wall0 = Date.now();
    const t0 = performance.now();
    signal(agentPid, 'SIGKILL');
    signal(guardPid, 'SIGKILL');
    signal(a.pid, 'SIGKILL');
    const got = await waitServing(
      others.map((n) => target(c, n)),
      (x) => x.pid !== a.pid && x.node !== a.node,
      { timeoutMs: TRIAL_TIMEOUT_MS, ...PROBE },
    );
    if (!got) {
      out.serving.timedOut++;
      log(`  node loss ${i + 1}/${trials}: timed out`);
    } else {
      const ms = got.at - t0;
      out.serving.samples.push(ms);
      (wasController ? out.servingControllerLost : out.servingControllerSurvived).samples.push(ms);
      const lost = await firstEventAt(c, 'node-lost', wall0);
      if (lost !== null) out.leaseExpired.samples.push(lost - wall0);
      log(
        `  node loss ${i + 1}/${trials}: ${a.node}${wasController ? ' (controller)' : ''} -> ${got.answer.node ?? '?'} serving after ${ms.toFixed(1)} ms` +
          ` (node-lost after ${lost === null ? '?' : lost - wall0} ms)`,
      );
    }
    // Back to three nodes: the agent comes back, finds its service gone, and joins as standby.
    const agentGone = await pollUntil(async () => (isAlive(agentPid) ? null : true), { timeoutMs: 5000, everyMs: 20 });
    if (!agentGone) log(`  node loss ${i + 1}: killed agent ${agentPid} still alive`);
    c.startAgent(a.node);
  }
  await steady(c, log);
  return out;
}

// ------------------------------------------------------------------ 4. switchover

export interface SwitchoverResult {
  /** POST to the first answer of the service on the target node. */
  readonly serving: Series;
  /** POST until GET /v1/groups/web shows the target active and running at a higher epoch. */
  readonly apiView: Series;
  /** Requests refused by the API (not a figure). */
  refused: number;
}

export async function benchSwitchover(c: TestCluster, trials: number, log: Log): Promise<SwitchoverResult> {
  const out: SwitchoverResult = { serving: series(), apiView: series(), refused: 0 };
  for (let i = 0; i < trials; i++) {
    const a = await steady(c, log);
    const idx = NODES.indexOf(a.node);
    // Round robin n1 -> n2 -> n3 -> n1: every node is source and target equally often.
    const to: NodeName = NODES[(idx + 1) % NODES.length] ?? 'n1';
    const t0 = performance.now();
    const r = await c.api('/v1/groups/web/switchover', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to }),
    });
    if (r.status !== 202) {
      out.refused++;
      log(`  switchover ${i + 1}/${trials}: refused ${r.status} ${await r.text()}`);
      continue;
    }
    const accepted = MoveAcceptedSchema.parse(await r.json());
    const [served, viewed] = await Promise.all([
      waitServing([target(c, to)], (x) => x.node === to && (x.epoch ?? -1) > accepted.epoch, { timeoutMs: TRIAL_TIMEOUT_MS, ...PROBE }),
      pollUntil(
        async () => {
          const g = await groupView(c);
          const v = g.nodes.find((n) => n.node === to);
          return g.assignment?.active === to && g.assignment.epoch > accepted.epoch && v?.state === 'running' ? performance.now() : null;
        },
        { timeoutMs: TRIAL_TIMEOUT_MS, everyMs: 20 },
      ),
    ]);
    if (served) out.serving.samples.push(served.at - t0);
    else out.serving.timedOut++;
    if (viewed !== null) out.apiView.samples.push(viewed - t0);
    else out.apiView.timedOut++;
    log(
      `  switchover ${i + 1}/${trials} ${a.node} -> ${to}: serving after ${served ? (served.at - t0).toFixed(1) : 'timeout'} ms,` +
        ` API shows it running after ${viewed === null ? 'timeout' : (viewed - t0).toFixed(1)} ms`,
    );
  }
  return out;
}

export { TestCluster };
