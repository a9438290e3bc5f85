import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { NetnsCluster, SERVICE_PORT } from './cluster.js';
import { etcdSkipReason } from '../support/etcd.js';
import { eventually } from '../support/util.js';
import { netnsSkipReason, NetnsHosts } from './hosts.js';

/**
 * A floating IP across network-namespace hosts: a real three-node cluster (etcd + agents on h1-h3)
 * runs group "web" = the sample service (listening on every address) + a `vip` resource; a client
 * in a fourth namespace (h4) requests http://VIP:8080/ every few ms with a 100 ms timeout, on a new
 * connection each time. The active host's agent is SIGKILLed twice; the test samples
 * `ip -n NS addr show dev eth0` on h1-h3 continuously and checks that the address is never on two
 * hosts in one sample, that it follows the group, and that the client reaches the new active.
 * `ip monitor address` on each host also stamps every add and delete of the VIP: the gap reported is
 * the time from the VIP being added on the new active (which happens once its service is ready) to
 * the first answer the client got from it, and the holding intervals must not overlap.
 */
const skip = netnsSkipReason() ?? etcdSkipReason();
const RUN = 157;
const VIP = `10.213.${RUN}.100`;
const NODES = ['h1', 'h2', 'h3'] as const;
const execFileP = promisify(execFile);
/** Gratuitous ARP makes the switch near-instant; without it a peer keeps the old MAC for tens of seconds. */
const GAP_LIMIT_MS = 1000;

interface Round {
  readonly start: number;
  readonly end: number;
  readonly holders: readonly string[];
}

/** Samples which of h1-h3 hold the VIP, one round after the other. */
class AddressSampler {
  readonly rounds: Round[] = [];
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly hosts: NetnsHosts) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const start = Date.now();
      const outs = await Promise.all(
        NODES.map(async (n) => {
          const r = await execFileP('ip', ['-n', this.hosts.host(n).ns, '-o', '-4', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }).catch(() => ({ stdout: '' }));
          return r.stdout.includes(` inet ${VIP}/`) ? [n] : [];
        }),
      );
      this.rounds.push({ start, end: Date.now(), holders: outs.flat() });
      await sleep(2);
    }
  }

  holdersNow(): readonly string[] {
    return this.rounds.at(-1)?.holders ?? [];
  }

  maxHolders(): { count: number; round: Round | null } {
    let best: Round | null = null;
    for (const r of this.rounds) if (best === null || r.holders.length > best.holders.length) best = r;
    return { count: best?.holders.length ?? 0, round: best };
  }

  /** End of the last round (after `from`) that did not see the VIP on `node` before the first one that did. */
  upAt(node: string, from: number): { lastWithout: number; firstWith: number } | null {
    let lastWithout: number | null = null;
    for (const r of this.rounds) {
      if (r.start < from) continue;
      if (r.holders.includes(node)) return lastWithout === null ? null : { lastWithout, firstWith: r.end };
      lastWithout = r.end;
    }
    return null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/**
 * Address events from `ip -n NS -ts monitor address` on h1-h3, stamped by ip as it reads them: when the VIP was added and removed on each host, for the gap and an interval overlap check
 * that does not depend on how often the sampler looks.
 */
class AddressEvents {
  readonly events: { at: number; node: string; kind: 'add' | 'del' }[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(hosts: NetnsHosts) {
    for (const n of NODES) {
      const p = spawn('ip', ['-n', hosts.host(n).ns, '-ts', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
      this.procs.push(p);
      if (p.stdout) {
        createInterface({ input: p.stdout }).on('line', (l) => {
          // [2026-11-30T17:31:41.848809] 3: eth0 inet 10.213.157.100/24 ... (local time, stamped by ip itself)
          const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d*\] (Deleted )?/.exec(l);
          if (!m?.[1] || !l.includes(` inet ${VIP}/`)) return;
          this.events.push({ at: new Date(m[1]).getTime(), node: n, kind: m[2] !== undefined ? 'del' : 'add' });
        });
      }
    }
  }

  /** First add of the VIP on `node` at or after `from`. */
  addedAt(node: string, from: number): number | null {
    return this.events.find((e) => e.node === node && e.kind === 'add' && e.at >= from)?.at ?? null;
  }

  /** Pairs of hosts whose holding intervals (add..del) overlap. */
  overlaps(): string[] {
    const iv: { node: string; from: number; to: number }[] = [];
    const open = new Map<string, number>();
    for (const e of this.events) {
      if (e.kind === 'add') open.set(e.node, e.at);
      else {
        const from = open.get(e.node);
        if (from !== undefined) iv.push({ node: e.node, from, to: e.at });
        open.delete(e.node);
      }
    }
    for (const [node, from] of open) iv.push({ node, from, to: Infinity });
    const out: string[] = [];
    for (const a of iv) for (const b of iv) if (a.node < b.node && a.from < b.to && b.from < a.to) out.push(`${a.node}[${a.from}..${a.to}] and ${b.node}[${b.from}..${b.to}]`);
    return out;
  }

  stop(): void {
    for (const p of this.procs) p.kill('SIGKILL');
  }
}

/** When the client host's neighbour entry for the VIP changed MAC (`ip -ts monitor neigh` in h4): the gratuitous ARP arriving. */
class NeighbourEvents {
  readonly events: { at: number; mac: string }[] = [];
  private readonly proc: ChildProcess;

  constructor(hosts: NetnsHosts, host: string) {
    this.proc = spawn('ip', ['-n', hosts.host(host).ns, '-ts', 'monitor', 'neigh'], { stdio: ['ignore', 'pipe', 'ignore'] });
    if (this.proc.stdout) {
      createInterface({ input: this.proc.stdout }).on('line', (l) => {
        const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d*\] (\S+) .*lladdr ([0-9a-f:]{17})/.exec(l);
        if (m?.[1] && m[2] === VIP && m[3]) this.events.push({ at: new Date(m[1]).getTime(), mac: m[3] });
      });
    }
  }

  /** First time at or after `from` the entry pointed at `mac`. */
  firstTo(mac: string, from: number): number | null {
    return this.events.find((e) => e.mac === mac && e.at >= from)?.at ?? null;
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

async function macOf(hosts: NetnsHosts, node: string): Promise<string> {
  const r = await execFileP('ip', ['-n', hosts.host(node).ns, '-o', 'link', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
  const m = /link\/ether ([0-9a-f:]{17})/.exec(r.stdout);
  if (!m?.[1]) throw new Error(`no MAC for ${node}: ${r.stdout}`);
  return m[1];
}

/**
 * The client: starts a request every 10 ms (each on a new connection, 300 ms timeout) without
 * waiting for the previous one, so reachability is known at 10 ms resolution whatever one
 * connection attempt costs. Prints one JSON line per request.
 */
const CLIENT = `
import { request } from 'node:http';
const url = process.env.VIP_URL;
const once = () => new Promise((resolve) => {
  const at = Date.now();
  const req = request(url, { agent: false, timeout: 300 }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => resolve({ at, end: Date.now(), ok: res.statusCode === 200, body }));
    res.on('error', (e) => resolve({ at, end: Date.now(), ok: false, err: e.code ?? e.message }));
  });
  req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
  req.on('error', (e) => resolve({ at, end: Date.now(), ok: false, err: e.code ?? e.message }));
  req.end();
});
setInterval(async () => {
  const r = await once();
  let node = null;
  if (r.ok) { try { node = JSON.parse(r.body).node; } catch { node = null; } }
  process.stdout.write(JSON.stringify({ at: r.at, end: r.end, ok: r.ok, node, err: r.err ?? null }) + '\\n');
}, 10);
`;

interface Answer {
  readonly at: number;
  readonly end: number;
  readonly ok: boolean;
  readonly node: string | null;
  readonly err: string | null;
}

describe('vip resource: a floating IP follows the group across namespace hosts', { skip: skip ?? false, timeout: 180_000 }, () => {
  let hosts: NetnsHosts;
  before(() => {
    hosts = NetnsHosts.create({ run: RUN, count: 4 });
  });
  after(async () => {
    await hosts?.teardown();
  });

  test('failover moves the address; it is never on two hosts; a client in a fourth namespace keeps reaching it', async (t) => {
    const c = new NetnsCluster(hosts, {
      name: 'vip',
      configure: (doc) => {
        doc.setIn(['groups', 0, 'resources', 0, 'env', 'HOST'], '0.0.0.0');
        doc.setIn(['groups', 0, 'resources', 1], { name: 'vip', type: 'vip', address: VIP, prefixLength: 24, interface: 'eth0', checkIntervalMs: 200 });
      },
    });
    let sampler: AddressSampler | null = null;
    const events = new AddressEvents(hosts);
    const neigh = new NeighbourEvents(hosts, 'h4');
    let client: ChildProcess | null = null;
    const answers: Answer[] = [];
    let ok = false;
    try {
      await c.start();
      sampler = new AddressSampler(hosts);
      const first = await c.agreedActive();
      assert.ok(first);
      await eventually(() => sampler?.holdersNow().join() === first.node, { timeoutMs: 10_000, what: `VIP on ${first.node}` });

      client = hosts.spawn('h4', process.execPath, ['--input-type=module', '-e', CLIENT], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, VIP_URL: `http://${VIP}:${SERVICE_PORT}/` } });
      const out = client.stdout;
      assert.ok(out);
      createInterface({ input: out }).on('line', (l) => answers.push(JSON.parse(l) as Answer));
      await eventually(() => answers.some((a) => a.ok && a.node === first.node), { timeoutMs: 10_000, what: `client reaches ${first.node} through the VIP` });

      const gaps: number[] = [];
      let active = first.node;
      for (let round = 1; round <= 2; round++) {
        const killedAt = c.mark(`SIGKILL agent on ${active}`);
        await c.killAgent(active, { withResources: false });
        let next: string | null = null;
        await eventually(
          async () => {
            const a = await c.agreedActive(NODES.filter((n) => n !== active));
            next = a !== null && a.node !== active ? a.node : null;
            return next !== null && sampler?.holdersNow().join() === next;
          },
          { timeoutMs: 30_000, what: `group and VIP moved away from ${active}` },
        );
        const to = next as string | null;
        assert.ok(to);
        await eventually(() => answers.some((a) => a.ok && a.node === to && a.at >= killedAt), { timeoutMs: 10_000, what: `client reaches ${to} through the VIP` });
        const up = sampler.upAt(to, killedAt);
        assert.ok(up, `the VIP was seen appearing on ${to}`);
        const addedAt = events.addedAt(to, killedAt);
        assert.ok(addedAt !== null, `ip monitor saw the VIP added on ${to}`);
        // The first request that STARTED after the address was added and got an answer from the new active.
        const firstOk = answers.filter((a) => a.ok && a.node === to && a.at >= addedAt).sort((a, b) => a.at - b.at)[0];
        assert.ok(firstOk);
        const lastOld = answers.filter((a) => a.ok && a.node === active).sort((a, b) => b.at - a.at)[0];
        const failedBefore = answers.filter((a) => !a.ok && a.at >= addedAt && a.at < firstOk.at).length;
        const gap = firstOk.at - addedAt;
        const arpAt = neigh.firstTo(await macOf(hosts, to), addedAt);
        gaps.push(gap);
        t.diagnostic(
          `failover ${round}: ${active} -> ${to}; VIP seen on ${to} ${up.firstWith - killedAt} ms after the kill (sampling round ${up.firstWith - up.lastWithout} ms); ` +
            `VIP added on ${to} at +${addedAt - killedAt} ms; the client host's ARP entry pointed to ${to} ${arpAt === null ? '(not seen)' : `${arpAt - addedAt} ms`} after that; ` +
            `the first request that reached ${to} started ${gap} ms after the add (${failedBefore} requests failed in between); ` +
            `client outage ${lastOld ? firstOk.at - lastOld.at : -1} ms (last answer from ${active} to first from ${to})`,
        );
        assert.ok(gap <= GAP_LIMIT_MS, `gap ${gap} ms after the VIP came up on ${to} (limit ${GAP_LIMIT_MS} ms)`);
        // The killed agent comes back; the group stays where it is (failback: manual).
        c.startAgent(active);
        await eventually(async () => (await c.agreedActive())?.node === to, { timeoutMs: 20_000, what: `all agents agree on ${to}` });
        active = to;
      }
      await sleep(500);
      await sampler.stop();
      const max = sampler.maxHolders();
      t.diagnostic(`${sampler.rounds.length} address samples over ${sampler.rounds.length > 0 ? (sampler.rounds.at(-1)?.end ?? 0) - (sampler.rounds[0]?.start ?? 0) : 0} ms; at most ${max.count} holder(s) at once; gaps ${gaps.join(', ')} ms`);
      assert.ok(max.count <= 1, `the VIP was on ${max.round?.holders.join(' and ')} at once (sample at ${max.round?.start})`);
      assert.deepEqual(sampler.holdersNow(), [active]);
      assert.deepEqual(events.overlaps(), [], 'no two hosts held the VIP at the same time (ip monitor events)');
      ok = true;
    } finally {
      client?.kill('SIGKILL');
      events.stop();
      neigh.stop();
      await sampler?.stop();
      await c.stop({ keep: !ok });
      if (!ok) t.diagnostic(`logs kept in ${c.dir}`);
    }
  });
});
