import type { IKeyValue } from 'etcd3';
import { ClusterError } from '../../domain/errors.js';
import { parseLeaseId, parseRevision, type LeaseId, type Revision } from '../../domain/ids.js';
import type { KeyValue } from '../coordinator.js';

/**
 * halo keys live under one namespace prefix in etcd. Keys go in as UTF-8 bytes behind the
 * namespace and come out with the namespace cut off, so callers never see it.
 */
export class KeySpace {
  private readonly ns: Buffer;

  constructor(namespace: string) {
    this.ns = Buffer.from(namespace, 'utf8');
  }

  key(key: string): Buffer {
    return Buffer.concat([this.ns, Buffer.from(key, 'utf8')]);
  }

  /** The etcd range [key, rangeEnd) holding every key that starts with `prefix`. */
  range(prefix: string): { readonly key: Buffer; readonly rangeEnd: Buffer } {
    const start = this.key(prefix);
    if (start.length === 0) return { key: Buffer.from([0]), rangeEnd: Buffer.from([0]) };
    return { key: start, rangeEnd: prefixEnd(start) };
  }

  /** The halo key of an etcd key (namespace removed). */
  unkey(raw: Buffer): string {
    return raw.subarray(this.ns.length).toString('utf8');
  }

  keyValue(kv: IKeyValue): KeyValue {
    return {
      key: this.unkey(kv.key),
      value: kv.value.toString('utf8'),
      createRevision: revisionOf(kv.create_revision),
      modRevision: revisionOf(kv.mod_revision),
      version: counterOf(kv.version),
      lease: leaseOf(kv.lease),
    };
  }
}

/** The smallest key greater than every key starting with `prefix` (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const b = end[i];
    if (b !== undefined && b < 0xff) {
      end[i] = b + 1;
      return end.subarray(0, i + 1);
    }
  }
  // Every byte is 0xff: no upper bound ("\0" means "to the end of the keyspace").
  return Buffer.from([0]);
}

/** etcd sends int64 fields as decimal strings. */
export function revisionOf(s: string): Revision {
  return parseRevision(counterOf(s));
}

export function counterOf(s: string): number {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new ClusterError('HA_INTERNAL', `etcd sent a malformed counter: ${JSON.stringify(s)}`);
  return n;
}

/** A key's lease: etcd's 0 means none. */
export function leaseOf(s: string): LeaseId | null {
  return s === '' || s === '0' ? null : parseLeaseId(s);
}

/** Whether `id` can name an etcd lease (a positive int64 in decimal). */
export function isEtcdLeaseId(id: string): boolean {
  return /^[1-9][0-9]{0,18}$/.test(id) && BigInt(id) <= 0x7fffffffffffffffn;
}
