import { z } from 'zod';
import { LeaseIdSchema, RevisionSchema } from '../../domain/ids.js';
import { KeyValueSchema, WatchEventSchema } from '../memory/records.js';

/**
 * The embedded coordinator's HTTP protocol: every call is `POST <path>` with a JSON body, answered
 * with JSON. Errors are `{ code, message }` with a stable ErrorCode. Both ends parse with these
 * schemas, so the wire format is defined once.
 */
export const Paths = {
  get: '/v1/kv/get',
  list: '/v1/kv/list',
  put: '/v1/kv/put',
  delete: '/v1/kv/delete',
  deletePrefix: '/v1/kv/delete-prefix',
  txn: '/v1/kv/txn',
  grant: '/v1/lease/grant',
  renew: '/v1/lease/renew',
  revoke: '/v1/lease/revoke',
  watch: '/v1/watch',
  status: '/v1/status',
} as const;

/** Longest a watch long-poll may wait before answering with no events. */
export const MAX_WATCH_WAIT_MS = 60_000;
/** Largest lease TTL accepted (a day). */
export const MAX_TTL_MS = 86_400_000;

const Key = z.string().min(1).max(4096);

export const GetRequestSchema = z.strictObject({ key: z.string() });
export const GetResponseSchema = z.strictObject({ kv: KeyValueSchema.nullable() });

export const ListRequestSchema = z.strictObject({ prefix: z.string() });
export const ListResponseSchema = z.strictObject({ items: z.array(KeyValueSchema), revision: RevisionSchema });

export const PutRequestSchema = z.strictObject({ key: Key, value: z.string(), lease: LeaseIdSchema.optional() });
export const RevisionResponseSchema = z.strictObject({ revision: RevisionSchema });

export const DeleteRequestSchema = z.strictObject({ key: z.string() });

export const DeletePrefixRequestSchema = z.strictObject({ prefix: z.string() });
export const DeletePrefixResponseSchema = z.strictObject({ deleted: z.number().int().min(0) });

export const CompareSchema = z.strictObject({
  key: z.string(),
  modRevision: z.union([RevisionSchema, z.literal('absent')]),
});
export const TxnOpSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('put'), key: Key, value: z.string(), lease: LeaseIdSchema.optional() }),
  z.strictObject({ kind: z.literal('delete'), key: z.string() }),
]);
export const TxnRequestSchema = z.strictObject({
  compares: z.array(CompareSchema).max(128),
  ops: z.array(TxnOpSchema).max(1024),
});
export const TxnResponseSchema = z.union([
  z.strictObject({ ok: z.literal(true), revision: RevisionSchema }),
  z.strictObject({ ok: z.literal(false), key: z.string(), current: z.union([RevisionSchema, z.literal('absent')]) }),
]);

export const GrantRequestSchema = z.strictObject({ ttlMs: z.number().int().min(1).max(MAX_TTL_MS) });
export const GrantResponseSchema = z.strictObject({ id: LeaseIdSchema, ttlMs: z.number().int().min(1) });

export const LeaseRequestSchema = z.strictObject({ id: LeaseIdSchema });
export const RenewResponseSchema = z.union([
  z.strictObject({ ok: z.literal(true), ttlMs: z.number().int().min(1) }),
  z.strictObject({ ok: z.literal(false) }),
]);
export const EmptyResponseSchema = z.strictObject({});

export const WatchRequestSchema = z.strictObject({
  prefix: z.string(),
  afterRevision: RevisionSchema,
  /** How long to hold the request open when there is nothing to report yet. */
  waitMs: z.number().int().min(0).max(MAX_WATCH_WAIT_MS),
});
/** Every event under the prefix in (afterRevision, revision]; the next poll continues from `revision`. */
export const WatchResponseSchema = z.strictObject({ events: z.array(WatchEventSchema), revision: RevisionSchema });

export const StatusResponseSchema = z.strictObject({ revision: RevisionSchema, leases: z.number().int().min(0) });

export const ErrorBodySchema = z.object({ code: z.string(), message: z.string() });
