import { z } from 'zod';
import { LeaseIdSchema, RevisionSchema } from '../../domain/ids.js';

/**
 * Schemas for what the key-value store hands out and writes down: key-values and watch events
 * (also the embedded server's wire format), the records of its change log and its snapshots.
 * Everything read back from a file or a socket is parsed with one of these.
 */

export const KeyValueSchema = z.strictObject({
  key: z.string(),
  value: z.string(),
  createRevision: RevisionSchema,
  modRevision: RevisionSchema,
  version: z.number().int().min(1),
  lease: LeaseIdSchema.nullable(),
});

export const WatchEventSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('put'), kv: KeyValueSchema }),
  z.strictObject({ kind: z.literal('delete'), key: z.string(), modRevision: RevisionSchema }),
]);

/** One change inside a committed write: the full new value for a put, only the key for a delete. */
export const ChangeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('put'), key: z.string(), value: z.string(), lease: LeaseIdSchema.nullable() }),
  z.strictObject({ kind: z.literal('delete'), key: z.string() }),
]);
export type Change = z.infer<typeof ChangeSchema>;

/**
 * A committed mutation of the store. Replaying the same records in order on an empty store (or on
 * the snapshot they follow) rebuilds the same keys, revisions and history. Lease renewals are not
 * records: a replayed lease gets a fresh full TTL, which can only lengthen its life, never shorten it.
 */
export const StoreRecordSchema = z.discriminatedUnion('kind', [
  /** Key changes applied at `revision` (always the previous revision + 1). */
  z.strictObject({
    kind: z.literal('write'),
    revision: z.number().int().min(1),
    changes: z.array(ChangeSchema).min(1),
  }),
  z.strictObject({ kind: z.literal('lease-grant'), id: LeaseIdSchema, ttlMs: z.number().int().min(1) }),
  /**
   * A lease ended (revoked or expired). Its keys, listed in `deletes`, are deleted at `revision`
   * (the previous revision + 1) when there are any; otherwise `revision` is the unchanged current one.
   */
  z.strictObject({
    kind: z.literal('lease-end'),
    id: LeaseIdSchema,
    revision: z.number().int().min(0),
    deletes: z.array(z.string()),
  }),
]);
export type StoreRecord = z.infer<typeof StoreRecordSchema>;

export const HistoryEntrySchema = z.strictObject({
  revision: RevisionSchema,
  events: z.array(WatchEventSchema),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

/** Everything needed to rebuild a store, as plain JSON. */
export const StoreSnapshotSchema = z.strictObject({
  format: z.literal(1),
  revision: z.number().int().min(0),
  /** History holds every change with a revision above this one. */
  compactRevision: z.number().int().min(0),
  nextLease: z.number().int().min(1),
  keys: z.array(KeyValueSchema),
  leases: z.array(z.strictObject({ id: LeaseIdSchema, ttlMs: z.number().int().min(1) })),
  history: z.array(HistoryEntrySchema),
});
export type StoreSnapshot = z.infer<typeof StoreSnapshotSchema>;
