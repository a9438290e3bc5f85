import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Etcd3, ICompare, IOptions, IRequestOp, IWatchResponse } from 'etcd3';
import { ClusterError } from '../../domain/errors.js';
import { parseLeaseId, type LeaseId, type Revision } from '../../domain/ids.js';
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
  attemptFailure,
  classifyEtcdError,
  compactedError,
  grantRefusedError,
  isExpiredAuthToken,
  type AttemptFailure,
  type TlsFiles,
  outcomeUnknownError,
  unavailableError,
  watchCancelledError,
} from './errors.js';
import { counterOf, isEtcdLeaseId, KeySpace, revisionOf } from './keys.js';
import { WatchStream } from './watch-stream.js';
import { DEFAULT_HEALTH_CHECK, MemberLostError, Members, type HealthCheckOptions, type Member, type MemberState } from './members.js';
import { abortable } from '../../platform/abortable.js';

export interface EtcdCoordinatorOptions {
  /** Client URLs of the members, e.g. `http://10.0.0.1:2379` or `10.0.0.1:2379`. At least one. */
  readonly endpoints: readonly string[];
  /** Namespace for every key halo writes (default ''), e.g. `/halo/prod`. Callers never see it. */
  readonly prefix?: string;
  /** TLS: PEM file paths. Without `ca` the system's root certificates verify the members. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string };
  readonly auth?: { readonly username: string; readonly password: string };
  /** How long `connectEtcd` waits for the cluster to answer its probe (default 3000 ms). */
  readonly dialTimeoutMs?: number;
  /**
   * Deadline of one method call, retries on other members included (default 5000 ms). A read that
   * misses it is HA_COORD_UNAVAILABLE; a write that was sent and misses it is HA_COORD_OUTCOME_UNKNOWN.
   * A broken watch is reopened for up to this long before it fails.
   */
  readonly requestTimeoutMs?: number;
  /**
   * Background health checks of each member (see HealthCheckOptions): a member slow to answer is
   * avoided by new calls; one that does not answer within `timeoutMs` (or has no leader) loses
   * its calls and watches to another member.
   */
  readonly healthCheck?: Partial<HealthCheckOptions>;
}

const DEFAULT_DIAL_TIMEOUT_MS = 3000;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** How long a lease renewal waits for its member before it is also sent to the next one. */
const RENEW_HEDGE_MS = 100;
/** Pause between attempts on another member: 25, 50, 100, 200, 250, 250… ms. */
const RETRY_PAUSE_MS = { first: 25, max: 250 } as const;

/**
 * The production coordinator: an etcd v3 cluster through the `etcd3` gRPC client.
 *
 * Mapping onto the contract: revisions are etcd's store revision, a key's create/mod revision and
 * version; lease ids are etcd's lease ids in decimal. TTLs are granted in whole seconds (rounded up;
 * etcd may raise them further to its minimum, 1.5 x election timeout) and the granted TTL is
 * returned. A txn compares mod_revision, or create_revision == 0 for 'absent'; when a compare fails,
 * the failure branch reads the compared keys at the same revision to report the first that failed.
 * Reads are linearizable.
 *
 * Retries: a call may try several members within `requestTimeoutMs`. Reads retry on any transient
 * failure; writes retry only when no member took them (see errors.ts), otherwise they fail with
 * HA_COORD_OUTCOME_UNKNOWN. An abort rejects at once with the signal's reason; a call already sent
 * cannot be recalled and may still be applied.
 */
export class EtcdCoordinator implements Coordinator {
  readonly endpoints: readonly string[];
  private readonly members: Members;
  private readonly keys: KeySpace;
  private readonly requestTimeoutMs: number;
  private readonly healthTimeoutMs: number;
  private readonly healthIntervalMs: number;
  readonly dialTimeoutMs: number;
  private readonly closing = new AbortController();
  /** The configured TLS files, named in errors when a handshake fails. */
  private readonly tlsFiles: TlsFiles | undefined;

  constructor(opts: EtcdCoordinatorOptions) {
    if (opts.endpoints.length === 0) throw new ClusterError('HA_CONFIG_INVALID', 'etcd: at least one endpoint is required');
    this.endpoints = [...opts.endpoints];
    this.keys = new KeySpace(opts.prefix ?? '');
    this.tlsFiles = opts.tls;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    const health = { ...DEFAULT_HEALTH_CHECK, ...opts.healthCheck };
    if (!(health.intervalMs > 0 && health.suspectAfterMs > 0 && health.timeoutMs >= health.suspectAfterMs)) {
      throw new ClusterError(
        'HA_CONFIG_INVALID',
        `etcd: healthCheck needs intervalMs > 0 and 0 < suspectAfterMs <= timeoutMs (got ${health.intervalMs}, ${health.suspectAfterMs}, ${health.timeoutMs})`,
      );
    }
    this.healthTimeoutMs = health.timeoutMs;
    this.healthIntervalMs = health.intervalMs;
    const options: Omit<IOptions, 'hosts' | 'faultHandling'> = {
      grpcOptions: {
        // Reconnect to a member that comes back within a second or two, not grpc's default 120 s cap.
        'grpc.initial_reconnect_backoff_ms': 250,
        'grpc.max_reconnect_backoff_ms': 2000,
      },
      ...(opts.tls ? { credentials: readCredentials(opts.tls) } : {}),
      ...(opts.auth
        ? {
            auth: {
              username: opts.auth.username,
              password: opts.auth.password,
              // etcd3 authenticates on a client of its own that it never closes: without a deadline,
              // a member that takes the connection and never answers holds that call, and the
              // process, forever.
              callOptions: () => ({ deadline: new Date(Date.now() + this.requestTimeoutMs) }),
            },
          }
        : {}),
    };
    this.members = new Members(this.endpoints, options, health, this.closing.signal);
    this.members.startChecks();
  }

  /** What this client knows of each member now, and which one calls stick to (for diagnostics and tests). */
  memberStates(): { readonly endpoint: string; readonly state: MemberState; readonly current: boolean }[] {
    return this.members.all.map((m) => ({ endpoint: m.endpoint, state: m.state, current: this.members.isCurrent(m) }));
  }

  async get(key: string, opts: Opts = {}): Promise<KeyValue | undefined> {
    const res = await this.call(`get ${JSON.stringify(key)}`, 'read', opts.signal, (c, o) =>
      c.kv.range({ key: this.keys.key(key) }, o),
    );
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.keys.keyValue(kv);
  }

  async list(prefix: string, opts: Opts = {}): Promise<{ readonly items: readonly KeyValue[]; readonly revision: Revision }> {
    const { key, rangeEnd } = this.keys.range(prefix);
    const res = await this.call(`list ${JSON.stringify(prefix)}`, 'read', opts.signal, (c, o) =>
      c.kv.range({ key, range_end: rangeEnd, sort_order: 'Ascend', sort_target: 'Key' }, o),
    );
    return { items: res.kvs.map((kv) => this.keys.keyValue(kv)), revision: revisionOf(res.header.revision) };
  }

  async put(key: string, value: string, opts: Opts & { readonly lease?: LeaseId } = {}): Promise<Revision> {
    const what = `put ${JSON.stringify(key)}`;
    opts.signal?.throwIfAborted();
    const lease = opts.lease === undefined ? undefined : etcdLease(opts.lease, what);
    const res = await this.call(what, 'write', opts.signal, (c, o) =>
      c.kv.put(
        { key: this.keys.key(key), value: Buffer.from(value, 'utf8'), ...(lease === undefined ? {} : { lease }) },
        o,
      ),
    );
    return revisionOf(res.header.revision);
  }

  async delete(key: string, opts: Opts = {}): Promise<Revision> {
    const res = await this.call(`delete ${JSON.stringify(key)}`, 'write', opts.signal, (c, o) =>
      c.kv.deleteRange({ key: this.keys.key(key) }, o),
    );
    return revisionOf(res.header.revision);
  }

  async deletePrefix(prefix: string, opts: Opts = {}): Promise<number> {
    const { key, rangeEnd } = this.keys.range(prefix);
    const res = await this.call(`delete prefix ${JSON.stringify(prefix)}`, 'write', opts.signal, (c, o) =>
      c.kv.deleteRange({ key, range_end: rangeEnd }, o),
    );
    return counterOf(res.deleted);
  }

  async txn(compares: readonly Compare[], ops: readonly TxnOp[], opts: Opts = {}): Promise<TxnResult> {
    const what = `txn on ${compares.length} compare(s), ${ops.length} op(s)`;
    opts.signal?.throwIfAborted();
    const compare: ICompare[] = compares.map((c) =>
      c.modRevision === 'absent'
        ? { key: this.keys.key(c.key), target: 'Create', result: 'Equal', create_revision: 0 }
        : { key: this.keys.key(c.key), target: 'Mod', result: 'Equal', mod_revision: c.modRevision },
    );
    const success: IRequestOp[] = ops.map((op) => {
      switch (op.kind) {
        case 'put': {
          const lease = op.lease === undefined ? undefined : etcdLease(op.lease, what);
          return {
            request_put: {
              key: this.keys.key(op.key),
              value: Buffer.from(op.value, 'utf8'),
              ...(lease === undefined ? {} : { lease }),
            },
          };
        }
        case 'delete':
          return { request_delete_range: { key: this.keys.key(op.key) } };
      }
    });
    // When a compare fails, read every compared key in the same (atomic) step to say which one.
    const failure: IRequestOp[] = compares.map((c) => ({ request_range: { key: this.keys.key(c.key) } }));
    const res = await this.call(what, 'write', opts.signal, (c, o) => c.kv.txn({ compare, success, failure }, o));
    if (res.succeeded) return { ok: true, revision: revisionOf(res.header.revision) };
    for (const [i, c] of compares.entries()) {
      const kv = res.responses[i]?.response_range.kvs[0];
      const current = kv === undefined ? 'absent' : revisionOf(kv.mod_revision);
      if (current !== c.modRevision) return { ok: false, key: c.key, current };
    }
    throw new ClusterError('HA_INTERNAL', `${what}: etcd reported a failed compare, but every compared key matches`);
  }

  async grantLease(ttlMs: number, opts: Opts = {}): Promise<{ readonly id: LeaseId; readonly ttlMs: number }> {
    // etcd grants whole seconds; round up so the lease is never shorter than asked.
    const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
    // Retried like a read: a grant whose answer was lost leaves at most an unused lease, which
    // expires after its TTL.
    const res = await this.call(`grant a ${seconds} s lease`, 'read', opts.signal, (c, o) =>
      c.leaseClient.leaseGrant({ TTL: seconds }, o),
    );
    if (res.error !== '') throw grantRefusedError(`grant a ${seconds} s lease`, res.error);
    return { id: parseLeaseId(res.ID), ttlMs: counterOf(res.TTL) * 1000 };
  }

  async renewLease(id: LeaseId, opts: Opts = {}): Promise<LeaseRenewal> {
    opts.signal?.throwIfAborted();
    if (!isEtcdLeaseId(id)) return { ok: false };
    // A keep-alive only extends the lease: repeating it is harmless. A healthy member answers in
    // milliseconds, one that is cut off never does, and a busy one late: so when the best member
    // has not answered within RENEW_HEDGE_MS, the renewal is also sent to the next one, without
    // giving up on the first. The first answer counts.
    const res = await this.hedged(`renew lease ${id}`, opts.signal, async (c, o) => {
      const stream = await c.leaseClient.leaseKeepAlive(o);
      try {
        return await new Promise<{ readonly TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('etcd ended the keep-alive stream without an answer')));
          stream.write({ ID: id });
        });
      } finally {
        stream.on('error', () => undefined);
        // Half-close first: etcd3 counts an error on a writable stream as a member failure.
        stream.end();
      }
    });
    const ttlSeconds = counterOf(res.TTL);
    return ttlSeconds > 0 ? { ok: true, ttlMs: ttlSeconds * 1000 } : { ok: false };
  }

  async revokeLease(id: LeaseId, opts: Opts = {}): Promise<void> {
    opts.signal?.throwIfAborted();
    if (!isEtcdLeaseId(id)) return;
    try {
      await this.call(`revoke lease ${id}`, 'write', opts.signal, (c, o) => c.leaseClient.leaseRevoke({ ID: id }, o));
    } catch (e) {
      if (e instanceof ClusterError && e.code === 'HA_LEASE_LOST') return;
      throw e;
    }
  }

  /**
   * One etcd watcher from `afterRevision + 1`; each etcd watch response with events is one batch
   * (etcd never splits one revision's events across responses). When the stream breaks it is
   * reopened from the last delivered revision, on any member, for up to `requestTimeoutMs`; then
   * HA_COORD_UNAVAILABLE. A compacted start revision is HA_COORD_COMPACTED.
   */
  async *watch(prefix: string, afterRevision: Revision, opts: Opts = {}): AsyncIterable<readonly WatchEvent[]> {
    const what = `watch ${JSON.stringify(prefix)}`;
    const { key, rangeEnd } = this.keys.range(prefix);
    const stops = opts.signal ? [opts.signal, this.closing.signal] : [this.closing.signal];
    let after: number = afterRevision;
    let brokenSince: number | undefined;
    const failures: AttemptFailure[] = [];
    /** Members this watch broke on since it last heard from one: tried again only when all have. */
    const brokeOn = new Set<Member>();
    /** Set when the last stream was refused for an expired auth token: reopen on that member with a fresh one. */
    let reauthOn: Member | undefined;
    /** Fresh tokens fetched since the watch last heard from a member (a second refusal in a row is final). */
    let reauths = 0;
    for (let attempt = 0; ; attempt++) {
      const m = reauthOn ?? this.best(brokeOn);
      if (reauthOn !== undefined) {
        reauthOn = undefined;
        try {
          await this.reauthenticate(m, AbortSignal.any(stops));
        } catch (e) {
          if (stops.some((s) => s.aborted)) return;
          const f = classifyEtcdError(e, what);
          if (f.kind === 'final') throw f.error;
          failures.push(attemptFailure(f, m.endpoint));
          brokeOn.add(m);
          continue;
        }
      }
      const moveOn = this.watchGuard(m);
      const stream = new WatchStream(
        () => m.client.watchClient.watch(),
        { create_request: { key, range_end: rangeEnd, start_revision: after + 1 } },
        stops,
        moveOn.signal,
      );
      try {
        for (;;) {
          const item = await stream.next();
          if (item.kind === 'stopped') return;
          if (item.kind === 'broken') {
            if (isExpiredAuthToken(item.error) && reauths++ === 0) {
              reauthOn = m;
              break;
            }
            const f = classifyEtcdError(item.error, what);
            if (f.kind === 'final') throw f.error;
            if (!(item.error instanceof MemberLostError)) this.members.failed(m, isNoLeader(f.detail));
            failures.push(attemptFailure(f, m.endpoint));
            brokeOn.add(m);
            break;
          }
          const res = item.response;
          moveOn.answered();
          if (res.compact_revision !== '0' && res.compact_revision !== '') throw compactedError(what);
          if (res.canceled) {
            // An expired token is not a refusal: authenticate again once and reopen from `after`.
            if (isExpiredAuthToken(res.cancel_reason) && reauths++ === 0) {
              reauthOn = m;
              break;
            }
            throw watchCancelledError(what, res.cancel_reason);
          }
          reauths = 0;
          brokenSince = undefined;
          failures.length = 0;
          brokeOn.clear();
          attempt = 0;
          const batch = this.events(res);
          const last = batch.at(-1);
          if (last === undefined) continue;
          after = last.kind === 'put' ? last.kv.modRevision : last.modRevision;
          yield batch;
        }
      } finally {
        moveOn.dispose();
        stream.close();
      }
      if (reauthOn !== undefined) continue;
      brokenSince ??= Date.now();
      const left = brokenSince + this.requestTimeoutMs - Date.now();
      if (left <= 0) throw unavailableError(what, this.endpoints, failures, Date.now() - brokenSince, undefined, this.tlsFiles);
      try {
        await pause(Math.min(retryPause(attempt), left), AbortSignal.any(stops));
      } catch {
        return;
      }
    }
  }

  /**
   * Make `m`'s client fetch a new auth token: one unary read, which etcd3 retries with a fresh token
   * when the member calls the cached one invalid. A watch stream takes the token its client holds
   * when it opens, so it needs this after a refusal for an expired token.
   */
  private async reauthenticate(m: Member, signal: AbortSignal): Promise<void> {
    const deadline = new Date(Date.now() + this.requestTimeoutMs);
    await abortable(abortable(m.client.kv.range({ key: this.keys.range('').key, limit: 1 }, { deadline }), m.lost), signal);
  }

  /** Stop open watches and release connections. Leases are not revoked. */
  async close(): Promise<void> {
    this.closing.abort();
    this.members.close();
  }

  /** Probe: one linearizable read, retried on every member until `dialTimeoutMs`. */
  async probe(opts: Opts = {}): Promise<void> {
    await this.call(
      'probe',
      'read',
      opts.signal,
      (c, o) => c.kv.range({ key: this.keys.range('').key, limit: 1 }, o),
      this.dialTimeoutMs,
    );
  }

  private events(res: IWatchResponse): WatchEvent[] {
    return res.events.map((ev): WatchEvent => {
      switch (ev.type) {
        case 'Put':
          return { kind: 'put', kv: this.keys.keyValue(ev.kv) };
        case 'Delete':
          return { kind: 'delete', key: this.keys.unkey(ev.kv.key), modRevision: revisionOf(ev.kv.mod_revision) };
      }
    });
  }

  /**
   * An idempotent call sent to the best member, and also to the next best each `hedgeMs` that
   * passes without an answer (or at once when an attempt fails), until every member has it; the
   * first answer wins, and no attempt is abandoned for being slow. When all have failed, it starts
   * over after a pause, until `requestTimeoutMs`: then HA_COORD_UNAVAILABLE.
   */
  private hedged<T>(
    what: string,
    signal: AbortSignal | undefined,
    attempt: (client: Etcd3, options: { deadline: Date }) => Promise<T>,
    hedgeMs: number = RENEW_HEDGE_MS,
  ): Promise<T> {
    signal?.throwIfAborted();
    if (this.closing.signal.aborted) return Promise.reject(new ClusterError('HA_COORD_UNAVAILABLE', `${what}: the etcd client is closed`));
    return new Promise<T>((resolve, reject) => {
      const started = Date.now();
      const deadlineAt = started + this.requestTimeoutMs;
      const failures: AttemptFailure[] = [];
      const tried = new Set<Member>();
      let pending = 0;
      let rounds = 0;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (settle: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      const onAbort = (): void => finish(() => reject(signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      const giveUp = (cause?: unknown): void =>
        finish(() => reject(unavailableError(what, this.endpoints, failures, Date.now() - started, cause, this.tlsFiles)));
      const launch = (): void => {
        if (done) return;
        clearTimeout(timer);
        const left = deadlineAt - Date.now();
        if (left <= 0) {
          if (pending === 0) giveUp();
          return;
        }
        if (tried.size === this.members.all.length) {
          // Every member has it: wait for those still out, or start over after a pause.
          if (pending > 0) return;
          tried.clear();
          timer = setTimeout(launch, Math.min(retryPause(rounds++), left));
          return;
        }
        const m = this.best(tried);
        tried.add(m);
        pending++;
        const sentAt = Date.now();
        abortable(attempt(m.client, { deadline: new Date(deadlineAt) }), m.lost).then(
          (value) => {
            pending--;
            this.members.answered(m);
            finish(() => resolve(value));
          },
          (e: unknown) => {
            pending--;
            if (done) return;
            const f = classifyEtcdError(e, what);
            if (f.kind === 'final') {
              this.members.answered(m);
              finish(() => reject(f.error));
              return;
            }
            if (!(e instanceof MemberLostError) && (f.kind === 'not-sent' || Date.now() - sentAt >= this.healthTimeoutMs)) {
              this.members.failed(m, isNoLeader(f.detail));
            }
            failures.push(attemptFailure(f, m.endpoint));
            if (Date.now() >= deadlineAt && pending === 0) giveUp(f.cause);
            else launch();
          },
        );
        timer = setTimeout(launch, hedgeMs);
      };
      launch();
    });
  }

  /**
   * When a watch on `m` must give up and move: `m` turns down or leaderless (its `lost` signal);
   * `m` was already unusable when the watch opened and another member is up now; or `m` has not
   * answered the watch request within the health check's `timeoutMs`. A stream on a black-holed
   * member would otherwise wait forever: it never errors.
   */
  private watchGuard(m: Member): { readonly signal: AbortSignal; answered(): void; dispose(): void } {
    const ctl = new AbortController();
    const lost = m.lost;
    const give = (why: string): void => {
      if (!ctl.signal.aborted) ctl.abort(new MemberLostError(m.endpoint, m.state === 'up' ? 'down' : m.state, why));
    };
    const onLost = (): void => give('');
    lost?.addEventListener('abort', onLost, { once: true });
    const unanswered = setTimeout(() => give('no answer to the watch request'), this.healthTimeoutMs);
    const recheck =
      lost === undefined
        ? setInterval(() => {
            if (this.members.all.some((o) => o !== m && o.state === 'up')) give('another member is up');
          }, this.healthIntervalMs)
        : undefined;
    return {
      signal: ctl.signal,
      answered: () => clearTimeout(unanswered),
      dispose: () => {
        clearTimeout(unanswered);
        clearInterval(recheck);
        lost?.removeEventListener('abort', onLost);
      },
    };
  }

  /** The member to use next: the best one not in `avoid` (see Members.order). */
  private best(avoid: ReadonlySet<Member>): Member {
    const m = this.members.order(avoid)[0];
    if (!m) throw new ClusterError('HA_INTERNAL', 'etcd: no members');
    return m;
  }

  /**
   * Run one etcd call on the best member, then on others while that is safe, until the call's
   * deadline. `kind` decides what a lost answer means: a read is retried, a write is
   * HA_COORD_OUTCOME_UNKNOWN. An attempt on a member that turns out down (its health check times
   * out) or leaderless is cut short at that moment, not at the deadline.
   */
  private async call<T>(
    what: string,
    kind: 'read' | 'write',
    signal: AbortSignal | undefined,
    attempt: (client: Etcd3, options: { deadline: Date }) => Promise<T>,
    budgetMs: number = this.requestTimeoutMs,
    /** A read's time on one member before it tries another (default: half the budget, at least 500 ms). */
    attemptMs: number = Math.max(budgetMs / 2, 500),
  ): Promise<T> {
    signal?.throwIfAborted();
    if (this.closing.signal.aborted) throw new ClusterError('HA_COORD_UNAVAILABLE', `${what}: the etcd client is closed`);
    const started = Date.now();
    const deadlineAt = started + budgetMs;
    const failures: AttemptFailure[] = [];
    const tried = new Set<Member>();
    for (let n = 0; ; n++) {
      if (tried.size === this.members.all.length) tried.clear();
      const m = this.best(tried);
      tried.add(m);
      // A read leaves time for another member if this one hangs (e.g. cut off from the leader).
      const attemptEnd = kind === 'read' ? Math.min(deadlineAt, Date.now() + attemptMs) : deadlineAt;
      const lost = m.lost;
      const attemptStart = Date.now();
      try {
        // Stop waiting when the member is found down or the caller aborts (each listener is removed
        // when the attempt settles; the member's signal lives long, so no AbortSignal.any on it).
        const value = await abortable(abortable(attempt(m.client, { deadline: new Date(attemptEnd) }), lost), signal);
        this.members.answered(m);
        return value;
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        const f = classifyEtcdError(e, what);
        if (f.kind === 'final') {
          // A refusal is an answer: the member works.
          this.members.answered(m);
          throw f.error;
        }
        // A short attempt that ran out (a renewal's 100 ms) says little: the health check decides.
        const noAnswer = f.kind === 'not-sent' || Date.now() - attemptStart >= this.healthTimeoutMs;
        if (!(e instanceof MemberLostError) && noAnswer) this.members.failed(m, isNoLeader(f.detail));
        if (f.kind === 'ambiguous' && kind === 'write') throw outcomeUnknownError(what, [m.endpoint], f.detail, f.cause);
        failures.push(attemptFailure(f, m.endpoint));
        const left = deadlineAt - Date.now();
        if (left <= 0 || this.closing.signal.aborted) {
          throw unavailableError(what, this.endpoints, failures, Date.now() - started, f.cause, this.tlsFiles);
        }
        // Straight to another member if there is one that may answer; pause when all have failed.
        if (tried.size < this.members.all.length && this.best(tried).state !== 'down') continue;
        await pause(Math.min(retryPause(n), left), signal);
      }
    }
  }
}

function isNoLeader(detail: string): boolean {
  return detail.includes('no leader');
}

/**
 * Connect to an etcd cluster and check that it answers (a linearizable read, so a quorum is up).
 * Throws HA_COORD_UNAVAILABLE naming the endpoints and the failure when no member answers within
 * `dialTimeoutMs`.
 */
export async function connectEtcd(opts: EtcdCoordinatorOptions, { signal }: Opts = {}): Promise<EtcdCoordinator> {
  const coord = new EtcdCoordinator(opts);
  try {
    await coord.probe(signal ? { signal } : {});
  } catch (e) {
    await coord.close();
    throw e;
  }
  return coord;
}

function readCredentials(tls: NonNullable<EtcdCoordinatorOptions['tls']>): NonNullable<IOptions['credentials']> {
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ClusterError('HA_CONFIG_INVALID', `etcd TLS ${what} ${path} cannot be read: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
  };
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ClusterError('HA_CONFIG_INVALID', 'etcd TLS: cert and key must be given together');
  }
  return {
    rootCertificate: tls.ca === undefined ? Buffer.from(rootCertificates.join('\n')) : read(tls.ca, 'CA'),
    ...(tls.cert === undefined ? {} : { certChain: read(tls.cert, 'certificate') }),
    ...(tls.key === undefined ? {} : { privateKey: read(tls.key, 'key') }),
  };
}

/** A halo lease id as etcd's int64; one etcd cannot have issued is a lost lease. */
function etcdLease(id: LeaseId, what: string): string {
  if (!isEtcdLeaseId(id)) throw new ClusterError('HA_LEASE_LOST', `${what}: ${JSON.stringify(id)} is not an etcd lease`);
  return id;
}

function retryPause(n: number): number {
  return Math.min(RETRY_PAUSE_MS.first * 2 ** n, RETRY_PAUSE_MS.max);
}


/** Wait `ms`, or reject with the signal's reason when it aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
