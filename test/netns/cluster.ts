import { type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { parseDocument } from 'yaml';
import type { StatusResponse } from '../../src/api/schemas.js';
import { HALO_BIN, writeDemoConfig } from '../../src/demo/run.js';
import { isAlive } from '../../src/platform/proc.js';
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

  constructor(
    readonly hosts: NetnsHosts,
    readonly opts: {
      readonly name: string;
      readonly stopTimeoutMs?: number;
      readonly etcdPreVote?: boolean;
      /** Last edit of the generated config (e.g. more resources in group "web"); resources[0] must stay the sample service. */
      readonly configure?: (doc: ReturnType<typeof parseDocument>) => void;
    },
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
      for (const [k, v] of Object.entries(TIMING)) doc.setIn(['timing', k], v);
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'PORT'], String(SERVICE_PORT));
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_HEARTBEAT'], '1');
      doc.setIn(['groups', 0, 'resources', 0, 'env', 'SAMPLE_RECORD_FILE'], this.recordFile);
      doc.setIn(['groups', 0, 'resources', 0, 'stopTimeoutMs'], opts.stopTimeoutMs ?? 1000);
      doc.setIn(['groups', 0, 'resources', 0, 'monitors', 0, 'url'], `http://\${HALO_NODE_ADDRESS}:${SERVICE_PORT}/health`);
      doc.setIn(['groups', 0, 'resources', 0, 'readiness', 'url'], `http://\${HALO_NODE_ADDRESS}:${SERVICE_PORT}/health`);
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
    for (const n of this.nodes) this.startEtcd(n);
    await this.waitEtcdHealthy(this.nodes, { timeoutMs: 15_000, ...o });
    for (const n of this.nodes) this.startAgent(n);
    await eventually(async () => (await this.liveInstances()).length === 1 && (await this.agreedActive()) !== null, { timeoutMs: 30_000, what: 'web running on one host', ...o });
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
      const child = this.hosts.spawn(node, process.execPath, [HALO_BIN, 'agent', '--config', this.configFile, '--node', node], {
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

  /** What the agent on `node` reports (GET /v1/status, asked from inside that host), or null. */
  async status(node: string): Promise<HostView> {
    const r = await this.hosts.fetchFrom(node, `http://${this.address(node)}:${API_PORT}/v1/status`, { timeoutMs: 1500 });
    if (!r || r.status !== 200) return null;
    return JSON.parse(r.text) as StatusResponse;
  }

  /** POST to the agent API on `node` (asked from inside that host). */
  async post(node: string, path: string, body: unknown): Promise<{ status: number; text: string } | null> {
    return await this.hosts.fetchFrom(node, `http://${this.address(node)}:${API_PORT}${path}`, { method: 'POST', body: JSON.stringify(body), timeoutMs: 3000 });
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

  records(): ServiceRecord[] {
    if (!existsSync(this.recordFile)) return [];
    return readFileSync(this.recordFile, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as ServiceRecord];
        } catch {
          return []; // a line cut short by a SIGKILL mid-write
        }
      });
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

