import { z } from 'zod';
import { GroupIdSchema } from './ids.js';
import { TenantIdSchema } from './config.js';

/** Management roles, weakest first: each role may do everything the ones before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** Id of a token or a console session: 16 lower-case hex characters. */
export const CredentialIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'expected a token id: 16 hex characters (see "halo token list")');

/**
 * Who a caller is, once authenticated. `tenants`/`groups` null = unscoped (the whole cluster);
 * otherwise the caller sees and acts only on groups of those tenants or with those names.
 */
export const IdentitySchema = z.strictObject({
  name: z.string(),
  /** How the caller proved it: a bearer token, a console session (made from a token), a client certificate. */
  kind: z.enum(['token', 'session', 'cert']),
  role: RoleSchema,
  tenants: z.array(TenantIdSchema).nullable(),
  groups: z.array(GroupIdSchema).nullable(),
});
export type Identity = z.infer<typeof IdentitySchema>;

/** A bearer token as stored: only the SHA-256 of its secret, never the secret. */
export const TokenRecordSchema = z.strictObject({
  id: CredentialIdSchema,
  name: z.string().min(1).max(128),
  role: RoleSchema,
  tenants: z.array(TenantIdSchema).nullable(),
  groups: z.array(GroupIdSchema).nullable(),
  /** Hex SHA-256 of the secret part of the token. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.number(),
  createdBy: z.string(),
  /** Epoch ms after which the token is refused; null = no expiry. */
  expiresAt: z.number().nullable(),
});
export type TokenRecord = z.infer<typeof TokenRecordSchema>;

/** A console login session (the cookie holds its id and secret). */
export const SessionRecordSchema = z.strictObject({
  id: CredentialIdSchema,
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  identity: IdentitySchema,
  /** The token the session was made from (revoking it ends the session); null for a certificate login. */
  tokenId: CredentialIdSchema.nullable(),
  /** Sent back by the console in x-halo-csrf on every mutating request. */
  csrf: z.string().min(16),
  createdAt: z.number(),
  expiresAt: z.number(),
});
export type SessionRecord = z.infer<typeof SessionRecordSchema>;

/** One audit record: a mutating request, or any refused one. */
export const AuditEntrySchema = z.strictObject({
  at: z.number(),
  /** Who: the identity's name, or "(anonymous)". */
  identity: z.string(),
  kind: z.enum(['token', 'session', 'cert', 'anonymous']),
  role: RoleSchema.nullable(),
  /** Source address of the connection. */
  source: z.string(),
  /** The node whose API took the request. */
  node: z.string(),
  method: z.string(),
  /** The route pattern (e.g. /v1/groups/:group/switchover), or the path of an unknown route. */
  route: z.string(),
  /** What it acted on: "group web", "node n2", "token 0123…", or null. */
  target: z.string().nullable(),
  outcome: z.enum(['ok', 'refused', 'failed']),
  status: z.number().int(),
  /** The error code of a refused or failed request. */
  code: z.string().nullable(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
