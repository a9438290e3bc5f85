import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { GroupViewSchema } from '../src/api/schemas.js';
import { bootstrapToken } from '../src/cli/bootstrap.js';
import { haloArgv, writeDemoConfig } from '../src/demo/run.js';
import { isAlive } from '../src/platform/proc.js';
import { pollUntil } from './probe.js';
import { clockTicks, cpuTicks, readGuardPid, rssKb } from './procfs.js';
import type { Log } from './failover.js';

/**
 * Scenario 5: memory and idle CPU of one agent process that runs one group with many monitors.
 * A single-node cluster: the embedded coordinator and one agent, both at the default log level.
 */

export interface FootprintOptions {
  /** Total monitors on the one process resource (half http, half tcp; odd counts get one more http). */
  readonly monitors: number;
  readonly intervalMs: number;
  readonly settleMs: number;
  readonly sampleMs: number;
  /** Loopback address and port base for this run. */
  readonly address: string;
  readonly portBase: number;
}

export interface FootprintResult {
  readonly monitors: { readonly http: number; readonly tcp: number; readonly intervalMs: number; readonly reportedByAgent: number; readonly failingAtEnd: number };
  readonly sampleMs: number;
  /** VmRSS of the agent in MB (1 MB = 1024 KiB), sampled once per second. */
  readonly agentRssMb: { readonly start: number; readonly mean: number; readonly max: number; readonly end: number };
  /** (utime + stime) over the sample window / wall time, as % of one core. */
  readonly agentCpuPercent: number;
  /** Same for the guard process that supervises the service, for context. */
  readonly guardRssMb: number | null;
  readonly guardCpuPercent: number | null;
  readonly coordinatorRssMb: number | null;
  readonly coordinatorCpuPercent: number | null;
}

function exitOf(p: ChildProcess, ms: number): Promise<boolean> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(true);
  return new Promise((res) => {
    const t = setTimeout(() => res(false), ms);
    p.once('exit', () => {
      clearTimeout(t);
      res(true);
    });
  });
}

const mb = (kb: number): number => Math.round((kb / 1024) * 10) / 10;

/** The benchmark's single-node config (YAML text is written into `dir`); returns its path. */
export function writeFootprintConfig(dir: string, o: FootprintOptions): string {
  const coordPort = o.portBase;
  const apiPort = o.portBase + 1;
  const svcPort = o.portBase + 2;
  const http = Math.ceil(o.monitors / 2);
  const tcp = o.monitors - http;
  const monitors = [
    ...Array.from({ length: http }, () => ({
      kind: 'http',
      url: `http://\${HALO_NODE_ADDRESS}:${svcPort}/health`,
      intervalMs: o.intervalMs,
      timeoutMs: 500,
      failureThreshold: 3,
    })),
    ...Array.from({ length: tcp }, () => ({
      kind: 'tcp',
      host: '${HALO_NODE_ADDRESS}',
      port: svcPort,
      intervalMs: o.intervalMs,
      timeoutMs: 500,
      failureThreshold: 3,
    })),
  ];
  return writeDemoConfig(dir, (doc) => {
    doc.setIn(['cluster'], 'bench');
    doc.setIn(['coordinator', 'address'], `127.0.0.1:${coordPort}`);
    doc.setIn(['nodes'], [{ name: 'n1', address: o.address, apiPort }]);
    doc.setIn(['groups', 0, 'redundancy'], 'none');
    doc.setIn(['groups', 0, 'preferredNodes'], ['n1']);
    doc.setIn(['groups', 0, 'resources', 0, 'env', 'PORT'], String(svcPort));
    doc.deleteIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_RECORD_FILE']);
    doc.setIn(['groups', 0, 'resources', 0, 'readiness', 'url'], `http://\${HALO_NODE_ADDRESS}:${svcPort}/health`);
    doc.setIn(['groups', 0, 'resources', 0, 'monitors'], monitors);
  });
}

export async function benchFootprint(o: FootprintOptions, log: Log): Promise<FootprintResult> {
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-'));
  const file = writeFootprintConfig(dir, o);
  const env = { ...process.env };
  delete env['HALO_LOG_LEVEL'];
  const run = (args: string[], logName: string) => {
    const fd = openSync(join(dir, logName), 'a');
    return spawn(process.execPath, haloArgv(args), { stdio: ['ignore', fd, fd], env });
  };
  const coordinator = run(['coordinator', '--config', file], 'coordinator.log');
  const agent = run(['agent', '--config', file, '--node', 'n1'], 'n1.log');
  const api = `http://${o.address}:${o.portBase + 1}/v1/groups/web`;
  let servicePid: number | null = null;
  let token: string | null = null;
  try {
    const agentPid = agent.pid;
    if (agentPid === undefined) throw new Error('agent did not start');
    const up = await pollUntil(
      async () => {
        // The API asks who is calling: the cluster's first admin token, made once the coordinator answers.
        token ??= (await bootstrapToken(file, { name: 'bench-admin', role: 'admin', tenants: null, groups: null, expiresAt: null }, Date.now()).catch(() => null))?.token ?? null;
        if (token === null) return null;
        const r = await fetch(api, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(1000) });
        if (!r.ok) return null;
        const g = GroupViewSchema.parse(await r.json());
        const res = g.nodes.find((n) => n.node === 'n1' && n.state === 'running')?.resources[0];
        return res?.pid ?? null;
      },
      { timeoutMs: 30_000, everyMs: 200 },
    );
    if (up === null) throw new Error(`single-node cluster did not start (logs in ${dir})`);
    servicePid = up;
    log(`  ${o.monitors} monitors: group running (service pid ${up}); settling ${o.settleMs} ms`);
    await sleep(o.settleMs);

    const hz = clockTicks();
    const guardPid = readGuardPid(join(dir, 'state'), 'n1');
    const coordPid = coordinator.pid ?? null;
    const t0 = performance.now();
    const a0 = cpuTicks(agentPid);
    const g0 = guardPid === null ? null : cpuTicks(guardPid);
    const c0 = coordPid === null ? null : cpuTicks(coordPid);
    const rss: number[] = [];
    const first = rssKb(agentPid);
    if (first !== null) rss.push(first);
    while (performance.now() - t0 < o.sampleMs) {
      await sleep(Math.min(1000, Math.max(0, o.sampleMs - (performance.now() - t0))));
      const k = rssKb(agentPid);
      if (k !== null) rss.push(k);
    }
    const wallS = (performance.now() - t0) / 1000;
    const a1 = cpuTicks(agentPid);
    const g1 = guardPid === null ? null : cpuTicks(guardPid);
    const c1 = coordPid === null ? null : cpuTicks(coordPid);
    const pct = (x0: number | null, x1: number | null): number | null =>
      x0 === null || x1 === null ? null : Math.round(((x1 - x0) / hz / wallS) * 100 * 100) / 100;

    const r = await fetch(api, { headers: { authorization: `Bearer ${token ?? ''}` }, signal: AbortSignal.timeout(2000) });
    const g = GroupViewSchema.parse(await r.json());
    const mons = g.nodes.find((n) => n.node === 'n1')?.resources[0]?.monitors ?? [];
    const guardRss = guardPid === null ? null : rssKb(guardPid);
    const coordRss = coordPid === null ? null : rssKb(coordPid);
    const res: FootprintResult = {
      monitors: {
        http: Math.ceil(o.monitors / 2),
        tcp: o.monitors - Math.ceil(o.monitors / 2),
        intervalMs: o.intervalMs,
        reportedByAgent: mons.length,
        failingAtEnd: mons.filter((m) => !m.ok).length,
      },
      sampleMs: Math.round(wallS * 1000),
      agentRssMb: {
        start: mb(rss[0] ?? 0),
        mean: mb(rss.reduce((x, y) => x + y, 0) / Math.max(1, rss.length)),
        max: mb(Math.max(...rss)),
        end: mb(rss[rss.length - 1] ?? 0),
      },
      agentCpuPercent: pct(a0, a1) ?? -1,
      guardRssMb: guardRss === null ? null : mb(guardRss),
      guardCpuPercent: pct(g0, g1),
      coordinatorRssMb: coordRss === null ? null : mb(coordRss),
      coordinatorCpuPercent: pct(c0, c1),
    };
    log(`  ${o.monitors} monitors: agent RSS max ${res.agentRssMb.max} MB, CPU ${res.agentCpuPercent} % over ${wallS.toFixed(1)} s`);
    return res;
  } finally {
    agent.kill('SIGTERM');
    if (!(await exitOf(agent, 15_000))) agent.kill('SIGKILL');
    coordinator.kill('SIGTERM');
    if (!(await exitOf(coordinator, 5000))) coordinator.kill('SIGKILL');
    if (servicePid !== null) {
      const pid = servicePid;
      const gone = await pollUntil(async () => (isAlive(pid) ? null : true), { timeoutMs: 5000, everyMs: 50 });
      if (!gone) process.kill(pid, 'SIGKILL');
    }
    if (!process.env['HALO_KEEP_TEST_DIRS']) rmSync(dir, { recursive: true, force: true });
  }
}
