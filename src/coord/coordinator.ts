import type { LeaseId, Revision } from '../domain/ids.js';

/**
 * The consistent store the cluster agrees through. Every backend (memory, embedded, etcd) passes
 * the same contract suite (test/contract/coordinator.contract.ts); nothing above this interface
 * knows which one runs.
 *
 * Errors: a method throws only when it could not ask (`ClusterError` HA_COORD_UNAVAILABLE) or asked
 * and cannot know the outcome (HA_COORD_OUTCOME_UNKNOWN, e.g. a timeout after a write was sent —
 * callers must treat the write as possibly applied). Expected outcomes (absent key, failed compare,
 * expired lease) are return values. Every method honours `signal` (rejects with the abort reason).
 */
export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** Revision of the write that created the key (since its last deletion). */
  readonly createRevision: Revision;
  /** Revision of the last write to the key. */
  readonly modRevision: Revision;
  /** Number of writes since creation (1 after the first put). */
  readonly version: number;
  /** The lease the key is bound to, if any. */
  readonly lease: LeaseId | null;
}

export interface Opts {
  readonly signal?: AbortSignal;
}

/** Compare a key's modRevision; 'absent' asserts the key does not exist. */
export interface Compare {
  readonly key: string;
  readonly modRevision: Revision | 'absent';
}

export type TxnOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: string; readonly lease?: LeaseId }
  | { readonly kind: 'delete'; readonly key: string };

export type TxnResult =
  | { readonly ok: true; readonly revision: Revision }
  /** The first compare that failed, with the key's current modRevision. Nothing was written. */
  | { readonly ok: false; readonly key: string; readonly current: Revision | 'absent' };

export type LeaseRenewal =
  | { readonly ok: true; readonly ttlMs: number }
  /** The lease no longer exists (expired or revoked); keys bound to it are gone. */
  | { readonly ok: false };

export type WatchEvent =
  | { readonly kind: 'put'; readonly kv: KeyValue }
  | { readonly kind: 'delete'; readonly key: string; readonly modRevision: Revision };

export interface Coordinator {
  /** Read one key. Linearizable. Returns undefined when absent. */
  get(key: string, opts?: Opts): Promise<KeyValue | undefined>;

  /** Read every key starting with `prefix`, sorted by key, at one revision (the returned one). */
  list(prefix: string, opts?: Opts): Promise<{ readonly items: readonly KeyValue[]; readonly revision: Revision }>;

  /** Unconditional write. Returns the new store revision. A `lease` that does not exist is HA_LEASE_LOST. */
  put(key: string, value: string, opts?: Opts & { readonly lease?: LeaseId }): Promise<Revision>;

  /** Unconditional delete of one key (no-op when absent). Returns the store revision after it. */
  delete(key: string, opts?: Opts): Promise<Revision>;

  /** Delete every key starting with `prefix`. Returns the number deleted. */
  deletePrefix(prefix: string, opts?: Opts): Promise<number>;

  /**
   * Atomic compare-and-swap: when every compare holds, apply every op at one new revision.
   * Either all ops are applied or none. A put with a lease that does not exist is HA_LEASE_LOST
   * (and nothing is applied).
   */
  txn(compares: readonly Compare[], ops: readonly TxnOp[], opts?: Opts): Promise<TxnResult>;

  /**
   * Create a lease. The coordinator deletes every key bound to it `ttlMs` after the last successful
   * renewal it received. Backends may round the TTL up (etcd to whole seconds); `ttlMs` in the
   * result is what was granted.
   */
  grantLease(ttlMs: number, opts?: Opts): Promise<{ readonly id: LeaseId; readonly ttlMs: number }>;

  /**
   * Renew once. Timing-critical: the caller measures its own deadline from the moment it SENT the
   * renewal (send time + ttl - margin), never from when the answer arrived.
   */
  renewLease(id: LeaseId, opts?: Opts): Promise<LeaseRenewal>;

  /** Revoke a lease and delete its keys now. No-op when it no longer exists. */
  revokeLease(id: LeaseId, opts?: Opts): Promise<void>;

  /**
   * Changes to keys under `prefix` with revision > `afterRevision`, in revision order, until
   * `signal` aborts (then the iterator ends without error). Throws HA_COORD_COMPACTED when that
   * history is gone (callers re-list and watch again) and HA_COORD_UNAVAILABLE when the stream breaks.
   */
  watch(prefix: string, afterRevision: Revision, opts?: Opts): AsyncIterable<readonly WatchEvent[]>;

  /** Release connections. Does not revoke leases. */
  close(): Promise<void>;
}
