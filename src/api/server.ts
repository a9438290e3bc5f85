import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Registry } from 'prom-client';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { formatIssues, parseConfigText, redactConfigSource, rootCommandWarnings } from '../config/index.js';
import type { Coordinator } from '../coord/coordinator.js';
import { ClusterError, isClusterError, type ErrorCode } from '../domain/errors.js';
import { NodeIdSchema, type GroupId, type NodeId } from '../domain/ids.js';
import { clusterKeys } from '../domain/keys.js';
import type { ClusterEvent, MoveIntent, StoredConfig } from '../domain/state.js';
import { appendEvent, listEvents, parseEventRecord, type StoredEvent } from '../observability/events.js';
import { listJournal } from '../observability/journal.js';
import type { Clock } from '../platform/clock.js';
import { ConfigRejectedError, httpStatusOf, optionalBody, parseRequest } from './errors.js';
import { findGroup, findNode, groupView, nodeViews, observeCluster, readStoredConfig, statusOf } from './observe.js';
import { registerConsoleRoute } from './console-route.js';
import { registerMetricsRoute } from './metrics-route.js';
import { openApiDocument } from './openapi.js';
import { registerMirrorsRoute } from './mirrors-route.js';
import { registerReportRoute } from './report.js';
import { groupFilter, registerAuth, requireUnscoped, scopedConfig } from './auth.js';
import { registerSecurityRoutes } from './security-routes.js';
import { CredentialVerifier } from '../security/credentials.js';
import type { TlsMaterial } from '../security/tls.js';
import {
  CleanupRequestSchema,
  ConfigSourceRequestSchema,
  EventsQuerySchema,
  FailoverRequestSchema,
  GroupParamsSchema,
  MaintenanceRequestSchema,
  NodeParamsSchema,
  SwitchoverRequestSchema,
  WhyQuerySchema,
  type CleanupResponse,
  type ConfigApplyResponse,
  type ConfigResponse,
  type ConfigValidateResponse,
  type ErrorBody,
  type EventItem,
  type EventsResponse,
  type GroupView,
  type MaintenanceResponse,
  type MoveAccepted,
  type NodeStandbyResponse,
  type EndpointStatusView,
  type EndpointsResponse,
  type StatusResponse,
  type WhyResponse,
} from './schemas.js';

export interface ApiDeps {
  readonly coord: Coordinator;
  /** The cluster this agent belongs to; the API serves only its keys. */
  readonly cluster: string;
  /** The node serving the API. */
  readonly self: NodeId;
  readonly clock: Clock;
  /** false (default): no request log; an object: fastify logger options or a pino-compatible logger. */
  readonly logger?: false | object;
  /** SSE keep-alive comment interval; default 15 s. */
  readonly sseKeepAliveMs?: number;
  /** This process's metrics (observability/metrics.ts createMetrics()); without it GET /metrics is 404. */
  readonly metrics?: { readonly registry: Registry };
  /** This node's endpoints (the agent's EndpointManager); without it GET /v1/endpoints lists none. */
  readonly endpoints?: () => readonly EndpointStatusView[];
  /** Serve HTTPS with this identity and accept client certificates signed by its CA. */
  readonly tls?: TlsMaterial;
  /** GET /metrics without a credential (security.metrics: open). */
  readonly metricsOpen?: boolean;
  /** Lifetime of a console session; default 8 h. */
  readonly sessionTtlMs?: number;
  /** How long a token or session record is trusted before it is read again; default 1 s. */
  readonly credentialCacheMs?: number;
  /** Connection timeouts; default API_TIMEOUTS (tests shorten them). */
  readonly timeouts?: Partial<ApiTimeouts>;
}

/** How long the API waits for a client: slow or stalled clients must not hold connections. */
export interface ApiTimeouts {
  /** The request line and all headers must arrive within this (slowloris). */
  readonly headersMs: number;
  /** The whole request, body included, must arrive within this; at least headersMs. */
  readonly requestMs: number;
  /** An idle kept-alive connection is closed after this. */
  readonly keepAliveMs: number;
  /** A connection with no traffic either way is closed after this (event streams send a keep-alive every 15 s). */
  readonly idleMs: number;
  /** How often Node checks headersMs and requestMs (its default, 30 s, would let a stalled client stay that much longer). */
  readonly checkIntervalMs: number;
}

export const API_TIMEOUTS: ApiTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, idleMs: 60_000, checkIntervalMs: 1_000 };

/** Largest request body accepted (a configuration file is the largest legitimate one). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Largest request line plus headers; larger is refused with 431 before any route runs. */
export const HEADER_LIMIT_BYTES = 16 * 1024;

/** Longest request URL (path and query); longer is refused with 414. */
export const URL_LIMIT_BYTES = 4 * 1024;

/** Longest path parameter (a group, node or token id); longer is refused with 414. */
export const PARAM_LIMIT_CHARS = 200;

/** Deepest nesting of lists and objects in a JSON body; no request needs more than 3. */
export const BODY_DEPTH_LIMIT = 64;

/** Nesting depth of a parsed JSON value, counted without recursion; stops once past `limit`. */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.v === null || typeof top.v !== 'object') continue;
    const depth = top.depth + 1;
    if (depth > limit) return true;
    for (const child of Object.values(top.v)) if (child !== null && typeof child === 'object') stack.push({ v: child, depth });
  }
  return false;
}

/** A refusal written straight to the socket, for errors Node raises before any request exists. */
function rawErrorResponse(status: number, body: ErrorBody): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

/**
 * Answers HTTP parse errors (headers too large, malformed request line, timeouts) in the API's
 * error shape, then closes the connection. Replaces fastify's default, which answers its own shape.
 */
function onClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status: number;
  let body: ErrorBody;
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    body = { code: 'HA_BAD_REQUEST', message: `request line and headers are larger than ${HEADER_LIMIT_BYTES} bytes` };
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    body = { code: 'HA_BAD_REQUEST', message: 'the request did not arrive in time' };
  } else {
    status = 400;
    body = { code: 'HA_BAD_REQUEST', message: `malformed HTTP request (${(err.code ?? 'parse error').slice(0, 40)})` };
  }
  if (socket.writable) socket.end(rawErrorResponse(status, body));
  socket.destroy();
}

/** Default number of events returned when no limit is given. */
const DEFAULT_EVENT_LIMIT = 100;
const DEFAULT_WHY_LIMIT = 50;

function isLoggerInstance(l: object): l is FastifyBaseLogger {
  return ['info', 'warn', 'error', 'child'].every((m) => typeof (l as Record<string, unknown>)[m] === 'function');
}

function toEventItem(e: StoredEvent): EventItem {
  return { ...e.event, revision: e.revision };
}

/**
 * The management REST API. Stateless: every answer is read from the coordinator, and every
 * operator action is an intent written to it, so any node's API can serve any request.
 * Does not listen; the caller runs `.listen({ host, port })`.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const { coord, cluster, self, clock } = deps;
  const keys = clusterKeys(cluster);
  const logger = deps.logger ?? false;
  const t: ApiTimeouts = { ...API_TIMEOUTS, ...deps.timeouts };
  const nodeServer = { maxHeaderSize: HEADER_LIMIT_BYTES, headersTimeout: t.headersMs, requestTimeout: t.requestMs, connectionsCheckingInterval: t.checkIntervalMs };
  const base = {
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: PARAM_LIMIT_CHARS },
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    connectionTimeout: t.idleMs,
    clientErrorHandler: onClientError,
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
      const long = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      const path = (req.raw.url ?? '').split('?')[0] ?? '';
      const body: ErrorBody = long
        ? { code: 'HA_BAD_REQUEST', message: `a path parameter is longer than ${PARAM_LIMIT_CHARS} characters` }
        : { code: 'HA_BAD_REQUEST', message: `the URL path is not valid percent-encoding: ${JSON.stringify(path.slice(0, 100))}` };
      void reply.status(long ? 414 : 400).send(body);
    },
    ...(deps.tls
      ? { https: { ...nodeServer, key: deps.tls.key, cert: deps.tls.cert, ca: deps.tls.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' as const } }
      : { http: nodeServer }),
  };
  const app = (logger !== false && isLoggerInstance(logger) ? Fastify({ ...base, loggerInstance: logger }) : Fastify({ ...base, logger })) as unknown as FastifyInstance;
  const verifier = new CredentialVerifier(coord, cluster, deps.credentialCacheMs ?? 1000);
  // Before authentication, so an oversized URL is refused without any work.
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.length <= URL_LIMIT_BYTES) return;
    const body: ErrorBody = { code: 'HA_BAD_REQUEST', message: `the URL is longer than ${URL_LIMIT_BYTES} bytes` };
    req.failureCode = body.code;
    return reply.status(414).send(body);
  });
  registerAuth(app, { coord, cluster, self, clock, verifier, metricsOpen: deps.metricsOpen ?? false });
  /** Who asked, for events: the caller's name and the node whose API took the request. */
  const byOf = (req: FastifyRequest): string => `${req.identity?.name ?? 'api'}@${self}`;
  /** Events a scoped caller may see (undefined: all); a scoped caller sees only its groups' events. */
  async function eventFilter(req: FastifyRequest): Promise<((e: StoredEvent) => boolean) | undefined> {
    if (req.identity !== null && req.identity.tenants === null && req.identity.groups === null) return undefined;
    const visible = groupFilter(req.identity, (await readStoredConfig(coord, cluster))?.stored.config);
    return (e) => e.event.group !== null && visible(e.event.group);
  }
  const tail = <T>(list: readonly T[], n: number): readonly T[] => (list.length > n ? list.slice(list.length - n) : list);
  /** Open event streams; ended when the server closes, or close() would wait for their clients. */
  const streams = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const ac of streams) ac.abort();
  });

  /** Events are a record of what happened; failing to write one must not fail the action itself. */
  async function emit(ev: Omit<ClusterEvent, 'at' | 'epoch' | 'resource'> & Partial<Pick<ClusterEvent, 'epoch' | 'resource'>>): Promise<void> {
    try {
      await appendEvent(coord, cluster, { at: clock.wallNow(), epoch: null, resource: null, ...ev });
    } catch (e) {
      app.log.warn({ err: e, kind: ev.kind }, 'could not append event');
    }
  }

  app.setErrorHandler((err: FastifyError | ClusterError | Error, req: FastifyRequest, reply: FastifyReply) => {
    let status: number;
    let body: ErrorBody;
    if (isClusterError(err)) {
      status = httpStatusOf(err.code);
      body = { code: err.code, message: err.message };
      if (err.details.length > 0) body.details = [...err.details];
      if (err instanceof ConfigRejectedError) body.issues = err.issues;
    } else if ('statusCode' in err && typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own request errors: malformed JSON, unsupported media type, body too large.
      status = err.statusCode;
      body = { code: 'HA_BAD_REQUEST', message: err.message };
    } else {
      status = 500;
      body = { code: 'HA_INTERNAL', message: 'internal error; see the agent log' };
    }
    if (status >= 500) req.log.error({ err }, 'request failed');
    req.failureCode = body.code;
    void reply.status(status).send(body);
  });

  // Bodies are parsed by then (only for callers that passed authentication); refuse deep ones
  // before any validation or message formatting walks them.
  app.addHook('preValidation', async (req) => {
    if (jsonDepthExceeds(req.body, BODY_DEPTH_LIMIT)) {
      throw new ClusterError('HA_BAD_REQUEST', `body: nested more than ${BODY_DEPTH_LIMIT} levels deep; expected at most ${BODY_DEPTH_LIMIT} levels of lists and objects`);
    }
  });

  app.setNotFoundHandler((req, reply) => {
    const body: ErrorBody = { code: 'HA_NOT_FOUND', message: `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}; see /openapi.json` };
    req.failureCode = body.code;
    void reply.status(404).send(body);
  });

  // ------------------------------------------------------------------ reads

  app.get('/healthz', async () => ({ ok: true as const, node: self }));

  /** The cluster as this caller may see it: a scoped caller's view holds only its groups. */
  async function observeFor(req: FastifyRequest) {
    const view = await observeCluster(coord, cluster);
    const config = scopedConfig(view.config, req.identity);
    return config === view.config ? view : { ...view, config };
  }
  async function storedFor(req: FastifyRequest) {
    return scopedConfig((await readStoredConfig(coord, cluster))?.stored, req.identity);
  }

  app.get('/v1/status', async (req): Promise<StatusResponse> => {
    const view = await observeFor(req);
    return statusOf(view, cluster, self, clock.wallNow());
  });

  app.get('/v1/groups/:group', async (req): Promise<GroupView> => {
    const { group } = parseRequest(GroupParamsSchema, req.params, 'params');
    const view = await observeFor(req);
    const g = findGroup(view.config, group);
    if (!view.config) throw new ClusterError('HA_NOT_FOUND', `unknown group "${group}"`);
    return groupView(view, view.config.config, g, clock.wallNow());
  });

  app.get('/v1/nodes', async () => nodeViews(await observeCluster(coord, cluster)));

  app.get('/v1/groups/:group/why', async (req): Promise<WhyResponse> => {
    const { group } = parseRequest(GroupParamsSchema, req.params, 'params');
    const q = parseRequest(WhyQuerySchema, req.query, 'query');
    findGroup(await storedFor(req), group);
    const entries = await listJournal(coord, cluster, group, { limit: q.limit ?? DEFAULT_WHY_LIMIT });
    return { group, entries: [...entries] };
  });

  app.get('/v1/events', async (req): Promise<EventsResponse> => {
    const q = parseRequest(EventsQuerySchema, req.query, 'query');
    const visible = await eventFilter(req);
    const list = await listEvents(coord, cluster, {
      ...(visible === undefined ? { limit: q.limit ?? DEFAULT_EVENT_LIMIT } : {}),
      ...(q.after === undefined ? {} : { afterRevision: q.after }),
    });
    const events = visible === undefined ? list.events : tail(list.events.filter(visible), q.limit ?? DEFAULT_EVENT_LIMIT);
    return { events: events.map(toEventItem), revision: list.revision };
  });

  app.get('/v1/events/stream', async (req, reply) => {
    const q = parseRequest(EventsQuerySchema, req.query, 'query');
    const lastId = req.headers['last-event-id'];
    const after = q.after ?? (typeof lastId === 'string' && /^\d+$/.test(lastId) ? Number(lastId) : undefined);
    // Read the tail before taking over the response, so a store failure is still a JSON error.
    const visible = await eventFilter(req);
    const listed = await listEvents(coord, cluster, {
      ...(visible === undefined ? { limit: q.limit ?? DEFAULT_EVENT_LIMIT } : {}),
      ...(after === undefined ? {} : { afterRevision: after }),
    });
    const tailEvents = visible === undefined ? listed : { ...listed, events: tail(listed.events.filter(visible), q.limit ?? DEFAULT_EVENT_LIMIT) };
    reply.hijack();
    const res = reply.raw;
    const ac = new AbortController();
    streams.add(ac);
    res.on('close', () => ac.abort());
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (e: StoredEvent): void => {
      res.write(`id: ${e.revision}\nevent: event\ndata: ${JSON.stringify(toEventItem(e))}\n\n`);
    };
    for (const e of tailEvents.events) send(e);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), deps.sseKeepAliveMs ?? 15_000);
    keepAlive.unref();
    try {
      for await (const batch of coord.watch(keys.eventsPrefix, tailEvents.revision, { signal: ac.signal })) {
        for (const w of batch) {
          if (w.kind !== 'put') continue;
          const e = parseEventRecord(w.kv);
          if (e && (visible === undefined || visible(e))) send(e);
        }
      }
    } catch (e) {
      if (!ac.signal.aborted) {
        const code: ErrorCode = isClusterError(e) ? e.code : 'HA_INTERNAL';
        const message = isClusterError(e) ? e.message : 'event stream failed';
        res.write(`event: error\ndata: ${JSON.stringify({ code, message })}\n\n`);
        req.log.warn({ err: e }, 'event stream ended');
      }
    } finally {
      streams.delete(ac);
      clearInterval(keepAlive);
      res.end();
    }
  });

  app.get('/v1/config', async (): Promise<ConfigResponse> => {
    const cur = await readStoredConfig(coord, cluster);
    if (!cur) throw new ClusterError('HA_NOT_FOUND', 'no configuration has been applied to this cluster yet; run "halo config apply <file>"');
    // An inline etcd password stays in the store; callers see "***".
    return { version: cur.stored.version, appliedAt: cur.stored.appliedAt, source: redactConfigSource(cur.stored.source) };
  });

  app.get('/v1/endpoints', async (req): Promise<EndpointsResponse> => {
    const visible = groupFilter(req.identity, (await readStoredConfig(coord, cluster))?.stored.config);
    return { node: self, endpoints: (deps.endpoints?.() ?? []).filter((e) => visible(e.group)) };
  });

  app.get('/openapi.json', async () => openApiDocument());

  registerReportRoute(app, { coord, cluster, self, clock });
  registerMirrorsRoute(app, { coord, cluster, clock });
  registerSecurityRoutes(app, { coord, cluster, self, clock, verifier, sessionTtlMs: deps.sessionTtlMs ?? 8 * 3_600_000 });
  registerMetricsRoute(app, deps.metrics);
  registerConsoleRoute(app);

  // ------------------------------------------------------------------ intents

  async function requestMove(req: FastifyRequest, kind: MoveIntent['kind'], group: GroupId, to: NodeId | undefined): Promise<MoveAccepted> {
    const view = await observeFor(req);
    const g = findGroup(view.config, group);
    const target = to === undefined ? undefined : findNode(view.config, to, 'to');
    const a = view.assignments.get(group);
    const pending = view.moves.get(group);
    if (pending) {
      throw new ClusterError('HA_CONFLICT', `a ${pending.kind} of group "${group}" is already pending (id ${pending.id}); wait for it to finish`);
    }
    if (a?.transition) {
      throw new ClusterError(
        'HA_CONFLICT',
        `group "${group}" is already moving (${a.transition.kind} from ${a.transition.from}${a.transition.to ? ` to ${a.transition.to}` : ''}); wait for it to finish`,
      );
    }
    if (!a || a.active === null) {
      throw new ClusterError('HA_CONFLICT', `group "${group}" has no active instance to move yet; check "halo status"`);
    }
    const from = a.active;
    const cfg = view.config?.config;
    const ineligible = cfg ? groupView(view, cfg, g, clock.wallNow()).ineligible : [];
    if (target === undefined) {
      const candidates = g.preferredNodes ?? cfg?.nodes.map((n) => n.name) ?? [];
      const others = candidates.filter((n) => n !== from);
      if (others.every((n) => ineligible.some((i) => i.node === n))) {
        const why = ineligible.filter((i) => i.node !== from).map((i) => `${i.node} ${i.reason}`);
        throw new ClusterError('HA_CONFLICT', `no other node can take group "${group}" now${why.length ? ` (${why.join(', ')})` : ''}`);
      }
    }
    if (target !== undefined) {
      if (target === from) throw new ClusterError('HA_BAD_REQUEST', `to: group "${group}" is already active on ${target}`);
      const candidates = g.preferredNodes ?? view.config?.config.nodes.map((n) => n.name) ?? [];
      if (!candidates.includes(target)) {
        throw new ClusterError('HA_BAD_REQUEST', `to: node ${target} may not run group "${group}" (its preferredNodes are ${candidates.join(', ')})`);
      }
      if (!view.sessions.has(target)) throw new ClusterError('HA_BAD_REQUEST', `to: node ${target} is offline`);
      if (view.standby.has(target)) throw new ClusterError('HA_BAD_REQUEST', `to: node ${target} is in standby; run "halo node online ${target}" first`);
      const failed = ineligible.find((i) => i.node === target && i.reason === 'failed');
      if (failed) {
        throw new ClusterError('HA_BAD_REQUEST', `to: group "${group}" failed on ${target} (${failed.detail}); run "halo cleanup ${group} --node ${target}" first`);
      }
      if (view.maintenanceNodes.has(target)) throw new ClusterError('HA_BAD_REQUEST', `to: node ${target} is in maintenance`);
    }
    const intent: MoveIntent = { id: randomUUID(), kind, to: target ?? null, at: clock.wallNow(), by: byOf(req) };
    const r = await coord.txn([{ key: keys.move(group), modRevision: 'absent' }], [{ kind: 'put', key: keys.move(group), value: JSON.stringify(intent) }]);
    if (!r.ok) throw new ClusterError('HA_CONFLICT', `another move of group "${group}" was requested at the same time; check "halo status"`);
    return { id: intent.id, kind, group, from, to: intent.to, epoch: a.epoch };
  }

  app.post('/v1/groups/:group/switchover', async (req, reply): Promise<MoveAccepted> => {
    const { group } = parseRequest(GroupParamsSchema, req.params, 'params');
    const body = parseRequest(SwitchoverRequestSchema, optionalBody(req.body), 'body');
    const res = await requestMove(req, 'switchover', group, body.to);
    void reply.status(202);
    return res;
  });

  app.post('/v1/groups/:group/failover', async (req, reply): Promise<MoveAccepted> => {
    const { group } = parseRequest(GroupParamsSchema, req.params, 'params');
    parseRequest(FailoverRequestSchema, optionalBody(req.body), 'body');
    const res = await requestMove(req, 'failover', group, undefined);
    void reply.status(202);
    return res;
  });

  app.post('/v1/maintenance', async (req): Promise<MaintenanceResponse> => {
    const body = parseRequest(MaintenanceRequestSchema, optionalBody(req.body), 'body');
    const config = await storedFor(req);
    if (body.group === undefined) requireUnscoped(req.identity, body.node === undefined ? 'cluster-wide maintenance' : 'node maintenance');
    const by = byOf(req);
    let key: string;
    let res: MaintenanceResponse;
    let node: NodeId | null = null;
    let group: GroupId | null = null;
    if (body.group !== undefined) {
      group = findGroup(config, body.group).name;
      key = keys.maintenanceGroup(group);
      res = { on: body.on, scope: 'group', target: group };
    } else if (body.node !== undefined) {
      node = findNode(config, body.node);
      key = keys.maintenanceNode(node);
      res = { on: body.on, scope: 'node', target: node };
    } else {
      key = keys.maintenanceCluster;
      res = { on: body.on, scope: 'cluster', target: null };
    }
    if (body.on) await coord.put(key, JSON.stringify({ at: clock.wallNow(), by }));
    else await coord.delete(key);
    const what = res.scope === 'cluster' ? 'the cluster' : `${res.scope} ${res.target ?? ''}`;
    await emit({ kind: 'maintenance', node, group, message: `maintenance ${body.on ? 'on' : 'off'} for ${what} (${by})` });
    return res;
  });

  async function setStandby(req: FastifyRequest, on: boolean): Promise<NodeStandbyResponse> {
    const { node: raw } = parseRequest(NodeParamsSchema, req.params, 'params');
    const node = findNode((await readStoredConfig(coord, cluster))?.stored, raw);
    const by = byOf(req);
    if (on) await coord.put(keys.standby(node), JSON.stringify({ at: clock.wallNow(), by }));
    else await coord.delete(keys.standby(node));
    await emit({
      kind: 'node-standby',
      node,
      group: null,
      message: on ? `node ${node} put in standby: its groups move away (${by})` : `node ${node} back online: it may run groups again (${by})`,
    });
    return { node, standby: on };
  }
  app.post('/v1/nodes/:node/standby', async (req) => setStandby(req, true));
  app.post('/v1/nodes/:node/online', async (req) => setStandby(req, false));

  app.post('/v1/groups/:group/cleanup', async (req): Promise<CleanupResponse> => {
    const { group: raw } = parseRequest(GroupParamsSchema, req.params, 'params');
    const body = parseRequest(CleanupRequestSchema, optionalBody(req.body), 'body');
    const config = await storedFor(req);
    const by = byOf(req);
    const group = findGroup(config, raw).name;
    const node = body.node === undefined ? undefined : findNode(config, body.node, 'node');
    const prefix = `${keys.failuresPrefix}${group}/`;
    const { items } = await coord.list(prefix);
    const removed: NodeId[] = [];
    for (const kv of items) {
      const n = kv.key.slice(prefix.length);
      if (node !== undefined && n !== node) continue;
      await coord.delete(kv.key);
      const id = NodeIdSchema.safeParse(n);
      if (id.success) removed.push(id.data);
    }
    await emit({
      kind: 'cleanup',
      node: node ?? null,
      group,
      message: removed.length
        ? `failure records of group ${group} cleared on ${removed.join(', ')} (${by})`
        : `cleanup of group ${group}${node ? ` on ${node}` : ''}: no failure records (${by})`,
    });
    return { group, removed };
  });

  // ------------------------------------------------------------------ configuration

  app.post('/v1/config/validate', async (req): Promise<ConfigValidateResponse> => {
    const body = parseRequest(ConfigSourceRequestSchema, req.body, 'body');
    const r = parseConfigText(body.source, body.file ?? 'halo.yaml');
    return r.ok ? { ok: true, issues: [], warnings: rootCommandWarnings(r.config) } : { ok: false, issues: r.issues, warnings: [] };
  });

  app.post('/v1/config', async (req): Promise<ConfigApplyResponse> => {
    const body = parseRequest(ConfigSourceRequestSchema, req.body, 'body');
    const file = body.file ?? 'halo.yaml';
    const r = parseConfigText(body.source, file);
    if (!r.ok) {
      throw new ConfigRejectedError(
        `${file}: ${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}; nothing was applied`,
        formatIssues(r.issues).split('\n').filter((l) => l.length > 0),
        r.issues,
      );
    }
    const cfg = r.config;
    if (cfg.cluster !== cluster) {
      throw new ClusterError(
        'HA_CONFIG_INVALID',
        `cluster: cannot rename a running cluster from "${cluster}" to "${cfg.cluster}" (every key in the coordinator is under the cluster name); nothing was applied`,
      );
    }
    const cur = await readStoredConfig(coord, cluster);
    if (cur && JSON.stringify(cur.stored.config.coordinator) !== JSON.stringify(cfg.coordinator)) {
      throw new ClusterError(
        'HA_CONFIG_INVALID',
        `coordinator: cannot change the coordinator of a running cluster (running ${JSON.stringify(cur.stored.config.coordinator)}, file says ${JSON.stringify(cfg.coordinator)}); agents would split between two stores. Stop the agents, change the file and start them again; nothing was applied`,
      );
    }
    const stored: StoredConfig = { version: (cur?.stored.version ?? 0) + 1, appliedAt: clock.wallNow(), source: r.source, config: cfg };
    const t = await coord.txn(
      [{ key: keys.config, modRevision: cur ? cur.modRevision : 'absent' }],
      [{ kind: 'put', key: keys.config, value: JSON.stringify(stored) }],
    );
    if (!t.ok) {
      throw new ClusterError('HA_CONFLICT', 'the configuration was changed by someone else while this one was being applied; nothing was applied, check "halo config get" and retry');
    }
    await emit({ kind: 'config-applied', node: null, group: null, message: `configuration version ${stored.version} applied (${file}, ${byOf(req)})` });
    return { version: stored.version, appliedAt: stored.appliedAt, cluster };
  });

  return app;
}
