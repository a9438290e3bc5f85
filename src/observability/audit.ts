import { randomBytes } from 'node:crypto';
import type { Coordinator } from '../coord/coordinator.js';
import { clusterKeys } from '../domain/keys.js';
import { AuditEntrySchema, type AuditEntry } from '../domain/security.js';
import { parseStored } from '../domain/parse.js';
import { deleteOldest, padAt } from './events.js';

/** An audit record as read back, with the revision that created it. */
export type AuditItem = AuditEntry & { readonly revision: number };

/**
 * The audit log: one record per mutating or refused API request, in the coordinator like the
 * event log (so it survives the loss of any node and every node serves it), ordered by the
 * revision that created it and trimmed to a bounded size by the controller.
 */

export async function appendAudit(coord: Coordinator, cluster: string, entry: AuditEntry, opts: { readonly signal?: AbortSignal } = {}): Promise<void> {
  const parsed = AuditEntrySchema.parse(entry);
  const key = `${clusterKeys(cluster).auditPrefix}${padAt(parsed.at)}-${parsed.node}-${randomBytes(4).toString('hex')}`;
  await coord.put(key, JSON.stringify(parsed), opts.signal ? { signal: opts.signal } : {});
}

/** Audit records oldest first; `afterRevision` keeps newer ones, `limit` the newest N of those. */
export async function listAudit(
  coord: Coordinator,
  cluster: string,
  opts: { readonly limit?: number; readonly afterRevision?: number; readonly signal?: AbortSignal } = {},
): Promise<AuditItem[]> {
  const { items } = await coord.list(clusterKeys(cluster).auditPrefix, opts.signal ? { signal: opts.signal } : {});
  const out: AuditItem[] = [];
  for (const kv of items) {
    const e = parseStored(AuditEntrySchema, kv.value);
    if (e && (opts.afterRevision === undefined || kv.createRevision > opts.afterRevision)) out.push({ ...e, revision: kv.createRevision });
  }
  out.sort((a, b) => a.revision - b.revision || a.at - b.at);
  return opts.limit !== undefined && out.length > opts.limit ? out.slice(out.length - opts.limit) : out;
}

/** Keeps the newest `keep` audit records. */
export async function trimAudit(coord: Coordinator, cluster: string, keep: number, opts: { readonly signal?: AbortSignal } = {}): Promise<number> {
  const o = opts.signal ? { signal: opts.signal } : {};
  const { items } = await coord.list(clusterKeys(cluster).auditPrefix, o);
  return deleteOldest(coord, items, keep, o);
}
