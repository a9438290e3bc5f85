import { setTimeout as sleep } from 'node:timers/promises';
import { TestCluster, type NodeName } from '../test/e2e/harness.js';
import { LoadGenerator } from '../test/support/load.js';
import { baseline, describeImpact, impact, runFailovers, runSwitchovers, type Impact, type LatencyFigures, type Log } from '../test/endpoint/trials.js';

/**
 * Client impact through the group's endpoint (docs/endpoint.md): a bounded keep-alive load
 * (LOAD below) sends GET / through one node's http endpoint while the group is switched over
 * `trials` times and then killed `trials` times (service and agent SIGKILL alternately). Own
 * cluster: portOffset 32500, nodes 127.0.90.1-3.
 */

export const ENDPOINT_SETUP = {
  portOffset: 32_500,
  net: 90,
  stopTimeoutMs: 1000,
  /** As test/endpoint/endpoint.test.ts: more room than the demo's leases on a loaded machine. */
  timing: { leaseTtlMs: 2000, renewIntervalMs: 200, safetyMarginMs: 600, maxLoopLagMs: 400 },
  recovery: { maxRestarts: 1000, windowMs: 60_000, failureTimeoutMs: 600_000 },
} as const;

export const LOAD = { workers: 4, pauseMs: 5, timeoutMs: 30_000, maxRequests: 1_000_000 } as const;

export interface EndpointBenchResult {
  readonly baseline: LatencyFigures;
  readonly switchover: Impact;
  readonly failover: Impact;
  readonly requests: number;
  readonly failedOverall: number;
  readonly load: typeof LOAD;
}

export async function benchEndpoint(trials: number, log: Log): Promise<EndpointBenchResult> {
  const c = new TestCluster(ENDPOINT_SETUP);
  try {
    log(`starting a 3-node cluster with an http endpoint in ${c.dir}`);
    await c.start();
    const client: { node: NodeName } = { node: 'n3' };
    const load = new LoadGenerator({ ...LOAD, url: () => c.endpointUrl(client.node) });
    load.start();
    try {
      await sleep(2000);
      const sw = await runSwitchovers(c, load, trials, log);
      const fo = await runFailovers(c, load, trials, client, log);
      await sleep(1000);
      const samples = await load.stop();
      const base = baseline(samples, [...sw, ...fo]);
      const switchover = impact('switchover', samples, sw, base);
      const failover = impact('failover', samples, fo, base);
      log(describeImpact(switchover, base));
      log(describeImpact(failover, base));
      return { baseline: base, switchover, failover, requests: samples.length, failedOverall: samples.filter((s) => !s.ok).length, load: LOAD };
    } finally {
      await load.stop();
    }
  } finally {
    await c.stop();
  }
}
