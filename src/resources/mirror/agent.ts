import { join } from 'node:path';
import type { MirrorResourceConfig } from '../../domain/config.js';
import { ClusterError } from '../../domain/errors.js';
import type { GroupId, NodeId } from '../../domain/ids.js';
import type { MirrorSyncRecord } from '../../domain/state.js';
import type { TlsMaterial } from '../../security/tls.js';
import { MirrorReceiver, type ReceiverEvent } from '../../mirror/receiver.js';
import { Replica } from '../../mirror/replica.js';
import { MirrorSource, type LinkStatus, type SourceEvent, type StandbyTarget } from '../../mirror/source.js';
import { SyncSocketServer } from '../../mirror/sync-socket.js';
import type { ActionResult, Observation, ResourceAgent, ResourceContext } from '../types.js';

/**
 * The `mirror` resource on one node. While the node is not the group's active it serves the
 * directory as a standby (a MirrorReceiver on address:port). When the group runner starts the
 * resource (this node became active at an epoch), the receiver is stopped, the replica is marked
 * active at that epoch (its old journal can never be replayed over the application's writes), the
 * first in-sync record of the epoch is published (nobody in sync yet), and only then does the
 * source start shipping and the fsync socket start answering. Stopping reverses it.
 */

export interface MirrorNodeDeps {
  readonly node: NodeId;
  readonly group: GroupId;
  /** Address the receiver listens on. */
  readonly address: string;
  /** The group's other nodes, where the active ships to. */
  readonly peers: readonly (StandbyTarget & { readonly name: NodeId })[];
  /** Per-resource state directory (journal, epoch file, quarantine, fsync socket). */
  readonly metaDir: string;
  /** Write mirror/<group>/<resource>; must resolve only once the store accepted it. */
  readonly publish: (rec: MirrorSyncRecord) => Promise<void>;
  readonly onEvent?: (e: ReceiverEvent | SourceEvent) => void;
  /** This node's TLS identity: both ends of every mirror link authenticate with it (src/mirror/link.ts). */
  readonly tls: TlsMaterial;
}

export interface MirrorNodeStatus {
  readonly role: 'active' | 'standby' | 'stopped';
  readonly epoch: number;
  readonly links: readonly LinkStatus[];
  readonly receiver: ReturnType<MirrorReceiver['status']> | null;
  readonly syncSocket: string;
}

/** How long an orderly stop waits for the live standbys to acknowledge what is left (see stopActive). */
const FINISH_TIMEOUT_MS = 2000;
/** Period of the publication check in async mode (sync mode: 250 ms, as it always was). */
const PUBLISH_TICK_MS = 25;
/** Async mode: publication period while a standby is behind, and the least time between two periodic puts. */
export const ASYNC_PUBLISH_MS = 200;

/**
 * Since when changes may be missing on a standby. Async: every pending byte was written after the
 * content the standby acknowledged last was read (`missingSinceAt`); no pending bytes: null. Sync
 * mode keeps its meaning: the break time, or the oldest change detected and not acknowledged.
 */
function behindSince(mode: MirrorResourceConfig['mode'], l: LinkStatus, now: number): number | null {
  if (mode === 'async') return l.pendingBytes === 0 ? null : l.missingSinceAt;
  return l.state === 'broken' ? l.brokeAt : l.lagMs > 0 ? now - l.lagMs : null;
}

export class MirrorAgent implements ResourceAgent {
  private receiver: MirrorReceiver | null = null;
  private source: MirrorSource | null = null;
  private sync: SyncSocketServer | null = null;
  private epoch = 0;
  private inSync = new Set<NodeId>();
  private publishTimer: NodeJS.Timeout | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private lastShape = '';
  private lastPublishAt = 0;
  private lastTotalBytes = 0;
  /** Async mode: a periodic put has not resolved yet (a slow store must not queue more of them). */
  private periodicInFlight = false;

  constructor(
    readonly config: MirrorResourceConfig,
    private readonly deps: MirrorNodeDeps,
  ) {}

  /** Path of the unix socket the fsync shim talks to (HALO_MIRROR_SOCKET for the application). */
  get syncSocketPath(): string {
    return join(this.deps.metaDir, 'fsync.sock');
  }

  status(): MirrorNodeStatus {
    return {
      role: this.source ? 'active' : this.receiver ? 'standby' : 'stopped',
      epoch: this.epoch,
      links: this.source?.status() ?? [],
      receiver: this.receiver?.status() ?? null,
      syncSocket: this.syncSocketPath,
    };
  }

  /** Serve as a standby (idempotent); not while active. */
  serveStandby(): Promise<void> {
    return this.serial(async () => await this.startReceiver());
  }

  private async startReceiver(): Promise<void> {
    {
      if (this.source || this.receiver) return;
      const r = new MirrorReceiver({
        dir: this.config.path,
        metaDir: this.deps.metaDir,
        host: this.deps.address,
        port: this.config.port,
        tls: this.deps.tls,
        ...(this.deps.onEvent ? { onEvent: this.deps.onEvent } : {}),
      });
      await r.start();
      this.receiver = r;
    }
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      await this.stopActive();
      await this.receiver?.stop();
      this.receiver = null;
    });
  }

  async probe(_ctx: ResourceContext, signal?: AbortSignal): Promise<Observation> {
    signal?.throwIfAborted();
    if (this.source) return { kind: 'running', pid: null, startedAt: null, detail: `shipping ${this.config.path} at epoch ${this.epoch}` };
    return { kind: 'stopped', detail: this.receiver ? 'standby (receiving)' : 'not serving' };
  }

  start(ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    return this.serial(async () => {
      if (this.source && this.epoch === ctx.epoch) return { ok: true, detail: 'already active' };
      try {
        signal?.throwIfAborted();
        await this.stopActive();
        await this.receiver?.stop();
        this.receiver = null;
        const replica = new Replica({ dir: this.config.path, metaDir: this.deps.metaDir });
        await replica.open();
        await replica.markActive(ctx.epoch);
        await replica.close();
        this.epoch = ctx.epoch;
        this.inSync = new Set();
        // Before anything is acknowledged at this epoch: nobody else holds this epoch's writes.
        await this.deps.publish(this.record());
        const source = new MirrorSource({
          dir: this.config.path,
          group: this.deps.group,
          node: this.deps.node,
          epoch: ctx.epoch,
          mode: this.config.mode,
          standbys: this.deps.peers,
          tls: this.deps.tls,
          scanIntervalMs: this.config.scanIntervalMs,
          syncTimeoutMs: this.config.syncTimeoutMs,
          beforeOutOfSync: async (standby) => {
            const peer = this.peer(standby);
            if (peer) this.inSync.delete(peer);
            await this.deps.publish(this.record());
          },
          onEvent: (e) => {
            const peer = e.kind === 'in-sync' && e.inSync ? this.peer(e.standby) : undefined;
            if (peer) {
              this.inSync.add(peer);
              void this.deps.publish(this.record()).catch(() => undefined);
            }
            this.deps.onEvent?.(e);
          },
        });
        this.source = source;
        source.start();
        if (this.config.mode === 'sync') {
          const sync = new SyncSocketServer(this.syncSocketPath, async (p) => await source.syncPath(p));
          await sync.start();
          this.sync = sync;
        }
        this.publishTimer = setInterval(() => this.publishTick(), this.config.mode === 'sync' ? 250 : PUBLISH_TICK_MS);
        return { ok: true, detail: `active at epoch ${ctx.epoch}, shipping to ${this.deps.peers.map((p) => p.name).join(', ') || 'nobody'}` };
      } catch (e) {
        await this.stopActive().catch(() => undefined);
        // Not active after all: serve as a standby again, or the new active could never reach this node.
        await this.startReceiver().catch(() => undefined);
        return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail: e instanceof Error ? e.message : String(e) };
      }
    });
  }

  stop(_ctx: ResourceContext, signal?: AbortSignal): Promise<ActionResult> {
    return this.serial(async () => {
      try {
        signal?.throwIfAborted();
        const was = this.source !== null;
        await this.stopActive(true, signal);
        // Also when it was not active: a start that failed half-way may have left no receiver.
        await this.startReceiver();
        return { ok: true, detail: was ? 'stopped shipping; serving as a standby' : 'not active' };
      } catch (e) {
        return { ok: false, code: 'HA_RESOURCE_STOP_FAILED', detail: e instanceof Error ? e.message : String(e) };
      }
    });
  }

  /** The mirror has no process of its own that could exit. */
  async exited(_ctx: ResourceContext, signal: AbortSignal): Promise<string> {
    return await new Promise<string>((_resolve, reject) => {
      signal.throwIfAborted();
      signal.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new ClusterError('HA_OPERATION_TIMEOUT', 'aborted')), { once: true });
    });
  }

  private record(): MirrorSyncRecord {
    const now = Date.now();
    const links = this.source?.status(now) ?? [];
    return {
      group: this.deps.group,
      resource: this.config.name,
      epoch: this.epoch,
      node: this.deps.node,
      mode: this.config.mode,
      inSync: [...this.inSync].sort(),
      totalBytes: this.source?.totalBytes ?? 0,
      standbys: this.deps.peers.map((p) => {
        const l = links.find((x) => x.standby === p.name);
        return {
          node: p.name,
          state: l?.state ?? 'broken',
          pendingBytes: l?.pendingBytes ?? 0,
          behindSinceAt: l === undefined ? null : behindSince(this.config.mode, l, now),
          lagMs: l?.lagMs ?? 0,
          lastAckAt: l?.lastAckAt ?? null,
          brokeAt: l?.brokeAt ?? null,
          resync: l?.resync ? { doneBytes: l.resync.doneBytes, totalBytes: l.resync.totalBytes, etaMs: l.resync.etaMs } : null,
        };
      }),
      updatedAt: now,
    };
  }

  /**
   * Periodic publication, otherwise every 10 s (keeps the store quiet when nothing moves).
   * - sync mode: at once when the in-sync set or a link state changed, every second while a
   *   standby is behind;
   * - async mode: the record is what a failover reports as lost, so it must be recent while a
   *   standby is behind (pending bytes or not synced) or data moves (acknowledgements, size of the
   *   directory): every ASYNC_PUBLISH_MS, and at once when a standby falls behind or the in-sync
   *   set or a link state changes, but never more than one periodic put per ASYNC_PUBLISH_MS (the
   *   changes wait for the next slot), and never while the previous periodic put is unresolved.
   *   Quiet (10 s) only when all are synced and nothing moves.
   */
  private publishTick(): void {
    if (this.config.mode === 'async' && this.periodicInFlight) return;
    const rec = this.record();
    const sinceLast = rec.updatedAt - this.lastPublishAt;
    let due: boolean;
    let shape: string;
    if (this.config.mode === 'sync') {
      shape = JSON.stringify([rec.inSync, rec.standbys.map((s) => [s.node, s.state])]);
      const behind = rec.standbys.some((s) => s.state !== 'synced');
      due = shape !== this.lastShape || (behind && sinceLast >= 1000) || sinceLast >= 10_000;
    } else {
      const behindOf = (s: MirrorSyncRecord['standbys'][number]): boolean => s.state !== 'synced' || s.pendingBytes > 0;
      shape = JSON.stringify([rec.inSync, rec.standbys.map((s) => [s.node, s.state, behindOf(s)])]);
      // Data moved since the last put (new acknowledgements, or the directory's size changed): a
      // standby that catches up between two checks is still behind the writes between its scans.
      const moved = rec.totalBytes !== this.lastTotalBytes || rec.standbys.some((s) => s.lastAckAt !== null && s.lastAckAt > this.lastPublishAt);
      const behind = rec.standbys.some(behindOf);
      due = ((shape !== this.lastShape || behind || moved) && sinceLast >= ASYNC_PUBLISH_MS) || sinceLast >= 10_000;
    }
    if (!due) return;
    this.lastShape = shape;
    this.lastPublishAt = rec.updatedAt;
    this.lastTotalBytes = rec.totalBytes;
    if (this.config.mode === 'sync') {
      void this.deps.publish(rec).catch(() => undefined);
      return;
    }
    // One periodic put at a time: while the store is slow the next one waits and then carries a fresh record.
    this.periodicInFlight = true;
    void this.deps
      .publish(rec)
      .catch(() => undefined)
      .finally(() => {
        this.periodicInFlight = false;
      });
  }

  private peer(name: string): NodeId | undefined {
    return this.deps.peers.find((p) => p.name === name)?.name;
  }

  /**
   * `finish`: an orderly stop ships what is left to the live standbys first (at most
   * FINISH_TIMEOUT_MS, or the sync timeout if shorter) and publishes the record once more, so the
   * next active's loss report starts from there. Not on a failed start.
   */
  private async stopActive(finish = false, signal?: AbortSignal): Promise<void> {
    if (this.publishTimer) clearInterval(this.publishTimer);
    this.publishTimer = null;
    await this.sync?.stop();
    this.sync = null;
    if (finish && this.source) {
      await this.source.finish(Math.min(FINISH_TIMEOUT_MS, this.config.syncTimeoutMs), signal);
      // Not awaited: a store that cannot be reached must not hold up the stop.
      void this.deps.publish(this.record()).catch(() => undefined);
    }
    await this.source?.stop();
    this.source = null;
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const p = this.chain.then(job);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
