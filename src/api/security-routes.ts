import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Coordinator } from '../coord/coordinator.js';
import { ClusterError } from '../domain/errors.js';
import type { NodeId } from '../domain/ids.js';
import type { TokenRecord } from '../domain/security.js';
import type { Clock } from '../platform/clock.js';
import { createToken, identityOfToken, listTokens, revokeToken, type CredentialVerifier } from '../security/credentials.js';
import { clearedSessionCookie, sessionCookie } from './auth.js';
import { listAudit } from '../observability/audit.js';
import { optionalBody, parseRequest } from './errors.js';
import {
  AuditQuerySchema,
  SessionRequestSchema,
  TokenCreateRequestSchema,
  TokenParamsSchema,
  type AuditResponse,
  type SessionResponse,
  type TokenCreated,
  type TokenRevoked,
  type TokensResponse,
  type TokenView,
} from './schemas.js';

export interface SecurityRouteDeps {
  readonly coord: Coordinator;
  readonly cluster: string;
  readonly self: NodeId;
  readonly clock: Clock;
  readonly verifier: CredentialVerifier;
  readonly sessionTtlMs: number;
}

const DEFAULT_AUDIT_LIMIT = 200;

function view(t: TokenRecord): TokenView {
  const { hash: _h, ...rest } = t;
  void _h;
  return rest;
}

/** Tokens (admin), console sessions (login/logout) and the audit log (admin). Access is in auth.ts ROUTE_ACCESS. */
export function registerSecurityRoutes(app: FastifyInstance, deps: SecurityRouteDeps): void {
  const { coord, cluster, clock, verifier } = deps;

  app.get('/v1/tokens', async (): Promise<TokensResponse> => ({ tokens: (await listTokens(coord, cluster)).map(view) }));

  app.post('/v1/tokens', async (req, reply): Promise<TokenCreated> => {
    const body = parseRequest(TokenCreateRequestSchema, req.body, 'body');
    const now = clock.wallNow();
    const created = await createToken(
      coord,
      cluster,
      {
        name: body.name,
        role: body.role,
        tenants: body.tenants ?? null,
        groups: body.groups ?? null,
        expiresAt: body.expiresInMs === undefined ? null : now + body.expiresInMs,
        createdBy: `${req.identity?.name ?? '?'}@${deps.self}`,
      },
      now,
    );
    void reply.status(201).header('cache-control', 'no-store');
    return { token: created.token, info: view(created.record) };
  });

  app.delete('/v1/tokens/:id', async (req): Promise<TokenRevoked> => {
    const { id } = parseRequest(TokenParamsSchema, req.params, 'params');
    if (!(await revokeToken(coord, cluster, id))) throw new ClusterError('HA_NOT_FOUND', `no token with id ${id}; see "halo token list"`);
    return { id, revoked: true };
  });

  async function answerSession(req: FastifyRequest, reply: FastifyReply): Promise<SessionResponse> {
    if (req.identity === null) throw new ClusterError('HA_UNAUTHENTICATED', 'not logged in');
    void reply.header('cache-control', 'no-store');
    const s = req.session;
    return { identity: req.identity, csrf: s?.csrf ?? null, expiresAt: s?.expiresAt ?? null };
  }

  /** Login: a token in the body, or the connection's client certificate, becomes a session cookie. */
  app.post('/v1/session', async (req, reply): Promise<SessionResponse> => {
    const body = parseRequest(SessionRequestSchema, optionalBody(req.body), 'body');
    const now = clock.wallNow();
    let tokenId: string | null = null;
    let expires: number | null = null;
    let identity = req.identity?.kind === 'cert' ? req.identity : null;
    if (body.token !== undefined) {
      const rec = await verifier.verifyToken(body.token, now);
      if (!rec) {
        req.failureCode = 'HA_UNAUTHENTICATED';
        throw new ClusterError('HA_UNAUTHENTICATED', 'the token was not accepted (unknown, revoked or expired)');
      }
      identity = identityOfToken(rec);
      tokenId = rec.id;
      expires = rec.expiresAt;
    }
    if (identity === null) throw new ClusterError('HA_UNAUTHENTICATED', 'body.token: give a token to log in with (or connect with a client certificate)');
    const { cookie, record } = await verifier.createSession(identity, tokenId, now, deps.sessionTtlMs, expires);
    void reply.header('set-cookie', sessionCookie(cookie, (record.expiresAt - now) / 1000)).header('cache-control', 'no-store');
    return { identity: record.identity, csrf: record.csrf, expiresAt: record.expiresAt };
  });

  app.get('/v1/session', async (req, reply) => answerSession(req, reply));

  app.delete('/v1/session', async (req, reply) => {
    if (req.session !== null) await verifier.endSession(req.session.id);
    void reply.header('set-cookie', clearedSessionCookie).status(204);
    return reply.send();
  });

  app.get('/v1/audit', async (req): Promise<AuditResponse> => {
    const q = parseRequest(AuditQuerySchema, req.query, 'query');
    return { entries: await listAudit(coord, cluster, { limit: q.limit ?? DEFAULT_AUDIT_LIMIT, ...(q.after === undefined ? {} : { afterRevision: q.after }) }) };
  });
}
