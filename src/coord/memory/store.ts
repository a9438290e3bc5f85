import { ClusterError } from '../../domain/errors.js';
import type { LeaseId, Revision } from '../../domain/ids.js';
import { SystemClock, type Clock } from '../../platform/clock.js';
import type {
  Compare,
  Coordinator,
  KeyValue,
  LeaseRenewal,
  Opts,
  TxnOp,
  TxnResult,
  WatchEvent,
} from '../coordinator.js';
import { eventsUnder, KvStore } from './kv-store.js';

export interface MemoryCoordinatorOptions {
  /** Default: the system clock. With a ManualClock, leases expire only when an operation or `expireLeases()` runs. */
  readonly clock?: Clock;
  /** Revisions of change history kept for watches (default 10 000). */
  readonly historyLimit?: number;
  /**
   * How often a timer expires leases so watchers see expiry without other traffic. Default 10 ms with
   * the system clock; no timer with any other clock (drive it with `expireLeases()`). 0 disables it.
   */
  readonly expiryIntervalMs?: number;
  /**
   * Serve an existing store instead of a new one (its clock and history limit then apply): e.g. one
   * coordinator per simulated node over one store, so each can be made unavailable on its own. No
   * expiry timer is started for a shared store; whoever created it drives expiry.
   */
  readonly store?: KvStore;
}

interface WatchSession {
  fail(error: ClusterError): void;
  end(): void;
}

/**
 * A real coordinator in this process: the reference backend for tests and the simulator. It keeps
 * the full contract (revisions, atomic txn, leases, watches with bounded history) and adds fault
 * injection: `setUnavailable(true)` makes every call throw HA_COORD_UNAVAILABLE and breaks every
 * watch, as a partition from the store would; leases keep expiring meanwhile.
 */
export class MemoryCoordinator implements Coordinator {
  readonly store: KvStore;
  private readonly clock: Clock;
  private readonly historyLimit: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly watches = new Set<WatchSession>();
  private unavailable = false;
  private closed = false;

  constructor(opts: MemoryCoordinatorOptions = {}) {
    if (opts.store !== undefined) {
      this.store = opts.store;
      this.clock = opts.store.clock;
    } else {
      this.clock = opts.clock ?? new SystemClock();
      this.store = new KvStore(
        opts.historyLimit === undefined ? { clock: this.clock } : { clock: this.clock, historyLimit: opts.historyLimit },
      );
    }
    this.historyLimit = this.store.historyLimit;
    const defaultInterval = opts.store === undefined && this.clock instanceof SystemClock ? 10 : 0;
    const interval = opts.expiryIntervalMs ?? defaultInterval;
    if (interval > 0) {
      this.timer = setInterval(() => this.store.expireLeases(), interval);
      this.timer.unref();
    }
  }

  /** Expire overdue leases now (deleting their keys and notifying watchers). Works while unavailable. */
  expireLeases(): void {
    this.store.expireLeases();
  }

  /**
   * Simulate losing (true) or regaining (false) the store. While set, every method throws
   * HA_COORD_UNAVAILABLE and every open watch ends with that error.
   */
  setUnavailable(flag: boolean): void {
    this.unavailable = flag;
    if (flag) {
      for (const w of this.watches) w.fail(new ClusterError('HA_COORD_UNAVAILABLE', 'coordinator is unavailable (injected)'));
    }
  }

  async get(key: string, opts: Opts = {}): Promise<KeyValue | undefined> {
    this.enter(opts);
    return this.store.get(key);
  }

  async list(prefix: string, opts: Opts = {}): Promise<{ readonly items: readonly KeyValue[]; readonly revision: Revision }> {
    this.enter(opts);
    return this.store.list(prefix);
  }

  async put(key: string, value: string, opts: Opts & { readonly lease?: LeaseId } = {}): Promise<Revision> {
    this.enter(opts);
    return this.store.put(key, value, opts.lease);
  }

  async delete(key: string, opts: Opts = {}): Promise<Revision> {
    this.enter(opts);
    return this.store.delete(key);
  }

  async deletePrefix(prefix: string, opts: Opts = {}): Promise<number> {
    this.enter(opts);
    return this.store.deletePrefix(prefix);
  }

  async txn(compares: readonly Compare[], ops: readonly TxnOp[], opts: Opts = {}): Promise<TxnResult> {
    this.enter(opts);
    return this.store.txn(compares, ops);
  }

  async grantLease(ttlMs: number, opts: Opts = {}): Promise<{ readonly id: LeaseId; readonly ttlMs: number }> {
    this.enter(opts);
    return this.store.grantLease(ttlMs);
  }

  async renewLease(id: LeaseId, opts: Opts = {}): Promise<LeaseRenewal> {
    this.enter(opts);
    return this.store.renewLease(id);
  }

  async revokeLease(id: LeaseId, opts: Opts = {}): Promise<void> {
    this.enter(opts);
    this.store.revokeLease(id);
  }

  async *watch(prefix: string, afterRevision: Revision, opts: Opts = {}): AsyncIterable<readonly WatchEvent[]> {
    const signal = opts.signal;
    if (signal?.aborted) return;
    this.enter({});

    let pending: WatchEvent[] = [];
    /** Revisions buffered in `pending`, measured against the history limit (which counts revisions too). */
    let pendingRevisions = 0;
    let failure: ClusterError | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const session: WatchSession = {
      fail: (error) => {
        failure ??= error;
        notify();
      },
      end: () => {
        ended = true;
        notify();
      },
    };

    // Read the backlog and subscribe in one synchronous step, so no change falls in between.
    pending.push(...this.store.changesSince(prefix, afterRevision).events);
    const unsubscribe = this.store.subscribe((entry) => {
      if (failure !== undefined || ended) return;
      const events = eventsUnder(entry, prefix);
      if (events.length === 0) return;
      pending.push(...events);
      pendingRevisions++;
      // A consumer this far behind would have lost the history anyway; stop buffering for it.
      if (pendingRevisions > this.historyLimit) {
        pending = [];
        session.fail(new ClusterError('HA_COORD_COMPACTED', 'watch consumer fell behind the retained history'));
        return;
      }
      notify();
    });
    signal?.addEventListener('abort', session.end, { once: true });
    this.watches.add(session);
    try {
      for (;;) {
        if (ended || signal?.aborted) return;
        if (failure !== undefined) throw failure;
        if (pending.length > 0) {
          const batch = pending;
          pending = [];
          pendingRevisions = 0;
          yield batch;
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', session.end);
      this.watches.delete(session);
    }
  }

  /** Stop the expiry timer and end open watches. Leases are not revoked. Later calls are HA_COORD_UNAVAILABLE. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const w of this.watches) w.end();
  }

  private enter(opts: Opts): void {
    opts.signal?.throwIfAborted();
    if (this.closed) throw new ClusterError('HA_COORD_UNAVAILABLE', 'coordinator is closed');
    if (this.unavailable) throw new ClusterError('HA_COORD_UNAVAILABLE', 'coordinator is unavailable (injected)');
  }
}
