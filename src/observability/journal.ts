import { randomBytes } from 'node:crypto';
import type { Coordinator } from '../coord/coordinator.js';
import type { GroupId } from '../domain/ids.js';
import { clusterKeys } from '../domain/keys.js';
import { JournalEntrySchema, type JournalEntry } from '../domain/state.js';
import { deleteOldest, padAt } from './events.js';

/**
 * The decision journal: one entry per controller decision for a group (`halo why`). Kept per group
 * with bounded retention; ordered by the store's create revision.
 */

/** Entries kept per group by default. */
export const JOURNAL_KEEP = 200;

/**
 * Append one entry under journal/<group>/<zero-padded at>-<random>, then trim the group's journal
 * to the newest `keep` entries. The entry is validated before it is written.
 */
export async function appendJournal(
  coord: Coordinator,
  cluster: string,
  entry: JournalEntry,
  opts: { readonly signal?: AbortSignal; readonly keep?: number } = {},
): Promise<void> {
  const parsed = JournalEntrySchema.parse(entry);
  const o = opts.signal ? { signal: opts.signal } : {};
  const prefix = clusterKeys(cluster).journal(parsed.group);
  await coord.put(`${prefix}${padAt(parsed.at)}-${randomBytes(4).toString('hex')}`, JSON.stringify(parsed), o);
  const { items } = await coord.list(prefix, o);
  await deleteOldest(coord, items, opts.keep ?? JOURNAL_KEEP, o);
}

/** A group's journal, oldest first (newest last); `limit` keeps the newest `limit` entries. Malformed records are skipped. */
export async function listJournal(
  coord: Coordinator,
  cluster: string,
  group: GroupId,
  opts: { readonly limit?: number; readonly signal?: AbortSignal } = {},
): Promise<readonly JournalEntry[]> {
  const { items } = await coord.list(clusterKeys(cluster).journal(group), opts.signal ? { signal: opts.signal } : {});
  const entries: { rev: number; entry: JournalEntry }[] = [];
  for (const kv of items) {
    let raw: unknown;
    try {
      raw = JSON.parse(kv.value);
    } catch {
      continue;
    }
    const r = JournalEntrySchema.safeParse(raw);
    if (r.success) entries.push({ rev: kv.createRevision, entry: r.data });
  }
  entries.sort((a, b) => a.rev - b.rev);
  const all = entries.map((e) => e.entry);
  return opts.limit !== undefined && all.length > opts.limit ? all.slice(all.length - opts.limit) : all;
}
