import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile } from '../../bench/stats.js';
import { NODES, type NodeName, type TestCluster } from '../e2e/harness.js';
import { eventually } from '../support/util.js';
import type { LoadGenerator, LoadSample } from '../support/load.js';

/**
 * Planned switchovers and unplanned failovers on a real TestCluster while a LoadGenerator sends
 * requests through the group's endpoint; then the client-side impact. Shared by
 * test/endpoint/endpoint.test.ts (which asserts) and bench/endpoint.ts (which reports).
 */

export type Log = (line: string) => void;

export interface TrialWindow {
  readonly kind: 'switchover' | 'failover';
  readonly index: number;
  /** What was done, e.g. "n1 -> n2" or "SIGKILL agent of n1". */
  readonly what: string;
  /** performance.now() when the move was requested / the kill was sent. */
  readonly from: number;
  /** End of the first successful answer from the new instance. */
  readonly to: number;
}

const TRIAL_TIMEOUT_MS = 30_000;

async function postSwitchover(c: TestCluster, to: NodeName): Promise<void> {
  const r = await c.api('/v1/groups/web/switchover', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to }) });
  if (r.status !== 202) throw new Error(`switchover to ${to} refused: ${r.status} ${await r.text()}`);
}

/**
 * Every node online, no failure records (a start that timed out on a loaded machine leaves one:
 * cleared, as an operator would), and the group running on its active node with no move in flight.
 */
export async function steady(c: TestCluster, log: Log): Promise<{ node: NodeName; epoch: number; pid: number }> {
  await eventually(
    async () => {
      const g = await c.group();
      if (g.failures.length > 0) {
        log(`  cleanup: failure records on ${g.failures.map((f) => f.node).join(', ')}`);
        await c.api('/v1/groups/web/cleanup', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        return false;
      }
      return g.nodes.length === NODES.length && g.nodes.every((n) => n.online);
    },
    { timeoutMs: 60_000, what: 'every node online and no failure records' },
  );
  return c.waitActive(() => true, TRIAL_TIMEOUT_MS, 'web active');
}

/** The end of the first answer, from a request started after `from`, that `pred` accepts. */
async function firstAnswer(load: LoadGenerator, from: number, pred: (s: LoadSample) => boolean, what: string): Promise<number> {
  let at: number | null = null;
  await eventually(
    () => {
      const s = load.samples.find((x) => x.startAt >= from && x.ok && pred(x));
      at = s?.endAt ?? null;
      return Promise.resolve(at !== null);
    },
    { timeoutMs: TRIAL_TIMEOUT_MS, what, everyMs: 20 },
  );
  if (at === null) throw new Error('unreachable');
  return at;
}

/**
 * `trials` switchovers, round robin n1 -> n2 -> n3 -> n1. A trial ends with the first answer from
 * an instance of a later epoch (normally on the target; on a heavily loaded machine the cluster
 * may have failed over elsewhere meanwhile, which the log line then shows).
 */
export async function runSwitchovers(c: TestCluster, load: LoadGenerator, trials: number, log: Log, settleMs = 300): Promise<TrialWindow[]> {
  const out: TrialWindow[] = [];
  for (let i = 0; i < trials; i++) {
    const a = await steady(c, log);
    const to: NodeName = NODES[(NODES.indexOf(a.node) + 1) % NODES.length] ?? 'n1';
    const from = performance.now();
    await postSwitchover(c, to);
    let landed: string | null = null;
    const end = await firstAnswer(
      load,
      from,
      (s) => {
        const later = s.epoch !== null && s.epoch > a.epoch;
        if (later) landed = s.node;
        return later;
      },
      `answers from a new epoch through the endpoint after switchover to ${to}`,
    );
    out.push({ kind: 'switchover', index: i, what: `${a.node} -> ${to}`, from, to: end });
    log(`  switchover ${i + 1}/${trials} ${a.node} -> ${to}: first answer from ${landed ?? '?'} ${(end - from).toFixed(0)} ms after the request`);
    await sleep(settleMs);
  }
  return out;
}

/**
 * `trials` unplanned failovers: even trials SIGKILL the active's service (restarted in place), odd
 * ones SIGKILL the active node's agent (the group moves; the agent is started again after). The
 * load goes through the endpoint of `client.node`; before an agent is killed the client is moved
 * to another node's endpoint (an endpoint dies with its agent; a floating address would hide that).
 */
export async function runFailovers(c: TestCluster, load: LoadGenerator, trials: number, client: { node: NodeName }, log: Log, settleMs = 300): Promise<TrialWindow[]> {
  const out: TrialWindow[] = [];
  let redone = 0;
  for (let i = 0; i < trials; i++) {
    const a = await steady(c, log);
    const agent = i % 2 === 1;
    const what = agent ? `SIGKILL agent of ${a.node}` : `SIGKILL service on ${a.node}`;
    if (agent && client.node === a.node) {
      client.node = NODES.find((n) => n !== a.node) ?? 'n1';
      await sleep(200); // requests already sent to the old client node finish
    }
    const from = performance.now();
    try {
      process.kill(agent ? c.agentPid(a.node) : a.pid, 'SIGKILL');
    } catch (e) {
      // The instance seen a moment ago is already gone (the cluster replaced it meanwhile): redo the trial.
      if (!(e instanceof Error && 'code' in e && e.code === 'ESRCH') || ++redone > 5) throw e;
      log(`  failover ${i + 1}/${trials}: ${what}: already gone; trying again`);
      i--;
      continue;
    }
    const end = await firstAnswer(load, from, (s) => s.pid !== null && s.pid !== a.pid, 'answers from a new instance through the endpoint');
    out.push({ kind: 'failover', index: i, what, from, to: end });
    log(`  failover ${i + 1}/${trials} (${what}): first answer from the new instance ${(end - from).toFixed(0)} ms after the kill`);
    if (agent) {
      await eventually(async () => (await c.group()).nodes.some((n) => n.node === a.node && !n.online), { timeoutMs: TRIAL_TIMEOUT_MS, what: `${a.node} offline` });
      c.startAgent(a.node);
    }
    await sleep(settleMs);
  }
  return out;
}

export interface LatencyFigures {
  readonly n: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

export interface Impact {
  readonly kind: TrialWindow['kind'];
  readonly trials: number;
  /** Requests that overlapped a trial window. */
  readonly requests: number;
  readonly failed: number;
  /** Up to 10 failures, for the report. */
  readonly failures: readonly string[];
  readonly during: LatencyFigures;
  /** p99 during the trials minus the baseline p99. */
  readonly addedP99Ms: number | null;
  /** Slowest request during the trials minus the baseline p50. */
  readonly addedMaxMs: number | null;
}

const r1 = (x: number | null): number | null => (x === null ? null : Math.round(x * 10) / 10);

export function latency(samples: readonly LoadSample[]): LatencyFigures {
  const ms = samples.map((s) => s.endAt - s.startAt).sort((a, b) => a - b);
  return { n: ms.length, p50: r1(percentile(ms, 50)), p99: r1(percentile(ms, 99)), max: r1(ms[ms.length - 1] ?? null) };
}

const overlapsWindow = (s: LoadSample, w: TrialWindow): boolean => s.endAt >= w.from && s.startAt <= w.to;

/** Requests that overlapped no trial window (with a 200 ms margin): the baseline. */
export function baseline(samples: readonly LoadSample[], windows: readonly TrialWindow[]): LatencyFigures {
  return latency(samples.filter((s) => !windows.some((w) => s.endAt >= w.from - 200 && s.startAt <= w.to + 200)));
}

export function impact(kind: TrialWindow['kind'], samples: readonly LoadSample[], windows: readonly TrialWindow[], base: LatencyFigures): Impact {
  const ws = windows.filter((w) => w.kind === kind);
  const during = samples.filter((s) => ws.some((w) => overlapsWindow(s, w)));
  const failed = during.filter((s) => !s.ok);
  const lat = latency(during);
  return {
    kind,
    trials: ws.length,
    requests: during.length,
    failed: failed.length,
    failures: failed.slice(0, 10).map((s) => `${s.status ?? 'no answer'}: ${s.error ?? ''}`),
    during: lat,
    addedP99Ms: lat.p99 === null || base.p99 === null ? null : r1(lat.p99 - base.p99),
    addedMaxMs: lat.max === null || base.p50 === null ? null : r1(lat.max - base.p50),
  };
}

export function describeImpact(i: Impact, base: LatencyFigures): string {
  return (
    `${i.kind}: ${i.trials} trials, ${i.requests} requests during them, ${i.failed} failed; ` +
    `latency p50 ${i.during.p50} / p99 ${i.during.p99} / max ${i.during.max} ms (baseline p50 ${base.p50} / p99 ${base.p99} ms over ${base.n} requests): ` +
    `added p99 ${i.addedP99Ms} ms, added max ${i.addedMaxMs} ms`
  );
}
