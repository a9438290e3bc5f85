import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { parseDocument } from 'yaml';
import { HALO_BIN, ensureDemoCerts, haloArgv, writeDemoConfig } from '../../src/demo/run.js';
import { bootstrapToken } from '../../src/cli/bootstrap.js';
import { clusterFetch } from '../../src/security/fetch.js';
import { isAlive } from '../../src/platform/proc.js';
import { eventually } from '../support/util.js';

/**
 * A real cluster for end-to-end tests: the embedded coordinator and three agents as separate OS
 * processes, running the sample service. Ports are offset from the demo's so a running demo does
 * not interfere. Only processes started here are ever signalled.
 */

export interface ClusterOptions {
  /** Added to every port (coordinator 7400, APIs 7401-7403, service 8080). */
  readonly portOffset: number;
  /** Nodes' loopback addresses are 127.0.<net>.1-3. */
  readonly net: number;
  readonly timing?: Partial<{ leaseTtlMs: number; renewIntervalMs: number; safetyMarginMs: number; maxLoopLagMs: number }>;
  readonly recovery?: Partial<{ maxRestarts: number; windowMs: number; failureTimeoutMs: number }>;
  readonly stopTimeoutMs?: number;
  /** Agree through these etcd members instead of the embedded coordinator. */
  readonly etcdEndpoints?: readonly string[];
  /** More settings of the etcd coordinator (tls, auth, timeouts), merged into `coordinator`. */
  readonly etcdSettings?: Readonly<Record<string, unknown>>;
  /** Settings of the group's endpoint "front" (the demo's; port 8081 + portOffset on every node). */
  readonly endpoint?: Partial<{ mode: 'http' | 'tcp'; holdTimeoutMs: number; drainTimeoutMs: number; connectTimeoutMs: number }>;
}

export interface ServiceRecord {
  readonly event: 'start' | 'stop' | 'alive';
  readonly node: string;
  readonly epoch: number;
  readonly pid: number;
  readonly at: number;
}

export interface GroupNodeView {
  readonly node: string;
  readonly online: boolean;
  readonly state: string;
  readonly epoch: number | null;
  readonly resources: readonly { readonly name: string; readonly state: string; readonly pid: number | null; readonly restarts: number }[];
}

export interface GroupView {
  readonly assignment: { readonly active: string | null; readonly epoch: number; readonly standbys: readonly string[] } | null;
  readonly nodes: readonly GroupNodeView[];
  readonly failures: readonly { readonly node: string }[];
}

export const NODES = ['n1', 'n2', 'n3'] as const;
export type NodeName = (typeof NODES)[number];

export class TestCluster {
  readonly dir: string;
  readonly configFile: string;
  readonly apis: Record<NodeName, string>;
  readonly addresses: Record<NodeName, string>;
  readonly servicePort: number;
  /** Port of the group's endpoint on every node's address. */
  readonly endpointPort: number;
  readonly coordinatorUrl: string;
  private coordinator: ChildProcess | null = null;
  readonly agents = new Map<NodeName, ChildProcess>();

  constructor(readonly opts: ClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'halo-e2e-'));
    const o = opts.portOffset;
    this.addresses = { n1: `127.0.${opts.net}.1`, n2: `127.0.${opts.net}.2`, n3: `127.0.${opts.net}.3` };
    this.apis = { n1: `https://${this.addresses.n1}:${7401 + o}`, n2: `https://${this.addresses.n2}:${7402 + o}`, n3: `https://${this.addresses.n3}:${7403 + o}` };
    this.servicePort = 8080 + o;
    this.endpointPort = 8081 + o;
    this.coordinatorUrl = `http://127.0.0.1:${7400 + o}`;
    this.configFile = writeDemoConfig(this.dir, (doc: ReturnType<typeof parseDocument>) => {
      doc.setIn(['cluster'], 'e2e');
      if (opts.etcdEndpoints) doc.setIn(['coordinator'], { kind: 'etcd', endpoints: [...opts.etcdEndpoints], prefix: `/e2e-${o}`, ...opts.etcdSettings });
      else doc.setIn(['coordinator', 'address'], `127.0.0.1:${7400 + o}`);
      NODES.forEach((n, i) => {
        doc.setIn(['nodes', i, 'address'], this.addresses[n]);
        doc.setIn(['nodes', i, 'apiPort'], 7401 + i + o);
      });
      for (const [k, v] of Object.entries(opts.timing ?? {})) doc.setIn(['timing', k], v);
      for (const [k, v] of Object.entries(opts.recovery ?? {})) doc.setIn(['groups', 0, 'recovery', k], v);
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'PORT'], String(this.servicePort));
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_HEARTBEAT'], '1');
      doc.setIn(['groups', 0, 'resources', 0, 'stopTimeoutMs'], opts.stopTimeoutMs ?? 2000);
      doc.setIn(['groups', 0, 'resources', 0, 'monitors', 0, 'url'], `http://\${HALO_NODE_ADDRESS}:${this.servicePort}/health`);
      doc.setIn(['groups', 0, 'resources', 0, 'readiness', 'url'], `http://\${HALO_NODE_ADDRESS}:${this.servicePort}/health`);
      doc.setIn(['groups', 0, 'endpoints', 0, 'port'], this.endpointPort);
      doc.setIn(['groups', 0, 'endpoints', 0, 'backendPort'], this.servicePort);
      for (const [k, v] of Object.entries(opts.endpoint ?? {})) doc.setIn(['groups', 0, 'endpoints', 0, k], v);
    }, { tls: { ca: join(this.dir, 'certs', 'ca.crt'), cert: join(this.dir, 'certs', '${HALO_NODE}.crt'), key: join(this.dir, 'certs', '${HALO_NODE}.key') } });
  }

  /** The cluster's admin token (made at start, straight in the coordinator) and an HTTPS client that trusts the cluster CA. */
  token = '';
  private fetchApi: typeof fetch = fetch;

  /** Environment for a CLI process run against this cluster (token and CA; the caller adds --api). */
  cliEnv(): NodeJS.ProcessEnv {
    return { ...process.env, HALO_TOKEN: this.token, HALO_CA: join(this.dir, 'certs', 'ca.crt'), HALO_CREDENTIALS: '' };
  }

  private spawnHalo(args: string[], log: string): ChildProcess {
    const fd = openSync(join(this.dir, log), 'a');
    return spawn(process.execPath, haloArgv(args), { stdio: ['ignore', fd, fd], env: { ...process.env, HALO_LOG_LEVEL: 'debug' } });
  }

  async start(): Promise<void> {
    await ensureDemoCerts(this.dir, NODES.map((n) => ({ name: n, address: this.addresses[n] })));
    this.fetchApi = clusterFetch({ ca: readFileSync(join(this.dir, 'certs', 'ca.crt'), 'utf8') });
    if (!this.opts.etcdEndpoints) this.coordinator = this.spawnHalo(['coordinator', '--config', this.configFile], 'coordinator.log');
    await eventually(
      async () => {
        this.token = (await bootstrapToken(this.configFile, { name: 'e2e-admin', role: 'admin', tenants: null, groups: null, expiresAt: null }, Date.now())).token;
        return true;
      },
      { timeoutMs: 15_000, what: 'the first admin token' },
    );
    for (const n of NODES) this.startAgent(n);
    await eventually(async () => (await this.group()).nodes.some((x) => x.state === 'running'), { timeoutMs: 30_000, what: 'web running' });
  }

  startAgent(n: NodeName): ChildProcess {
    const p = this.spawnHalo(['agent', '--config', this.configFile, '--node', n], `${n}.log`);
    this.agents.set(n, p);
    return p;
  }

  agentPid(n: NodeName): number {
    const pid = this.agents.get(n)?.pid;
    if (pid === undefined) throw new Error(`agent ${n} not started`);
    return pid;
  }

  /** GET from the first API that answers. */
  async api(path: string, init?: RequestInit): Promise<Response> {
    let last: unknown;
    for (const n of NODES) {
      try {
        return await this.fetchApi(`${this.apis[n]}${path}`, { ...init, headers: { ...init?.headers, authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(2000) });
      } catch (e) {
        last = e;
      }
    }
    throw new Error(`no API answered: ${String(last)}`);
  }

  async group(): Promise<GroupView> {
    const r = await this.api('/v1/groups/web');
    if (!r.ok) throw new Error(`GET /v1/groups/web: ${r.status}`);
    return (await r.json()) as GroupView;
  }

  /** The active node and its running service PID, once the group runs there. */
  async active(): Promise<{ node: NodeName; epoch: number; pid: number } | null> {
    const g = await this.group();
    const a = g.assignment?.active;
    if (!a) return null;
    const v = g.nodes.find((x) => x.node === a);
    const pid = v?.resources[0]?.pid;
    if (!v || v.state !== 'running' || pid === null || pid === undefined) return null;
    return { node: a as NodeName, epoch: g.assignment?.epoch ?? -1, pid };
  }

  async waitActive(pred: (a: { node: NodeName; epoch: number; pid: number }) => boolean, timeoutMs: number, what: string) {
    let got: { node: NodeName; epoch: number; pid: number } | null = null;
    await eventually(
      async () => {
        got = await this.active();
        return got !== null && pred(got);
      },
      { timeoutMs, what },
    );
    if (!got) throw new Error('unreachable');
    return got as { node: NodeName; epoch: number; pid: number };
  }

  /** URL of the group's endpoint on a node. */
  endpointUrl(n: NodeName, path = '/'): string {
    return `http://${this.addresses[n]}:${this.endpointPort}${path}`;
  }

  /** The service's answer on a node's address. */
  async serve(n: NodeName): Promise<{ node: string; epoch: number; pid: number } | null> {
    try {
      const r = await fetch(`http://${this.addresses[n]}:${this.servicePort}/`, { signal: AbortSignal.timeout(1000) });
      return r.ok ? ((await r.json()) as { node: string; epoch: number; pid: number }) : null;
    } catch {
      return null;
    }
  }

  records(): ServiceRecord[] {
    const f = join(this.dir, 'records.jsonl');
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ServiceRecord);
  }

  async events(): Promise<{ kind: string; message: string; node: string | null }[]> {
    const r = await this.api('/v1/events?limit=1000');
    const body = (await r.json()) as { events: { kind: string; message: string; node: string | null }[] };
    return body.events;
  }

  /** Run the CLI against this cluster. */
  cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const p = spawn(process.execPath, [HALO_BIN, '--api', NODES.map((n) => this.apis[n]).join(','), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: this.cliEnv() });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  async stop(): Promise<void> {
    const all = [...this.agents.values()];
    for (const p of all) {
      try {
        process.kill(p.pid ?? -1, 'SIGCONT');
      } catch {
        /* gone */
      }
      p.kill('SIGTERM');
    }
    await Promise.all(all.map((p) => exitOf(p, 15_000)));
    for (const p of all) p.kill('SIGKILL');
    this.coordinator?.kill('SIGTERM');
    if (this.coordinator) await exitOf(this.coordinator, 5000);
    this.coordinator?.kill('SIGKILL');
    // Guards whose agent was killed fence themselves; make sure no service outlives the test.
    for (const r of this.records()) {
      try {
        process.kill(r.pid, 0);
        await eventually(async () => !isAlive(r.pid), { timeoutMs: 5000, what: `service pid ${r.pid} gone` }).catch(() => process.kill(r.pid, 'SIGKILL'));
      } catch {
        /* not running */
      }
    }
    if (!process.env['HALO_KEEP_TEST_DIRS']) rmSync(this.dir, { recursive: true, force: true });
  }
}


function exitOf(p: ChildProcess, ms: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(res, ms);
    p.once('exit', () => {
      clearTimeout(t);
      res();
    });
  });
}


/**
 * Active intervals of the service, one per started instance (pid): from its 'start' record to its
 * 'stop' record or, when it was killed, its last 'alive' heartbeat.
 */
export function activeIntervals(records: readonly ServiceRecord[]): { node: string; epoch: number; pid: number; from: number; to: number }[] {
  const by = new Map<number, { node: string; epoch: number; pid: number; from: number; to: number }>();
  for (const r of records) {
    const cur = by.get(r.pid);
    if (r.event === 'start') by.set(r.pid, { node: r.node, epoch: r.epoch, pid: r.pid, from: r.at, to: r.at });
    else if (cur) cur.to = Math.max(cur.to, r.at);
  }
  return [...by.values()].sort((a, b) => a.from - b.from);
}

/** Pairs of instances whose active intervals overlap (must be empty). */
export function overlaps(records: readonly ServiceRecord[]): string[] {
  const iv = activeIntervals(records);
  const out: string[] = [];
  for (let i = 0; i < iv.length; i++) {
    for (let j = i + 1; j < iv.length; j++) {
      const a = iv[i];
      const b = iv[j];
      if (a && b && b.from <= a.to) out.push(`${a.node}/e${a.epoch}/pid${a.pid} [${a.from}..${a.to}] overlaps ${b.node}/e${b.epoch}/pid${b.pid} [${b.from}..${b.to}]`);
    }
  }
  return out;
}
