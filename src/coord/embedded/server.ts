import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { z } from 'zod';
import { ClusterError, type ErrorCode } from '../../domain/errors.js';
import { SystemClock, type Clock } from '../../platform/clock.js';
import type { TxnOp } from '../coordinator.js';
import { eventsUnder, KvStore } from '../memory/kv-store.js';
import type { StoreRecord } from '../memory/records.js';
import type { Logger } from '../../observability/log.js';
import type { CertRole } from '../../security/certs.js';
import { peerCertIdentity, type TlsMaterial } from '../../security/tls.js';
import { DiskLog } from './disk-log.js';
import { FailureLimiter, type FailureLimits } from './limiter.js';
import { SecretVerifier } from './secret.js';
import {
  DeletePrefixRequestSchema,
  DeleteRequestSchema,
  GetRequestSchema,
  GrantRequestSchema,
  LeaseRequestSchema,
  ListRequestSchema,
  Paths,
  PutRequestSchema,
  TxnRequestSchema,
  WatchRequestSchema,
} from './protocol.js';

export interface CoordinatorServerOptions {
  readonly host: string;
  /** 0 picks a free port; `url` tells which. */
  readonly port: number;
  readonly dataDir: string;
  /** Aborting it closes the server. */
  readonly signal?: AbortSignal;
  /** Revisions of change history kept for watches (default 10 000). */
  readonly historyLimit?: number;
  /** Snapshot and truncate the change log after this many records (default 20 000). */
  readonly compactAfterRecords?: number;
  readonly clock?: Clock;
  /**
   * The shared secret every request must carry as `authorization: Bearer <secret>` (see secret.ts).
   * It is checked before anything else, the body included.
   */
  readonly secret: string;
  /**
   * Serve HTTPS with this identity and accept only clients whose certificate the same CA signed,
   * with role node or admin; the secret is required as well.
   */
  readonly tls?: TlsMaterial;
  /** Where refused requests are reported (default: nowhere). */
  readonly log?: Logger;
  /** Failed authentications per source address before further failures get 429 (default 20 in 10 s). */
  readonly authLimits?: Partial<FailureLimits>;
  /** Largest request body accepted (default BODY_LIMIT_BYTES). */
  readonly bodyLimitBytes?: number;
}

export interface CoordinatorServer {
  /** e.g. http://127.0.0.1:2399, or https://… with `tls` */
  readonly url: string;
  /** Stop listening, end open watches, close the log. Idempotent. */
  close(): Promise<void>;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  HA_BAD_REQUEST: 400,
  HA_UNAUTHENTICATED: 401,
  HA_PERMISSION: 403,
  HA_RATE_LIMITED: 429,
  HA_NOT_FOUND: 404,
  HA_LEASE_LOST: 409,
  HA_COORD_COMPACTED: 410,
  HA_COORD_UNAVAILABLE: 503,
  HA_COORD_OUTCOME_UNKNOWN: 500,
};

/** Largest request body (a full txn of 1024 puts with large values fits). */
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;
/** Largest request head (request line and headers); beyond it the answer is 431. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Time a client has to send the request head, and the whole request. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Certificate roles that may use the coordinator over TLS. */
const CLIENT_ROLES: ReadonlySet<CertRole> = new Set<CertRole>(['node', 'admin']);

/** How often leases are expired in the background, so watchers see expiry without other traffic. */
const EXPIRY_INTERVAL_MS = 10;

/**
 * The embedded coordinator for one machine: a `KvStore` served over HTTP/JSON and made durable by
 * a `DiskLog`. A write is answered only after its record is fsynced. If the log cannot be written the
 * server stops serving (every request is HA_COORD_UNAVAILABLE, the failed write HA_COORD_OUTCOME_UNKNOWN)
 * rather than go on with memory and disk disagreeing; restarting it recovers from disk.
 */
export async function startCoordinatorServer(opts: CoordinatorServerOptions): Promise<CoordinatorServer> {
  opts.signal?.throwIfAborted();
  const clock = opts.clock ?? new SystemClock();
  const log = new DiskLog(
    opts.dataDir,
    opts.compactAfterRecords === undefined ? {} : { compactAfterRecords: opts.compactAfterRecords },
  );
  let failure: unknown;
  let compactionQueued = false;

  const compactSoon = (): void => {
    if (compactionQueued) return;
    compactionQueued = true;
    // A microtask runs after the current (synchronous) store operation has applied the record.
    queueMicrotask(() => {
      compactionQueued = false;
      if (failure !== undefined) return;
      try {
        log.compact(store.snapshot());
      } catch (e) {
        failure = e;
      }
    });
  };

  const persist = (record: StoreRecord): void => {
    if (failure !== undefined) throw unavailable(failure);
    try {
      log.append(record);
    } catch (e) {
      failure = e;
      throw new ClusterError('HA_COORD_OUTCOME_UNKNOWN', `could not make the change durable: ${String(e)}`, { cause: e });
    }
    if (log.needsCompaction()) compactSoon();
  };

  const store = new KvStore({
    clock,
    persist,
    ...(opts.historyLimit === undefined ? {} : { historyLimit: opts.historyLimit }),
  });
  log.load(store);

  const closing = new AbortController();
  const tls = opts.tls;
  const serverOptions = { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS };
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimitBytes ?? BODY_LIMIT_BYTES,
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
      tls === undefined
        ? createHttpServer(serverOptions, handler)
        : createHttpsServer({ ...serverOptions, ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true }, handler),
    clientErrorHandler: answerClientError,
    // A URL the router cannot decode is refused before hooks run; answer it like every other error.
    frameworkErrors: (err, _req, reply) => {
      const body = JSON.stringify({ code: 'HA_BAD_REQUEST', message: `malformed request URL (${err.code})` });
      reply.raw.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
    },
  });
  const auth = authenticator(opts, clock);
  app.addHook('onRequest', auth);

  app.setErrorHandler((err: unknown, _req, reply) => {
    const { status, code, message } = describeError(err);
    void reply.code(status).send({ code, message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ code: 'HA_NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });
  app.addHook('onRequest', async () => {
    if (failure !== undefined) throw unavailable(failure);
  });

  app.post(Paths.get, async (req) => {
    const body = parseBody(GetRequestSchema, req.body);
    return { kv: store.get(body.key) ?? null };
  });
  app.post(Paths.list, async (req) => {
    const body = parseBody(ListRequestSchema, req.body);
    return store.list(body.prefix);
  });
  app.post(Paths.put, async (req) => {
    const body = parseBody(PutRequestSchema, req.body);
    return { revision: store.put(body.key, body.value, body.lease) };
  });
  app.post(Paths.delete, async (req) => {
    const body = parseBody(DeleteRequestSchema, req.body);
    return { revision: store.delete(body.key) };
  });
  app.post(Paths.deletePrefix, async (req) => {
    const body = parseBody(DeletePrefixRequestSchema, req.body);
    return { deleted: store.deletePrefix(body.prefix) };
  });
  app.post(Paths.txn, async (req) => {
    const body = parseBody(TxnRequestSchema, req.body);
    const ops = body.ops.map(
      (op): TxnOp =>
        op.kind === 'put'
          ? { kind: 'put', key: op.key, value: op.value, ...(op.lease === undefined ? {} : { lease: op.lease }) }
          : { kind: 'delete', key: op.key },
    );
    return store.txn(body.compares, ops);
  });
  app.post(Paths.grant, async (req) => {
    const body = parseBody(GrantRequestSchema, req.body);
    return store.grantLease(body.ttlMs);
  });
  app.post(Paths.renew, async (req) => {
    const body = parseBody(LeaseRequestSchema, req.body);
    return store.renewLease(body.id);
  });
  app.post(Paths.revoke, async (req) => {
    const body = parseBody(LeaseRequestSchema, req.body);
    store.revokeLease(body.id);
    return {};
  });
  app.post(Paths.status, async () => ({ revision: store.currentRevision(), leases: store.leaseCount() }));
  app.post(Paths.watch, async (req, reply) => {
    const body = parseBody(WatchRequestSchema, req.body);
    const now = store.changesSince(body.prefix, body.afterRevision);
    if (now.events.length > 0 || body.waitMs === 0) return now;
    await changeUnder(store, body.prefix, body.waitMs, reply, closing.signal);
    return store.changesSince(body.prefix, body.afterRevision);
  });

  const timer = setInterval(() => {
    if (failure !== undefined) return;
    try {
      store.expireLeases();
    } catch {
      // persist() recorded the failure; requests now answer HA_COORD_UNAVAILABLE.
    }
  }, EXPIRY_INTERVAL_MS);
  timer.unref();

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing.abort();
      clearInterval(timer);
      try {
        await app.close();
      } finally {
        log.close();
      }
    })();
    return closed;
  };

  try {
    await app.listen({ host: opts.host, port: opts.port });
  } catch (e) {
    await close();
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  opts.signal?.addEventListener('abort', () => void close(), { once: true });
  return { url: `${tls === undefined ? 'http' : 'https'}://${host}:${port}`, close };
}

/**
 * The onRequest hook that authenticates every request before its body is read: over TLS, a client
 * certificate of role node or admin (the handshake already required one signed by the CA); always,
 * the shared secret. Failures are counted per source address; past the limit they are answered 429
 * and no longer logged one by one. A request with a valid credential is served even from a limited
 * address, so a local process sending bad credentials cannot lock the agents on the same address out
 * (which would cost every node its lease); the secret's 256 bits, not the limit, stop guessing.
 */
function authenticator(opts: CoordinatorServerOptions, clock: Clock): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  const verifier = new SecretVerifier(opts.secret);
  const limiter = new FailureLimiter(opts.authLimits);
  const logger = opts.log;
  return async (req, reply) => {
    let refusal: { status: 401 | 403; code: ErrorCode; message: string } | undefined;
    if (opts.tls !== undefined) {
      const socket = req.raw.socket;
      const peer = socket instanceof TLSSocket ? peerCertIdentity(socket) : undefined;
      if (peer === undefined || !CLIENT_ROLES.has(peer.role)) {
        const who = peer === undefined ? 'a certificate without a halo identity' : `${peer.role} certificate "${peer.name}"`;
        refusal = { status: 403, code: 'HA_PERMISSION', message: `the coordinator accepts node and admin certificates only, not ${who}` };
      }
    }
    if (refusal === undefined) {
      if (verifier.matches(req.headers.authorization)) return undefined;
      refusal = {
        status: 401,
        code: 'HA_UNAUTHENTICATED',
        message: req.headers.authorization === undefined ? 'no credential: send "authorization: Bearer <coordinator secret>"' : 'wrong coordinator secret',
      };
    }
    const address = req.socket.remoteAddress ?? 'unknown';
    const verdict = limiter.fail(address, clock.now());
    if (verdict.kind === 'limited') {
      return reply
        .code(429)
        .header('retry-after', '10')
        .send({ code: 'HA_RATE_LIMITED', message: `too many failed attempts from ${address}; try again later` });
    }
    logger?.warn(
      { address, method: req.method, path: req.url.slice(0, 200), code: refusal.code, failures: verdict.failures },
      verdict.kind === 'limit-reached'
        ? `coordinator: refused a request (${refusal.code}); ${address} reached ${verdict.failures} failures, further ones get 429 for up to ${Math.max(0, verdict.untilMs - clock.now())} ms and are not logged`
        : `coordinator: refused a request (${refusal.code})`,
    );
    if (refusal.status === 401) void reply.header('www-authenticate', 'Bearer');
    return reply.code(refusal.status).send({ code: refusal.code, message: refusal.message });
  };
}

/** Errors before a request reaches fastify (bad request line, head too large, timeout): a JSON answer, then close. */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', `request head larger than ${MAX_HEADER_BYTES} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'request not received in time']
        : [400, 'Bad Request', 'malformed HTTP request'];
  const body = JSON.stringify({ code: 'HA_BAD_REQUEST', message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}

/** Resolves when a change under `prefix` is committed, after `waitMs`, or when the request or server goes away. */
function changeUnder(store: KvStore, prefix: string, waitMs: number, reply: FastifyReply, closing: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      unsubscribe();
      closing.removeEventListener('abort', done);
      reply.raw.removeListener('close', done);
      resolve();
    };
    const timer = setTimeout(done, waitMs);
    const unsubscribe = store.subscribe((entry) => {
      if (eventsUnder(entry, prefix).length > 0) done();
    });
    closing.addEventListener('abort', done, { once: true });
    reply.raw.once('close', done);
    if (closing.aborted) done();
  });
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`);
  throw new ClusterError('HA_BAD_REQUEST', `invalid request body: ${details.join('; ')}`, { details });
}

function describeError(err: unknown): { status: number; code: ErrorCode; message: string } {
  if (err instanceof ClusterError) return { status: STATUS[err.code] ?? 500, code: err.code, message: err.message };
  const statusCode = typeof err === 'object' && err !== null && 'statusCode' in err ? err.statusCode : undefined;
  const message = err instanceof Error ? err.message : String(err);
  // fastify's own 4xx errors: unparsable JSON, wrong content type, body too large.
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { status: 400, code: 'HA_BAD_REQUEST', message };
  }
  return { status: 500, code: 'HA_INTERNAL', message };
}

function unavailable(cause: unknown): ClusterError {
  return new ClusterError('HA_COORD_UNAVAILABLE', `coordinator stopped serving after a storage failure: ${String(cause)}`, {
    cause,
  });
}
