import type { Compare, Coordinator, KeyValue, LeaseRenewal, Opts, TxnOp, TxnResult, WatchEvent } from '../coord/coordinator.js';
import type { LeaseId, Revision } from '../domain/ids.js';
import type { Metrics } from './metrics.js';

/** A Coordinator that reports how long each call took (and whether it failed) to the metrics. */
export class InstrumentedCoordinator implements Coordinator {
  constructor(
    private readonly inner: Coordinator,
    private readonly metrics: Pick<Metrics, 'observeCoordRequest'>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private async timed<T>(op: string, call: () => Promise<T>): Promise<T> {
    const started = this.now();
    try {
      const r = await call();
      this.metrics.observeCoordRequest(op, this.now() - started, 'ok');
      return r;
    } catch (e) {
      this.metrics.observeCoordRequest(op, this.now() - started, 'error');
      throw e;
    }
  }

  get(key: string, opts?: Opts): Promise<KeyValue | undefined> {
    return this.timed('get', () => this.inner.get(key, opts));
  }
  list(prefix: string, opts?: Opts): Promise<{ readonly items: readonly KeyValue[]; readonly revision: Revision }> {
    return this.timed('list', () => this.inner.list(prefix, opts));
  }
  put(key: string, value: string, opts?: Opts & { readonly lease?: LeaseId }): Promise<Revision> {
    return this.timed('put', () => this.inner.put(key, value, opts));
  }
  delete(key: string, opts?: Opts): Promise<Revision> {
    return this.timed('delete', () => this.inner.delete(key, opts));
  }
  deletePrefix(prefix: string, opts?: Opts): Promise<number> {
    return this.timed('deletePrefix', () => this.inner.deletePrefix(prefix, opts));
  }
  txn(compares: readonly Compare[], ops: readonly TxnOp[], opts?: Opts): Promise<TxnResult> {
    return this.timed('txn', () => this.inner.txn(compares, ops, opts));
  }
  grantLease(ttlMs: number, opts?: Opts): Promise<{ readonly id: LeaseId; readonly ttlMs: number }> {
    return this.timed('grantLease', () => this.inner.grantLease(ttlMs, opts));
  }
  renewLease(id: LeaseId, opts?: Opts): Promise<LeaseRenewal> {
    return this.timed('renewLease', () => this.inner.renewLease(id, opts));
  }
  revokeLease(id: LeaseId, opts?: Opts): Promise<void> {
    return this.timed('revokeLease', () => this.inner.revokeLease(id, opts));
  }
  /** Watches are long-lived streams, not requests: passed through untimed. */
  watch(prefix: string, afterRevision: Revision, opts?: Opts): AsyncIterable<readonly WatchEvent[]> {
    return this.inner.watch(prefix, afterRevision, opts);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
