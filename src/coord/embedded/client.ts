import type { z } from 'zod';
import { ClusterError, ErrorCodes, type ErrorCode } from '../../domain/errors.js';
import type { LeaseId, Revision } from '../../domain/ids.js';
import { clusterFetch, type ClientTls } from '../../security/fetch.js';
import type {
  Compare,
  Coordinator,
  KeyValue,
  LeaseRenewal,
  Opts,
  TxnOp,
  TxnResult,
  WatchEvent,
} from '../coordinator.js';
import {
  DeletePrefixResponseSchema,
  EmptyResponseSchema,
  ErrorBodySchema,
  GetResponseSchema,
  GrantResponseSchema,
  ListResponseSchema,
  Paths,
  RenewResponseSchema,
  RevisionResponseSchema,
  TxnResponseSchema,
  WatchResponseSchema,
} from './protocol.js';
import { readSecretFile } from './secret.js';

export interface EmbeddedCoordinatorOptions {
  /** Base URL of the embedded coordinator server, e.g. http://127.0.0.1:2399 (https://… with `tls`) */
  readonly url: string;
  /**
   * The coordinator's shared secret, or the file holding it. A file is read at the first request
   * (so an agent may start before the coordinator has created it) and read again after a 401.
   */
  readonly secret: string | { readonly file: string };
  /** For an https:// url: the cluster CA to verify the server with, and this node's certificate. */
  readonly tls?: ClientTls;
  /** Deadline of one request (default 5000 ms). A write that misses it is HA_COORD_OUTCOME_UNKNOWN. */
  readonly requestTimeoutMs?: number;
  /** How long the server holds a watch long-poll open when nothing changes (default 5000 ms). */
  readonly watchWaitMs?: number;
}

/** Errors the client passes on as the server stated them; anything else is mapped by request kind. */
const PASSED_ON: ReadonlySet<string> = new Set<ErrorCode>([
  'HA_BAD_REQUEST',
  'HA_NOT_FOUND',
  'HA_LEASE_LOST',
  'HA_COORD_COMPACTED',
  'HA_COORD_UNAVAILABLE',
  'HA_UNAUTHENTICATED',
  'HA_PERMISSION',
  'HA_RATE_LIMITED',
]);

/** Network failures that mean the request never reached the server. */
const NOT_SENT: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

interface CallOpts {
  readonly signal: AbortSignal | undefined;
  /** Whether the request may change the store (decides what a lost answer means). */
  readonly write: boolean;
  readonly timeoutMs?: number;
}

/**
 * Coordinator client for the embedded server (HTTP/JSON, or HTTPS with the cluster CA and this
 * node's certificate). Every request carries the coordinator's shared secret.
 *
 * Failure mapping, made here and nowhere else: a request that never reached the server (connection
 * refused) or a read that failed is HA_COORD_UNAVAILABLE; a write whose answer was lost (timeout,
 * connection reset after sending, server error) is HA_COORD_OUTCOME_UNKNOWN, since it may have been
 * applied. A caller's abort rejects with the caller's abort reason.
 */
export class EmbeddedCoordinator implements Coordinator {
  private readonly base: string;
  private readonly requestTimeoutMs: number;
  private readonly watchWaitMs: number;
  private readonly closing = new AbortController();
  private readonly secretSource: string | { readonly file: string };
  private secret: string | undefined;
  private readonly fetch: typeof fetch;

  constructor(opts: EmbeddedCoordinatorOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.secretSource = opts.secret;
    if (typeof opts.secret === 'string') this.secret = opts.secret;
    this.fetch = clusterFetch(opts.tls);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.watchWaitMs = opts.watchWaitMs ?? 5000;
  }

  async get(key: string, opts: Opts = {}): Promise<KeyValue | undefined> {
    const res = await this.call(Paths.get, { key }, GetResponseSchema, { signal: opts.signal, write: false });
    return res.kv ?? undefined;
  }

  async list(prefix: string, opts: Opts = {}): Promise<{ readonly items: readonly KeyValue[]; readonly revision: Revision }> {
    return this.call(Paths.list, { prefix }, ListResponseSchema, { signal: opts.signal, write: false });
  }

  async put(key: string, value: string, opts: Opts & { readonly lease?: LeaseId } = {}): Promise<Revision> {
    const body = opts.lease === undefined ? { key, value } : { key, value, lease: opts.lease };
    const res = await this.call(Paths.put, body, RevisionResponseSchema, { signal: opts.signal, write: true });
    return res.revision;
  }

  async delete(key: string, opts: Opts = {}): Promise<Revision> {
    const res = await this.call(Paths.delete, { key }, RevisionResponseSchema, { signal: opts.signal, write: true });
    return res.revision;
  }

  async deletePrefix(prefix: string, opts: Opts = {}): Promise<number> {
    const res = await this.call(Paths.deletePrefix, { prefix }, DeletePrefixResponseSchema, { signal: opts.signal, write: true });
    return res.deleted;
  }

  async txn(compares: readonly Compare[], ops: readonly TxnOp[], opts: Opts = {}): Promise<TxnResult> {
    return this.call(Paths.txn, { compares, ops }, TxnResponseSchema, { signal: opts.signal, write: true });
  }

  async grantLease(ttlMs: number, opts: Opts = {}): Promise<{ readonly id: LeaseId; readonly ttlMs: number }> {
    // The server keeps whole milliseconds; round up so the grant is never shorter than asked.
    return this.call(Paths.grant, { ttlMs: Math.ceil(ttlMs) }, GrantResponseSchema, { signal: opts.signal, write: true });
  }

  async renewLease(id: LeaseId, opts: Opts = {}): Promise<LeaseRenewal> {
    return this.call(Paths.renew, { id }, RenewResponseSchema, { signal: opts.signal, write: true });
  }

  async revokeLease(id: LeaseId, opts: Opts = {}): Promise<void> {
    await this.call(Paths.revoke, { id }, EmptyResponseSchema, { signal: opts.signal, write: true });
  }

  /** A loop of long-polls; each non-empty answer is one batch. Ends cleanly on abort or `close()`. */
  async *watch(prefix: string, afterRevision: Revision, opts: Opts = {}): AsyncIterable<readonly WatchEvent[]> {
    const signal = opts.signal;
    let after = afterRevision;
    for (;;) {
      if (signal?.aborted || this.closing.signal.aborted) return;
      let res: z.infer<typeof WatchResponseSchema>;
      try {
        res = await this.call(
          Paths.watch,
          { prefix, afterRevision: after, waitMs: this.watchWaitMs },
          WatchResponseSchema,
          { signal, write: false, timeoutMs: this.watchWaitMs + this.requestTimeoutMs },
        );
      } catch (e) {
        if (signal?.aborted || this.closing.signal.aborted) return;
        throw e;
      }
      if (res.revision > after) after = res.revision;
      if (res.events.length > 0) yield res.events;
    }
  }

  /** Abort requests in flight and refuse new ones. Leases are not revoked. */
  async close(): Promise<void> {
    this.closing.abort();
  }

  private async call<T>(path: string, body: unknown, schema: z.ZodType<T>, opts: CallOpts): Promise<T> {
    opts.signal?.throwIfAborted();
    if (this.closing.signal.aborted) throw new ClusterError('HA_COORD_UNAVAILABLE', 'coordinator client is closed');
    // Nothing is sent without the credential; a secret file that cannot be read is the caller's error.
    const secret = this.secret ?? (await this.readSecret());
    // One controller per request, tied to the deadline, the caller's signal and close(); listeners
    // are removed afterwards so long-lived signals do not collect one per request.
    const ac = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ac.abort(new ClusterError('HA_COORD_UNAVAILABLE', 'request deadline passed'));
    }, opts.timeoutMs ?? this.requestTimeoutMs);
    const onAbort = (): void => ac.abort();
    this.closing.signal.addEventListener('abort', onAbort, { once: true });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const url = `${this.base}${path}`;

    let status: number;
    let text: string;
    try {
      const res = await this.fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
        body: JSON.stringify(body),
        signal: ac.signal,
      });
      status = res.status;
      text = await res.text();
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      throw this.lost(e, url, opts.write, timedOut);
    } finally {
      clearTimeout(timer);
      this.closing.signal.removeEventListener('abort', onAbort);
      opts.signal?.removeEventListener('abort', onAbort);
    }

    const json = parseJson(text);
    if (status >= 200 && status < 300) {
      const parsed = schema.safeParse(json);
      if (parsed.success) return parsed.data;
      throw garbled(opts.write, `unexpected answer from ${url}: ${parsed.error.message}`);
    }
    const err = ErrorBodySchema.safeParse(json);
    if (err.success && isErrorCode(err.data.code)) {
      const code = err.data.code;
      if (code === 'HA_UNAUTHENTICATED') {
        // The coordinator may have a new secret: read the file again next time.
        if (typeof this.secretSource !== 'string') this.secret = undefined;
        const from = typeof this.secretSource === 'string' ? 'the secret given' : `the secret in ${this.secretSource.file}`;
        throw new ClusterError(code, `coordinator at ${this.base} refused ${from}: ${err.data.message}; it must be the coordinator's own secret file (copied, mode 0600)`);
      }
      if (PASSED_ON.has(code) || (code === 'HA_COORD_OUTCOME_UNKNOWN' && opts.write)) {
        throw new ClusterError(code, err.data.message);
      }
      throw garbled(opts.write, `${url} answered ${status} ${code}: ${err.data.message}`);
    }
    throw garbled(opts.write, `${url} answered ${status}: ${text.slice(0, 200)}`);
  }

  private async readSecret(): Promise<string> {
    if (typeof this.secretSource === 'string') return this.secretSource;
    this.secret = await readSecretFile(this.secretSource.file, { ownerOnly: false });
    return this.secret;
  }

  private lost(e: unknown, url: string, write: boolean, timedOut: boolean): ClusterError {
    if (this.closing.signal.aborted) return new ClusterError('HA_COORD_UNAVAILABLE', 'coordinator client is closed', { cause: e });
    const netCode = networkCode(e);
    if (timedOut) {
      return write
        ? new ClusterError('HA_COORD_OUTCOME_UNKNOWN', `no answer from ${url} in time; the write may have been applied`, { cause: e })
        : new ClusterError('HA_COORD_UNAVAILABLE', `no answer from ${url} in time`, { cause: e });
    }
    if (netCode !== undefined && NOT_SENT.has(netCode)) {
      return new ClusterError('HA_COORD_UNAVAILABLE', `cannot reach coordinator at ${this.base} (${netCode})`, { cause: e });
    }
    const what = netCode ?? (e instanceof Error ? e.message : String(e));
    return write
      ? new ClusterError('HA_COORD_OUTCOME_UNKNOWN', `connection to ${url} failed (${what}); the write may have been applied`, {
          cause: e,
        })
      : new ClusterError('HA_COORD_UNAVAILABLE', `connection to ${url} failed (${what})`, { cause: e });
  }
}

function garbled(write: boolean, message: string): ClusterError {
  return new ClusterError(write ? 'HA_COORD_OUTCOME_UNKNOWN' : 'HA_COORD_UNAVAILABLE', message);
}

function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ErrorCodes, s);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The errno-style code of a fetch failure (undici wraps it in `cause`, sometimes in an AggregateError). */
function networkCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && typeof cur === 'object' && cur !== null; depth++) {
    if ('code' in cur && typeof cur.code === 'string' && cur.code !== 'ABORT_ERR') return cur.code;
    if (cur instanceof AggregateError && cur.errors.length > 0) cur = cur.errors[0];
    else cur = 'cause' in cur ? cur.cause : undefined;
  }
  return undefined;
}
