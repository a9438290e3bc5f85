import { relative, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterError, isClusterError } from '../domain/errors.js';
import type { TlsMaterial } from '../security/tls.js';
import { MirrorClient } from './client.js';
import { BLOCK_SIZE, type Entry, type Op, type Response } from './protocol.js';
import { fileSums, scanTree, statEntry, type ScanEntry } from './scan.js';

/**
 * The active side of a mirror: ships the directory's changes to every standby.
 *
 * Change detection is a periodic scan (lstat of every entry; a file whose inode, size, mtime and
 * ctime are unchanged and were not "racy" is skipped; a changed file is read and compared block
 * by block against the checksums of what the standby holds, and only differing blocks are sent).
 * `syncPath()` ships one file (or, for a directory, the whole tree) at once and resolves only when
 * every in-sync standby acknowledged it durably: the building block of sync mode.
 *
 * Per standby, all work (resync, scans, syncs) runs on one FIFO chain, so acknowledgements come
 * in the order changes were detected, and `inSync` can be reasoned about by position in the chain.
 */

export interface StandbyTarget {
  /** The standby's node name: its certificate must carry it (CN). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

export type SourceEvent =
  | { readonly kind: 'link-up'; readonly standby: string; readonly dataEpoch: number }
  | { readonly kind: 'link-down'; readonly standby: string; readonly code: string; readonly message: string }
  | { readonly kind: 'resynced'; readonly standby: string; readonly bytes: number; readonly ms: number }
  | { readonly kind: 'in-sync'; readonly standby: string; readonly inSync: boolean };

export interface MirrorSourceOptions {
  readonly dir: string;
  readonly group: string;
  readonly node: string;
  readonly epoch: number;
  readonly mode: 'sync' | 'async';
  readonly standbys: readonly StandbyTarget[];
  /**
   * This node's TLS identity: the link to each standby is mutually authenticated TLS (link.ts),
   * and a standby must present the certificate of its node name (StandbyTarget.name).
   */
  readonly tls: TlsMaterial;
  /** Benchmarks only (bench/mirror.ts): plain TCP links, see link.ts. Never set by the agent. */
  readonly unencryptedForBenchmark?: boolean;
  /** Time between change scans (default 50). */
  readonly scanIntervalMs?: number;
  /** How long `syncPath` waits for an in-sync standby before it drops it from the in-sync set (default 5000). */
  readonly syncTimeoutMs?: number;
  /** Payload bytes per batch (default 4 MiB). */
  readonly maxBatchBytes?: number;
  /** Batches in flight per standby (default 4). */
  readonly window?: number;
  /** Top-level names not mirrored (e.g. a socket the application creates in the directory). */
  readonly skip?: ReadonlySet<string>;
  /**
   * Called before a standby leaves the in-sync set; `syncPath` calls that complete after this
   * point without that standby return only once the promise resolved (publish it first).
   */
  readonly beforeOutOfSync?: (standby: string) => Promise<void>;
  readonly onEvent?: (e: SourceEvent) => void;
}

export interface ResyncProgress {
  readonly totalBytes: number;
  readonly doneBytes: number;
  readonly startedAt: number;
  readonly etaMs: number | null;
}

export interface LinkStatus {
  readonly standby: string;
  readonly state: 'synced' | 'syncing' | 'broken';
  readonly connected: boolean;
  /** Holds every change acknowledged to the application (sync mode's promotion rule). */
  readonly inSync: boolean;
  readonly lagMs: number;
  /**
   * Bytes of the directory this standby is not known to hold, as of the last scan (see
   * `pendingOf`): per file, the bytes beyond the size the standby acknowledged (all of a file it
   * does not hold), plus the 64 KiB blocks changed in place that were queued and not acknowledged.
   * The same rule for a connected and a broken link (a broken link keeps what was acknowledged).
   */
  readonly pendingBytes: number;
  /**
   * Every byte counted in pendingBytes was written after this time (wall-clock ms): the time the
   * active read the content the standby acknowledged last. null: no pending bytes, or unknown (a
   * file the standby does not hold at all, or held from an earlier session).
   */
  readonly missingSinceAt: number | null;
  readonly lastAckAt: number | null;
  readonly brokeAt: number | null;
  readonly lastError: string | null;
  readonly resync: ResyncProgress | null;
  readonly ackedBytes: number;
}

interface Known {
  readonly type: Entry['type'];
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
  readonly target: string | undefined;
  /** null: stat fields not known (entry from a standby's manifest). */
  readonly ino: bigint | null;
  readonly mtimeNs: bigint | null;
  readonly ctimeNs: bigint | null;
  /** Block checksums of what the standby holds; null: ask the standby when needed. */
  readonly sums: string[] | null;
  /** Wall clock (ns) when the content was read; a file modified within RACY_NS of it is re-read. */
  readonly readAtNs: bigint;
}

/** Timestamps are coarse (a few ms on Linux): a change in the same tick as our read keeps the same mtime. */
const RACY_NS = 50_000_000n;
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n;

interface Inflight {
  readonly promise: Promise<Response>;
  readonly bytes: number;
  readonly detectedAt: number;
  readonly inPlace: InPlace;
  ackedAt: number | null;
}

/** What the standby holds of one file once a batch is acknowledged: size, and when we read that content. */
interface Held {
  readonly size: number;
  /** Wall-clock ms when the active read the content; null: unknown (from the standby's manifest). */
  readonly readAt: number | null;
}

/** Effect of an acknowledged batch on the standby's files, in op order. */
type HeldEffect =
  | { readonly kind: 'set'; readonly path: string; readonly held: Held }
  | { readonly kind: 'del'; readonly path: string }
  | { readonly kind: 'move'; readonly from: string; readonly to: string };

/** Bytes of blocks changed in place (within the standby's size), and the oldest read time of what they replace. */
interface InPlace {
  bytes: number;
  sinceAt: number | null;
  unknownSince: boolean;
}

const noInPlace = (): InPlace => ({ bytes: 0, sinceAt: null, unknownSince: false });

class Batch {
  ops: Op[] = [];
  payload: Buffer[] = [];
  bytes = 0;
  detectedAt = 0;
  effects: HeldEffect[] = [];
  inPlace = noInPlace();
  get empty(): boolean {
    return this.ops.length === 0;
  }
}

class Link {
  client: MirrorClient | null = null;
  known = new Map<string, Known>();
  chain: Promise<void> = Promise.resolve();
  connected = false;
  live = false;
  inSync = false;
  /** A job that sets inSync is queued: work queued after it must be waited for. */
  markPending = false;
  brokeAt: number | null = null;
  lastError: string | null = null;
  lastAckAt: number | null = null;
  resync: { totalBytes: number; doneBytes: number; startedAt: number } | null = null;
  inflight: Inflight[] = [];
  batch = new Batch();
  ackedBytes = 0;
  dataEpoch = 0;
  lagSamples: number[] = [];
  /** Files the standby holds durably: from its manifest, then from every acknowledged batch. Kept when the link breaks. */
  held = new Map<string, Held>();
  /** In-place changes that were queued or in flight when the link broke (never acknowledged). */
  lostInPlace = noInPlace();
  constructor(readonly target: StandbyTarget) {}
}

export class MirrorSource {
  private readonly links: Link[];
  private readonly ac = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private outOfSync: Promise<void> = Promise.resolve();
  private readonly scanIntervalMs: number;
  private readonly syncTimeoutMs: number;
  private readonly maxBatchBytes: number;
  private readonly window: number;
  private scannedBytes = 0;
  /** Sizes of the files at the last scan (any link's, or the estimate scan while a link is broken). */
  private localSizes = new Map<string, number>();
  private localAt = 0;

  constructor(readonly opts: MirrorSourceOptions) {
    this.links = opts.standbys.map((t) => new Link(t));
    this.scanIntervalMs = opts.scanIntervalMs ?? 50;
    this.syncTimeoutMs = opts.syncTimeoutMs ?? 5000;
    this.maxBatchBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
    this.window = opts.window ?? 4;
  }

  start(): void {
    for (const l of this.links) this.loops.push(this.runLink(l));
    this.loops.push(this.runEstimate());
  }

  /**
   * Ships what the tree holds now to every live standby and waits for the acknowledgements, for at
   * most `timeoutMs`: an orderly stop (a planned switchover, a group that failed here; the
   * application was stopped first) then leaves nothing it wrote behind, in async mode too. A link
   * that is down or still resyncing is not waited for; a failure leaves what was shipped. `signal`
   * ends the wait early.
   */
  async finish(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const live = this.links.filter((l) => l.connected && l.live);
    if (live.length === 0) return;
    const shipped = Promise.allSettled(
      live.map((l) =>
        this.enqueue(l, async () => {
          await this.scanOnce(l);
          await this.flush(l);
          await this.drain(l);
        }),
      ),
    );
    const timer = new AbortController();
    const wait = signal ? AbortSignal.any([timer.signal, signal]) : timer.signal;
    await Promise.race([shipped, sleep(timeoutMs, undefined, { signal: wait }).catch(() => undefined)]);
    timer.abort();
  }

  async stop(): Promise<void> {
    this.ac.abort(new ClusterError('HA_OPERATION_TIMEOUT', 'mirror source stopped'));
    for (const l of this.links) l.client?.close();
    await Promise.allSettled(this.loops);
  }

  status(now = Date.now()): LinkStatus[] {
    return this.links.map((l) => {
      const unacked = l.inflight.filter((f) => f.ackedAt === null);
      const pending = unacked.reduce((a, f) => a + f.bytes, 0) + l.batch.bytes;
      const oldest = Math.min(...unacked.map((f) => f.detectedAt), l.batch.empty ? Infinity : l.batch.detectedAt);
      const resync = l.resync
        ? {
            ...l.resync,
            etaMs: l.resync.doneBytes > 0 ? Math.round(((now - l.resync.startedAt) / l.resync.doneBytes) * Math.max(0, l.resync.totalBytes - l.resync.doneBytes)) : null,
          }
        : null;
      return {
        standby: l.target.name,
        state: !l.connected ? 'broken' : l.live && pending === 0 && oldest === Infinity ? 'synced' : 'syncing',
        connected: l.connected,
        inSync: l.inSync,
        lagMs: oldest === Infinity ? 0 : Math.max(0, now - oldest),
        ...this.pendingOf(l),
        lastAckAt: l.lastAckAt,
        brokeAt: l.brokeAt,
        lastError: l.lastError,
        resync,
        ackedBytes: l.ackedBytes,
      };
    });
  }

  /**
   * What `l`'s standby does not hold, from the last scan's file sizes and what it acknowledged.
   * Granularity: per file, the bytes beyond the acknowledged size (exact for an append-only file),
   * plus whole 64 KiB blocks changed in place while queued or in flight (a block that also grew
   * counts only its growth). In-place changes made while the link is broken are not seen (no scan
   * compares contents then); removals and metadata are not bytes and are not counted.
   */
  private pendingOf(l: Link): { pendingBytes: number; missingSinceAt: number | null } {
    const inPlace = [l.lostInPlace, l.batch.inPlace, ...l.inflight.filter((f) => f.ackedAt === null).map((f) => f.inPlace)];
    let bytes = 0;
    let since = Infinity;
    let unknown = false;
    for (const ip of inPlace) {
      if (ip.bytes === 0) continue;
      bytes += ip.bytes;
      if (ip.unknownSince || ip.sinceAt === null) unknown = true;
      else since = Math.min(since, ip.sinceAt);
    }
    for (const [p, size] of this.localSizes) {
      const h = l.held.get(p);
      const missing = size - (h?.size ?? 0);
      if (missing <= 0) continue;
      bytes += missing;
      if (h?.readAt == null) unknown = true;
      else since = Math.min(since, h.readAt);
    }
    return { pendingBytes: bytes, missingSinceAt: bytes === 0 || unknown || since === Infinity ? null : since };
  }

  /**
   * Keeps the sizes behind pendingBytes fresh when no link scan does: a broken link does not scan,
   * and a connected one whose standby stopped answering waits for room in its window. Scans the
   * sizes when the last scan is older than scanIntervalMs (a link is broken) or twice that (all
   * connected: their own scans normally keep it fresh, so this rarely adds a scan).
   */
  private async runEstimate(): Promise<void> {
    const signal = this.ac.signal;
    while (!signal.aborted) {
      try {
        const maxAgeMs = this.links.some((l) => !l.connected) ? this.scanIntervalMs : 2 * this.scanIntervalMs;
        if (Date.now() - this.localAt >= maxAgeMs) {
          const at = Date.now();
          this.noteLocal(await scanTree(this.opts.dir, this.opts.skip), at);
        }
      } catch {
        // A failed scan leaves the previous sizes; the next one retries.
      }
      await sleep(this.scanIntervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  private noteLocal(local: ReadonlyMap<string, ScanEntry>, at: number): void {
    if (at < this.localAt) return;
    const sizes = new Map<string, number>();
    let total = 0;
    for (const e of local.values()) {
      total += e.size;
      if (e.type === 'file') sizes.set(e.path, e.size);
    }
    this.scannedBytes = total;
    this.localSizes = sizes;
    this.localAt = at;
  }

  /** Bytes of the files in the directory at the last scan. */
  get totalBytes(): number {
    return this.scannedBytes;
  }

  /** Replication delays (detection to acknowledgement, ms) measured since the last call. */
  takeLagSamples(): number[] {
    const out: number[] = [];
    for (const l of this.links) out.push(...l.lagSamples.splice(0));
    return out;
  }

  /**
   * Ship `absPath` (a file: its changed blocks; a directory: every change in the tree) to every
   * in-sync standby and resolve once each acknowledged it durably. A standby that does not answer
   * within syncTimeoutMs leaves the in-sync set (after `beforeOutOfSync`). Resolves `inSync`: the
   * standbys that hold the data.
   */
  async syncPath(absPath: string): Promise<string[]> {
    const rel = relative(this.opts.dir, absPath).split(sep).join('/');
    if (rel.startsWith('..') || rel.startsWith('/')) return [];
    const waitFor = this.links.filter((l) => l.connected && (l.inSync || l.markPending));
    // Queue on every connected link (a link catching up must see it before it may count as in sync).
    const jobs = this.links
      .filter((l) => l.connected)
      .map((l) => ({
        link: l,
        done: this.enqueue(l, async () => {
          if (rel === '') await this.scanOnce(l);
          else {
            const e = await statEntry(this.opts.dir, rel);
            if (e?.type === 'file') await this.shipFile(l, e);
            else await this.scanOnce(l);
          }
          await this.flush(l);
          await this.drain(l);
        }),
      }));
    const held: string[] = [];
    await Promise.all(
      jobs
        .filter((j) => waitFor.includes(j.link))
        .map(async (j) => {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<'timeout'>((resolve) => {
            timer = setTimeout(() => resolve('timeout'), this.syncTimeoutMs);
          });
          const r = await Promise.race([j.done.then(() => 'ok' as const, () => 'failed' as const), timeout]);
          clearTimeout(timer);
          if (r === 'ok') held.push(j.link.target.name);
          else this.markOutOfSync(j.link, r === 'timeout' ? `no acknowledgement within ${this.syncTimeoutMs} ms` : 'link failed');
        }),
    );
    await this.outOfSync;
    return held;
  }

  private markOutOfSync(l: Link, why: string): void {
    if (!l.inSync && !l.markPending) return;
    l.inSync = false;
    l.markPending = false;
    l.lastError = why;
    const hook = this.opts.beforeOutOfSync;
    const prev = this.outOfSync;
    this.outOfSync = prev.then(async () => {
      if (hook) await hook(l.target.name);
      this.opts.onEvent?.({ kind: 'in-sync', standby: l.target.name, inSync: false });
    });
    // A link that missed a sync must resync before it can be in sync again.
    l.client?.close(new ClusterError('HA_MIRROR_UNAVAILABLE', why));
  }

  private enqueue(l: Link, job: () => Promise<void>): Promise<void> {
    const p = l.chain.then(job);
    l.chain = p.catch(() => undefined);
    return p;
  }

  private async runLink(l: Link): Promise<void> {
    const signal = this.ac.signal;
    let backoff = 100;
    while (!signal.aborted) {
      try {
        const c = await MirrorClient.open(l.target.host, l.target.port, this.opts.epoch, {
          signal,
          timeoutMs: 2000,
          tls: this.opts.tls,
          peer: l.target.name,
          ...(this.opts.unencryptedForBenchmark === true ? { unencryptedForBenchmark: true } : {}),
        });
        l.client = c;
        const w = await c.request({ kind: 'hello', group: this.opts.group, source: this.opts.node });
        if (w.kind !== 'welcome') throw new ClusterError('HA_MIRROR_PROTOCOL', `expected welcome, got ${w.kind}`);
        l.connected = true;
        l.live = false;
        l.brokeAt = null;
        l.lastError = null;
        l.dataEpoch = w.dataEpoch;
        l.known = this.knownFromManifest(w.manifest, w.dataEpoch === this.opts.epoch);
        l.held = new Map(w.manifest.filter((e) => e.type === 'file').map((e) => [e.path, { size: e.size, readAt: null }]));
        l.lostInPlace = noInPlace();
        this.opts.onEvent?.({ kind: 'link-up', standby: l.target.name, dataEpoch: w.dataEpoch });
        backoff = 100;
        await this.enqueue(l, async () => {
          const started = Date.now();
          await this.scanOnce(l, true);
          await this.flush(l);
          await this.drain(l);
          await c.request({ kind: 'resynced' });
          this.opts.onEvent?.({ kind: 'resynced', standby: l.target.name, bytes: l.resync?.doneBytes ?? 0, ms: Date.now() - started });
          l.resync = null;
          l.live = true;
        });
        l.markPending = true;
        void this.enqueue(l, async () => {
          if (!l.markPending) return;
          l.markPending = false;
          l.inSync = true;
          this.opts.onEvent?.({ kind: 'in-sync', standby: l.target.name, inSync: true });
        });
        while (!signal.aborted && !c.closed) {
          await this.enqueue(l, async () => {
            await this.scanOnce(l);
            await this.flush(l);
            this.settleAcks(l);
          });
          await sleep(this.scanIntervalMs, undefined, { signal });
        }
        if (c.closed) throw new ClusterError('HA_MIRROR_UNAVAILABLE', 'mirror connection closed');
      } catch (e) {
        if (signal.aborted) break;
        const code = isClusterError(e) ? e.code : 'HA_INTERNAL';
        const message = e instanceof Error ? e.message : String(e);
        this.linkDown(l, code, message);
        await sleep(backoff, undefined, { signal }).catch(() => undefined);
        backoff = Math.min(2000, backoff * 2);
      }
    }
    this.linkDown(l, 'HA_OPERATION_TIMEOUT', 'stopped');
  }

  private linkDown(l: Link, code: string, message: string): void {
    const was = l.connected;
    // A link that cannot come up reports each new reason once (not every retry).
    const news = was || l.lastError !== message;
    this.markOutOfSync(l, message);
    l.client?.close();
    l.client = null;
    l.connected = false;
    l.live = false;
    // Never acknowledged: still missing on the standby (their growth is counted from the sizes).
    for (const ip of [l.batch.inPlace, ...l.inflight.filter((f) => f.ackedAt === null).map((f) => f.inPlace)]) mergeInPlace(l.lostInPlace, ip);
    l.inflight = [];
    l.batch = new Batch();
    if (was || l.brokeAt === null) l.brokeAt = Date.now();
    l.lastError = message;
    if (news) this.opts.onEvent?.({ kind: 'link-down', standby: l.target.name, code, message });
  }

  private knownFromManifest(manifest: readonly Entry[], trustMeta: boolean): Map<string, Known> {
    const m = new Map<string, Known>();
    for (const e of manifest) {
      m.set(e.path, {
        type: e.type,
        size: e.size,
        mode: e.mode,
        // Metadata of a replica from another epoch is not trusted: NaN never compares equal.
        mtimeMs: trustMeta ? e.mtimeMs : Number.NaN,
        target: e.target,
        ino: null,
        mtimeNs: null,
        ctimeNs: null,
        sums: null,
        readAtNs: 0n,
      });
    }
    return m;
  }

  /** Compare the tree with what the standby holds and queue every difference. */
  private async scanOnce(l: Link, resync = false): Promise<void> {
    const scanAt = Date.now();
    const local = await scanTree(this.opts.dir, this.opts.skip);
    this.noteLocal(local, scanAt);
    if (resync) {
      let toCompare = 0;
      for (const e of local.values()) if (e.type === 'file' && this.fileChanged(l.known.get(e.path), e)) toCompare += e.size;
      l.resync = { totalBytes: toCompare, doneBytes: 0, startedAt: Date.now() };
    }
    // Renames: a new path with the inode, size and mtime of a vanished one.
    const gone = new Map<bigint, string>();
    for (const [p, k] of l.known) if (k.type === 'file' && k.ino !== null && !local.has(p)) gone.set(k.ino, p);
    for (const e of local.values()) {
      const k = l.known.get(e.path);
      if (e.type === 'file' && k === undefined && gone.size > 0) {
        const from = gone.get(e.ino);
        const fk = from === undefined ? undefined : l.known.get(from);
        if (from !== undefined && fk && fk.size === e.size && fk.mtimeNs === e.mtimeNs) {
          gone.delete(e.ino);
          await this.flush(l);
          this.add(l, { op: 'rename', from, to: e.path }, []);
          await this.flush(l);
          l.known.delete(from);
          l.known.set(e.path, fk);
        }
      }
      const k2 = l.known.get(e.path);
      switch (e.type) {
        case 'dir':
          if (k2?.type !== 'dir') {
            if (k2) this.add(l, { op: 'unlink', path: e.path }, []);
            this.add(l, { op: 'mkdir', path: e.path, mode: e.mode }, []);
            l.known.set(e.path, this.knownOf(e, null));
          }
          break;
        case 'symlink':
          if (k2?.type !== 'symlink' || k2.target !== e.target) {
            if (k2?.type === 'dir') this.removeKnownTree(l, e.path);
            this.add(l, { op: 'symlink', path: e.path, target: e.target ?? '' }, []);
            l.known.set(e.path, this.knownOf(e, null));
          }
          break;
        case 'file':
          if (this.fileChanged(k2, e)) await this.shipFile(l, e);
          break;
      }
    }
    // Removals: the topmost vanished directory covers its children.
    const removed = [...l.known.keys()].filter((p) => !local.has(p)).sort();
    for (const p of removed) {
      const k = l.known.get(p);
      if (!k) continue; // already covered by a removed parent
      if (k.type === 'dir') {
        this.add(l, { op: 'rmdir', path: p }, []);
        this.removeKnownTree(l, p);
      } else {
        this.add(l, { op: 'unlink', path: p }, []);
        l.known.delete(p);
      }
    }
  }

  private removeKnownTree(l: Link, p: string): void {
    for (const q of [...l.known.keys()]) if (q === p || q.startsWith(`${p}/`)) l.known.delete(q);
  }

  private fileChanged(k: Known | undefined, e: ScanEntry): boolean {
    if (k?.type !== 'file') return true;
    if (k.size !== e.size || k.mode !== e.mode) return true;
    if (k.ino === null) return Math.abs(k.mtimeMs - e.mtimeMs) > 0.01 || Number.isNaN(k.mtimeMs);
    if (k.ino !== e.ino || k.mtimeNs !== e.mtimeNs || k.ctimeNs !== e.ctimeNs) return true;
    return e.mtimeNs + RACY_NS >= k.readAtNs;
  }

  private knownOf(e: ScanEntry, sums: string[] | null, readAtNs = 0n): Known {
    return { type: e.type, size: e.size, mode: e.mode, mtimeMs: e.mtimeMs, target: e.target, ino: e.ino, mtimeNs: e.mtimeNs, ctimeNs: e.ctimeNs, sums, readAtNs };
  }

  /** Queue the blocks of `e` that differ from the standby's copy, then its size and metadata. */
  private async shipFile(l: Link, e: ScanEntry): Promise<void> {
    const k = l.known.get(e.path);
    let theirs: string[] = [];
    let theirSize = -1;
    if (k?.type === 'file') {
      if (k.sums) {
        theirs = k.sums;
        theirSize = k.size;
      } else if (l.client) {
        const r = await l.client.request({ kind: 'sums', path: e.path });
        if (r.kind !== 'sums') throw new ClusterError('HA_MIRROR_PROTOCOL', `expected sums, got ${r.kind}`);
        theirs = r.sums;
        theirSize = r.size;
      }
    } else if (k) {
      if (k.type === 'dir') this.removeKnownTree(l, e.path);
      this.add(l, { op: 'unlink', path: e.path }, []);
    }
    if (theirSize < 0) this.add(l, { op: 'create', path: e.path, mode: e.mode }, []);
    const readAtNs = nowNs();
    const before = await statEntry(this.opts.dir, e.path);
    // Not async: a block the standby already holds costs no await.
    const { size, sums } = await fileSums(`${this.opts.dir}/${e.path}`, (i, data, s) => {
      if (l.resync) l.resync.doneBytes += data.length;
      if (theirs[i] === s) return undefined;
      // A block wholly within the standby's size changed in place; one that grew counts as growth.
      if (i * BLOCK_SIZE + data.length <= theirSize) {
        const h = l.held.get(e.path);
        const ip = { bytes: data.length, sinceAt: h?.readAt ?? null, unknownSince: h?.readAt == null };
        mergeInPlace(l.batch.inPlace, ip);
      }
      // fileSums reuses its buffer: the batch keeps a copy.
      return this.addWrite(l, e.path, i * BLOCK_SIZE, Buffer.from(data));
    });
    if (size < 0) {
      // Vanished while we looked: the removal pass of the next scan handles it.
      this.add(l, { op: 'unlink', path: e.path }, []);
      l.known.delete(e.path);
      return;
    }
    if (theirSize !== size) this.add(l, { op: 'truncate', path: e.path, size }, []);
    const st = before ?? e;
    this.add(l, { op: 'meta', path: e.path, mode: st.mode, mtimeMs: st.mtimeMs }, []);
    // Once this batch is acknowledged (and, in order, every earlier one), the standby holds what we read.
    l.batch.effects.push({ kind: 'set', path: e.path, held: { size, readAt: Number(readAtNs / 1_000_000n) } });
    // The stat taken before reading: if the file changed since, its mtime/ctime differ next scan.
    l.known.set(e.path, { ...this.knownOf(st, sums, readAtNs), size });
  }

  private async addWrite(l: Link, path: string, offset: number, data: Buffer): Promise<void> {
    const last = l.batch.ops[l.batch.ops.length - 1];
    if (last && last.op === 'write' && last.path === path && last.offset + last.len === offset && last.len + data.length <= 1024 * 1024) {
      l.batch.ops[l.batch.ops.length - 1] = { ...last, len: last.len + data.length };
      l.batch.payload.push(data);
      l.batch.bytes += data.length;
    } else this.add(l, { op: 'write', path, offset, len: data.length }, [data]);
    if (l.batch.bytes >= this.maxBatchBytes) await this.flush(l);
  }

  private add(l: Link, op: Op, payload: Buffer[]): void {
    if (l.batch.empty) l.batch.detectedAt = Date.now();
    l.batch.ops.push(op);
    if (op.op === 'unlink' || op.op === 'rmdir') l.batch.effects.push({ kind: 'del', path: op.path });
    else if (op.op === 'rename') l.batch.effects.push({ kind: 'move', from: op.from, to: op.to });
    for (const p of payload) {
      l.batch.payload.push(p);
      l.batch.bytes += p.length;
    }
  }

  /** Send the current batch (waits for room in the window). */
  private async flush(l: Link): Promise<void> {
    const b = l.batch;
    if (b.empty) return;
    l.batch = new Batch();
    const c = l.client;
    if (!c) throw new ClusterError('HA_MIRROR_UNAVAILABLE', 'not connected');
    while (l.inflight.length >= this.window) await this.settleOne(l);
    const promise = c.request({ kind: 'batch', ops: b.ops }, b.payload);
    const f: Inflight = { promise, bytes: b.bytes, detectedAt: b.detectedAt, inPlace: b.inPlace, ackedAt: null };
    l.inflight.push(f);
    const held = l.held;
    promise.then(
      () => {
        const now = Date.now();
        // Acknowledgements come in request order (one connection, one session), so effects apply in order.
        if (l.held === held) applyHeld(held, b.effects);
        f.ackedAt = now;
        l.lastAckAt = now;
        l.ackedBytes += f.bytes;
        l.lagSamples.push(now - f.detectedAt);
        if (l.lagSamples.length > 100_000) l.lagSamples.splice(0, 50_000);
      },
      () => undefined,
    );
  }

  private async settleOne(l: Link): Promise<void> {
    const f = l.inflight[0];
    if (!f) return;
    await f.promise;
    l.inflight.shift();
  }

  /** Wait for every batch sent so far. */
  private async drain(l: Link): Promise<void> {
    while (l.inflight.length > 0) await this.settleOne(l);
  }

  /** Drop acknowledged batches from the head of the window. */
  private settleAcks(l: Link): void {
    while (l.inflight[0]?.ackedAt != null) l.inflight.shift();
  }
}

function mergeInPlace(into: InPlace, ip: InPlace): void {
  if (ip.bytes === 0) return;
  into.bytes += ip.bytes;
  into.unknownSince ||= ip.unknownSince;
  if (ip.sinceAt !== null) into.sinceAt = into.sinceAt === null ? ip.sinceAt : Math.min(into.sinceAt, ip.sinceAt);
}

function applyHeld(held: Map<string, Held>, effects: readonly HeldEffect[]): void {
  for (const x of effects) {
    switch (x.kind) {
      case 'set':
        held.set(x.path, x.held);
        break;
      case 'del':
        for (const p of [...held.keys()]) if (p === x.path || p.startsWith(`${x.path}/`)) held.delete(p);
        break;
      case 'move': {
        const h = held.get(x.from);
        held.delete(x.from);
        if (h) held.set(x.to, h);
        break;
      }
    }
  }
}
