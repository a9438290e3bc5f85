import { type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { MonitorConfigSchema, RecoveryPolicySchema } from '../../src/domain/config.js';
import type { StatusResponse } from '../../src/api/schemas.js';
import { HALO_BIN, ensureDemoCerts, haloArgv, writeDemoConfig } from '../../src/demo/run.js';
import { isAlive, killGroup } from '../../src/platform/proc.js';
import { activeIntervals, type ServiceRecord } from '../e2e/harness.js';
import type { NetnsHosts } from './hosts.js';
import { eventually } from '../support/util.js';
import { ETCD_BINARY } from '../support/etcd.js';

/**
 * A real halo cluster across network-namespace hosts: on each host one etcd member (listening on
 * the host's address, heartbeat 50 ms, election 500 ms, so 1 s leases are honoured) and one halo
 * agent (node name = host name, API on <address>:7401), all sharing one config file that runs the
 * sample service in group "web" on port 8080 of the active host.
 *
 * The test process lives in the root namespace and cannot reach those addresses; it asks the
 * agents' APIs through `NetnsHosts.fetchFrom`, i.e. from inside a host. Each host asks its own
 * agent, so an isolated host can still be observed. The service's own records (start, stop and a
 * heartbeat every 100 ms, fsynced to one file on the shared filesystem, stamped with the shared
 * wall clock) are the ground truth for "who was active when".
 */

export const API_PORT = 7401;
export const SERVICE_PORT = 8080;
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

/** Timing of the test cluster (docs/configuration.md): fence 700 ms after the last renewal sent. */
export const TIMING = { leaseTtlMs: 1000, renewIntervalMs: 150, safetyMarginMs: 300, maxLoopLagMs: 200 } as const;


/** Extra settings of the cluster's group and its resource; every field is optional (additive to the defaults above). */
export interface NetnsClusterOptions {
  readonly name: string;
  readonly stopTimeoutMs?: number;
  readonly etcdPreVote?: boolean;
  /** Overrides of the group's recovery policy (maxRestarts, windowMs, failureTimeoutMs, ...). */
  readonly recovery?: z.input<typeof RecoveryPolicySchema>;
  /** Monitors added to the service after its HTTP health monitor (may use ${HALO_NODE}). */
  readonly monitors?: readonly z.input<typeof MonitorConfigSchema>[];
  /** Timing of the agents (default TIMING). */
  readonly timing?: { readonly leaseTtlMs: number; readonly renewIntervalMs: number; readonly safetyMarginMs: number; readonly maxLoopLagMs: number };
  /** Extra flags for every etcd member. */
  readonly etcdArgs?: readonly string[];
  /** Last edit of the generated config (e.g. more resources in group "web"); resources[0] must stay the sample service. */
  readonly configure?: (doc: ReturnType<typeof parseDocument>) => void;
}

export interface LiveInstance {
  readonly node: string;
  readonly epoch: number;
  readonly pid: number;
}

/** What one host's agent says, or null when it did not answer. */
export type HostView = StatusResponse | null;

export class NetnsCluster {
  readonly dir: string;
  readonly configFile: string;
  readonly recordFile: string;
  readonly nodes: readonly string[];
  private readonly etcd = new Map<string, ChildProcess>();
  private readonly agents = new Map<string, ChildProcess>();
  private readonly etcdArgs = new Map<string, string[]>();
  private readonly recordCache: ServiceRecord[] = [];
  private recordsRead = 0;

  constructor(
    readonly hosts: NetnsHosts,
    readonly opts: NetnsClusterOptions,
  ) {
    if (hosts.hosts.length < 3) throw new Error('a netns cluster needs at least 3 hosts');
    this.nodes = hosts.hosts.slice(0, 3).map((h) => h.name);
    this.dir = mkdtempSync(join(tmpdir(), `halo-netns-${opts.name}-`));
    this.recordFile = join(this.dir, 'records.jsonl');
    const peers = this.nodes.map((n) => `${n}=http://${this.address(n)}:${ETCD_PEER_PORT}`).join(',');
    for (const n of this.nodes) {
      const a = this.address(n);
      mkdirSync(join(this.dir, 'etcd'), { recursive: true });
      this.etcdArgs.set(n, [
        `--name=${n}`,
        `--data-dir=${join(this.dir, 'etcd', n)}`,
        `--listen-client-urls=http://${a}:${ETCD_CLIENT_PORT}`,
        `--advertise-client-urls=http://${a}:${ETCD_CLIENT_PORT}`,
        `--listen-peer-urls=http://${a}:${ETCD_PEER_PORT}`,
        `--initial-advertise-peer-urls=http://${a}:${ETCD_PEER_PORT}`,
        `--initial-cluster=${peers}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${this.dir}`,
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--logger=zap',
        '--log-level=info',
        ...(opts.etcdPreVote === false ? [] : ['--pre-vote=true']),
        ...(opts.etcdArgs ?? []),
      ]);
    }
    this.configFile = writeDemoConfig(this.dir, (doc: ReturnType<typeof parseDocument>) => {
      doc.setIn(['cluster'], `netns-${opts.name}`);
      doc.setIn(['coordinator'], { kind: 'etcd', endpoints: this.nodes.map((n) => `http://${this.address(n)}:${ETCD_CLIENT_PORT}`), prefix: `/netns-${opts.name}` });
      doc.setIn(
        ['nodes'],
        this.nodes.map((n) => ({ name: n, address: this.address(n), apiPort: API_PORT, labels: { host: n } })),
      );
      doc.setIn(['groups', 0, 'preferredNodes'], [...this.nodes]);
      doc.setIn(['security', 'tls'], { ca: join(this.dir, 'certs', 'ca.crt'), cert: join(this.dir, 'certs', '${HALO_NODE}.crt'), key: join(this.dir, 'certs', '${HALO_NODE}.key') });
      for (const [k, v] of Object.entries(opts.timing ?? TIMING)) doc.setIn(['timing', k], v);
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'PORT'], String(SERVICE_PORT));
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_HEARTBEAT'], '1');
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_RECORD_FILE'], this.recordFile);
      doc.setIn(['groups', 0, 'resources', 0, 'stopTimeoutMs'], opts.stopTimeoutMs ?? 1000);
      doc.setIn(['groups', 0, 'resources', 0, 'monitors', 0, 'url'], `http://\${HALO_NODE_ADDRESS}:${SERVICE_PORT}/health`);
      doc.setIn(['groups', 0, 'resources', 0, 'readiness', 'url'], `http://\${HALO_NODE_ADDRESS}:${SERVICE_PORT}/health`);
      for (const [k, v] of Object.entries(opts.recovery ?? {})) doc.setIn(['groups', 0, 'recovery', k], v);
      (opts.monitors ?? []).forEach((m, i) => doc.setIn(['groups', 0, 'resources', 0, 'monitors', i + 1], doc.createNode(m)));
      opts.configure?.(doc);
    });
  }

  /** Appends a marker (a fault injected, a heal) to timeline.jsonl, next to the logs; returns its time. */
  mark(what: string): number {
    const at = Date.now();
    appendFileSync(join(this.dir, 'timeline.jsonl'), `${JSON.stringify({ at, what })}\n`);
    return at;
  }

  address(node: string): string {
    return this.hosts.host(node).address;
  }

  private log(file: string): number {
    return openSync(join(this.dir, file), 'a');
  }

  /** Starts the etcd members, waits until all are healthy, then the agents, and waits for the group to run. */
  async start(o: { signal?: AbortSignal } = {}): Promise<void> {
    // Hosts have non-loopback addresses: the agents' APIs serve HTTPS with this cluster's CA.
    await ensureDemoCerts(this.dir, this.nodes.map((n) => ({ name: n, address: this.address(n) })));
    this.ca = readFileSync(join(this.dir, 'certs', 'ca.crt'), 'utf8');
    for (const n of this.nodes) this.startEtcd(n);
    await this.waitEtcdHealthy(this.nodes, { timeoutMs: 15_000, ...o });
    // The first admin token, made from inside a host (only the hosts reach etcd).
    const first = this.nodes[0] ?? '';
    const made = await this.hosts.run(first, process.execPath, [HALO_BIN, '-o', 'json', 'token', 'create', '--role', 'admin', '--name', 'netns-admin', '--config', this.configFile]);
    if (made.code !== 0) throw new Error(`halo token create failed on ${first}: ${made.stderr}`);
    this.token = (JSON.parse(made.stdout) as { token: string }).token;
    for (const n of this.nodes) this.startAgent(n);
    try {
      await eventually(async () => (await this.liveInstances()).length === 1 && (await this.agreedActive()) !== null, { timeoutMs: 30_000, what: 'web running on one host', ...o });
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; at the end: ${await this.describe()}`);
    }
  }

  /** One line on what the records and each agent say right now (for failure messages). */
  async describe(): Promise<string> {
    const live = (await this.liveInstances()).map((l) => `${l.node}/e${l.epoch}/pid${l.pid}`);
    const views = await Promise.all(
      this.nodes.map(async (n) => {
        const v = await this.status(n);
        const g = v?.groups.find((x) => x.name === 'web');
        if (!v || !g) return `${n}: no answer`;
        const nodes = g.nodes.map((x) => `${x.node}:${x.online ? 'online' : 'offline'}/${x.state}`).join(',');
        return `${n}: active ${g.assignment?.active ?? '-'} e${g.assignment?.epoch ?? '-'}, controller ${v.controller?.node ?? '-'}, ${nodes}`;
      }),
    );
    return `live instances [${live.join(', ')}]; ${views.join('; ')}`;
  }

  startEtcd(node: string): void {
    if (this.etcd.has(node)) throw new Error(`etcd on ${node} already runs`);
    const args = this.etcdArgs.get(node);
    if (!args) throw new Error(`no etcd member for ${node}`);
    const fd = this.log(`etcd-${node}.log`);
    try {
      const child = this.hosts.spawn(node, ETCD_BINARY, args, { stdio: ['ignore', fd, fd] });
      this.etcd.set(node, child);
      child.once('exit', () => {
        if (this.etcd.get(node) === child) this.etcd.delete(node);
      });
    } finally {
      closeSync(fd);
    }
  }

  /** SIGTERM, then SIGKILL after 3 s (a member without quorum can hang in shutdown). */
  async stopEtcd(node: string): Promise<void> {
    const c = this.etcd.get(node);
    if (c) await terminate(c, 3000);
  }

  async waitEtcdHealthy(nodes: readonly string[], o: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    await eventually(
      async () => {
        for (const n of nodes) {
          const r = await this.hosts.fetchFrom(n, `http://${this.address(n)}:${ETCD_CLIENT_PORT}/health`, { timeoutMs: 1000 });
          if (!r || !r.text.includes('"health":"true"')) return false;
        }
        return true;
      },
      { ...o, what: `etcd healthy on ${nodes.join(', ')}` },
    );
  }

  /** The host whose etcd member is leader, asked from the members themselves (each from its own host). */
  async etcdLeader(): Promise<string | null> {
    const ids = new Map<string, string>();
    let leader: string | null = null;
    for (const n of this.nodes) {
      const s = await this.etcdStatus(n);
      if (!s) continue;
      ids.set(s.memberId, n);
      if (s.leader !== '0') leader = s.leader;
    }
    return leader === null ? null : (ids.get(leader) ?? null);
  }

  private async etcdStatus(node: string): Promise<{ memberId: string; leader: string } | null> {
    const r = await this.hosts.fetchFrom(node, `http://${this.address(node)}:${ETCD_CLIENT_PORT}/v3/maintenance/status`, { method: 'POST', body: '{}', timeoutMs: 1000 });
    if (!r || r.status !== 200) return null;
    const body = JSON.parse(r.text) as { header?: { member_id?: string }; leader?: string };
    return { memberId: body.header?.member_id ?? '', leader: body.leader ?? '0' };
  }

  /** Hands etcd leadership to `to` (asked of the current leader) and waits until it holds. */
  async moveEtcdLeader(to: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    await eventually(
      async () => {
        const cur = await this.etcdLeader();
        if (cur === to) return true;
        const target = await this.etcdStatus(to);
        if (cur === null || !target) return false;
        await this.hosts.fetchFrom(cur, `http://${this.address(cur)}:${ETCD_CLIENT_PORT}/v3/maintenance/transfer-leadership`, {
          method: 'POST',
          body: JSON.stringify({ targetID: target.memberId }),
          timeoutMs: 3000,
        });
        return (await this.etcdLeader()) === to;
      },
      { timeoutMs: 10_000, what: `etcd leader on ${to}`, everyMs: 200, ...o },
    );
  }

  startAgent(node: string): void {
    if (this.agents.has(node)) throw new Error(`agent on ${node} already runs`);
    const fd = this.log(`agent-${node}.log`);
    try {
      const child = this.hosts.spawn(node, process.execPath, haloArgv(['agent', '--config', this.configFile, '--node', node]), {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, HALO_LOG_LEVEL: 'debug' },
      });
      this.agents.set(node, child);
      child.once('exit', () => {
        if (this.agents.get(node) === child) this.agents.delete(node);
      });
    } finally {
      closeSync(fd);
    }
  }

  /** PID of the agent on `node` (`ip netns exec` execs, so it is the agent's own), or undefined when none runs. */
  agentPid(node: string): number | undefined {
    const c = this.agents.get(node);
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  /**
   * The halo processes on `node`: everything inside the host's namespace except its etcd member
   * and the test's fetch helper, i.e. the agent, its guards, their services and monitor commands.
   */
  haloPids(node: string): number[] {
    const etcd = this.etcd.get(node)?.pid;
    const helper = this.hosts.helperPid(node);
    return this.hosts.pidsIn(node).filter((p) => p !== etcd && p !== helper);
  }

  /**
   * SIGKILLs the agent on `node`; with `withResources`, at the same moment every other halo
   * process on that host too (guards, services, monitor commands: a crash of the whole node's
   * halo side, etcd excepted). Resolves once they are gone. Returns the PIDs killed.
   */
  async killAgent(node: string, o: { withResources: boolean }): Promise<number[]> {
    const agent = this.agents.get(node);
    const exited = agent && agent.exitCode === null && agent.signalCode === null ? new Promise<void>((res) => agent.once('exit', () => res())) : Promise.resolve();
    const pids = o.withResources ? this.haloPids(node) : [this.agentPid(node)].filter((p): p is number => p !== undefined);
    for (const pid of pids) {
      try {
        // A service leads its own process group (the guard's contract): take the group with it.
        if (pids.length > 1) killGroup(pid, 'SIGKILL');
      } catch {
        /* not a group leader, or gone */
      }
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await exited;
    await eventually(() => pids.every((p) => !isAlive(p)), { timeoutMs: 5000, what: `killed processes on ${node} gone`, everyMs: 20 });
    return pids;
  }

  /** SIGSTOP (freeze) or SIGCONT (thaw) the agent on `node`; its guards and services are not touched. */
  signalAgent(node: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const pid = this.agentPid(node);
    if (pid === undefined) throw new Error(`no agent runs on ${node}`);
    process.kill(pid, signal);
  }

  /** Whether an agent process runs on `node`. */
  agentRunning(node: string): boolean {
    return this.agentPid(node) !== undefined;
  }

  /** The group's view as the agent on `node` reports it, or null. */
  async groupView(node: string): Promise<StatusResponse['groups'][number] | null> {
    return (await this.status(node))?.groups.find((g) => g.name === 'web') ?? null;
  }

  /** Clears the group's failure records (on `node`, or everywhere), asked of the agent on `via`. */
  async cleanup(via: string, node?: string): Promise<{ status: number; text: string } | null> {
    return await this.post(via, '/v1/groups/web/cleanup', node === undefined ? {} : { node });
  }

  /**
   * Waits until every agent answers and agrees on one running instance (see agreedActive) and
   * every node is online in every agent's view; returns the active instance and when it held.
   */
  async converged(o: { timeoutMs: number; signal?: AbortSignal }): Promise<{ node: string; epoch: number; pid: number; controller: string | null }> {
    let got: { node: string; epoch: number; pid: number; controller: string | null } | null = null;
    await eventually(
      async () => {
        const a = await this.agreedActive();
        if (!a) return false;
        const views = await Promise.all(this.nodes.map((n) => this.status(n)));
        if (!views.every((v) => v !== null && v.nodes.every((x) => x.online))) return false;
        got = a;
        return true;
      },
      { timeoutMs: o.timeoutMs, what: 'every agent agrees on one running instance and every node is online', everyMs: 200, ...(o.signal ? { signal: o.signal } : {}) },
    ).catch(async (e: unknown) => {
      throw new Error(`${e instanceof Error ? e.message : String(e)}; at the end: ${await this.describe()}`);
    });
    const a = got as { node: string; epoch: number; pid: number; controller: string | null } | null;
    if (!a) throw new Error('unreachable');
    return a;
  }

  /** The cluster CA (PEM) and the admin token, set by start(). */
  private ca = '';
  token = '';

  /**
   * A request to the agent API on `node`, made from inside host `from` (default: `node` itself),
   * over HTTPS with the cluster CA and the admin token.
   */
  async api(node: string, path: string, o: { method?: string; body?: unknown; timeoutMs?: number; from?: string } = {}): Promise<{ status: number; text: string } | null> {
    return await this.hosts.fetchFrom(o.from ?? node, `https://${this.address(node)}:${API_PORT}${path}`, {
      method: o.method ?? 'GET',
      ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
      timeoutMs: o.timeoutMs ?? 1500,
      headers: { authorization: `Bearer ${this.token}`, ...(o.method !== undefined && o.method !== 'GET' ? { 'x-halo-csrf': 'test' } : {}) },
      ca: this.ca,
    });
  }

  /** What the agent on `node` reports (GET /v1/status, asked from inside that host), or null. */
  async status(node: string): Promise<HostView> {
    const r = await this.api(node, '/v1/status', { timeoutMs: 1500 });
    if (!r || r.status !== 200) return null;
    return JSON.parse(r.text) as StatusResponse;
  }

  /** POST to the agent API on `node` (asked from inside that host). */
  async post(node: string, path: string, body: unknown): Promise<{ status: number; text: string } | null> {
    return await this.api(node, path, { method: 'POST', body, timeoutMs: 3000 });
  }

  /**
   * The active node when every node in `askAt` (default: all) answers and agrees: same assignment
   * and controller, the active node online, its group status `running` with a service PID that is
   * alive. Null otherwise.
   */
  async agreedActive(askAt: readonly string[] = this.nodes): Promise<{ node: string; epoch: number; pid: number; controller: string | null } | null> {
    const views = await Promise.all(askAt.map((n) => this.status(n)));
    let agreed: { node: string; epoch: number; pid: number; controller: string | null } | null = null;
    for (const v of views) {
      const g = v?.groups.find((x) => x.name === 'web');
      const a = g?.assignment;
      if (!v || !g || !a || a.active === null) return null;
      const nv = g.nodes.find((x) => x.node === a.active);
      const pid = nv?.resources[0]?.pid;
      // A status record outlives a fenced agent (it cannot write while cut off): require the node's
      // session (online) and the reported process itself.
      if (!nv || !nv.online || nv.state !== 'running' || pid === null || pid === undefined || !isAlive(pid)) return null;
      const cur = { node: a.active, epoch: a.epoch, pid, controller: v.controller?.node ?? null };
      if (agreed && (agreed.node !== cur.node || agreed.epoch !== cur.epoch || agreed.pid !== cur.pid || agreed.controller !== cur.controller)) return null;
      agreed = cur;
    }
    return agreed;
  }

  /** The service answers on `node`'s address, asked from `from` (default: the node itself). */
  async serves(node: string, from: string = node): Promise<{ node: string; epoch: number; pid: number } | null> {
    const r = await this.hosts.fetchFrom(from, `http://${this.address(node)}:${SERVICE_PORT}/`, { timeoutMs: 1000 });
    if (!r || r.status !== 200) return null;
    return JSON.parse(r.text) as { node: string; epoch: number; pid: number };
  }

  /**
   * Every record so far, in file order. Read incrementally (only the bytes appended since the last
   * call, up to the last complete line), so sampling a long run's records stays cheap.
   */
  records(): ServiceRecord[] {
    if (!existsSync(this.recordFile)) return [];
    const size = statSync(this.recordFile).size;
    if (size > this.recordsRead) {
      const fd = openSync(this.recordFile, 'r');
      try {
        const buf = Buffer.alloc(size - this.recordsRead);
        const n = readSync(fd, buf, 0, buf.length, this.recordsRead);
        const text = buf.subarray(0, n).toString('utf8');
        const end = text.lastIndexOf('\n');
        if (end >= 0) {
          this.recordsRead += Buffer.byteLength(text.slice(0, end + 1));
          for (const l of text.slice(0, end).split('\n')) {
            if (l.trim() === '') continue;
            try {
              this.recordCache.push(JSON.parse(l) as ServiceRecord);
            } catch {
              // a line cut short by a SIGKILL mid-write
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    }
    return [...this.recordCache];
  }

  /** Service instances whose process is alive right now (by PID, from the records). */
  async liveInstances(): Promise<LiveInstance[]> {
    await Promise.resolve();
    return activeIntervals(this.records())
      .filter((iv) => isAlive(iv.pid))
      .map((iv) => ({ node: iv.node, epoch: iv.epoch, pid: iv.pid }));
  }

  /**
   * Stops agents (SIGTERM, SIGKILL after 10 s), then etcd members; kills any service left; removes
   * the dir unless `keep` (or HALO_KEEP_TEST_DIRS) says to keep it for a post-mortem.
   */
  async stop(o: { keep?: boolean } = {}): Promise<void> {
    await Promise.all([...this.agents.values()].map((c) => terminate(c, 10_000)));
    await Promise.all([...this.etcd.values()].map((c) => terminate(c, 3000)));
    for (const iv of activeIntervals(this.records())) {
      if (isAlive(iv.pid)) {
        try {
          process.kill(iv.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    if (!o.keep && !process.env['HALO_KEEP_TEST_DIRS']) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function terminate(c: ChildProcess, graceMs: number): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((res) => c.once('exit', () => res()));
  c.kill('SIGTERM');
  const ac = new AbortController();
  const r = await Promise.race([exited.then(() => 'exited' as const), sleep(graceMs, 'timeout' as const, { signal: ac.signal }).catch(() => 'exited' as const)]);
  ac.abort();
  if (r === 'timeout') {
    c.kill('SIGKILL');
    await exited;
  }
}

