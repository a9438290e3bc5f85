import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { copyFile, open, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MirrorSource } from '../src/mirror/source.js';
import { SyncSocketServer } from '../src/mirror/sync-socket.js';
import { ensureNative } from '../src/platform/native.js';
import type { TlsMaterial } from '../src/security/tls.js';
import { testCerts, tlsOf, type TestCerts } from '../test/support/certs.js';
import { summarize, type Summary, type TableRow } from './stats.js';

/**
 * Mirror figures on this machine (loopback TCP, one disk for both sides; the standby runs in its
 * own process, bench/mirror-standby.ts, as it would on its own node). The link is TLS, as in
 * production (certificates of test/support/certs.ts):
 *  - async throughput of the initial sync vs a plain local copy (copyFile + fsync) of the same data;
 *  - the same initial sync over the TLS link and over an unencrypted link (a benchmark-only
 *    option), twice each in alternation, and the ratio of the best runs;
 *  - sync-mode fsync latency over the TLS link and over the unencrypted one;
 *  - sync-mode fsync latency through the shim vs a local fsync (4 KiB appends);
 *  - async lag at a sustained 50 MB/s (write -> standby file holds it, polled every 2 ms);
 *  - resync of a data set with 1 % of its blocks changed while the standby was away.
 * Ports 33900-33909 (33904-33905: the unencrypted runs). HALO_BENCH_MIRROR_MB sets the data size (default 256; the 1 GB
 * resync fits this machine's disk, but takes minutes of a shared 2-core box).
 */

const PORT = 33_900;
const WRITER = fileURLToPath(new URL('./mirror-writer.js', import.meta.url));
const STANDBY = fileURLToPath(new URL('./mirror-standby.js', import.meta.url));

export interface MirrorBenchResult {
  readonly dataMb: number;
  readonly throughput: { readonly localMbPerS: number; readonly mirrorMbPerS: number; readonly ratio: number };
  /** Initial sync over TLS vs the unencrypted link: every run (MB/s) and best TLS / best plain. */
  readonly tls: { readonly tlsMbPerS: readonly number[]; readonly plainMbPerS: readonly number[]; readonly ratio: number; readonly plainSyncMs: Summary };
  readonly fsync: { readonly localMs: Summary; readonly syncMs: Summary; readonly ratioP50: number; readonly ratioP99: number; readonly rttMs: Summary };
  readonly lag: { readonly targetMbPerS: number; readonly achievedMbPerS: number; readonly lagMs: Summary };
  readonly resync: { readonly dataMb: number; readonly changedPercent: number; readonly ms: number; readonly bytesSent: number };
}

const until = async (cond: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`mirror bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

function makeData(dir: string, mb: number): void {
  mkdirSync(dir, { recursive: true });
  const chunk = randomBytes(4 * 1024 * 1024);
  for (let i = 0; i < mb / 4; i++) {
    chunk.writeUInt32BE(i, 0);
    writeFileSync(join(dir, `f${String(i).padStart(4, '0')}.bin`), chunk);
  }
}

async function localCopy(src: string, dst: string): Promise<number> {
  mkdirSync(dst, { recursive: true });
  const t0 = performance.now();
  for (const f of await readdir(src)) {
    await copyFile(join(src, f), join(dst, f));
    const fh = await open(join(dst, f), 'r');
    await fh.sync();
    await fh.close();
  }
  return performance.now() - t0;
}

interface Standby {
  readonly dir: string;
  start(): Promise<void>;
  /** Stops the standby; resolves with the payload bytes it received. */
  stop(): Promise<number>;
}

/** Standby processes not stopped yet (killed when the bench ends early). */
const running = new Set<ChildProcess>();

/** A standby in its own process (bench/mirror-standby.ts) for `<root>/<name>-data`. */
function standbyProcess(root: string, name: string, port: number, certs: TestCerts, link: 'tls' | 'plain' = 'tls'): Standby {
  const dir = join(root, `${name}-data`);
  let proc: ChildProcess | null = null;
  let out = '';
  return {
    dir,
    async start() {
      const p = spawn(process.execPath, [STANDBY, dir, join(root, `${name}-meta`), String(port), link, certs.ca, certs.certs[name]?.cert ?? '', certs.certs[name]?.key ?? ''], { stdio: ['ignore', 'pipe', 'inherit'] });
      proc = p;
      running.add(p);
      p.once('close', () => running.delete(p));
      p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      await until(() => out.includes('ready\n') || p.exitCode !== null, 30_000, `standby ${name} listening`);
      if (!out.includes('ready\n')) throw new Error(`mirror bench standby ${name} exited with ${p.exitCode}`);
    },
    async stop() {
      const p = proc;
      if (!p) return 0;
      proc = null;
      const closed = new Promise<void>((r) => p.once('close', () => r()));
      p.kill('SIGTERM');
      await closed;
      return Number(/bytes (\d+)/.exec(out)?.[1] ?? '0');
    },
  };
}

async function runWriter(args: readonly string[], env: Record<string, string>): Promise<number[]> {
  const p = spawn(process.execPath, [WRITER, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise<number | null>((r) => p.once('close', r));
  if (code !== 0) throw new Error(`mirror bench writer exited with ${code}`);
  const parsed: unknown = JSON.parse(out);
  if (!Array.isArray(parsed)) throw new Error('mirror bench writer: expected an array');
  return parsed.map(Number);
}

export async function benchMirror(log: (s: string) => void): Promise<{ result: MirrorBenchResult; rows: TableRow[] }> {
  const mb = Number(process.env['HALO_BENCH_MIRROR_MB'] ?? '256');
  const root = mkdtempSync(join(tmpdir(), 'halo-bench-mirror-'));
  const certs = await testCerts(['n1', 'a', 'b', 'c', 'p']);
  const tls: TlsMaterial = tlsOf(certs, 'n1');
  try {
    // 1. Throughput: initial sync of `mb` MB vs local copy.
    const src = join(root, 'src');
    makeData(src, mb);
    const localMs = await localCopy(src, join(root, 'copy'));
    rmSync(join(root, 'copy'), { recursive: true, force: true });
    const a = standbyProcess(root, 'a', PORT, certs);
    await a.start();
    const s1 = new MirrorSource({ dir: src, group: 'b', node: 'n1', epoch: 1, mode: 'async', standbys: [{ name: 'a', host: '127.0.0.1', port: PORT }], tls });
    const t0 = performance.now();
    s1.start();
    await until(() => s1.status()[0]?.inSync === true, 600_000, 'initial sync');
    const mirrorMs = performance.now() - t0;
    const throughput = { localMbPerS: round(mb / (localMs / 1000)), mirrorMbPerS: round(mb / (mirrorMs / 1000)), ratio: round(localMs / mirrorMs) };
    log(`  throughput: local copy ${throughput.localMbPerS} MB/s, mirror ${throughput.mirrorMbPerS} MB/s (ratio ${throughput.ratio})`);

    // 4. Resync: stop the standby, change 1 % of the blocks, restart, time until in sync again.
    await a.stop();
    await until(() => s1.status()[0]?.state === 'broken', 10_000, 'link down');
    const files = (await readdir(src)).sort();
    const blocks = (mb * 1024 * 1024) / 65_536;
    const changes = Math.round(blocks / 100);
    for (let i = 0; i < changes; i++) {
      const f = files[(i * 7919) % files.length] ?? '';
      const fd = openSync(join(src, f), 'r+');
      writeSync(fd, randomBytes(512), 0, 512, ((i * 104_729) % 64) * 65_536);
      closeSync(fd);
    }
    const a2 = standbyProcess(root, 'a', PORT, certs);
    await a2.start();
    const r0 = performance.now();
    await until(() => s1.status()[0]?.inSync === true, 600_000, 'resync');
    const resyncMs = performance.now() - r0;
    await s1.stop();
    const resync = { dataMb: mb, changedPercent: round((changes / blocks) * 100), ms: Math.round(resyncMs), bytesSent: await a2.stop() };
    log(`  resync ${mb} MB with ${resync.changedPercent} % of blocks changed: ${resync.ms} ms, ${resync.bytesSent} bytes sent`);
    rmSync(join(root, 'a-data'), { recursive: true, force: true });
    rmSync(join(root, 'a-meta'), { recursive: true, force: true });

    // 1b. What TLS costs: the same initial sync over TLS and over the unencrypted link, alternating.
    const tlsRuns: number[] = [];
    const plainRuns: number[] = [];
    for (const link of ['tls', 'plain', 'tls', 'plain'] as const) {
      const sb = standbyProcess(root, 'p', PORT + 4, certs, link);
      await sb.start();
      const s = new MirrorSource({ dir: src, group: 'b', node: 'n1', epoch: 1, mode: 'async', standbys: [{ name: 'p', host: '127.0.0.1', port: PORT + 4 }], tls, unencryptedForBenchmark: link === 'plain' });
      const t = performance.now();
      s.start();
      await until(() => s.status()[0]?.inSync === true, 600_000, `initial sync (${link})`);
      const mbPerS = round(mb / ((performance.now() - t) / 1000));
      await s.stop();
      await sb.stop();
      (link === 'tls' ? tlsRuns : plainRuns).push(mbPerS);
      rmSync(join(root, 'p-data'), { recursive: true, force: true });
      rmSync(join(root, 'p-meta'), { recursive: true, force: true });
    }
    const tlsRatio = round(Math.max(...tlsRuns) / Math.max(...plainRuns));
    log(`  initial sync over TLS ${tlsRuns.join(', ')} MB/s, unencrypted ${plainRuns.join(', ')} MB/s: TLS / plain = ${tlsRatio}`);
    rmSync(src, { recursive: true, force: true });

    // 2. Sync fsync latency through the shim vs local fsync.
    const shim = await ensureNative('halo-fsync.so', join(root, 'shim'));
    const localDir = join(root, 'local');
    mkdirSync(localDir, { recursive: true });
    const localLat = await runWriter([join(localDir, 'log'), '1000', '4096'], {});
    const sdir = join(root, 'sync-src');
    mkdirSync(sdir, { recursive: true });
    const b = standbyProcess(root, 'b', PORT + 1, certs);
    await b.start();
    const s2 = new MirrorSource({ dir: sdir, group: 'b', node: 'n1', epoch: 1, mode: 'sync', standbys: [{ name: 'b', host: '127.0.0.1', port: PORT + 1 }], tls, scanIntervalMs: 1000 });
    const sock = new SyncSocketServer(join(root, 'fsync.sock'), async (p) => await s2.syncPath(p));
    await sock.start();
    s2.start();
    await until(() => s2.status()[0]?.inSync === true, 10_000, 'sync standby in sync');
    const syncLat = await runWriter([join(sdir, 'log'), '1000', '4096'], { LD_PRELOAD: shim, HALO_MIRROR_DIR: sdir, HALO_MIRROR_SOCKET: join(root, 'fsync.sock') });
    const rtt = await measureRtt(PORT + 2);
    await sock.stop();
    await s2.stop();
    await b.stop();
    // The same over the unencrypted link.
    const pdir = join(root, 'plain-sync-src');
    mkdirSync(pdir, { recursive: true });
    const bp = standbyProcess(root, 'p', PORT + 5, certs, 'plain');
    await bp.start();
    const s2p = new MirrorSource({ dir: pdir, group: 'b', node: 'n1', epoch: 1, mode: 'sync', standbys: [{ name: 'p', host: '127.0.0.1', port: PORT + 5 }], tls, unencryptedForBenchmark: true, scanIntervalMs: 1000 });
    const sockp = new SyncSocketServer(join(root, 'fsync-plain.sock'), async (p) => await s2p.syncPath(p));
    await sockp.start();
    s2p.start();
    await until(() => s2p.status()[0]?.inSync === true, 10_000, 'unencrypted sync standby in sync');
    const plainLat = await runWriter([join(pdir, 'log'), '1000', '4096'], { LD_PRELOAD: shim, HALO_MIRROR_DIR: pdir, HALO_MIRROR_SOCKET: join(root, 'fsync-plain.sock') });
    await sockp.stop();
    await s2p.stop();
    await bp.stop();
    const plainSyncMs = summarize(plainLat);
    const fl = summarize(localLat);
    const fs = summarize(syncLat);
    const fsync = { localMs: fl, syncMs: fs, ratioP50: round((fs.p50 ?? 0) / (fl.p50 ?? 1)), ratioP99: round((fs.p99 ?? 0) / (fl.p99 ?? 1)), rttMs: summarize(rtt) };
    log(`  fsync 4 KiB: local p50 ${fl.p50} p99 ${fl.p99} ms; sync p50 ${fs.p50} p99 ${fs.p99} ms (unencrypted link: p50 ${plainSyncMs.p50} p99 ${plainSyncMs.p99} ms); loopback RTT p50 ${fsync.rttMs.p50} ms`);

    // 3. Async lag at 50 MB/s for 10 s.
    const ldir = join(root, 'lag-src');
    mkdirSync(ldir, { recursive: true });
    const c = standbyProcess(root, 'c', PORT + 3, certs);
    await c.start();
    const s3 = new MirrorSource({ dir: ldir, group: 'b', node: 'n1', epoch: 1, mode: 'async', standbys: [{ name: 'c', host: '127.0.0.1', port: PORT + 3 }], tls, scanIntervalMs: 20 });
    s3.start();
    await until(() => s3.status()[0]?.inSync === true, 10_000, 'lag standby in sync');
    const lag = await measureLag(ldir, c.dir, 50, 10_000);
    await s3.stop();
    await c.stop();
    log(`  async lag at ${lag.achievedMbPerS} MB/s: p50 ${lag.lagMs.p50} p99 ${lag.lagMs.p99} ms`);

    const result: MirrorBenchResult = { dataMb: mb, throughput, tls: { tlsMbPerS: tlsRuns, plainMbPerS: plainRuns, ratio: tlsRatio, plainSyncMs }, fsync, lag, resync };
    const rows: TableRow[] = [
      { label: `mirror: local copy of ${mb} MB`, unit: 'MB/s', summary: null, value: throughput.localMbPerS },
      { label: '   async initial sync, same data', unit: 'MB/s', summary: null, value: throughput.mirrorMbPerS, target: `>= ${round(throughput.localMbPerS * 0.8)} (80 %)` },
      { label: '   initial sync, TLS / unencrypted link (best of 2 each)', unit: 'ratio', summary: null, value: tlsRatio, target: '>= 0.9' },
      { label: '   local fsync, 4 KiB append', unit: 'ms', summary: fl },
      { label: '   sync-mode fsync (shim), 4 KiB append', unit: 'ms', summary: fs, target: `<= 1.5x local + RTT` },
      { label: '   same, unencrypted link', unit: 'ms', summary: plainSyncMs },
      { label: `   async lag at ${lag.achievedMbPerS} MB/s`, unit: 'ms', summary: lag.lagMs, target: 'p99 <= 100' },
      { label: `   resync ${mb} MB, ${resync.changedPercent} % changed`, unit: 'ms', summary: null, value: resync.ms },
    ];
    return { result, rows };
  } finally {
    for (const p of running) p.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  }
}

/** Loopback TCP round trip (1-byte echo), 200 samples. */
async function measureRtt(port: number): Promise<number[]> {
  const net = await import('node:net');
  const srv = net.createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', () => r()));
  const sock = net.connect(port, '127.0.0.1');
  sock.setNoDelay(true);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const out: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await new Promise<void>((r) => {
      sock.once('data', () => r());
      sock.write('x');
    });
    out.push(performance.now() - t);
  }
  sock.destroy();
  await new Promise<void>((r) => srv.close(() => r()));
  return out;
}

/**
 * Appends 256 KiB chunks to a file at `mbPerS` for `ms`, and polls the standby's copy every 2 ms:
 * the lag of a chunk is the time from its write until the standby file is at least that long.
 */
async function measureLag(srcDir: string, dstDir: string, mbPerS: number, ms: number): Promise<{ targetMbPerS: number; achievedMbPerS: number; lagMs: Summary }> {
  const chunk = randomBytes(256 * 1024);
  const fd = openSync(join(srcDir, 'stream.bin'), 'w');
  const writes: { at: number; end: number }[] = [];
  let written = 0;
  const lags: number[] = [];
  let next = 0;
  const poll = setInterval(() => {
    let size = 0;
    try {
      size = statSync(join(dstDir, 'stream.bin')).size;
    } catch {
      return;
    }
    const now = performance.now();
    while (next < writes.length && (writes[next]?.end ?? Infinity) <= size) {
      lags.push(now - (writes[next]?.at ?? now));
      next++;
    }
  }, 2);
  const t0 = performance.now();
  const perMs = (mbPerS * 1024 * 1024) / 1000;
  while (performance.now() - t0 < ms) {
    const due = (performance.now() - t0) * perMs;
    while (written + chunk.length <= due) {
      writeSync(fd, chunk);
      written += chunk.length;
      writes.push({ at: performance.now(), end: written });
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  fsyncSync(fd);
  closeSync(fd);
  const elapsed = performance.now() - t0;
  await until(() => next >= writes.length, 30_000, 'lag stream caught up');
  clearInterval(poll);
  return { targetMbPerS: mbPerS, achievedMbPerS: round(written / 1024 / 1024 / (elapsed / 1000)), lagMs: summarize(lags) };
}

const round = (x: number): number => Math.round(x * 100) / 100;
