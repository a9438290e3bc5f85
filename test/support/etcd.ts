import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './util.js';

/**
 * Real etcd clusters for tests: 1 or 3 members from Debian's etcd-server on 127.0.0.1, each with
 * free ports and a data dir under one temp dir, tuned (heartbeat 50 ms, election 500 ms) so that
 * 1 s leases are granted as 1 s and a lost leader is replaced within about a second.
 *
 * Members can be stopped (SIGTERM or SIGKILL) and started again on the same ports and data dir,
 * for fault tests. Every process started here is killed when the test process exits.
 */

export const ETCD_BINARY = '/usr/bin/etcd';
export const ETCD_INSTALL_HINT = 'apt-get install -y etcd-server';
export const ETCD_HEARTBEAT_MS = 50;
export const ETCD_ELECTION_TIMEOUT_MS = 500;

const HEALTHY_LIMIT_MS = 15_000;
const STOP_GRACE_MS = 3000;

/**
 * Undefined when etcd can run here; otherwise why the caller should skip. With CI=true a missing
 * binary is a failure, not a skip: it throws.
 */
export function etcdSkipReason(): string | undefined {
  if (!existsSync(ETCD_BINARY) && process.getuid?.() === 0) spawnSync('apt-get', ['install', '-y', 'etcd-server'], { stdio: 'ignore', timeout: 120_000 });
  if (existsSync(ETCD_BINARY)) return undefined;
  const why = `${ETCD_BINARY} not found; install it with: ${ETCD_INSTALL_HINT}`;
  if (process.env['CI'] === 'true') throw new Error(`etcd tests cannot run in CI: ${why}`);
  return `skipped: ${why}`;
}

export interface EtcdMember {
  readonly name: string;
  /** http://127.0.0.1:port */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** Whether the process is running (started and not yet seen to exit). */
  readonly running: boolean;
  readonly pid: number | undefined;
}

export interface EtcdCluster {
  /** Client URLs of all members, running or not. */
  readonly endpoints: readonly string[];
  readonly members: readonly EtcdMember[];
  /** Index of the member that is leader now, asked from the running members. */
  leaderIndex(opts?: { signal?: AbortSignal }): Promise<number>;
  /**
   * Stop one member: SIGKILL at once (a crash), or SIGTERM and SIGKILL after 3 s. Resolves when
   * the process has exited.
   */
  stopMember(index: number, how?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Start a stopped member again (same ports, same data) and wait until it is healthy. */
  startMember(index: number, opts?: { signal?: AbortSignal }): Promise<void>;
  /** Wait until every running member reports healthy. */
  waitHealthy(opts?: { signal?: AbortSignal }): Promise<void>;
  /** Stop every member and remove the data dirs. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  readonly members?: 1 | 3;
  readonly signal?: AbortSignal;
  /** Extra flags for every member (e.g. auth or TLS settings). */
  readonly extraArgs?: readonly string[];
  /**
   * Serve clients over TLS (https client URLs) and require a client certificate signed by `caFile`.
   * Health is then checked on a plain-HTTP metrics URL of each member.
   */
  readonly clientTls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /**
   * Members talk to each other over TLS too (https peer URLs), each presenting this certificate
   * (it needs both server and client use) and requiring the others' to be signed by `caFile`.
   */
  readonly peerTls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

const alive = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of alive) child.kill('SIGKILL');
  });
}

class Member implements EtcdMember {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly logFile: string,
    private readonly args: readonly string[],
    /** Where `/health` answers over plain HTTP (the client URL unless clients use TLS). */
    readonly healthUrl: string = clientUrl,
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.child) throw new Error(`etcd member ${this.name} is already running`);
    const log = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(ETCD_BINARY, this.args, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    this.child = child;
    alive.add(child);
    this.exited = new Promise<void>((resolve) => {
      const done = (): void => {
        alive.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      };
      child.once('exit', done);
      child.once('error', done);
    });
  }

  async stop(how: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(how);
    if (how === 'SIGTERM') {
      // A member without quorum can hang in shutdown: escalate.
      const ac = new AbortController();
      const grace = sleep(STOP_GRACE_MS, 'timeout' as const, { signal: ac.signal }).catch(() => 'exited' as const);
      const first = await Promise.race([this.exited.then(() => 'exited' as const), grace]);
      ac.abort();
      if (first === 'timeout') child.kill('SIGKILL');
    }
    await this.exited;
  }
}


export async function startEtcdCluster(opts: StartEtcdOptions = {}): Promise<EtcdCluster> {
  installExitHook();
  const count = opts.members ?? 3;
  const root = await mkdtemp(join(tmpdir(), 'halo-etcd-'));
  const tls = opts.clientTls;
  const perMember = tls ? 3 : 2;
  const ports: number[] = [];
  while (ports.length < count * perMember) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const specs = Array.from({ length: count }, (_, i) => ({
    name: `m${i}`,
    clientUrl: `${tls ? 'https' : 'http'}://127.0.0.1:${ports[perMember * i] ?? 0}`,
    peerUrl: `${opts.peerTls ? 'https' : 'http'}://127.0.0.1:${ports[perMember * i + 1] ?? 0}`,
    metricsUrl: tls ? `http://127.0.0.1:${ports[perMember * i + 2] ?? 0}` : undefined,
    dataDir: join(root, `m${i}`),
    logFile: join(root, `m${i}.log`),
  }));
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(',');
  const members = specs.map(
    (s) =>
      new Member(s.name, s.clientUrl, s.peerUrl, s.dataDir, s.logFile, [
        `--name=${s.name}`,
        `--data-dir=${s.dataDir}`,
        `--listen-client-urls=${s.clientUrl}`,
        `--advertise-client-urls=${s.clientUrl}`,
        `--listen-peer-urls=${s.peerUrl}`,
        `--initial-advertise-peer-urls=${s.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${root}`,
        `--heartbeat-interval=${ETCD_HEARTBEAT_MS}`,
        `--election-timeout=${ETCD_ELECTION_TIMEOUT_MS}`,
        '--logger=zap',
        '--log-level=warn',
        ...(tls && s.metricsUrl
          ? [`--cert-file=${tls.certFile}`, `--key-file=${tls.keyFile}`, `--trusted-ca-file=${tls.caFile}`, '--client-cert-auth', `--listen-metrics-urls=${s.metricsUrl}`]
          : []),
        ...(opts.peerTls
          ? [`--peer-cert-file=${opts.peerTls.certFile}`, `--peer-key-file=${opts.peerTls.keyFile}`, `--peer-trusted-ca-file=${opts.peerTls.caFile}`, '--peer-client-cert-auth']
          : []),
        ...(opts.extraArgs ?? []),
      ], s.metricsUrl ?? s.clientUrl),
  );

  const waitHealthy = async (o: { signal?: AbortSignal } = {}): Promise<void> => {
    await Promise.all(members.filter((m) => m.running).map((m) => waitMemberHealthy(m, o.signal)));
  };

  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    leaderIndex: async (o = {}) => {
      const deadline = Date.now() + HEALTHY_LIMIT_MS;
      for (;;) {
        o.signal?.throwIfAborted();
        for (const m of members) {
          if (!m.running) continue;
          const status = await memberStatus(m.clientUrl, o.signal);
          if (status === undefined || status.leader === '0') continue;
          const idx = await indexOfMemberId(members, status.leader, o.signal);
          if (idx !== undefined) return idx;
        }
        if (Date.now() > deadline) throw new Error(`no etcd leader within ${HEALTHY_LIMIT_MS} ms`);
        await sleep(50, undefined, o.signal ? { signal: o.signal } : {});
      }
    },
    stopMember: async (index, how = 'SIGTERM') => {
      await memberAt(members, index).stop(how);
    },
    startMember: async (index, o = {}) => {
      const m = memberAt(members, index);
      m.start();
      await waitMemberHealthy(m, o.signal);
    },
    waitHealthy,
    stop: async () => {
      await Promise.all(members.map((m) => m.stop('SIGTERM')));
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    for (const m of members) m.start();
    await waitHealthy(opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

function memberAt(members: readonly Member[], index: number): Member {
  const m = members[index];
  if (!m) throw new Error(`no etcd member ${index} (cluster has ${members.length})`);
  return m;
}

async function waitMemberHealthy(m: Member, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + HEALTHY_LIMIT_MS;
  let last = 'no answer yet';
  for (;;) {
    signal?.throwIfAborted();
    if (!m.running) throw new Error(`etcd member ${m.name} exited while starting; see ${m.logFile}`);
    try {
      const res = await fetch(`${m.healthUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body: unknown = await res.json();
      if (typeof body === 'object' && body !== null && 'health' in body && body.health === 'true') return;
      last = JSON.stringify(body);
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd member ${m.name} not healthy within ${HEALTHY_LIMIT_MS} ms (${last}); see ${m.logFile}`);
    }
    await sleep(50, undefined, signal ? { signal } : {});
  }
}

/** Status through etcd's JSON gateway: ids are decimal strings. Undefined when it does not answer. */
async function memberStatus(
  clientUrl: string,
  signal: AbortSignal | undefined,
): Promise<{ readonly memberId: string; readonly leader: string } | undefined> {
  try {
    const res = await fetch(`${clientUrl}/v3/maintenance/status`, {
      method: 'POST',
      body: '{}',
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(1000)]) : AbortSignal.timeout(1000),
    });
    const body: unknown = await res.json();
    if (typeof body !== 'object' || body === null) return undefined;
    const leader = 'leader' in body && typeof body.leader === 'string' ? body.leader : '0';
    const header = 'header' in body && typeof body.header === 'object' && body.header !== null ? body.header : {};
    const memberId = 'member_id' in header && typeof header.member_id === 'string' ? header.member_id : '';
    return { memberId, leader };
  } catch {
    signal?.throwIfAborted();
    return undefined;
  }
}

async function indexOfMemberId(
  members: readonly Member[],
  id: string,
  signal: AbortSignal | undefined,
): Promise<number | undefined> {
  for (const [i, m] of members.entries()) {
    if (!m.running) continue;
    const s = await memberStatus(m.clientUrl, signal);
    if (s?.memberId === id) return i;
  }
  return undefined;
}
