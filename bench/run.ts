import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import {
  benchCrash,
  benchHang,
  benchNodeLoss,
  benchSwitchover,
  CLUSTER_SETUP,
  measureStandaloneStart,
  PROBE,
  TestCluster,
  type Series,
} from './failover.js';
import { benchEndpoint } from './endpoint.js';
import { benchFootprint, type FootprintResult } from './footprint.js';
import { benchNetnsNodeLoss, NETNS_FAULTS, netnsBenchSkipReason } from './netns-nodeloss.js';
import { benchMirror } from './mirror.js';
import { benchApi } from './api.js';
import { benchDemoStart } from './demo.js';
import { formatTable, summarize, type Summary, type TableRow } from './stats.js';

/**
 * `npm run bench`: failover and footprint figures of halo on this machine, against real processes.
 * Prints progress and a table to stderr and one JSON object to stdout (also written to
 * bench/results.json, or HALO_BENCH_OUT). Figures only: the exit code is 0 unless the bench
 * itself crashes.
 *
 * Environment:
 *   HALO_BENCH_TRIALS  trials per timing scenario (default 20)
 *   HALO_BENCH_SAMPLE_MS  CPU/RSS sampling window (default 30000)
 *   HALO_BENCH_ONLY    comma list of: demo,start,crash,hang,nodeloss,switchover,endpoint,footprint,netns,mirror,api (default all)
 *   HALO_BENCH_MIRROR_MB  data size of the mirror throughput/resync figures (default 256)
 *   HALO_BENCH_OUT     where to write the JSON (default bench/results.json)
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const SCENARIOS = ['demo', 'start', 'crash', 'hang', 'nodeloss', 'switchover', 'endpoint', 'footprint', 'netns', 'mirror', 'api'] as const;
type Scenario = (typeof SCENARIOS)[number];

function intEnv(name: string, dflt: number, min: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function selected(): ReadonlySet<Scenario> {
  const v = process.env['HALO_BENCH_ONLY'];
  if (v === undefined || v.trim() === '') return new Set(SCENARIOS);
  const out = new Set<Scenario>();
  for (const s of v.split(',').map((x) => x.trim())) {
    const hit = SCENARIOS.find((x) => x === s);
    if (!hit) throw new Error(`HALO_BENCH_ONLY: unknown scenario ${JSON.stringify(s)}; known: ${SCENARIOS.join(', ')}`);
    out.add(hit);
  }
  return out;
}

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const sum = (s: Series): Summary => summarize(s.samples, s.timedOut);

/** Each sample minus a constant (the app's own start time). */
function minus(s: Series, by: number): Series {
  return { samples: s.samples.map((x) => x - by), timedOut: s.timedOut };
}

interface Targets {
  readonly crashBeyondAppStartP99Ms: number;
  readonly nodeLossP99Ms: number;
  readonly agentRssMb: number;
  readonly agentIdleCpuPercent: number;
  readonly endpointSwitchoverAddedP99Ms: number;
  readonly demoFirstAnswerMs: number;
}

async function main(): Promise<void> {
  const trials = intEnv('HALO_BENCH_TRIALS', 20, 1);
  const sampleMs = intEnv('HALO_BENCH_SAMPLE_MS', 30_000, 1000);
  const only = selected();
  const outFile = process.env['HALO_BENCH_OUT'] ?? join(ROOT, 'bench', 'results.json');
  const startedAt = new Date();
  const began = Date.now();

  const demo: unknown = parse(readFileSync(join(ROOT, 'examples', 'demo.yaml'), 'utf8'));
  const demoTiming: unknown = typeof demo === 'object' && demo !== null ? Reflect.get(demo, 'timing') : null;
  const leaseTtlMs = typeof demoTiming === 'object' && demoTiming !== null ? Number(Reflect.get(demoTiming, 'leaseTtlMs')) : NaN;
  const targets: Targets = {
    crashBeyondAppStartP99Ms: 50,
    nodeLossP99Ms: leaseTtlMs + 500,
    agentRssMb: 80,
    agentIdleCpuPercent: 1,
    endpointSwitchoverAddedP99Ms: 300,
    demoFirstAnswerMs: 5000,
  };

  const cpuList = cpus();
  const machine = {
    cores: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
  };
  log(`halo bench: ${trials} trials per scenario, ${machine.cores} cores (${machine.cpuModel}), node ${machine.node}`);

  const figures: Record<string, unknown> = {};
  const rows: TableRow[] = [];
  let clusterConfig: unknown = null;

  // The first impression: `halo demo` in a new directory -> the first answer through the endpoint.
  if (only.has('demo')) {
    const n = Math.min(trials, 5);
    log(`demo start (${n} trials, each in a new directory: CA, certificates and token made as after a fresh clone):`);
    const sm = sum(await benchDemoStart(n, log));
    figures['demoFirstAnswerMs'] = sm;
    rows.push({ label: '0. halo demo -> first answer (endpoint)', unit: 'ms', summary: sm, target: `p99 <= ${targets.demoFirstAnswerMs}` });
  }

  // 0. The app's own start time: the sample service alone, same node binary, same probe loop.
  let appStartP50: number | null = null;
  if (only.has('start') || only.has('crash')) {
    log('app start (sample service alone, spawn -> first answer):');
    const s = await measureStandaloneStart(trials, '127.0.89.2', 28_191, log);
    const sm = sum(s);
    appStartP50 = sm.p50;
    figures['appStandaloneStartMs'] = sm;
    rows.push({ label: 'sample service alone: spawn -> answers', unit: 'ms', summary: sm });
  }

  const needCluster = (['crash', 'hang', 'nodeloss', 'switchover'] as const).some((s) => only.has(s));
  if (needCluster) {
    const c = new TestCluster(CLUSTER_SETUP);
    try {
      log(`starting a 3-node cluster in ${c.dir}`);
      await c.start();
      clusterConfig = { overrides: CLUSTER_SETUP, yaml: readFileSync(c.configFile, 'utf8') };

      if (only.has('crash')) {
        log('1. process crash (SIGKILL of the service) -> serving again on the same node:');
        const r = await benchCrash(c, trials, log);
        const raw = sum(r.raw);
        const beyond = appStartP50 === null ? null : sum(minus(r.raw, appStartP50));
        figures['crash'] = {
          killToServingMs: raw,
          appStartSubtractedMs: appStartP50,
          beyondAppStartMs: beyond,
          killToNewProcessStartedAtMs: sum(r.killToAppStartedAt),
          breakdownMs: {
            resolution: '10 ms (process start times from /proc)',
            killToNewGuardCreated: sum(r.killToGuardSpawn),
            guardCreatedToServiceCreated: sum(r.guardToServiceSpawn),
            serviceCreatedToServing: sum(r.serviceSpawnToServing),
          },
          movedToAnotherNode: r.movedAway,
          target: `beyond app start <= ${targets.crashBeyondAppStartP99Ms} ms p99`,
        };
        rows.push({ label: '1. crash -> serving again (raw)', unit: 'ms', summary: raw });
        if (beyond) rows.push({ label: `   beyond app start (raw - ${appStartP50} ms)`, unit: 'ms', summary: beyond, target: `p99 <= ${targets.crashBeyondAppStartP99Ms}` });
        rows.push({ label: '   kill -> new guard process created', unit: 'ms', summary: sum(r.killToGuardSpawn) });
        rows.push({ label: '   guard created -> service created', unit: 'ms', summary: sum(r.guardToServiceSpawn) });
        rows.push({ label: '   service created -> serving', unit: 'ms', summary: sum(r.serviceSpawnToServing) });
      }

      if (only.has('hang')) {
        log('2. hung app (SIGSTOP of the service) -> new instance answers:');
        const r = await benchHang(c, trials, log);
        figures['hang'] = {
          stopToServingMs: sum(r.recovered),
          stopToFailureDeclaredMs: sum(r.detected),
          movedToAnotherNode: r.movedAway,
          config: { monitor: 'http /health, intervalMs 500, timeoutMs 400, failureThreshold 2', stopTimeoutMs: CLUSTER_SETUP.stopTimeoutMs },
        };
        rows.push({ label: '2. hung app -> new instance answers', unit: 'ms', summary: sum(r.recovered) });
        rows.push({ label: '   hung -> failure declared (event)', unit: 'ms', summary: sum(r.detected) });
      }

      if (only.has('nodeloss')) {
        log('3. node loss (SIGKILL of agent, guard and service) -> serving on another node:');
        const r = await benchNodeLoss(c, trials, log);
        figures['nodeLoss'] = {
          killToServingElsewhereMs: sum(r.serving),
          whenControllerWasLostMs: sum(r.servingControllerLost),
          whenControllerSurvivedMs: sum(r.servingControllerSurvived),
          killToNodeLostEventMs: sum(r.leaseExpired),
          leaseTtlMs,
          target: `<= ${targets.nodeLossP99Ms} ms p99 (lease TTL + 500 ms)`,
        };
        rows.push({ label: '3. node loss -> serving elsewhere', unit: 'ms', summary: sum(r.serving), target: `p99 <= ${targets.nodeLossP99Ms}` });
        rows.push({ label: '   controller on a surviving node', unit: 'ms', summary: sum(r.servingControllerSurvived) });
        rows.push({ label: '   controller lost with the node', unit: 'ms', summary: sum(r.servingControllerLost) });
        rows.push({ label: '   kill -> node-lost event', unit: 'ms', summary: sum(r.leaseExpired) });
      }

      if (only.has('switchover')) {
        log('4. switchover (POST /v1/groups/web/switchover) -> new node serves:');
        const r = await benchSwitchover(c, trials, log);
        figures['switchover'] = { requestToServingMs: sum(r.serving), requestToApiShowsRunningMs: sum(r.apiView), refused: r.refused };
        rows.push({ label: '4. switchover -> target serves', unit: 'ms', summary: sum(r.serving) });
        rows.push({ label: '   switchover -> API shows it running', unit: 'ms', summary: sum(r.apiView) });
      }
    } finally {
      log('stopping the cluster');
      await c.stop();
    }
  }

  if (only.has('endpoint')) {
    log('6. client impact through the endpoint: switchovers, then failovers, under a keep-alive GET load:');
    const r = await benchEndpoint(trials, log);
    figures['endpoint'] = { ...r, target: `0 failed requests and added p99 <= ${targets.endpointSwitchoverAddedP99Ms} ms during switchover` };
    rows.push({ label: `6. endpoint: baseline p99 (${r.baseline.n} req)`, unit: 'ms', summary: null, value: r.baseline.p99 });
    rows.push({ label: `   switchover: failed (of ${r.switchover.requests} req)`, unit: 'req', summary: null, value: r.switchover.failed, target: '0' });
    rows.push({ label: '   switchover: added p99', unit: 'ms', summary: null, value: r.switchover.addedP99Ms, target: `<= ${targets.endpointSwitchoverAddedP99Ms}` });
    rows.push({ label: '   switchover: added max', unit: 'ms', summary: null, value: r.switchover.addedMaxMs });
    rows.push({ label: `   failover: failed (of ${r.failover.requests} req)`, unit: 'req', summary: null, value: r.failover.failed });
    rows.push({ label: '   failover: added p99', unit: 'ms', summary: null, value: r.failover.addedP99Ms });
    rows.push({ label: '   failover: added max', unit: 'ms', summary: null, value: r.failover.addedMaxMs });
  }

  if (only.has('footprint')) {
    log(`5. agent footprint: settle 5 s, then sample ${sampleMs / 1000} s`);
    const base: FootprintResult = await benchFootprint(
      { monitors: 1, intervalMs: 1000, settleMs: 5000, sampleMs, address: '127.0.89.1', portBase: 27_600 },
      log,
    );
    const full: FootprintResult = await benchFootprint(
      { monitors: 100, intervalMs: 1000, settleMs: 5000, sampleMs, address: '127.0.89.1', portBase: 27_610 },
      log,
    );
    figures['footprint'] = { baseline1Monitor: base, monitors100: full, target: `RSS <= ${targets.agentRssMb} MB, idle CPU <= ${targets.agentIdleCpuPercent} %` };
    rows.push({ label: '5. agent RSS, 1 monitor (max)', unit: 'MB', summary: null, value: base.agentRssMb.max });
    rows.push({ label: '   agent CPU, 1 monitor', unit: '% core', summary: null, value: base.agentCpuPercent });
    rows.push({ label: '   agent RSS, 100 monitors @1 s (max)', unit: 'MB', summary: null, value: full.agentRssMb.max, target: `<= ${targets.agentRssMb}` });
    rows.push({ label: '   agent CPU, 100 monitors @1 s', unit: '% core', summary: null, value: full.agentCpuPercent, target: `<= ${targets.agentIdleCpuPercent}` });
  }

  if (only.has('netns')) {
    log('6. node loss on etcd across network-namespace hosts -> serving on another host:');
    const skip = netnsBenchSkipReason();
    if (skip !== undefined) {
      log(`  skipped: ${skip}`);
      figures['netnsNodeLoss'] = { skipped: skip };
    } else {
      const res = await benchNetnsNodeLoss(trials, log);
      const perTtl: Record<string, unknown> = {};
      for (const r of res) {
        const entry: Record<string, unknown> = { timing: r.timing, setupFailuresRedone: r.setupFailures };
        for (const f of NETNS_FAULTS) {
          const sm = sum(r.series[f]);
          const st = sum(r.started[f]);
          const ra = sum(r.reassigned[f]);
          entry[f] = { faultToServingMs: sm, faultToReassignedMs: ra, faultToNewInstanceStartedMs: st };
          rows.push({
            label: `6. etcd ttl ${r.timing.leaseTtlMs / 1000} s: ${f}`,
            unit: 'ms',
            summary: sm,
            ...(r.timing.leaseTtlMs === 1000 ? { target: 'p99 <= 1500' } : {}),
          });
          rows.push({ label: '   fault -> reassigned (failed-over event)', unit: 'ms', summary: ra });
          rows.push({ label: '   fault -> new instance started', unit: 'ms', summary: st });
        }
        perTtl[`ttl${r.timing.leaseTtlMs}`] = entry;
      }
      figures['netnsNodeLoss'] = {
        ...perTtl,
        setup: '3 network-namespace hosts, each with an etcd member (heartbeat 50 ms, election 500 ms) and an agent; etcd leader kept on a surviving host',
        loadAverageAtEnd: loadavg(),
        target: '<= 1500 ms p99 at lease TTL 1 s',
      };
    }
  }
  if (only.has('mirror')) {
    log('7. mirror (replicated directory): throughput, sync fsync latency, async lag, resync');
    const m = await benchMirror(log);
    figures['mirror'] = {
      ...m.result,
      targets: 'async >= 80 % of local throughput; sync fsync <= 1.5x local + round trip; lag p99 <= 100 ms at 50 MB/s',
    };
    rows.push(...m.rows);
  }

  if (only.has('api')) {
    log('8. management API: what authentication and TLS add to a request');
    const a = await benchApi(intEnv('HALO_BENCH_API_REQUESTS', 3000, 10), log);
    figures['api'] = { ...a, targets: 'authentication + TLS add <= 1 ms p99 on GET /v1/status' };
    rows.push(
      { label: 'API GET /healthz, no credential (http)', unit: 'ms', summary: a.healthzPlainMs },
      { label: 'API GET /healthz, bearer token checked (http)', unit: 'ms', summary: a.healthzTokenMs },
      { label: 'API GET /v1/status, token (http)', unit: 'ms', summary: a.statusHttpTokenMs },
      { label: 'API GET /v1/status, token (https)', unit: 'ms', summary: a.statusHttpsTokenMs },
      { label: 'API GET /v1/status, client certificate (https)', unit: 'ms', summary: a.statusHttpsCertMs },
    );
    log(`  added by the token check: p50 ${a.addedMs.auth.p50} ms, p99 ${a.addedMs.auth.p99} ms; by TLS: p50 ${a.addedMs.tls.p50} ms, p99 ${a.addedMs.tls.p99} ms`);
  }

  const result = {
    bench: 'halo',
    startedAt: startedAt.toISOString(),
    durationS: Math.round((Date.now() - began) / 1000),
    machine,
    trials,
    probe: { ...PROBE, note: 'GET / on a fresh connection per probe; one round every everyMs' },
    percentiles: 'nearest rank; with 20 samples p99 is the largest sample',
    targets,
    figures,
    cluster: clusterConfig,
  };
  log('');
  log(formatTable(rows));
  log('');
  const json = JSON.stringify(result, null, 2);
  writeFileSync(outFile, `${json}\n`);
  log(`written to ${outFile}`);
  process.stdout.write(`${json}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench crashed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
