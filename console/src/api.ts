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

const READ_TIMEOUT_MS = 1500;
const WRITE_TIMEOUT_MS = 10_000;
/** The report replays the whole event log: allowed longer than the other reads. */
const REPORT_TIMEOUT_MS = 5000;

function isErrorBody(v: unknown): v is ErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['code'] === 'string' && typeof (v as Record<string, unknown>)['message'] === 'string';
}

async function call<T>(method: 'GET' | 'POST', path: string, body: object | undefined, opts: { signal?: AbortSignal; timeoutMs: number }): Promise<ApiResult<T>> {
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.any(signals),
      cache: 'no-store',
    });
  } catch (e) {
    const timeout = e instanceof DOMException && e.name === 'TimeoutError';
    return { kind: 'error', code: timeout ? 'HA_AGENT_TIMEOUT' : 'NETWORK', message: timeout ? `no answer within ${opts.timeoutMs} ms` : 'the agent could not be reached', status: null };
  }
  let parsed: unknown;
  try {
    parsed = await res.json();
  } catch {
    return { kind: 'error', code: 'HA_INTERNAL', message: `HTTP ${res.status}: the answer was not JSON`, status: res.status };
  }
  if (!res.ok) {
    return isErrorBody(parsed)
      ? { kind: 'error', code: parsed.code, message: parsed.message, status: res.status }
      : { kind: 'error', code: 'HA_INTERNAL', message: `HTTP ${res.status}`, status: res.status };
  }
  return { kind: 'ok', value: parsed as T };
}

const enc = encodeURIComponent;

export const api = {
  status: (signal?: AbortSignal) => call<StatusResponse>('GET', '/v1/status', undefined, { timeoutMs: READ_TIMEOUT_MS, ...(signal ? { signal } : {}) }),
  why: (group: string, limit = 30) => call<WhyResponse>('GET', `/v1/groups/${enc(group)}/why?limit=${limit}`, undefined, { timeoutMs: READ_TIMEOUT_MS }),
  /** Availability over the window ending now; `since` is a duration such as 1h, 24h, 7d. */
  report: (since: string, signal?: AbortSignal) =>
    call<ReportResponse>('GET', `/v1/report?since=${enc(since)}`, undefined, { timeoutMs: REPORT_TIMEOUT_MS, ...(signal ? { signal } : {}) }),
  switchover: (group: string, to: string | null) =>
    call<MoveAccepted>('POST', `/v1/groups/${enc(group)}/switchover`, to === null ? {} : { to }, { timeoutMs: WRITE_TIMEOUT_MS }),
  maintenance: (group: string, on: boolean) => call<MaintenanceResponse>('POST', '/v1/maintenance', { group, on }, { timeoutMs: WRITE_TIMEOUT_MS }),
  standby: (node: string, on: boolean) =>
    call<NodeStandbyResponse>('POST', `/v1/nodes/${enc(node)}/${on ? 'standby' : 'online'}`, {}, { timeoutMs: WRITE_TIMEOUT_MS }),
  cleanup: (group: string, node: string | null) =>
    call<CleanupResponse>('POST', `/v1/groups/${enc(group)}/cleanup`, node === null ? {} : { node }, { timeoutMs: WRITE_TIMEOUT_MS }),
};

/**
 * Follows /v1/events/stream. `onEvent` gets every event (the stream starts with the latest
 * `limit`); `onState` tells whether the stream is open. EventSource reconnects by itself and
 * resumes after the last event id it saw.
 */
export function followEvents(limit: number, onEvent: (e: EventItem) => void, onState: (open: boolean) => void): () => void {
  const es = new EventSource(`/v1/events/stream?limit=${limit}`);
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
