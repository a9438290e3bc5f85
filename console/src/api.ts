import type {
  CleanupResponse,
  ErrorBody,
  EventItem,
  MaintenanceResponse,
  MoveAccepted,
  NodeStandbyResponse,
  ReportResponse,
  StatusResponse,
  WhyResponse,
} from '../../src/api/schemas.js';

export type { EventItem, GroupNodeView, GroupView, NodeView, StatusResponse, WhyResponse, MoveAccepted } from '../../src/api/schemas.js';
export type { GroupAvailabilityBody, IncidentBody, ReportResponse } from '../../src/api/schemas.js';

/** The outcome of one API call: the body, or the API's error code and message (or a transport failure). */
export type ApiResult<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | { readonly kind: 'error'; readonly code: string; readonly message: string; readonly status: number | null };

export type Role = 'viewer' | 'operator' | 'admin';
const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

/** Who the API says is calling (GET/POST /v1/session). */
export interface Identity {
  readonly name: string;
  readonly kind: 'token' | 'cert' | 'session';
  readonly role: Role;
  readonly tenants: readonly string[] | null;
  readonly groups: readonly string[] | null;
}

/**
 * Who is logged in (GET/POST /v1/session): the identity, the CSRF token every mutating call made
 * with the session cookie must echo, and when the session ends. `csrf` and `expiresAt` are null
 * when there is no session: the browser authenticates with a client certificate on each request.
 */
export interface Session {
  readonly identity: Identity;
  readonly csrf: string | null;
  readonly expiresAt: number | null;
}

/** One line of GET /v1/audit (newest last). */
export interface AuditEntry {
  readonly at: number;
  readonly revision: number;
  readonly identity: string;
  readonly kind: string;
  readonly role: string | null;
  readonly source: string;
  /** The node whose API took the request. */
  readonly node: string;
  readonly method: string;
  readonly route: string;
  readonly target: string | null;
  readonly outcome: 'ok' | 'refused' | 'failed';
  readonly status: number;
  readonly code: string | null;
}

export interface AuditResponse {
  readonly entries: readonly AuditEntry[];
}

/** True when `role` may do what `needed` may: viewer < operator < admin. */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isErrorBody(v: unknown): v is ErrorBody {
  return isObject(v) && typeof v['code'] === 'string' && typeof v['message'] === 'string';
}

/** Parses a session body; null when it is not one (the console then refuses to guess a role). */
export function parseSession(v: unknown): Session | null {
  if (!isObject(v)) return null;
  const csrf = v['csrf'] ?? null;
  const expiresAt = v['expiresAt'] ?? null;
  if ((csrf !== null && typeof csrf !== 'string') || (expiresAt !== null && typeof expiresAt !== 'number')) return null;
  const id = v['identity'];
  if (!isObject(id) || typeof id['name'] !== 'string') return null;
  const kind = id['kind'];
  const role = id['role'];
  if (kind !== 'token' && kind !== 'cert' && kind !== 'session') return null;
  if (role !== 'viewer' && role !== 'operator' && role !== 'admin') return null;
  const tenants = id['tenants'] ?? null;
  const groups = id['groups'] ?? null;
  if ((tenants !== null && !isStringList(tenants)) || (groups !== null && !isStringList(groups))) return null;
  return { identity: { name: id['name'], kind, role, tenants, groups }, csrf, expiresAt };
}

function parseAuditEntry(v: unknown): AuditEntry | null {
  if (!isObject(v)) return null;
  const str = (k: string): string | null => (typeof v[k] === 'string' ? v[k] : null);
  const num = (k: string): number | null => (typeof v[k] === 'number' ? v[k] : null);
  const at = num('at');
  const revision = num('revision');
  const status = num('status');
  const outcome = v['outcome'];
  const identity = str('identity');
  const method = str('method');
  const route = str('route');
  if (at === null || revision === null || status === null || identity === null || method === null || route === null) return null;
  if (outcome !== 'ok' && outcome !== 'refused' && outcome !== 'failed') return null;
  return {
    at,
    revision,
    identity,
    kind: str('kind') ?? '',
    role: str('role'),
    source: str('source') ?? '',
    node: str('node') ?? '',
    method,
    route,
    target: str('target'),
    outcome,
    status,
    code: str('code'),
  };
}

/** Parses GET /v1/audit; entries that do not parse are dropped rather than shown half-read. */
export function parseAudit(v: unknown): AuditResponse | null {
  if (!isObject(v) || !Array.isArray(v['entries'])) return null;
  return { entries: v['entries'].map(parseAuditEntry).filter((e): e is AuditEntry => e !== null) };
}

const READ_TIMEOUT_MS = 1500;
const WRITE_TIMEOUT_MS = 10_000;
/** The report replays the whole event log: allowed longer than the other reads. */
const REPORT_TIMEOUT_MS = 5000;
/** The audit log can be long; like the report, allowed longer than a status read. */
const AUDIT_TIMEOUT_MS = 5000;

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

interface CallOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs: number;
  /** A 401 here is an answer, not a lost session (the login and the first session probe). */
  readonly expect401?: boolean;
}

/**
 * The console's API client. All paths are relative to the page's origin, so the console works the
 * same over HTTP and HTTPS; the credential is the HttpOnly session cookie the browser sends by
 * itself (or the browser's client certificate). Every mutating call carries the session's CSRF
 * token in `x-halo-csrf`. Any unexpected 401 means the session is gone: `onUnauthenticated` is
 * called once per loss, and the page goes back to the login screen.
 */
export class ApiClient {
  private csrf: string | null = null;
  private lostReported = false;

  constructor(private readonly onUnauthenticated: () => void) {}

  /** Starts using a session's CSRF token (after a login or a successful session probe). */
  useSession(s: Session | null): void {
    this.csrf = s?.csrf ?? null;
    this.lostReported = false;
  }

  private async call<T>(method: Method, path: string, body: object | undefined, parse: (v: unknown) => T | null, opts: CallOptions): Promise<ApiResult<T>> {
    const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.csrf !== null) headers['x-halo-csrf'] = this.csrf;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.any(signals),
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch (e) {
      const timeout = e instanceof DOMException && e.name === 'TimeoutError';
      return { kind: 'error', code: timeout ? 'HA_AGENT_TIMEOUT' : 'NETWORK', message: timeout ? `no answer within ${opts.timeoutMs} ms` : 'the agent could not be reached', status: null };
    }
    if (res.status === 401 && opts.expect401 !== true && !this.lostReported) {
      this.lostReported = true;
      this.csrf = null;
      this.onUnauthenticated();
    }
    let parsed: unknown = null;
    if (res.status !== 204) {
      try {
        parsed = await res.json();
      } catch {
        return { kind: 'error', code: 'HA_INTERNAL', message: `HTTP ${res.status}: the answer was not JSON`, status: res.status };
      }
    }
    if (!res.ok) {
      return isErrorBody(parsed)
        ? { kind: 'error', code: parsed.code, message: parsed.message, status: res.status }
        : { kind: 'error', code: res.status === 401 ? 'HA_UNAUTHENTICATED' : 'HA_INTERNAL', message: `HTTP ${res.status}`, status: res.status };
    }
    const value = parse(parsed);
    return value === null ? { kind: 'error', code: 'HA_INTERNAL', message: `HTTP ${res.status}: unexpected answer`, status: res.status } : { kind: 'ok', value };
  }

  /** The API's own types for bodies it defines in src/api/schemas.ts (same build as this page). */
  private static trusted<T>(v: unknown): T | null {
    return v === null ? null : (v as T);
  }

  private get<T>(path: string, timeoutMs: number, signal?: AbortSignal): Promise<ApiResult<T>> {
    return this.call<T>('GET', path, undefined, ApiClient.trusted, { timeoutMs, ...(signal ? { signal } : {}) });
  }

  private post<T>(path: string, body: object): Promise<ApiResult<T>> {
    return this.call<T>('POST', path, body, ApiClient.trusted, { timeoutMs: WRITE_TIMEOUT_MS });
  }

  /** GET /v1/session: the current login (cookie or client certificate); a 401 just means "log in". */
  session(): Promise<ApiResult<Session>> {
    return this.call('GET', '/v1/session', undefined, parseSession, { timeoutMs: READ_TIMEOUT_MS * 2, expect401: true });
  }

  /** POST /v1/session: trade a bearer token for a session cookie. The token is not kept. */
  login(token: string): Promise<ApiResult<Session>> {
    return this.call('POST', '/v1/session', { token }, parseSession, { timeoutMs: WRITE_TIMEOUT_MS, expect401: true });
  }

  /** DELETE /v1/session: ends the session on the server and clears the cookie (204, no body). */
  logout(): Promise<ApiResult<{ readonly loggedOut: true }>> {
    return this.call('DELETE', '/v1/session', undefined, () => ({ loggedOut: true as const }), { timeoutMs: WRITE_TIMEOUT_MS, expect401: true });
  }

  status(signal?: AbortSignal) {
    return this.get<StatusResponse>('/v1/status', READ_TIMEOUT_MS, signal);
  }
  why(group: string, limit = 30) {
    return this.get<WhyResponse>(`/v1/groups/${enc(group)}/why?limit=${limit}`, READ_TIMEOUT_MS);
  }
  /** Availability over the window ending now; `since` is a duration such as 1h, 24h, 7d. */
  report(since: string, signal?: AbortSignal) {
    return this.get<ReportResponse>(`/v1/report?since=${enc(since)}`, REPORT_TIMEOUT_MS, signal);
  }
  /** GET /v1/audit (admin): the latest `limit` entries, newest last. */
  audit(limit: number, signal?: AbortSignal): Promise<ApiResult<AuditResponse>> {
    return this.call('GET', `/v1/audit?limit=${limit}`, undefined, parseAudit, { timeoutMs: AUDIT_TIMEOUT_MS, ...(signal ? { signal } : {}) });
  }
  switchover(group: string, to: string | null) {
    return this.post<MoveAccepted>(`/v1/groups/${enc(group)}/switchover`, to === null ? {} : { to });
  }
  failover(group: string) {
    return this.post<MoveAccepted>(`/v1/groups/${enc(group)}/failover`, {});
  }
  maintenance(group: string, on: boolean) {
    return this.post<MaintenanceResponse>('/v1/maintenance', { group, on });
  }
  standby(node: string, on: boolean) {
    return this.post<NodeStandbyResponse>(`/v1/nodes/${enc(node)}/${on ? 'standby' : 'online'}`, {});
  }
  cleanup(group: string, node: string | null) {
    return this.post<CleanupResponse>(`/v1/groups/${enc(group)}/cleanup`, node === null ? {} : { node });
  }
}

const enc = encodeURIComponent;

/**
 * Follows /v1/events/stream. `onEvent` gets every event (the stream starts with the latest
 * `limit`); `onState` tells whether the stream is open. EventSource sends the session cookie
 * (same origin) and reconnects by itself after a network error, resuming after the last event id
 * it saw; an HTTP error (a 401 once the session is gone) closes it for good, and the status poll
 * notices the lost session.
 */
export function followEvents(limit: number, onEvent: (e: EventItem) => void, onState: (open: boolean) => void): () => void {
  const es = new EventSource(`/v1/events/stream?limit=${limit}`, { withCredentials: true });
  es.addEventListener('open', () => onState(true));
  es.addEventListener('error', () => onState(false));
  es.addEventListener('event', (m: MessageEvent<string>) => {
    try {
      onEvent(JSON.parse(m.data) as EventItem);
    } catch {
      // A malformed event is skipped; the status poll still shows the cluster as it is.
    }
  });
  return () => es.close();
}
