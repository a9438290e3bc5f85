import { ClusterError } from '../../domain/errors.js';
import { parseLeaseId, parseRevision, type LeaseId, type Revision } from '../../domain/ids.js';
import type { Clock } from '../../platform/clock.js';
import type { Compare, KeyValue, LeaseRenewal, TxnOp, TxnResult, WatchEvent } from '../coordinator.js';
import type { Change, HistoryEntry, StoreRecord, StoreSnapshot } from './records.js';

export const DEFAULT_HISTORY_LIMIT = 10_000;

export interface KvStoreOptions {
  readonly clock: Clock;
  /** How many revisions of change history to keep for watches (default 10 000). */
  readonly historyLimit?: number;
  /**
   * Called with every mutation record before it is applied, synchronously. When it returns, the
   * record must be durable; when it throws, nothing is applied and the error reaches the caller.
   */
  readonly persist?: (record: StoreRecord) => void;
}

export type HistoryListener = (entry: HistoryEntry) => void;

interface LeaseState {
  readonly id: LeaseId;
  readonly ttlMs: number;
  /** On `clock.now()`'s scale. The lease is gone once now >= expiresAt. */
  expiresAt: number;
  readonly keys: Set<string>;
}

const byKey = (a: KeyValue, b: KeyValue): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/**
 * The key-value state machine behind the memory and embedded coordinators: one global revision,
 * keys with create/mod revisions and versions, leases, atomic transactions and a bounded change
 * history for watches. All operations are synchronous, so each one is atomic with respect to every
 * other; the facades add signals, availability and transport.
 *
 * Every mutation goes through one path: build a `StoreRecord`, hand it to `persist`, then `apply` it.
 * Replaying the persisted records with `replay` uses the same `apply`, so a restart rebuilds the same
 * state. Lease expiry is lazy: every operation first expires leases whose deadline `clock.now()` has
 * passed (in deadline order, each lease's keys deleted at one revision), so time is read only through
 * the injected clock and a manual clock gives a deterministic store.
 */
export class KvStore {
  readonly clock: Clock;
  readonly historyLimit: number;
  private readonly persist: ((record: StoreRecord) => void) | undefined;

  private revision = 0;
  private compactRevision = 0;
  private nextLease = 1;
  private readonly keys = new Map<string, KeyValue>();
  private readonly leases = new Map<string, LeaseState>();
  /** history[historyHead..] are the retained entries, oldest first. */
  private history: HistoryEntry[] = [];
  private historyHead = 0;
  private readonly listeners = new Set<HistoryListener>();

  constructor(opts: KvStoreOptions) {
    this.clock = opts.clock;
    const limit = opts.historyLimit ?? DEFAULT_HISTORY_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new ClusterError('HA_BAD_REQUEST', `historyLimit must be a positive integer, got ${limit}`);
    }
    this.historyLimit = limit;
    this.persist = opts.persist;
  }

  currentRevision(): Revision {
    this.expireLeases();
    return parseRevision(this.revision);
  }

  get(key: string): KeyValue | undefined {
    this.expireLeases();
    return this.keys.get(key);
  }

  list(prefix: string): { readonly items: readonly KeyValue[]; readonly revision: Revision } {
    this.expireLeases();
    const items = this.matching(prefix).sort(byKey);
    return { items, revision: parseRevision(this.revision) };
  }

  put(key: string, value: string, lease?: LeaseId): Revision {
    this.expireLeases();
    if (lease !== undefined) this.requireLease(lease);
    this.commit({ kind: 'write', revision: this.revision + 1, changes: [{ kind: 'put', key, value, lease: lease ?? null }] });
    return parseRevision(this.revision);
  }

  delete(key: string): Revision {
    this.expireLeases();
    if (this.keys.has(key)) {
      this.commit({ kind: 'write', revision: this.revision + 1, changes: [{ kind: 'delete', key }] });
    }
    return parseRevision(this.revision);
  }

  deletePrefix(prefix: string): number {
    this.expireLeases();
    const doomed = this.matching(prefix).sort(byKey);
    if (doomed.length > 0) {
      const changes = doomed.map((kv): Change => ({ kind: 'delete', key: kv.key }));
      this.commit({ kind: 'write', revision: this.revision + 1, changes });
    }
    return doomed.length;
  }

  txn(compares: readonly Compare[], ops: readonly TxnOp[]): TxnResult {
    this.expireLeases();
    const seen = new Set<string>();
    for (const op of ops) {
      if (seen.has(op.key)) throw new ClusterError('HA_BAD_REQUEST', `txn touches key ${JSON.stringify(op.key)} twice`);
      seen.add(op.key);
    }
    for (const c of compares) {
      const current = this.keys.get(c.key)?.modRevision ?? 'absent';
      if (current !== c.modRevision) return { ok: false, key: c.key, current };
    }
    const changes: Change[] = [];
    for (const op of ops) {
      switch (op.kind) {
        case 'put':
          if (op.lease !== undefined) this.requireLease(op.lease);
          changes.push({ kind: 'put', key: op.key, value: op.value, lease: op.lease ?? null });
          break;
        case 'delete':
          // Deleting an absent key changes nothing and produces no event.
          if (this.keys.has(op.key)) changes.push({ kind: 'delete', key: op.key });
          break;
        default: {
          const never: never = op;
          throw new ClusterError('HA_BAD_REQUEST', `unknown txn op ${JSON.stringify(never)}`);
        }
      }
    }
    if (changes.length > 0) this.commit({ kind: 'write', revision: this.revision + 1, changes });
    return { ok: true, revision: parseRevision(this.revision) };
  }

  grantLease(ttlMs: number): { readonly id: LeaseId; readonly ttlMs: number } {
    this.expireLeases();
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
      throw new ClusterError('HA_BAD_REQUEST', `lease ttlMs must be a positive number, got ${ttlMs}`);
    }
    const granted = Math.ceil(ttlMs);
    const id = parseLeaseId(String(this.nextLease));
    this.commit({ kind: 'lease-grant', id, ttlMs: granted });
    return { id, ttlMs: granted };
  }

  renewLease(id: LeaseId): LeaseRenewal {
    this.expireLeases();
    const lease = this.leases.get(id);
    if (lease === undefined) return { ok: false };
    lease.expiresAt = this.clock.now() + lease.ttlMs;
    return { ok: true, ttlMs: lease.ttlMs };
  }

  revokeLease(id: LeaseId): void {
    this.expireLeases();
    const lease = this.leases.get(id);
    if (lease !== undefined) this.endLease(lease);
  }

  /** End every lease whose deadline has passed, earliest deadline first. */
  expireLeases(): void {
    if (this.leases.size === 0) return;
    const now = this.clock.now();
    const expired = [...this.leases.values()]
      .filter((l) => l.expiresAt <= now)
      .sort((a, b) => a.expiresAt - b.expiresAt || (a.id < b.id ? -1 : 1));
    for (const lease of expired) this.endLease(lease);
  }

  /** Number of live leases (after expiring the overdue ones). */
  leaseCount(): number {
    this.expireLeases();
    return this.leases.size;
  }

  /**
   * Every event under `prefix` with a revision above `afterRevision`, in order, and the revision
   * they run up to. Throws HA_COORD_COMPACTED when part of that history is no longer kept.
   */
  changesSince(prefix: string, afterRevision: number): { readonly events: readonly WatchEvent[]; readonly revision: Revision } {
    this.expireLeases();
    if (afterRevision < this.compactRevision) {
      throw new ClusterError(
        'HA_COORD_COMPACTED',
        `history after revision ${afterRevision} is gone (kept from ${this.compactRevision + 1}); list again and watch from its revision`,
      );
    }
    let lo = this.historyHead;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const entry = this.history[mid];
      if (entry !== undefined && entry.revision <= afterRevision) lo = mid + 1;
      else hi = mid;
    }
    const events: WatchEvent[] = [];
    for (let i = lo; i < this.history.length; i++) {
      const entry = this.history[i];
      if (entry !== undefined) events.push(...eventsUnder(entry, prefix));
    }
    return { events, revision: parseRevision(this.revision) };
  }

  /** Be told about every committed change, synchronously, right after it is applied. */
  subscribe(listener: HistoryListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Apply a record read back from a log, without persisting it again. */
  replay(record: StoreRecord): void {
    this.apply(record, true);
  }

  snapshot(): StoreSnapshot {
    return {
      format: 1,
      revision: this.revision,
      compactRevision: this.compactRevision,
      nextLease: this.nextLease,
      keys: [...this.keys.values()].sort(byKey).map((kv) => ({ ...kv })),
      leases: [...this.leases.values()].map((l) => ({ id: l.id, ttlMs: l.ttlMs })),
      history: this.history.slice(this.historyHead),
    };
  }

  /**
   * Replace the whole state with a snapshot. Every lease in it starts a fresh full TTL from now:
   * the time it had left is unknown, and lengthening a lease is the safe direction.
   */
  restore(snap: StoreSnapshot): void {
    const leases = new Map<string, LeaseState>();
    const now = this.clock.now();
    for (const l of snap.leases) leases.set(l.id, { id: l.id, ttlMs: l.ttlMs, expiresAt: now + l.ttlMs, keys: new Set() });
    const keys = new Map<string, KeyValue>();
    for (const kv of snap.keys) {
      if (kv.modRevision > snap.revision) throw corrupt(`key ${kv.key} modified after the snapshot revision`);
      if (kv.lease !== null) {
        const lease = leases.get(kv.lease);
        if (lease === undefined) throw corrupt(`key ${kv.key} is bound to unknown lease ${kv.lease}`);
        lease.keys.add(kv.key);
      }
      keys.set(kv.key, Object.freeze({ ...kv }));
    }
    this.keys.clear();
    for (const [k, v] of keys) this.keys.set(k, v);
    this.leases.clear();
    for (const [k, v] of leases) this.leases.set(k, v);
    this.revision = snap.revision;
    this.compactRevision = snap.compactRevision;
    this.nextLease = snap.nextLease;
    this.history = snap.history.map((e) => freezeEntry(e));
    this.historyHead = 0;
    this.trimHistory();
  }

  private matching(prefix: string): KeyValue[] {
    const out: KeyValue[] = [];
    for (const kv of this.keys.values()) if (kv.key.startsWith(prefix)) out.push(kv);
    return out;
  }

  private requireLease(id: LeaseId): void {
    if (!this.leases.has(id)) throw new ClusterError('HA_LEASE_LOST', `lease ${id} does not exist (expired or revoked)`);
  }

  private endLease(lease: LeaseState): void {
    const deletes = [...lease.keys].sort();
    const revision = deletes.length > 0 ? this.revision + 1 : this.revision;
    this.commit({ kind: 'lease-end', id: lease.id, revision, deletes });
  }

  private commit(record: StoreRecord): void {
    this.persist?.(record);
    this.apply(record, false);
  }

  /**
   * The only place state changes. Callers of `commit` have validated the record, so it cannot fail
   * after `persist` accepted it; a replayed record that does not fit is a corrupt log.
   */
  private apply(record: StoreRecord, replaying: boolean): void {
    switch (record.kind) {
      case 'write': {
        if (record.revision !== this.revision + 1) {
          throw corrupt(`write at revision ${record.revision} does not follow ${this.revision}`);
        }
        const rev = parseRevision(record.revision);
        const events = record.changes.map((c) => this.applyChange(c, rev));
        this.revision = record.revision;
        this.recordHistory({ revision: rev, events });
        return;
      }
      case 'lease-grant': {
        if (this.leases.has(record.id)) throw corrupt(`lease ${record.id} granted twice`);
        this.leases.set(record.id, {
          id: record.id,
          ttlMs: record.ttlMs,
          expiresAt: this.clock.now() + record.ttlMs,
          keys: new Set(),
        });
        const n = Number(record.id);
        if (Number.isSafeInteger(n) && n >= this.nextLease) this.nextLease = n + 1;
        return;
      }
      case 'lease-end': {
        const lease = this.leases.get(record.id);
        if (lease === undefined) {
          if (replaying) throw corrupt(`lease ${record.id} ended but never granted`);
          return;
        }
        if (record.deletes.length === 0) {
          this.leases.delete(record.id);
          return;
        }
        if (record.revision !== this.revision + 1) {
          throw corrupt(`lease end at revision ${record.revision} does not follow ${this.revision}`);
        }
        const rev = parseRevision(record.revision);
        const events = record.deletes.map((key) => this.applyChange({ kind: 'delete', key }, rev));
        this.leases.delete(record.id);
        this.revision = record.revision;
        this.recordHistory({ revision: rev, events });
        return;
      }
      default: {
        const never: never = record;
        throw corrupt(`unknown record ${JSON.stringify(never)}`);
      }
    }
  }

  private applyChange(change: Change, rev: Revision): WatchEvent {
    const prev = this.keys.get(change.key);
    if (prev?.lease != null) this.leases.get(prev.lease)?.keys.delete(change.key);
    switch (change.kind) {
      case 'put': {
        let lease: LeaseState | undefined;
        if (change.lease !== null) {
          lease = this.leases.get(change.lease);
          if (lease === undefined) throw corrupt(`put of ${change.key} names unknown lease ${change.lease}`);
        }
        const kv: KeyValue = Object.freeze({
          key: change.key,
          value: change.value,
          createRevision: prev === undefined ? rev : prev.createRevision,
          modRevision: rev,
          version: prev === undefined ? 1 : prev.version + 1,
          lease: change.lease,
        });
        this.keys.set(change.key, kv);
        lease?.keys.add(change.key);
        return Object.freeze({ kind: 'put', kv });
      }
      case 'delete': {
        if (prev === undefined) throw corrupt(`delete of absent key ${change.key}`);
        this.keys.delete(change.key);
        return Object.freeze({ kind: 'delete', key: change.key, modRevision: rev });
      }
      default: {
        const never: never = change;
        throw corrupt(`unknown change ${JSON.stringify(never)}`);
      }
    }
  }

  private recordHistory(entry: HistoryEntry): void {
    const frozen = freezeEntry(entry);
    this.history.push(frozen);
    this.trimHistory();
    for (const listener of this.listeners) listener(frozen);
  }

  private trimHistory(): void {
    while (this.history.length - this.historyHead > this.historyLimit) {
      const dropped = this.history[this.historyHead];
      if (dropped !== undefined) this.compactRevision = dropped.revision;
      this.historyHead++;
    }
    if (this.historyHead > 1024 && this.historyHead * 2 > this.history.length) {
      this.history = this.history.slice(this.historyHead);
      this.historyHead = 0;
    }
  }
}

/** The events of one history entry under `prefix`. */
export function eventsUnder(entry: HistoryEntry, prefix: string): readonly WatchEvent[] {
  if (prefix === '') return entry.events;
  return entry.events.filter((e) => (e.kind === 'put' ? e.kv.key : e.key).startsWith(prefix));
}

function freezeEntry(entry: HistoryEntry): HistoryEntry {
  const events = [...entry.events];
  Object.freeze(events);
  return Object.freeze({ revision: entry.revision, events });
}

function corrupt(message: string): ClusterError {
  return new ClusterError('HA_INTERNAL', `store state is inconsistent: ${message}`);
}
