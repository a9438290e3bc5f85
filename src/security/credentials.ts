import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Coordinator } from '../coord/coordinator.js';
import { ClusterError } from '../domain/errors.js';
import { clusterKeys } from '../domain/keys.js';
import { parseStored } from '../domain/parse.js';
import {
  SessionRecordSchema,
  TokenRecordSchema,
  type Identity,
  type Role,
  type SessionRecord,
  type TokenRecord,
} from '../domain/security.js';

/**
 * Bearer tokens and console sessions, stored in the coordinator so that every node's API accepts
 * them (no node is special). A token is `halo_<id>_<secret>`: the id names its record, the
 * 256-bit secret is shown once, at creation, and stored only as its SHA-256 (a random secret of
 * that size needs no slow hash). A session cookie is `<id>.<secret>`, stored the same way.
 */

const TOKEN_RE = /^halo_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const COOKIE_RE = /^([0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;

export const SESSION_COOKIE = 'halo_session';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const newId = (): string => randomBytes(8).toString('hex');
const newSecret = (): string => randomBytes(32).toString('base64url');

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}


export interface TokenSpec {
  readonly name: string;
  readonly role: Role;
  readonly tenants: readonly string[] | null;
  readonly groups: readonly string[] | null;
  /** Epoch ms; null = never expires. */
  readonly expiresAt: number | null;
  readonly createdBy: string;
}

export interface CreatedToken {
  /** The whole token: shown once, never stored. */
  readonly token: string;
  readonly record: TokenRecord;
}

/** Creates a token. Used by the API (admin) and by `halo token create --config` (bootstrap, straight to the coordinator). */
export async function createToken(coord: Coordinator, cluster: string, spec: TokenSpec, now: number, opts: { readonly signal?: AbortSignal } = {}): Promise<CreatedToken> {
  const id = newId();
  const secret = newSecret();
  const record = TokenRecordSchema.parse({
    id,
    name: spec.name,
    role: spec.role,
    tenants: spec.tenants === null ? null : [...spec.tenants],
    groups: spec.groups === null ? null : [...spec.groups],
    hash: sha256(secret),
    createdAt: now,
    createdBy: spec.createdBy,
    expiresAt: spec.expiresAt,
  });
  const key = clusterKeys(cluster).token(id);
  const r = await coord.txn([{ key, modRevision: 'absent' }], [{ kind: 'put', key, value: JSON.stringify(record) }], opts.signal ? { signal: opts.signal } : {});
  if (!r.ok) throw new ClusterError('HA_CONFLICT', 'token id collision; try again');
  return { token: `halo_${id}_${secret}`, record };
}

export async function listTokens(coord: Coordinator, cluster: string, opts: { readonly signal?: AbortSignal } = {}): Promise<TokenRecord[]> {
  const { items } = await coord.list(clusterKeys(cluster).tokensPrefix, opts.signal ? { signal: opts.signal } : {});
  return items.flatMap((kv) => parseStored(TokenRecordSchema, kv.value) ?? []).sort((a, b) => a.createdAt - b.createdAt);
}

/** Deletes a token and every console session made from it. false: no such token. */
export async function revokeToken(coord: Coordinator, cluster: string, id: string, opts: { readonly signal?: AbortSignal } = {}): Promise<boolean> {
  const keys = clusterKeys(cluster);
  const o = opts.signal ? { signal: opts.signal } : {};
  const cur = await coord.get(keys.token(id), o);
  if (cur === undefined) return false;
  await coord.delete(keys.token(id), o);
  const { items } = await coord.list(keys.sessionsPrefix, o);
  for (const kv of items) {
    const s = parseStored(SessionRecordSchema, kv.value);
    if (s === undefined || s.tokenId === id) await coord.delete(kv.key, o);
  }
  return true;
}

export function identityOfToken(t: TokenRecord): Identity {
  return { name: t.name, kind: 'token', role: t.role, tenants: t.tenants, groups: t.groups };
}

type Cached<T> = { readonly value: T | undefined; readonly at: number };

/**
 * Checks tokens and sessions for one API server. Records are cached for `cacheMs` (default 1 s):
 * a revoked token or ended session is refused everywhere within that time, and a busy API does
 * not read the coordinator on every request. Only records that exist are cached, so a token
 * created on another node works at once.
 */
export class CredentialVerifier {
  private readonly tokens = new Map<string, Cached<TokenRecord>>();
  private readonly sessions = new Map<string, Cached<SessionRecord>>();
  private readonly keys: ReturnType<typeof clusterKeys>;

  constructor(
    private readonly coord: Coordinator,
    cluster: string,
    private readonly cacheMs = 1000,
  ) {
    this.keys = clusterKeys(cluster);
  }

  private async record<T>(cache: Map<string, Cached<T>>, key: string, id: string, schema: Parameters<typeof parseStored<T>>[0], now: number): Promise<T | undefined> {
    const hit = cache.get(id);
    if (hit && now - hit.at < this.cacheMs) return hit.value;
    const kv = await this.coord.get(key);
    const value = kv === undefined ? undefined : parseStored(schema, kv.value);
    if (value === undefined) cache.delete(id);
    else {
      if (cache.size > 10_000) cache.clear();
      cache.set(id, { value, at: now });
    }
    return value;
  }

  /** The token's record if `token` is a valid, unexpired token; undefined otherwise. */
  async verifyToken(token: string, now: number): Promise<TokenRecord | undefined> {
    const m = TOKEN_RE.exec(token);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    const rec = await this.record(this.tokens, this.keys.token(m[1]), m[1], TokenRecordSchema, now);
    if (!rec || !sameHash(rec.hash, sha256(m[2]))) return undefined;
    if (rec.expiresAt !== null && now >= rec.expiresAt) return undefined;
    return rec;
  }

  /** The session if `cookie` is a valid, unexpired session whose token still exists. */
  async verifySession(cookie: string, now: number): Promise<SessionRecord | undefined> {
    const m = COOKIE_RE.exec(cookie);
    if (!m || m[1] === undefined || m[2] === undefined) return undefined;
    const rec = await this.record(this.sessions, this.keys.session(m[1]), m[1], SessionRecordSchema, now);
    if (!rec || !sameHash(rec.hash, sha256(m[2])) || now >= rec.expiresAt) return undefined;
    if (rec.tokenId !== null) {
      const t = await this.record(this.tokens, this.keys.token(rec.tokenId), rec.tokenId, TokenRecordSchema, now);
      if (!t || (t.expiresAt !== null && now >= t.expiresAt)) return undefined;
    }
    return rec;
  }

  /** Starts a console session for an authenticated identity; returns the cookie value. */
  async createSession(identity: Identity, tokenId: string | null, now: number, ttlMs: number, tokenExpiresAt: number | null): Promise<{ cookie: string; record: SessionRecord }> {
    const id = newId();
    const secret = newSecret();
    const expiresAt = tokenExpiresAt === null ? now + ttlMs : Math.min(now + ttlMs, tokenExpiresAt);
    const record = SessionRecordSchema.parse({
      id,
      hash: sha256(secret),
      identity: { ...identity, kind: 'session' },
      tokenId,
      csrf: randomBytes(24).toString('base64url'),
      createdAt: now,
      expiresAt,
    });
    await this.coord.put(this.keys.session(id), JSON.stringify(record));
    return { cookie: `${id}.${secret}`, record };
  }

  async endSession(id: string): Promise<void> {
    this.sessions.delete(id);
    await this.coord.delete(this.keys.session(id));
  }
}

/** Deletes expired sessions (the controller runs it now and then; an expired session is refused anyway). */
export async function sweepSessions(coord: Coordinator, cluster: string, now: number, opts: { readonly signal?: AbortSignal } = {}): Promise<number> {
  const o = opts.signal ? { signal: opts.signal } : {};
  const { items } = await coord.list(clusterKeys(cluster).sessionsPrefix, o);
  let n = 0;
  for (const kv of items) {
    const s = parseStored(SessionRecordSchema, kv.value);
    if (s === undefined || now >= s.expiresAt) {
      await coord.delete(kv.key, o);
      n++;
    }
  }
  return n;
}
