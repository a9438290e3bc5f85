import {
  ClientClosedError,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  GRPCInvalidArgumentError,
  GRPCUnauthenticatedError,
} from 'etcd3';
import { ClusterError } from '../../domain/errors.js';

/**
 * The one place where etcd and gRPC failures become halo errors. Nothing else in halo looks at
 * etcd3 error classes or gRPC messages.
 *
 * A failure is one of:
 * - `not-sent`: no member took the request (connection refused, no connection, circuit open, the
 *   member had no leader to propose to, the proposal was dropped). Safe to retry anywhere, writes too.
 * - `ambiguous`: the request was (or may have been) sent and no answer came (deadline, dropped
 *   connection, "request timed out", leader changed). A read can be retried; a write's outcome is
 *   unknown and becomes HA_COORD_OUTCOME_UNKNOWN.
 * - `final`: an answer that retrying will not change (lease not found, compacted, permission, bad
 *   request), already mapped.
 */
export type EtcdFailure =
  /** `skipped`: not even tried, the member is cooling down after failures (says little on its own). */
  | { readonly kind: 'not-sent'; readonly detail: string; readonly cause: unknown; readonly skipped: boolean }
  | { readonly kind: 'ambiguous'; readonly detail: string; readonly cause: unknown }
  | { readonly kind: 'final'; readonly error: ClusterError };

/** Messages (gRPC and etcd server) that mean no member accepted the request. */
const NOT_SENT_MARKERS: readonly string[] = [
  'No connection established',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'Name resolution failed',
  'etcdserver: no leader',
  'etcdserver: too many requests',
  'etcdserver: not capable',
  'raft proposal dropped',
  'etcdserver: server stopped',
];

/** etcd's auth failures; some arrive as INVALID_ARGUMENT, and watches report them as cancel reasons. */
const PERMISSION_MARKERS: readonly string[] = [
  'etcdserver: permission denied',
  'etcdserver: user name is empty',
  'etcdserver: authentication failed',
  'etcdserver: invalid auth token',
  'etcdserver: authentication is not enabled',
];

const COMPACTED_MARKERS: readonly string[] = [
  'required revision has been compacted',
  'mvcc: required revision has been compacted',
];

export function classifyEtcdError(e: unknown, what: string): EtcdFailure {
  if (e instanceof ClusterError) return { kind: 'final', error: e };
  const message = describe(e);
  if (e instanceof EtcdLeaseInvalidError || message.includes('requested lease not found')) {
    return { kind: 'final', error: new ClusterError('HA_LEASE_LOST', `${what}: the lease no longer exists`, { cause: e }) };
  }
  if (COMPACTED_MARKERS.some((m) => message.includes(m))) {
    return { kind: 'final', error: compactedError(what, e) };
  }
  if (
    e instanceof EtcdPermissionDeniedError ||
    e instanceof EtcdAuthenticationFailedError ||
    e instanceof EtcdInvalidAuthTokenError ||
    e instanceof GRPCUnauthenticatedError ||
    PERMISSION_MARKERS.some((m) => message.includes(m))
  ) {
    return { kind: 'final', error: new ClusterError('HA_PERMISSION', `${what}: etcd refused the credentials (${message})`, { cause: e }) };
  }
  if (e instanceof GRPCInvalidArgumentError) {
    return { kind: 'final', error: new ClusterError('HA_BAD_REQUEST', `${what}: etcd rejected the request (${message})`, { cause: e }) };
  }
  if (e instanceof ClientClosedError) {
    return { kind: 'final', error: new ClusterError('HA_COORD_UNAVAILABLE', `${what}: the etcd client is closed`, { cause: e }) };
  }
  if (isBrokenCircuit(e)) {
    return { kind: 'not-sent', detail: message, cause: e, skipped: true };
  }
  if (NOT_SENT_MARKERS.some((m) => message.includes(m))) {
    return { kind: 'not-sent', detail: message, cause: e, skipped: false };
  }
  return { kind: 'ambiguous', detail: message, cause: e };
}

/** One failed attempt, as kept for the final HA_COORD_UNAVAILABLE message. */
export interface AttemptFailure {
  readonly detail: string;
  readonly skipped: boolean;
}

export function attemptFailure(f: Exclude<EtcdFailure, { kind: 'final' }>, member: string): AttemptFailure {
  return { detail: `${member}: ${f.detail}`, skipped: f.kind === 'not-sent' && f.skipped };
}

/** The TLS files a client was configured with (resolved paths), named when a handshake fails. */
export interface TlsFiles {
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
}

/** OpenSSL / Node texts of a member refusing our client certificate (or having none from us). */
const PEER_REFUSED_CERT_MARKERS: readonly string[] = [
  'alert bad certificate',
  'alert certificate required',
  'alert unknown ca',
  'alert handshake failure',
  'SSL alert number 40',
  'SSL alert number 42',
  'SSL alert number 48',
  'SSL alert number 116',
];

/** Texts of our side failing to verify the member's certificate. */
const VERIFY_FAILED_MARKERS: readonly string[] = [
  'unable to verify the first certificate',
  'unable to get local issuer certificate',
  'self signed certificate',
  'self-signed certificate',
  'certificate verify failed',
  'certificate has expired',
  'certificate is not yet valid',
  "Hostname/IP does not match certificate's altnames",
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

/** Texts of a TLS handshake with something that does not speak TLS. */
const NOT_TLS_MARKERS: readonly string[] = ['wrong version number', 'packet length too long', 'http request'];

/**
 * What a failed attempt says about TLS, as one sentence naming the configured files, or undefined
 * when the failure was not a TLS one.
 */
export function describeTlsFailure(detail: string, tls: TlsFiles | undefined): string | undefined {
  if (PEER_REFUSED_CERT_MARKERS.some((m) => detail.includes(m))) {
    const mine =
      tls?.cert === undefined
        ? 'none is configured: set coordinator.tls.cert and coordinator.tls.key (the members require client certificates, --client-cert-auth)'
        : `coordinator.tls.cert ${tls.cert} (key ${tls.key ?? '?'}): is it signed by the CA the members trust (--trusted-ca-file), for client use, and not expired?`;
    return `TLS handshake failure: the member refused our client certificate; ${mine}`;
  }
  if (VERIFY_FAILED_MARKERS.some((m) => detail.includes(m))) {
    const what = VERIFY_FAILED_MARKERS.find((m) => detail.includes(m)) ?? 'certificate verify failed';
    const trust = tls?.ca === undefined ? 'the system CAs (coordinator.tls.ca is not set)' : `coordinator.tls.ca ${tls.ca}`;
    return `TLS certificate verify failed (${what}): the member's certificate is not trusted by ${trust}, or does not name the endpoint's address`;
  }
  if (NOT_TLS_MARKERS.some((m) => detail.includes(m))) {
    return 'TLS handshake failure: the endpoint does not speak TLS; use http:// endpoints for members without TLS, https:// for members with it';
  }
  return undefined;
}

export function unavailableError(
  what: string,
  endpoints: readonly string[],
  failures: readonly AttemptFailure[],
  waitedMs: number,
  cause?: unknown,
  tls?: TlsFiles,
): ClusterError {
  // A TLS failure will not go away by waiting: say so first, with the files involved.
  const tlsWhy = [...new Set(failures.map((f) => describeTlsFailure(f.detail, tls)).filter((d): d is string => d !== undefined))];
  if (tlsWhy.length > 0) {
    return new ClusterError(
      'HA_COORD_UNAVAILABLE',
      `${what}: no etcd member answered within ${Math.round(waitedMs)} ms (endpoints tried: ${endpoints.join(', ')}): ${tlsWhy.join('; ')}`,
      cause === undefined ? {} : { cause },
    );
  }
  // Say what actually failed; "member skipped" only when nothing else is known. A deadline says
  // less than the error behind it (a refused connection, a TLS failure), so those come first.
  const tried = failures.filter((f) => !f.skipped);
  const distinct = [...new Set((tried.length > 0 ? tried : failures).map((f) => f.detail.replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '')))];
  const isDeadline = (d: string): boolean => /deadline exceeded/i.test(d);
  const ranked = [...distinct.filter((d) => !isDeadline(d)).slice(-3), ...distinct.filter(isDeadline).slice(-1)].slice(0, 3);
  const why = ranked.length === 0 ? 'no attempt finished' : ranked.join('; ');
  return new ClusterError(
    'HA_COORD_UNAVAILABLE',
    `${what}: no etcd member answered within ${Math.round(waitedMs)} ms (endpoints tried: ${endpoints.join(', ')}): ${why}`,
    cause === undefined ? {} : { cause },
  );
}

export function outcomeUnknownError(what: string, endpoints: readonly string[], detail: string, cause?: unknown): ClusterError {
  return new ClusterError(
    'HA_COORD_OUTCOME_UNKNOWN',
    `${what}: sent to etcd (${endpoints.join(', ')}) but no answer came (${detail}); it may have been applied`,
    cause === undefined ? {} : { cause },
  );
}

export function compactedError(what: string, cause?: unknown): ClusterError {
  return new ClusterError(
    'HA_COORD_COMPACTED',
    `${what}: etcd has compacted the requested history; list again and watch from its revision`,
    cause === undefined ? {} : { cause },
  );
}

/** A LeaseGrant answered with an error text instead of a gRPC error (older etcd servers). */
export function grantRefusedError(what: string, reason: string): ClusterError {
  return new ClusterError('HA_COORD_UNAVAILABLE', `${what}: etcd refused (${reason})`);
}

/**
 * Whether `e` (an error, or a watch's cancel reason) says the auth token the request carried has
 * expired or is unknown to the member: etcd's simple tokens expire after `--auth-token-ttl` without
 * use, and every member restart forgets them. Authenticating again fixes it; the password is fine.
 * (Unary calls are re-authenticated inside etcd3; a watch stream carries the token it opened with.)
 */
export function isExpiredAuthToken(e: unknown): boolean {
  if (e instanceof EtcdInvalidAuthTokenError) return true;
  const message = typeof e === 'string' ? e : describe(e);
  return message.includes('etcdserver: invalid auth token');
}

/** A watch the server cancelled for another reason than compaction. */
export function watchCancelledError(what: string, reason: string): ClusterError {
  if (PERMISSION_MARKERS.some((m) => reason.includes(m))) {
    return new ClusterError('HA_PERMISSION', `${what}: etcd cancelled the watch (${reason})`);
  }
  return new ClusterError('HA_COORD_UNAVAILABLE', `${what}: etcd cancelled the watch (${reason || 'no reason given'})`);
}

function describe(e: unknown): string {
  if (isBrokenCircuit(e)) return 'a member that failed repeatedly was skipped (circuit open)';
  // gRPC appends an empty "Resolution note: " to connection failures.
  if (e instanceof Error) return e.message.replace(/\.? Resolution note: $/, '');
  return String(e);
}

/** cockatiel's BrokenCircuitError (etcd3's per-member circuit breaker is open): nothing was sent. */
function isBrokenCircuit(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'isBrokenCircuitError' in e && e.isBrokenCircuitError === true;
}
