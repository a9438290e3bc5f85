import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { isAlive } from '../../src/platform/proc.js';

/**
 * Several hosts on one machine, as Linux network namespaces, for fault tests with real partitions.
 *
 * Layout for run R with N hosts (all names start with `halo-R-`):
 *
 *   halo-R-br   a namespace holding the bridge `br0` and the bridge-side ends `h1-p` .. `hN-p`
 *   halo-R-hK   one namespace per host: `lo` up, `eth0` (the other end of `hK-p`) with 10.213.R.K/24
 *
 * The /24 exists only inside these namespaces: nothing is added to the root namespace, and there
 * is no route out of them. Every link is created directly inside its namespace (`ip -n NS link
 * add ... peer ... netns NS2`), so no name ever appears in the root namespace, even briefly.
 *
 * Faults:
 * - `isolate(h)`: nft bridge-family rules in the bridge namespace drop every frame from and to
 *   `hK-p`. The host's link stays up (no NO-CARRIER): it simply hears nothing and reaches nobody.
 * - `cutOneWay(from, to)`: an inet input-hook rule inside `to` drops packets whose source is
 *   `from`'s address. `to` can still send to `from`; for TCP that breaks connections both ways
 *   (the answers are lost), for anything else only one direction.
 *
 * All namespaces share the machine's filesystem, clock and PID space, so processes started in a
 * host are visible (and signalled) by PID from the test, and files written by them are read
 * directly.
 *
 * Cleanup: `teardown()` kills every process started through this object and every process still
 * inside one of its namespaces (the descendants: guards and services the agents started), deletes
 * the bridge-side links and then the namespaces. The same runs from a process 'exit' hook and on
 * SIGINT/SIGTERM. A leftover of a crashed earlier run with the same prefix is removed on create.
 */

export interface HostsOptions {
  /** Run number 0..199: names are `halo-<run>-*`, addresses 10.213.<run>.0/24. */
  readonly run: number;
  /** Number of hosts, 1..50. */
  readonly count: number;
}

export interface Host {
  /** Short name, `h1` .. `hN`. */
  readonly name: string;
  /** Namespace name, `halo-<run>-hK`. */
  readonly ns: string;
  /** The host's address, 10.213.<run>.K. */
  readonly address: string;
  /** Bridge-side end of the host's veth pair (in the bridge namespace). */
  readonly port: string;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

export const NFT_INSTALL_HINT = 'apt-get install -y nftables';
const SUBNET_BASE = '10.213';

/** The namespace prefix of a run, `halo-<run>-`. */
export function runPrefix(run: number): string {
  return `halo-${run}-`;
}

function sh(cmd: string, args: readonly string[], input?: string): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input: input ?? '', timeout: 15_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
}

function must(cmd: string, args: readonly string[], input?: string): string {
  const r = sh(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

function which(bin: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${bin}`));
}

let probed: string | null | undefined;

/**
 * Undefined when namespaces, veths, a bridge and nft work here; otherwise why the caller should
 * skip. nft is installed from Debian (`nftables`) when it is missing and we are root. With
 * CI=true a missing capability is a failure, not a skip: it throws.
 */
export function netnsSkipReason(): string | undefined {
  if (probed === undefined) probed = probe();
  if (probed === null) return undefined;
  if (process.env['CI'] === 'true') throw new Error(`network-namespace tests cannot run in CI: ${probed}`);
  return `skipped: ${probed}`;
}

function probe(): string | null {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'creating network namespaces, veths and nft rules needs root (run the tests as root)';
  if (!which('ip')) return 'the ip command (iproute2) is missing; install it with: apt-get install -y iproute2';
  if (!which('nft')) {
    const r = sh('apt-get', ['install', '-y', 'nftables']);
    if (r.code !== 0 || !which('nft')) return `nft is missing and could not be installed; install it with: ${NFT_INSTALL_HINT}`;
  }
  const ns = `halo-probe-${process.pid}`;
  try {
    const add = sh('ip', ['netns', 'add', ns]);
    if (add.code !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
    const br = sh('ip', ['-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
    if (br.code !== 0) return `cannot create a bridge in a namespace: ${br.stderr.trim()}`;
    const nft = sh('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], 'table bridge probe {\n chain f {\n type filter hook forward priority 0; policy accept;\n }\n}\n');
    if (nft.code !== 0) return `nft bridge-family tables do not work here: ${nft.stderr.trim()}`;
    return null;
  } finally {
    sh('ip', ['netns', 'del', ns]);
  }
}

/** Namespaces whose name starts with `prefix`. */
function namespacesWith(prefix: string): string[] {
  const r = sh('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}

function pidsIn(ns: string): number[] {
  return sh('ip', ['netns', 'pids', ns])
    .stdout.split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function killAndWait(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 3000;
  while (pids.some((p) => isAlive(p)) && Date.now() < deadline) sleepSync(20);
}

/**
 * Removes every namespace named `<prefix>*`: the processes still inside it (left by a crashed run
 * of this harness with the same prefix) are killed by PID, then the namespace is deleted.
 */
export function removeNamespaces(prefix: string): string[] {
  if (!prefix.startsWith('halo-') || prefix.length < 7) throw new Error(`refusing to remove namespaces with the broad prefix "${prefix}"`);
  const found = namespacesWith(prefix);
  killAndWait(found.flatMap(pidsIn));
  for (const ns of found) sh('ip', ['netns', 'del', ns]);
  return found;
}

const HELPER = `
import { createInterface } from 'node:readline';
import { request } from 'node:https';
/** HTTPS with a given CA (the cluster's): node:https, since fetch() cannot take a CA per request. */
function httpsWithCa(q, headers) {
  return new Promise((resolve, reject) => {
    const req = request(q.url, { method: q.method, headers, ca: q.ca, signal: AbortSignal.timeout(q.timeoutMs) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(q.body ?? undefined);
  });
}
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  let q;
  try { q = JSON.parse(line); } catch { return; }
  let out;
  try {
    const headers = { ...(q.headers ?? {}) };
    if (q.body !== null) headers['content-type'] = 'application/json';
    if (q.ca) {
      const r = await httpsWithCa(q, headers);
      out = { id: q.id, ok: true, status: r.status, text: r.text };
    } else {
      const init = { method: q.method, headers, signal: AbortSignal.timeout(q.timeoutMs) };
      if (q.body !== null) init.body = q.body;
      const r = await fetch(q.url, init);
      out = { id: q.id, ok: true, status: r.status, text: await r.text() };
    }
  } catch (e) {
    out = { id: q.id, ok: false, error: String(e && e.cause && e.cause.code ? e.cause.code : e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(out) + '\\n');
});
rl.on('close', () => process.exit(0));
`;

interface HelperAnswer {
  readonly id: number;
  readonly ok: boolean;
  readonly status?: number;
  readonly text?: string;
  readonly error?: string;
}

/** One long-lived `node` inside a host that runs fetch() for the test (the root namespace cannot reach the hosts). */
class FetchHelper {
  private nextId = 1;
  private readonly waiting = new Map<number, (a: HelperAnswer) => void>();

  constructor(readonly child: ChildProcess) {
    const out = child.stdout;
    if (!out) throw new Error('fetch helper has no stdout');
    createInterface({ input: out }).on('line', (line) => {
      let a: HelperAnswer;
      try {
        a = JSON.parse(line) as HelperAnswer;
      } catch {
        return;
      }
      this.waiting.get(a.id)?.(a);
      this.waiting.delete(a.id);
    });
    // A helper that died mid-write fails the write with EPIPE; its exit answers everyone waiting.
    child.stdin?.on('error', () => undefined);
    child.once('exit', () => {
      for (const [id, done] of this.waiting) done({ id, ok: false, error: 'fetch helper exited' });
      this.waiting.clear();
    });
  }

  request(url: string, init: { method: string; body: string | null; timeoutMs: number; headers?: Readonly<Record<string, string>>; ca?: string }): Promise<HelperAnswer> {
    const id = this.nextId++;
    return new Promise<HelperAnswer>((resolve) => {
      // The helper enforces the timeout itself; this one only covers a wedged helper.
      const t = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, ok: false, error: 'fetch helper did not answer' });
      }, init.timeoutMs + 3000);
      this.waiting.set(id, (a) => {
        clearTimeout(t);
        resolve(a);
      });
      this.child.stdin?.write(`${JSON.stringify({ id, url, ...init })}\n`);
    });
  }
}

const live = new Set<NetnsHosts>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const h of live) h.teardownSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const h of live) h.teardownSync();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export class NetnsHosts {
  readonly prefix: string;
  readonly bridgeNs: string;
  readonly hosts: readonly Host[];
  private readonly children = new Set<ChildProcess>();
  private readonly helpers = new Map<string, FetchHelper>();
  private readonly cuts = new Map<string, number>();
  private tornDown = false;

  private constructor(readonly opts: HostsOptions) {
    if (!Number.isInteger(opts.run) || opts.run < 0 || opts.run > 199) throw new Error(`run must be 0..199, got ${opts.run}`);
    if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 50) throw new Error(`count must be 1..50, got ${opts.count}`);
    this.prefix = runPrefix(opts.run);
    this.bridgeNs = `${this.prefix}br`;
    this.hosts = Array.from({ length: opts.count }, (_, i) => ({
      name: `h${i + 1}`,
      ns: `${this.prefix}h${i + 1}`,
      address: `${SUBNET_BASE}.${opts.run}.${i + 1}`,
      port: `h${i + 1}-p`,
    }));
  }

  /** Creates the bridge namespace and the hosts; a leftover with the same prefix is removed first. */
  static create(opts: HostsOptions): NetnsHosts {
    const h = new NetnsHosts(opts);
    installHooks();
    removeNamespaces(h.prefix);
    live.add(h);
    try {
      h.build();
    } catch (e) {
      h.teardownSync();
      throw e;
    }
    return h;
  }

  private build(): void {
    const br = this.bridgeNs;
    must('ip', ['netns', 'add', br]);
    must('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    must('ip', ['-n', br, 'link', 'add', 'br0', 'type', 'bridge']);
    must('ip', ['-n', br, 'link', 'set', 'br0', 'up']);
    must('ip', ['netns', 'exec', br, 'nft', '-f', '-'], 'table bridge halo {\n chain cut {\n type filter hook forward priority 0; policy accept;\n }\n}\n');
    for (const h of this.hosts) {
      must('ip', ['netns', 'add', h.ns]);
      must('ip', ['-n', br, 'link', 'add', h.port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
      must('ip', ['-n', br, 'link', 'set', h.port, 'master', 'br0']);
      must('ip', ['-n', br, 'link', 'set', h.port, 'up']);
      must('ip', ['-n', h.ns, 'link', 'set', 'lo', 'up']);
      must('ip', ['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      must('ip', ['-n', h.ns, 'link', 'set', 'eth0', 'up']);
      must('ip', ['netns', 'exec', h.ns, 'nft', '-f', '-'], 'table inet halo {\n chain in {\n type filter hook input priority 0; policy accept;\n }\n}\n');
    }
  }

  host(name: string): Host {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} (have ${this.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  /** Starts `cmd args` inside the host (`ip netns exec`, which execs: the PID is the command's). */
  spawn(host: string, cmd: string, args: readonly string[], o: { stdio?: StdioOptions; env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    if (this.tornDown) throw new Error('hosts were torn down');
    const child = spawn('ip', ['netns', 'exec', this.host(host).ns, cmd, ...args], { stdio: o.stdio ?? 'ignore', env: o.env ?? process.env });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a short command inside the host and collects its output. */
  run(host: string, cmd: string, args: readonly string[], o: { signal?: AbortSignal; input?: string } = {}): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = this.spawn(host, cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const onAbort = (): void => void child.kill('SIGKILL');
      o.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('exit', (code) => {
        o.signal?.removeEventListener('abort', onAbort);
        if (o.signal?.aborted) reject(o.signal.reason);
        else resolve({ code: code ?? -1, stdout, stderr });
      });
      // A command that exits without reading its input makes the write fail with EPIPE: not an error here.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(o.input ?? '');
    });
  }

  /**
   * An HTTP request made from inside `host` (by a long-lived helper process there). Resolves with
   * the status and body, or null when no answer came (refused, unreachable, timed out).
   */
  async fetchFrom(
    host: string,
    url: string,
    o: { method?: string; body?: string; timeoutMs?: number; signal?: AbortSignal; headers?: Readonly<Record<string, string>>; ca?: string } = {},
  ): Promise<HttpAnswer | null> {
    o.signal?.throwIfAborted();
    let helper = this.helpers.get(host);
    if (!helper || helper.child.exitCode !== null || helper.child.signalCode !== null) {
      helper = new FetchHelper(this.spawn(host, process.execPath, ['--input-type=module', '-e', HELPER], { stdio: ['pipe', 'pipe', 'inherit'] }));
      this.helpers.set(host, helper);
    }
    const a = await helper.request(url, {
      method: o.method ?? 'GET',
      body: o.body ?? null,
      timeoutMs: o.timeoutMs ?? 1000,
      ...(o.headers ? { headers: o.headers } : {}),
      ...(o.ca ? { ca: o.ca } : {}),
    });
    o.signal?.throwIfAborted();
    return a.ok && a.status !== undefined ? { status: a.status, text: a.text ?? '' } : null;
  }

  /** Drops every frame to and from the host at the bridge. Idempotent. */
  isolate(host: string): void {
    const h = this.host(host);
    if (this.cuts.has(`iso:${h.name}`)) return;
    must('ip', ['netns', 'exec', this.bridgeNs, 'nft', 'add', 'rule', 'bridge', 'halo', 'cut', 'iifname', h.port, 'drop', 'comment', `"iso-${h.name}"`]);
    must('ip', ['netns', 'exec', this.bridgeNs, 'nft', 'add', 'rule', 'bridge', 'halo', 'cut', 'oifname', h.port, 'drop', 'comment', `"iso-${h.name}"`]);
    this.cuts.set(`iso:${h.name}`, 1);
  }

  /** Removes the isolation of the host (its one-way cuts stay). */
  heal(host: string): void {
    const h = this.host(host);
    this.deleteRules(this.bridgeNs, 'bridge', 'cut', `iso-${h.name}`);
    this.cuts.delete(`iso:${h.name}`);
  }

  /** Packets from `from` no longer reach `to` (dropped at `to`'s input hook). Idempotent. */
  cutOneWay(from: string, to: string): void {
    const f = this.host(from);
    const t = this.host(to);
    const key = `cut:${f.name}>${t.name}`;
    if (this.cuts.has(key)) return;
    must('ip', ['netns', 'exec', t.ns, 'nft', 'add', 'rule', 'inet', 'halo', 'in', 'ip', 'saddr', f.address, 'drop', 'comment', `"cut-${f.name}"`]);
    this.cuts.set(key, 1);
  }

  /** Removes a one-way cut. */
  healOneWay(from: string, to: string): void {
    const f = this.host(from);
    const t = this.host(to);
    this.deleteRules(t.ns, 'inet', 'in', `cut-${f.name}`);
    this.cuts.delete(`cut:${f.name}>${t.name}`);
  }

  /** Removes every isolation and cut. */
  healAll(): void {
    must('ip', ['netns', 'exec', this.bridgeNs, 'nft', 'flush', 'chain', 'bridge', 'halo', 'cut']);
    for (const h of this.hosts) must('ip', ['netns', 'exec', h.ns, 'nft', 'flush', 'chain', 'inet', 'halo', 'in']);
    this.cuts.clear();
  }

  /** Active faults, e.g. `iso:h1`, `cut:h2>h3`. */
  faults(): string[] {
    return [...this.cuts.keys()];
  }

  private deleteRules(ns: string, family: string, chain: string, comment: string): void {
    const listing = must('ip', ['netns', 'exec', ns, 'nft', '-a', 'list', 'chain', family, 'halo', chain]);
    for (const line of listing.split('\n')) {
      const m = /comment "([^"]*)" # handle (\d+)/.exec(line);
      if (m && m[1] === comment && m[2]) must('ip', ['netns', 'exec', ns, 'nft', 'delete', 'rule', family, 'halo', chain, 'handle', m[2]]);
    }
  }

  /** PID of the host's fetch helper (see fetchFrom), if one runs: it is the test's, not the cluster's. */
  helperPid(host: string): number | undefined {
    const h = this.helpers.get(this.host(host).name);
    return h && h.child.exitCode === null && h.child.signalCode === null ? h.child.pid : undefined;
  }

  /** Processes inside the host's namespace right now (the ones started here and their descendants). */
  pidsIn(host: string): number[] {
    return pidsIn(this.host(host).ns);
  }

  /** Kills everything started here and everything still inside the namespaces, then deletes links and namespaces. */
  async teardown(): Promise<void> {
    this.teardownSync();
    await Promise.resolve();
  }

  teardownSync(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    live.delete(this);
    for (const c of this.children) c.stdin?.destroy();
    const started = [...this.children].map((c) => c.pid).filter((p): p is number => p !== undefined);
    const inside = [this.bridgeNs, ...this.hosts.map((h) => h.ns)].flatMap(pidsIn);
    killAndWait([...new Set([...started, ...inside])]);
    for (const h of this.hosts) sh('ip', ['-n', this.bridgeNs, 'link', 'del', h.port]);
    for (const ns of [...this.hosts.map((h) => h.ns), this.bridgeNs]) sh('ip', ['netns', 'del', ns]);
    this.children.clear();
    this.helpers.clear();
  }
}
