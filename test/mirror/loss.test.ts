import assert from 'node:assert/strict';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { mirrorLoss, type MirrorLoss } from '../../src/core/mirror.js';
import { GroupConfigSchema, MirrorResourceSchema } from '../../src/domain/config.js';
import { parseGroupId, parseNodeId } from '../../src/domain/ids.js';
import type { MirrorSyncRecord } from '../../src/domain/state.js';
import { MirrorReceiver } from '../../src/mirror/receiver.js';
import { MirrorSource } from '../../src/mirror/source.js';
import { ASYNC_PUBLISH_MS, MirrorAgent } from '../../src/resources/mirror/agent.js';
import type { ResourceContext } from '../../src/resources/types.js';
import { rng } from '../sim/world.js';
import { testCerts, tlsOf } from '../support/certs.js';
import { eventually } from '../support/util.js';
import { portBlock, tempDir } from './helpers.js';

/**
 * Async mode: the loss a failover reports must match what is missing on the new active.
 *
 * n1 (active) appends fixed-size records to a log at a steady rate while n2 receives through a
 * TCP relay on 127.0.0.3 (so the link itself can fail). The test takes the last record n1
 * published before it was stopped at D (updatedAt u, pending R for n2) and compares what
 * mirrorLoss says with the bytes actually missing on n2.
 */

const port = portBlock(5);
const certs = await testCerts(['n1', 'n2', 's0']);
const SEEDS = 10;
const SCAN_MS = 20;
const RECORD = 100;
const WRITE_EVERY_MS = 5;
const n2 = parseNodeId('n2');

/** A relay n1 -> n2 that can fail: first it drops what n1 sends (acks of what n2 got still flow back), then it resets both ends and refuses new connections. */
class Relay {
  private readonly server: Server;
  private readonly pairs: [Socket, Socket][] = [];
  private dropping = false;
  constructor(
    private readonly listenHost: string,
    private readonly port: number,
    private readonly targetHost: string,
  ) {
    this.server = createServer((c) => {
      if (this.dropping) {
        c.destroy();
        return;
      }
      const up = connect(this.port, this.targetHost);
      this.pairs.push([c, up]);
      c.on('data', (d: Buffer) => {
        if (!this.dropping) up.write(d);
      });
      up.on('data', (d: Buffer) => c.write(d));
      const end = (): void => {
        c.destroy();
        up.destroy();
      };
      c.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
  }
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.listenHost, () => resolve());
    });
  }
  /** The link fails: nothing more reaches n2; after `drainMs` (acks in transit reach n1) both ends are reset. */
  async cut(drainMs: number): Promise<void> {
    this.dropping = true;
    this.server.close();
    await sleep(drainMs);
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
  }
  close(): void {
    this.dropping = true;
    this.server.close();
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
  }
}

/** Appends RECORD-byte records (sequence number and the wall-clock ms taken just before its write) every WRITE_EVERY_MS. */
class LogWriter {
  readonly times: number[] = [];
  private readonly fd: number;
  private timer: NodeJS.Timeout | null = null;
  constructor(path: string) {
    this.fd = openSync(path, 'a');
  }
  start(): void {
    this.timer = setInterval(() => {
      const at = Date.now();
      const head = `${String(this.times.length).padStart(8, '0')} ${at} `;
      const buf = Buffer.from(head.padEnd(RECORD - 1, 'x') + '\n');
      this.times.push(at);
      writeSync(this.fd, buf);
    }, WRITE_EVERY_MS);
  }
  /** Stops writing; returns the time of the stop (D). */
  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    closeSync(this.fd);
    return Date.now();
  }
  bytesAfter(t: number): number {
    return this.times.filter((x) => x > t).length * RECORD;
  }
  bytesIn(from: number, to: number): number {
    return this.times.filter((x) => x > from && x <= to).length * RECORD;
  }
  /** Longest gap between two writes in (from, to]: how long the event loop (the writer's and the mirror's) stalled. */
  maxGapIn(from: number, to: number): number {
    let gap = 0;
    for (let i = 1; i < this.times.length; i++) {
      const a = this.times[i - 1] ?? 0;
      const b = this.times[i] ?? 0;
      if (b > from && a <= to) gap = Math.max(gap, b - a);
    }
    return gap;
  }
}

interface Outcome {
  readonly seed: number;
  readonly reported: number;
  readonly actual: number;
  /** actual - (R + bytes written after u). */
  readonly error: number;
  readonly toleranceBytes: number;
  readonly publishAgeMs: number;
}

async function runSeed(t: TestContext, seed: number, cutLink: boolean): Promise<Outcome> {
  const r = rng(seed * 7919 + (cutLink ? 1 : 2));
  const root = tempDir(t, 'halo-mirror-loss-');
  const p = port();
  const records: MirrorSyncRecord[] = [];
  const cfg = (self: string) =>
    MirrorResourceSchema.parse({ name: 'data', type: 'mirror', path: join(root, self, 'data'), port: p, mode: 'async', scanIntervalMs: SCAN_MS });
  const relay = new Relay('127.0.0.3', p, '127.0.0.2');
  await relay.start();
  t.after(() => relay.close());
  const a1 = new MirrorAgent(cfg('n1'), {
    node: parseNodeId('n1'),
    group: parseGroupId('db'),
    address: '127.0.0.1',
    peers: [{ name: n2, host: '127.0.0.3', port: p }],
    metaDir: join(root, 'n1', 'meta'),
    tls: tlsOf(certs, 'n1'),
    publish: async (rec) => {
      records.push(rec);
    },
  });
  const a2 = new MirrorAgent(cfg('n2'), {
    node: n2,
    group: parseGroupId('db'),
    address: '127.0.0.2',
    peers: [{ name: parseNodeId('n1'), host: '127.0.0.1', port: p }],
    metaDir: join(root, 'n2', 'meta'),
    tls: tlsOf(certs, 'n2'),
    publish: async () => undefined,
  });
  t.after(() => a1.close());
  t.after(() => a2.close());
  await a2.serveStandby();
  const ctx: ResourceContext = { node: parseNodeId('n1'), group: parseGroupId('db'), epoch: seed, role: 'active', stateDir: join(root, 'n1', 'meta'), fenceFile: join(root, 'fence') };
  const started = await a1.start(ctx);
  assert.ok(started.ok, started.detail);
  const log1 = join(root, 'n1', 'data', 'log');
  const log2 = join(root, 'n2', 'data', 'log');
  const writer = new LogWriter(log1);
  writer.start();
  const size = (f: string): number => (existsSync(f) ? readFileSync(f).length : 0);
  await eventually(() => size(log2) > 0, { timeoutMs: 10_000, what: `seed ${seed}: n2 receives the log`, everyMs: 5 });
  await sleep(100 + r() * 200);
  if (cutLink) {
    await relay.cut(100);
    await sleep(500 + r() * 1000);
  } else await sleep(500 + r() * 1000);
  // n1 is stopped abruptly: the writer stops and the records published from now on do not count.
  const D = writer.stop();
  const published = records.filter((x) => x.node === 'n1' && x.updatedAt <= D);
  await a1.close();
  await a2.close();
  const last = published.at(-1);
  assert.ok(last, `seed ${seed}: n1 published`);
  const sb = last.standbys.find((s) => s.node === n2);
  assert.ok(sb, `seed ${seed}: the record has n2`);
  const u = last.updatedAt;
  const R = sb.pendingBytes;
  const group = GroupConfigSchema.parse({ name: 'db', resources: [cfg('n1')] });
  const losses = mirrorLoss(group, n2, [last]);
  assert.equal(losses.length, 1, `seed ${seed}: an async failover is always reported`);
  const loss = losses[0] as MirrorLoss;
  assert.equal(loss.bytes, R);
  assert.equal(loss.asOfAt, u);

  const b1 = readFileSync(log1);
  const b2 = existsSync(log2) ? readFileSync(log2) : Buffer.alloc(0);
  assert.ok(b2.length <= b1.length && b1.subarray(0, b2.length).equals(b2), `seed ${seed}: n2's log is a prefix of n1's`);
  const actual = b1.length - b2.length;
  const after = writer.bytesAfter(u);
  // R is based on a size scan made before u, at most one scan period (plus the scan itself, which
  // waits for the event loop like the writer does) earlier: writes in that window are in neither R
  // nor `after`. Stalls of the shared event loop are measured by the writer's own gaps.
  const gap = writer.maxGapIn(u - 1000, u);
  const windowMs = SCAN_MS + 2 * gap + 10;
  const tolerance = writer.bytesIn(u - windowMs, u);
  const error = actual - (R + after);
  const figures = `seed ${seed}: actual ${actual} B, reported R ${R} B as of u=${u} (D-u ${D - u} ms), written after u ${after} B, error ${error} B, tolerance ${tolerance} B (bytes written in the ${windowMs} ms before u: scan period ${SCAN_MS} + 2 x longest writer gap ${gap} + 10)`;
  if (cutLink) {
    assert.equal(sb.state, 'broken', `seed ${seed}: the last record shows the link broken`);
    assert.ok(error >= 0 && error <= tolerance, `missing bytes = R + bytes written after u, within tolerance: ${figures}`);
  } else {
    assert.ok(actual >= 0 && error <= tolerance, `missing bytes <= R + bytes written after u (+ tolerance): ${figures}`);
  }
  // Every missing record (one cut by n2's end counts) was written at or after sinceAt.
  if (actual > 0 && R > 0) assert.notEqual(loss.sinceAt, null, `seed ${seed}: sinceAt is known (${figures})`);
  if (loss.sinceAt !== null) {
    const firstMissing = Math.floor(b2.length / RECORD);
    const early = writer.times.slice(firstMissing).filter((x) => x < (loss.sinceAt ?? 0));
    assert.deepEqual(early, [], `seed ${seed}: missing records written before sinceAt ${loss.sinceAt} (${figures})`);
  }
  // The record is recent: published at most one period (+ the check tick and loop stalls) before D.
  const ageBound = ASYNC_PUBLISH_MS + 25 + 2 * writer.maxGapIn(D - 1000, D) + 20;
  assert.ok(D - u <= ageBound, `seed ${seed}: last record ${D - u} ms before the stop, bound ${ageBound} ms`);
  return { seed, reported: R + after, actual, error, toleranceBytes: tolerance, publishAgeMs: D - u };
}

const pct = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

function summary(name: string, out: readonly Outcome[]): string {
  const err = out.map((o) => Math.abs(o.error));
  const age = out.map((o) => o.publishAgeMs);
  return `${name}: |reported - actual| p50 ${pct(err, 0.5)} B, max ${Math.max(...err)} B (records of ${RECORD} B at ${1000 / WRITE_EVERY_MS}/s); D - u p50 ${pct(age, 0.5)} ms, max ${Math.max(...age)} ms; errors ${out.map((o) => o.error).join(' ')}`;
}

describe('async mirror: pending bytes of a broken link', { timeout: 30_000 }, () => {
  test('a broken link reports the bytes its standby did not acknowledge, and since when; a resync clears them', async (t) => {
    const root = tempDir(t, 'halo-mirror-loss-');
    const src = join(root, 'src');
    mkdirSync(src);
    const p = port();
    const mkReceiver = (): MirrorReceiver => new MirrorReceiver({ dir: join(root, 'dst'), metaDir: join(root, 'meta'), host: '127.0.0.1', port: p, tls: tlsOf(certs, 's0') });
    let receiver = mkReceiver();
    await receiver.start();
    t.after(() => receiver.stop());
    writeFileSync(join(src, 'a'), Buffer.alloc(10_000, 1));
    writeFileSync(join(src, 'b'), Buffer.alloc(200_000, 2));
    const s = new MirrorSource({ dir: src, group: 'g', node: 'n1', epoch: 1, mode: 'async', standbys: [{ name: 's0', host: '127.0.0.1', port: p }], tls: tlsOf(certs, 'n1'), scanIntervalMs: SCAN_MS });
    s.start();
    t.after(() => s.stop());
    const st = () => s.status()[0];
    await eventually(() => st()?.state === 'synced' && st()?.pendingBytes === 0, { timeoutMs: 10_000, what: 'synced' });
    assert.equal(st()?.missingSinceAt, null);

    await receiver.stop();
    await eventually(() => st()?.state === 'broken', { timeoutMs: 5000, what: 'link broken' });
    assert.equal(st()?.pendingBytes, 0, 'nothing changed since the last acknowledgement');
    const appendAt = Date.now();
    appendFileSync(join(src, 'a'), Buffer.alloc(1234, 3));
    await eventually(() => st()?.pendingBytes === 1234, { timeoutMs: 5000, what: `append counted while broken (pending ${st()?.pendingBytes})` });
    const since = st()?.missingSinceAt ?? null;
    assert.ok(since !== null && since <= appendAt, `missing since ${since}, appended at ${appendAt}`);
    writeFileSync(join(src, 'c'), Buffer.alloc(500, 4));
    rmSync(join(src, 'b'));
    await eventually(() => st()?.pendingBytes === 1734, { timeoutMs: 5000, what: `new file counted, removal not (pending ${st()?.pendingBytes})` });
    assert.equal(st()?.missingSinceAt, null, 'a file the standby never held: since an unknown time');

    receiver = mkReceiver();
    await receiver.start();
    await eventually(() => st()?.state === 'synced' && st()?.pendingBytes === 0, { timeoutMs: 10_000, what: 'resynced' });
    assert.equal(readFileSync(join(root, 'dst', 'a')).length, 11_234);
  });
});

/** n2 standby on 127.0.0.2, n1 active at epoch 1 on 127.0.0.1 (async); n1's records, each put taking `putMs`. */
async function activePair(t: TestContext, putMs = 0): Promise<{ root: string; records: MirrorSyncRecord[]; puts: { inFlight: number; max: number } }> {
  const root = tempDir(t, 'halo-mirror-loss-');
  const p = port();
  const records: MirrorSyncRecord[] = [];
  const puts = { inFlight: 0, max: 0 };
  const cfg = (self: string) => MirrorResourceSchema.parse({ name: 'data', type: 'mirror', path: join(root, self, 'data'), port: p, mode: 'async', scanIntervalMs: SCAN_MS });
  const mk = (self: 'n1' | 'n2', addr: string, peer: 'n1' | 'n2', peerAddr: string): MirrorAgent => {
    const a = new MirrorAgent(cfg(self), {
      node: parseNodeId(self),
      group: parseGroupId('db'),
      address: addr,
      peers: [{ name: parseNodeId(peer), host: peerAddr, port: p }],
      metaDir: join(root, self, 'meta'),
      tls: tlsOf(certs, self),
      publish: async (rec) => {
        if (self !== 'n1') return;
        records.push(rec);
        puts.inFlight += 1;
        puts.max = Math.max(puts.max, puts.inFlight);
        if (putMs > 0) await sleep(putMs);
        puts.inFlight -= 1;
      },
    });
    t.after(() => a.close());
    return a;
  };
  const a1 = mk('n1', '127.0.0.1', 'n2', '127.0.0.2');
  const a2 = mk('n2', '127.0.0.2', 'n1', '127.0.0.1');
  await a2.serveStandby();
  const ok = await a1.start({ node: parseNodeId('n1'), group: parseGroupId('db'), epoch: 1, role: 'active', stateDir: join(root, 'n1', 'meta'), fenceFile: join(root, 'fence') });
  assert.ok(ok.ok, ok.detail);
  return { root, records, puts };
}

describe('async mirror: publication cadence', { timeout: 30_000 }, () => {
  test('quiet while synced and nothing moves; a change is published at once; while data moves, one put per 200-225 ms', async (t) => {
    const { root, records } = await activePair(t);
    writeFileSync(join(root, 'n1', 'data', 'f'), Buffer.alloc(1000, 1));
    const synced = (r: MirrorSyncRecord | undefined): boolean => r?.standbys[0]?.state === 'synced' && r.standbys[0].pendingBytes === 0 && r.standbys[0].lastAckAt !== null;
    await eventually(() => synced(records.at(-1)), { timeoutMs: 10_000, what: 'a synced record' });
    await sleep(400);
    const quietFrom = records.length;
    await sleep(600);
    assert.equal(records.length, quietFrom, 'synced and nothing moves: no put within 600 ms (10 s period)');

    const w = Date.now();
    appendFileSync(join(root, 'n1', 'data', 'f'), Buffer.alloc(100, 2));
    await eventually(() => (records.at(-1)?.updatedAt ?? 0) > w, { timeoutMs: 2000, what: 'the change published', everyMs: 2 });
    const first = records.find((r) => r.updatedAt > w);
    assert.ok(first);
    // One check period (25 ms) plus one scan period (20 ms) and the shipping, with room for a loaded machine.
    assert.ok(first.updatedAt - w <= 150, `published ${first.updatedAt - w} ms after the change`);

    await sleep(ASYNC_PUBLISH_MS);
    const writer = new LogWriter(join(root, 'n1', 'data', 'log'));
    const from = Date.now();
    writer.start();
    await sleep(1500);
    const to = writer.stop();
    const during = records.filter((r) => r.updatedAt > from + ASYNC_PUBLISH_MS && r.updatedAt <= to).map((r) => r.updatedAt);
    const gaps = during.slice(1).map((x, i) => x - (during[i] ?? x));
    const bound = ASYNC_PUBLISH_MS + 25 + 2 * writer.maxGapIn(from, to) + 20;
    assert.ok(gaps.length >= 4, `puts while data moves: ${during.length}`);
    assert.ok(Math.min(...gaps) >= ASYNC_PUBLISH_MS, `never two puts within ${ASYNC_PUBLISH_MS} ms: gaps ${gaps.join(' ')}`);
    assert.ok(Math.max(...gaps) <= bound, `a put at least every ${bound} ms (200 + check 25 + 2 x longest writer gap + 20): gaps ${gaps.join(' ')}`);
    t.diagnostic(`gaps between puts while data moves: ${gaps.join(' ')} ms`);
  });

  test('a slow store: periodic puts do not queue up, the next one carries a fresh record', async (t) => {
    const { root, records, puts } = await activePair(t, 500);
    await eventually(() => records.some((r) => r.standbys[0]?.state === 'synced'), { timeoutMs: 10_000, what: 'n2 synced' });
    await sleep(600);
    puts.max = puts.inFlight;
    const writer = new LogWriter(join(root, 'n1', 'data', 'log'));
    const from = Date.now();
    writer.start();
    await sleep(1600);
    writer.stop();
    const during = records.filter((r) => r.updatedAt > from);
    assert.ok(puts.max <= 1, `at most one put in flight while data moves (saw ${puts.max})`);
    assert.ok(during.length >= 2 && during.length <= 4, `about one put per 500 ms put: ${during.length} in 1600 ms`);
  });
});

describe('async mirror: the reported loss matches what is missing', { timeout: 120_000 }, () => {
  test(`the link fails, n1 keeps writing, then stops: missing = R + written after u (${SEEDS} seeds)`, async (t) => {
    const out: Outcome[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) out.push(await runSeed(t, seed, true));
    t.diagnostic(summary('link cut', out));
  });

  test(`n2 stays connected until n1 stops: missing <= R + written after u (${SEEDS} seeds)`, async (t) => {
    const out: Outcome[] = [];
    for (let seed = 1; seed <= SEEDS; seed++) out.push(await runSeed(t, seed, false));
    t.diagnostic(summary('connected', out));
  });
});
