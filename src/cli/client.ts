import type { z } from 'zod';
import { ClusterError } from '../domain/errors.js';
import {
  CleanupResponseSchema,
  ConfigApplyResponseSchema,
  ConfigResponseSchema,
  ConfigValidateResponseSchema,
  ErrorBodySchema,
  EventItemSchema,
  EventsResponseSchema,
  GroupViewSchema,
  MaintenanceResponseSchema,
  MirrorsResponseSchema,
  MoveAcceptedSchema,
  NodeStandbyResponseSchema,
  ReportResponseSchema,
  StatusResponseSchema,
  WhyResponseSchema,
  AuditResponseSchema,
  SessionResponseSchema,
  TokenCreatedSchema,
  TokenRevokedSchema,
  TokensResponseSchema,
  type AuditResponse,
  type SessionResponse,
  type TokenCreateRequest,
  type TokenCreated,
  type TokenRevoked,
  type TokensResponse,
  type CleanupResponse,
  type ConfigApplyResponse,
  type ConfigResponse,
  type ConfigValidateResponse,
  type EventItem,
  type EventsResponse,
  type GroupView,
  type MaintenanceRequest,
  type MaintenanceResponse,
  type MirrorsResponse,
  type MoveAccepted,
  type NodeStandbyResponse,
  type ReportResponse,
  type StatusResponse,
  type WhyResponse,
} from '../api/schemas.js';

export interface ApiClientOptions {
  /** Base URLs of agents' APIs, tried in order; any node can answer. */
  readonly urls: readonly string[];
  /** Per-attempt deadline for one request; default 5000 ms. */
  readonly timeoutMs?: number;
  /** Injected for tests; default the global fetch. */
  readonly fetch?: typeof fetch;
  /** Bearer token sent with every request. */
  readonly token?: string;
}

interface CallOpts {
  readonly signal?: AbortSignal;
}

type Method = 'GET' | 'POST' | 'DELETE';

/** Why one URL did not answer: it was never reached (safe to try the next) or it answered "unavailable". */
type AttemptFailure = { readonly url: string; readonly reason: string; readonly sent: boolean };

const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNRESET', 'EADDRNOTAVAIL', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function errorCodeOf(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur !== null && typeof cur === 'object'; i++) {
    if ('code' in cur && typeof cur.code === 'string') return cur.code;
    cur = 'cause' in cur ? cur.cause : undefined;
  }
  return undefined;
}

function describeNetworkError(e: unknown, timeoutMs: number): { reason: string; sent: boolean } {
  if (e instanceof Error && e.name === 'TimeoutError') return { reason: `no answer within ${timeoutMs} ms`, sent: true };
  const code = errorCodeOf(e);
  if (code === 'ECONNREFUSED') return { reason: 'connection refused', sent: false };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { reason: 'host not found', sent: false };
  if (code !== undefined && CONNECT_ERRORS.has(code)) return { reason: code, sent: code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' };
  return { reason: e instanceof Error ? e.message : String(e), sent: false };
}

/**
 * Typed client of the management API. Requests go to the first URL that answers: a URL that
 * refuses the connection, times out (reads only) or answers HA_COORD_UNAVAILABLE (its node lost
 * the coordinator) is skipped for the next. A write that was sent but not answered is not
 * retried elsewhere (it may have been applied): that is HA_AGENT_TIMEOUT.
 * Error bodies become ClusterError with the server's code.
 */
export class ApiClient {
  readonly urls: readonly string[];
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly auth: Readonly<Record<string, string>>;

  constructor(opts: ApiClientOptions) {
    this.auth = opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` };
    if (opts.urls.length === 0) throw new ClusterError('HA_BAD_REQUEST', 'no API URL given');
    this.urls = opts.urls.map((u) => u.replace(/\/+$/, ''));
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  status(o: CallOpts = {}): Promise<StatusResponse> {
    return this.call('GET', '/v1/status', StatusResponseSchema, undefined, o);
  }
  group(group: string, o: CallOpts = {}): Promise<GroupView> {
    return this.call('GET', `/v1/groups/${enc(group)}`, GroupViewSchema, undefined, o);
  }
  switchover(group: string, to: string | undefined, o: CallOpts = {}): Promise<MoveAccepted> {
    return this.call('POST', `/v1/groups/${enc(group)}/switchover`, MoveAcceptedSchema, to === undefined ? {} : { to }, o);
  }
  failover(group: string, o: CallOpts = {}): Promise<MoveAccepted> {
    return this.call('POST', `/v1/groups/${enc(group)}/failover`, MoveAcceptedSchema, {}, o);
  }
  maintenance(req: MaintenanceRequest, o: CallOpts = {}): Promise<MaintenanceResponse> {
    return this.call('POST', '/v1/maintenance', MaintenanceResponseSchema, req, o);
  }
  nodeStandby(node: string, o: CallOpts = {}): Promise<NodeStandbyResponse> {
    return this.call('POST', `/v1/nodes/${enc(node)}/standby`, NodeStandbyResponseSchema, {}, o);
  }
  nodeOnline(node: string, o: CallOpts = {}): Promise<NodeStandbyResponse> {
    return this.call('POST', `/v1/nodes/${enc(node)}/online`, NodeStandbyResponseSchema, {}, o);
  }
  cleanup(group: string, node: string | undefined, o: CallOpts = {}): Promise<CleanupResponse> {
    return this.call('POST', `/v1/groups/${enc(group)}/cleanup`, CleanupResponseSchema, node === undefined ? {} : { node }, o);
  }
  events(q: { readonly limit?: number; readonly after?: number } = {}, o: CallOpts = {}): Promise<EventsResponse> {
    return this.call('GET', `/v1/events${query(q)}`, EventsResponseSchema, undefined, o);
  }
  mirrors(o: CallOpts = {}): Promise<MirrorsResponse> {
    return this.call('GET', '/v1/mirrors', MirrorsResponseSchema, undefined, o);
  }
  why(group: string, limit: number | undefined, o: CallOpts = {}): Promise<WhyResponse> {
    return this.call('GET', `/v1/groups/${enc(group)}/why${query({ limit })}`, WhyResponseSchema, undefined, o);
  }
  /** Availability report; times are epoch ms, ISO 8601 or a duration before now (24h), passed through as given. */
  report(q: { readonly since?: string; readonly until?: string; readonly group?: string } = {}, o: CallOpts = {}): Promise<ReportResponse> {
    const parts = Object.entries(q).filter((e): e is [string, string] => e[1] !== undefined);
    const qs = parts.length === 0 ? '' : `?${parts.map(([k, v]) => `${k}=${enc(v)}`).join('&')}`;
    return this.call('GET', `/v1/report${qs}`, ReportResponseSchema, undefined, o);
  }
  createToken(req: TokenCreateRequest, o: CallOpts = {}): Promise<TokenCreated> {
    return this.call('POST', '/v1/tokens', TokenCreatedSchema, req, o);
  }
  tokens(o: CallOpts = {}): Promise<TokensResponse> {
    return this.call('GET', '/v1/tokens', TokensResponseSchema, undefined, o);
  }
  revokeToken(id: string, o: CallOpts = {}): Promise<TokenRevoked> {
    return this.call('DELETE', `/v1/tokens/${enc(id)}`, TokenRevokedSchema, undefined, o);
  }
  audit(q: { readonly limit?: number; readonly after?: number } = {}, o: CallOpts = {}): Promise<AuditResponse> {
    return this.call('GET', `/v1/audit${query(q)}`, AuditResponseSchema, undefined, o);
  }
  whoami(o: CallOpts = {}): Promise<SessionResponse> {
    return this.call('GET', '/v1/session', SessionResponseSchema, undefined, o);
  }
  getConfig(o: CallOpts = {}): Promise<ConfigResponse> {
    return this.call('GET', '/v1/config', ConfigResponseSchema, undefined, o);
  }
  validateConfig(source: string, file: string, o: CallOpts = {}): Promise<ConfigValidateResponse> {
    return this.call('POST', '/v1/config/validate', ConfigValidateResponseSchema, { source, file }, o);
  }
  applyConfig(source: string, file: string, o: CallOpts = {}): Promise<ConfigApplyResponse> {
    return this.call('POST', '/v1/config', ConfigApplyResponseSchema, { source, file }, o);
  }

  /**
   * Server-sent events from the first node that accepts the stream: the tail, then live events,
   * until `signal` aborts (the iterator then ends without error) or the server ends the stream.
   * A stream error sent by the server is thrown as ClusterError with its code.
   */
  async *streamEvents(q: { readonly limit?: number; readonly after?: number }, o: CallOpts = {}): AsyncGenerator<EventItem> {
    const path = `/v1/events/stream${query(q)}`;
    const failures: AttemptFailure[] = [];
    for (const url of this.urls) {
      const connect = new AbortController();
      const timer = setTimeout(() => connect.abort(new DOMException('timeout', 'TimeoutError')), this.timeoutMs);
      const signal = o.signal ? AbortSignal.any([o.signal, connect.signal]) : connect.signal;
      let res: Response;
      try {
        res = await this.fetchFn(url + path, { headers: { ...this.auth, accept: 'text/event-stream' }, signal });
      } catch (e) {
        clearTimeout(timer);
        if (o.signal?.aborted) return;
        failures.push({ url, ...describeNetworkError(connect.signal.aborted ? connect.signal.reason : e, this.timeoutMs) });
        continue;
      }
      clearTimeout(timer);
      if (!res.ok) {
        const err = await this.errorFrom(url, res);
        if (err.code === 'HA_COORD_UNAVAILABLE') {
          failures.push({ url, reason: `${err.code}: ${err.message}`, sent: true });
          continue;
        }
        throw err;
      }
      if (!res.body) throw new ClusterError('HA_INTERNAL', `${url}: event stream without a body`);
      try {
        yield* parseSse(res.body, url);
      } catch (e) {
        if (o.signal?.aborted) return;
        throw e;
      }
      return;
    }
    throw this.unreachable(failures);
  }

  /** One request with fail-over across `urls`; the answer is parsed with `schema`. */
  async call<S extends z.ZodType>(method: Method, path: string, schema: S, body: unknown, o: CallOpts = {}): Promise<z.output<S>> {
    const failures: AttemptFailure[] = [];
    for (const url of this.urls) {
      const signal = o.signal ? AbortSignal.any([o.signal, AbortSignal.timeout(this.timeoutMs)]) : AbortSignal.timeout(this.timeoutMs);
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(url + path, {
          method,
          signal,
          // x-halo-csrf: the API wants it on changes made with a client certificate (see api/auth.ts).
          headers: {
            ...this.auth,
            accept: 'application/json',
            ...(method === 'GET' ? {} : { 'x-halo-csrf': 'cli' }),
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        text = await res.text();
      } catch (e) {
        if (o.signal?.aborted) throw o.signal.reason;
        const f = { url, ...describeNetworkError(e, this.timeoutMs) };
        if (method !== 'GET' && f.sent) {
          throw new ClusterError('HA_AGENT_TIMEOUT', `${url}: ${f.reason} for ${method} ${path}; the request may have been applied, check with "halo status"`);
        }
        failures.push(f);
        continue;
      }
      if (!res.ok) {
        const err = this.errorFromText(url, res.status, text);
        if (err.code === 'HA_COORD_UNAVAILABLE') {
          failures.push({ url, reason: `${err.code}: ${err.message}`, sent: true });
          continue;
        }
        throw err;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch {
        throw new ClusterError('HA_INTERNAL', `${url}${path} answered ${res.status} with something that is not JSON; is this a halo API?`);
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        throw new ClusterError(
          'HA_INTERNAL',
          `${url}${path} answered with an unexpected shape (${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'invalid'}); are the CLI and the agent the same version?`,
        );
      }
      return parsed.data;
    }
    throw this.unreachable(failures);
  }

  private unreachable(failures: readonly AttemptFailure[]): ClusterError {
    const tried = failures.map((f) => `${f.url} (${f.reason})`).join(', ');
    if (failures.length > 0 && failures.every((f) => f.reason.startsWith('HA_COORD_UNAVAILABLE'))) {
      return new ClusterError('HA_COORD_UNAVAILABLE', `every node that answered has lost the coordinator; tried ${tried}`);
    }
    return new ClusterError('HA_AGENT_TIMEOUT', `no halo API answered; tried ${tried}. Is an agent running? Point the CLI at one with --api or HALO_API`);
  }

  private async errorFrom(url: string, res: Response): Promise<ClusterError> {
    return this.errorFromText(url, res.status, await res.text().catch(() => ''));
  }

  private errorFromText(url: string, status: number, text: string): ClusterError {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const body = ErrorBodySchema.safeParse(raw);
    if (!body.success) {
      return new ClusterError(status === 503 ? 'HA_COORD_UNAVAILABLE' : 'HA_INTERNAL', `${url} answered HTTP ${status} without a halo error body`);
    }
    return new ClusterError(body.data.code, body.data.message, { details: body.data.details ?? [] });
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

function query(q: Record<string, number | undefined>): string {
  const parts = Object.entries(q).filter((e): e is [string, number] => e[1] !== undefined);
  return parts.length === 0 ? '' : `?${parts.map(([k, v]) => `${k}=${v}`).join('&')}`;
}

/** Parses a text/event-stream body into EventItems; an `error` message is thrown as ClusterError. */
async function* parseSse(body: ReadableStream<Uint8Array>, url: string): AsyncGenerator<EventItem> {
  const decoder = new TextDecoder();
  let buf = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const msg = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of msg.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (data.length === 0) continue;
        let raw: unknown;
        try {
          raw = JSON.parse(data.join('\n'));
        } catch {
          continue;
        }
        if (event === 'error') {
          const e = ErrorBodySchema.safeParse(raw);
          throw e.success ? new ClusterError(e.data.code, e.data.message) : new ClusterError('HA_INTERNAL', `${url}: the event stream failed`);
        }
        const item = EventItemSchema.safeParse(raw);
        if (item.success) yield item.data;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
