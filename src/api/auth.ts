import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Coordinator } from '../coord/coordinator.js';
import type { GroupConfig } from '../domain/config.js';
import { ClusterError } from '../domain/errors.js';
import type { NodeId } from '../domain/ids.js';
import { roleAtLeast, type AuditEntry, type Identity, type Role, type SessionRecord } from '../domain/security.js';
import type { Clock } from '../platform/clock.js';
import { CredentialVerifier, SESSION_COOKIE, identityOfToken } from '../security/credentials.js';
import { peerCertIdentity } from '../security/tls.js';
import { appendAudit } from '../observability/audit.js';
import type { ErrorBody } from './schemas.js';

/**
 * Who may call what. Every route is listed here; a route missing from the table needs an
 * unscoped admin (fail safe). `clusterWide`: the caller must be unscoped (a token scoped to
 * tenants or groups may not act on the whole cluster, on nodes, on configuration or on tokens).
 */
export type Access = { readonly kind: 'public' } | { readonly kind: 'role'; readonly role: Role; readonly clusterWide: boolean };

const PUBLIC: Access = { kind: 'public' };
const viewer: Access = { kind: 'role', role: 'viewer', clusterWide: false };
const operator: Access = { kind: 'role', role: 'operator', clusterWide: false };
const operatorCluster: Access = { kind: 'role', role: 'operator', clusterWide: true };
const adminCluster: Access = { kind: 'role', role: 'admin', clusterWide: true };

export const ROUTE_ACCESS: Readonly<Record<string, Access>> = {
  'GET /healthz': PUBLIC,
  'GET /openapi.json': PUBLIC,
  'GET /': PUBLIC,
  'GET /console': PUBLIC,
  'GET /console/': PUBLIC,
  'GET /console/*': PUBLIC,
  'POST /v1/session': PUBLIC,
  'GET /v1/session': viewer,
  'DELETE /v1/session': viewer,
  'GET /v1/status': viewer,
  'GET /v1/nodes': viewer,
  'GET /v1/groups/:group': viewer,
  'GET /v1/groups/:group/why': viewer,
  'GET /v1/events': viewer,
  'GET /v1/events/stream': viewer,
  'GET /v1/endpoints': viewer,
  'GET /v1/report': viewer,
  'GET /v1/mirrors': viewer,
  'GET /metrics': viewer,
  'POST /v1/groups/:group/switchover': operator,
  'POST /v1/groups/:group/failover': operator,
  'POST /v1/groups/:group/cleanup': operator,
  'POST /v1/maintenance': operator,
  'POST /v1/nodes/:node/standby': operatorCluster,
  'POST /v1/nodes/:node/online': operatorCluster,
  'GET /v1/config': adminCluster,
  'POST /v1/config': adminCluster,
  'POST /v1/config/validate': adminCluster,
  'GET /v1/tokens': adminCluster,
  'POST /v1/tokens': adminCluster,
  'DELETE /v1/tokens/:id': adminCluster,
  'GET /v1/audit': adminCluster,
};

export function accessOf(method: string, route: string | undefined, metricsOpen: boolean): Access {
  if (route === undefined) return adminCluster;
  const m = method === 'HEAD' ? 'GET' : method;
  if (metricsOpen && m === 'GET' && route === '/metrics') return PUBLIC;
  return ROUTE_ACCESS[`${m} ${route}`] ?? adminCluster;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller; null on public routes called without a credential. */
    identity: Identity | null;
    /** Set when the identity came from a console session cookie. */
    session: SessionRecord | null;
    /** The error code the request was refused or failed with, for its audit record. */
    failureCode: string | null;
  }
}

/** Whether the caller may see and act on this group (scoped tokens see only their tenants' or groups'). */
export function canSeeGroup(id: Identity | null, g: Pick<GroupConfig, 'name' | 'tenant'>): boolean {
  if (id === null) return false;
  if (id.tenants !== null && !id.tenants.includes(g.tenant)) return false;
  if (id.groups !== null && !id.groups.includes(g.name)) return false;
  return true;
}

export function isUnscoped(id: Identity | null): boolean {
  return id !== null && id.tenants === null && id.groups === null;
}

/** Throws HA_PERMISSION unless the caller is unscoped (for an action on the whole cluster or a node). */
export function requireUnscoped(id: Identity | null, what: string): void {
  if (!isUnscoped(id)) throw new ClusterError('HA_PERMISSION', `${what} affects the whole cluster; a token scoped to tenants or groups may not do it`);
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Failed authentication attempts per source address (a bad credential or none on a route that
 * needs one): more than LIMIT in WINDOW_MS are refused unchecked (429).
 */
const FAIL_LIMIT = 20;
const FAIL_WINDOW_MS = 10_000;

export class FailureLimiter {
  private readonly fails = new Map<string, number[]>();
  constructor(
    private readonly limit = FAIL_LIMIT,
    private readonly windowMs = FAIL_WINDOW_MS,
  ) {}
  private recent(source: string, now: number): number[] {
    const list = (this.fails.get(source) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.fails.delete(source);
    else this.fails.set(source, list);
    return list;
  }
  limited(source: string, now: number): boolean {
    return this.recent(source, now).length >= this.limit;
  }
  /** Records a failure; true when this one reached the limit (the first refusal worth recording). */
  fail(source: string, now: number): boolean {
    const list = this.recent(source, now);
    list.push(now);
    if (this.fails.size > 100_000) this.fails.clear();
    this.fails.set(source, list);
    return list.length === this.limit;
  }
}

/** Why a change may not be made this way: from a cross-site browser context, or with a body that is not JSON. */
function unsafeMutation(req: FastifyRequest): { status: number; body: ErrorBody } | undefined {
  const type = req.headers['content-type'];
  if (req.headers['sec-fetch-site'] === 'cross-site') return { status: 403, body: { code: 'HA_PERMISSION', message: 'cross-site requests may not change anything' } };
  if (type !== undefined && !/^application\/json\s*(;|$)/i.test(type)) {
    return { status: 415, body: { code: 'HA_BAD_REQUEST', message: `content-type must be application/json, got "${type.slice(0, 60)}"` } };
  }
  return undefined;
}

export interface AuthDeps {
  readonly coord: Coordinator;
  readonly cluster: string;
  readonly self: NodeId;
  readonly clock: Clock;
  readonly verifier: CredentialVerifier;
  readonly metricsOpen: boolean;
}

function refuse(req: FastifyRequest, reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  req.failureCode = body.code;
  return reply.status(status).send(body);
}

/**
 * Authentication, role and CSRF checks for every request, before its body is read (onRequest
 * runs before fastify parses bodies), and the audit record of every mutating or refused request.
 * Identity, first match wins: a client certificate signed by the cluster CA (TLS only), then
 * `Authorization: Bearer <token>`, then the console's session cookie. A request authenticated by
 * the cookie must carry the session's CSRF token in x-halo-csrf to change anything; every
 * mutating request must be JSON (a cross-site form cannot send it without a CORS preflight, which
 * is never granted) and must not come from a cross-site browser context.
 */
export function registerAuth(app: FastifyInstance, deps: AuthDeps): void {
  const limiter = new FailureLimiter();
  const { verifier, clock } = deps;
  app.decorateRequest('identity', null);
  app.decorateRequest('session', null);
  app.decorateRequest('failureCode', null);

  app.addHook('onRequest', async (req, reply) => {
    const now = clock.wallNow();
    const source = req.ip;
    const access = accessOf(req.method, req.routeOptions.url, deps.metricsOpen);
    if (limiter.limited(source, now)) {
      return refuse(req, reply, 429, { code: 'HA_RATE_LIMITED', message: `too many failed attempts from ${source}; wait ${FAIL_WINDOW_MS / 1000} s and retry` });
    }
    let identity: Identity | null = null;
    let badCredential = false;
    const sock = req.raw.socket;
    if ('encrypted' in sock && sock.encrypted === true) {
      const peer = peerCertIdentity(sock as TLSSocket);
      // An agent's certificate (OU=node) acts as an unscoped admin: agents are the cluster.
      if (peer) identity = { name: peer.name, kind: 'cert', role: peer.role === 'node' ? 'admin' : peer.role, tenants: null, groups: null };
    }
    const auth = req.headers.authorization;
    if (identity === null && auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      const rec = m?.[1] === undefined ? undefined : await verifier.verifyToken(m[1], now);
      if (rec) identity = identityOfToken(rec);
      else badCredential = true;
    }
    const cookie = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (identity === null && !badCredential && cookie !== undefined) {
      const s = await verifier.verifySession(cookie, now);
      if (s) {
        identity = s.identity;
        req.session = s;
        if (MUTATING.has(req.method) && req.headers['x-halo-csrf'] !== s.csrf) {
          req.identity = identity;
          return refuse(req, reply, 403, { code: 'HA_PERMISSION', message: 'missing or wrong x-halo-csrf header for a request made with the console session cookie' });
        }
      } else if (access.kind !== 'public') badCredential = true;
    }
    req.identity = identity;
    if (access.kind === 'public') {
      // Public changes (the console login) too: a cross-site form must not log a browser in with
      // its client certificate, and a body that is not JSON is refused as such.
      const refusal = MUTATING.has(req.method) ? unsafeMutation(req) : undefined;
      return refusal === undefined ? undefined : refuse(req, reply, refusal.status, refusal.body);
    }
    if (identity === null) {
      // A request with no credential at all counts too: otherwise a flood of them would be
      // answered (and audited) without limit.
      if (limiter.fail(source, now)) req.log.warn({ source }, 'authentication failures: rate limit reached');
      return refuse(req, reply, 401, {
        code: 'HA_UNAUTHENTICATED',
        message: badCredential
          ? 'the credential was not accepted (unknown, revoked or expired token, or ended session)'
          : 'authentication required: send "Authorization: Bearer <token>" (see "halo token create"), log in to the console, or present a client certificate',
      });
    }
    if (!roleAtLeast(identity.role, access.role)) {
      return refuse(req, reply, 403, { code: 'HA_PERMISSION', message: `${req.method} ${req.routeOptions.url ?? req.url} needs role ${access.role}; ${identity.name} has ${identity.role}` });
    }
    if (access.clusterWide && !isUnscoped(identity)) {
      return refuse(req, reply, 403, { code: 'HA_PERMISSION', message: `${req.method} ${req.routeOptions.url ?? req.url} acts on the whole cluster; ${identity.name} is scoped to ${scopeText(identity)}` });
    }
    if (MUTATING.has(req.method)) {
      // A browser holding a client certificate sends it to any page's request, like a cookie: a
      // change made with a certificate must carry x-halo-csrf (any value), a header no other site
      // can add without a CORS preflight, which is never granted.
      if (identity.kind === 'cert' && req.headers['x-halo-csrf'] === undefined) {
        return refuse(req, reply, 403, { code: 'HA_PERMISSION', message: 'a change made with a client certificate must carry the x-halo-csrf header (any value)' });
      }
      const refusal = unsafeMutation(req);
      if (refusal !== undefined) return refuse(req, reply, refusal.status, refusal.body);
    }
    return;
  });

  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    const refused = status === 401 || status === 403 || status === 429;
    if (!MUTATING.has(req.method) && !refused) return;
    if (status === 429) return; // counted, not recorded one by one: a flood must not flood the store
    const id = req.identity;
    const params = (req.params ?? {}) as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof params[k] === 'string' ? (params[k] as string).slice(0, 200) : undefined);
    const target = str('group') !== undefined ? `group ${str('group')}` : str('node') !== undefined ? `node ${str('node')}` : str('id') !== undefined ? `token ${str('id')}` : null;
    const entry: AuditEntry = {
      at: clock.wallNow(),
      identity: id?.name ?? '(anonymous)',
      kind: id?.kind ?? 'anonymous',
      role: id?.role ?? null,
      source: req.ip,
      node: deps.self,
      method: req.method,
      route: (req.routeOptions.url ?? req.url.split('?')[0] ?? '').slice(0, 300),
      target,
      outcome: status < 400 ? 'ok' : refused ? 'refused' : 'failed',
      status,
      code: status < 400 ? null : req.failureCode,
    };
    try {
      await appendAudit(deps.coord, deps.cluster, entry);
    } catch (e) {
      req.log.warn({ err: e }, 'could not append audit record');
    }
  });
}

export function scopeText(id: Identity): string {
  const parts = [...(id.tenants ? [`tenants ${id.tenants.join(', ')}`] : []), ...(id.groups ? [`groups ${id.groups.join(', ')}`] : [])];
  return parts.join(' and ') || 'the whole cluster';
}

/** Cookie attributes of the console session. */
export function sessionCookie(value: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${value}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}`;
}

export const clearedSessionCookie = `${SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0`;

/**
 * Which groups the caller may see, by name, given the applied configuration (which says each
 * group's tenant). Unscoped callers see every group, also ones no longer configured; scoped
 * callers only configured groups in their scope.
 */
export function groupFilter(id: Identity | null, config: { readonly groups: readonly Pick<GroupConfig, 'name' | 'tenant'>[] } | undefined): (group: string) => boolean {
  if (isUnscoped(id)) return () => true;
  const visible = new Set<string>((config?.groups ?? []).filter((g) => canSeeGroup(id, g)).map((g) => g.name));
  return (group) => visible.has(group);
}

/** The stored configuration as this caller may see it: only its groups (for views and lookups). */
export function scopedConfig<T extends { readonly config: { readonly groups: readonly GroupConfig[] } }>(stored: T | undefined, id: Identity | null): T | undefined {
  if (stored === undefined || isUnscoped(id)) return stored;
  return { ...stored, config: { ...stored.config, groups: stored.config.groups.filter((g) => canSeeGroup(id, g)) } };
}
