import { randomBytes } from 'node:crypto';
import type { Coordinator, KeyValue, TxnOp } from '../coord/coordinator.js';
import type { Revision } from '../domain/ids.js';
import { clusterKeys } from '../domain/keys.js';
import { ClusterEventSchema, type ClusterEvent } from '../domain/state.js';

/**
 * The cluster-wide event log. Every writer (agents, the controller, the API) appends through
 * `appendEvent`, or `eventPut` inside a transaction; readers order events by the store's create
 * revision, which is the order the coordinator accepted them in, and events of one revision (one
 * transaction) by their time (the key's time prefix is only a hint for humans and for trimming).
 */

/** One event as read back, with the revision that created it (usable as `afterRevision`). */
export interface StoredEvent {
  readonly revision: Revision;
  readonly key: string;
  readonly event: ClusterEvent;
}

export interface AppendOpts {
  readonly signal?: AbortSignal;
  /** Suffix that makes the key unique; default 8 random hex characters. */
  readonly suffix?: string;
}

/** Width of the zero-padded millisecond timestamp in event and journal keys (good until year 5138). */
const AT_WIDTH = 14;

export function padAt(at: number): string {
  return String(Math.max(0, Math.floor(at))).padStart(AT_WIDTH, '0');
}

/** Key of one event: events/<zero-padded at>-<node or 'api'>-<random>. */
export function eventKey(cluster: string, ev: ClusterEvent, suffix: string): string {
  return `${clusterKeys(cluster).eventsPrefix}${padAt(ev.at)}-${ev.node ?? 'api'}-${suffix}`;
}

/**
 * The write that appends one event, for a transaction that must carry it together with the change
 * it records (the controller writes a failover's events with its assignment). The event is
 * validated against its schema first, so a bad event is a programming error (throws ZodError) and
 * never reaches the store.
 */
export function eventPut(cluster: string, ev: ClusterEvent, suffix: string = randomBytes(4).toString('hex')): TxnOp & { readonly kind: 'put' } {
  const parsed = ClusterEventSchema.parse(ev);
  return { kind: 'put', key: eventKey(cluster, parsed, suffix), value: JSON.stringify(parsed) };
}

/** Append one event on its own (see eventPut). */
export async function appendEvent(coord: Coordinator, cluster: string, ev: ClusterEvent, opts: AppendOpts = {}): Promise<void> {
  const op = eventPut(cluster, ev, opts.suffix);
  await coord.put(op.key, op.value, opts.signal ? { signal: opts.signal } : {});
}

/** Result of parsing stored event records; records that do not parse are counted, not returned. */
export interface EventList {
  readonly events: readonly StoredEvent[];
  /** Store revision the list was read at (watch from here to follow). */
  readonly revision: Revision;
  /** Keys whose value did not parse as a ClusterEvent. */
  readonly malformed: readonly string[];
}

export function parseEventRecord(kv: KeyValue): StoredEvent | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(kv.value);
  } catch {
    return undefined;
  }
  const r = ClusterEventSchema.safeParse(raw);
  return r.success ? { revision: kv.createRevision, key: kv.key, event: r.data } : undefined;
}

/**
 * Events in create-revision order, oldest first. `afterRevision` keeps only events created after
 * it; `limit` keeps the newest `limit` of those (the tail).
 */
export async function listEvents(
  coord: Coordinator,
  cluster: string,
  opts: { readonly limit?: number; readonly afterRevision?: number; readonly signal?: AbortSignal } = {},
): Promise<EventList> {
  const { items, revision } = await coord.list(clusterKeys(cluster).eventsPrefix, opts.signal ? { signal: opts.signal } : {});
  const events: StoredEvent[] = [];
  const malformed: string[] = [];
  for (const kv of items) {
    const ev = parseEventRecord(kv);
    if (ev === undefined) malformed.push(kv.key);
    else if (opts.afterRevision === undefined || ev.revision > opts.afterRevision) events.push(ev);
  }
  // Events written in one transaction share a revision; their times give their order.
  events.sort((a, b) => a.revision - b.revision || a.event.at - b.event.at);
  const tail = opts.limit !== undefined && events.length > opts.limit ? events.slice(events.length - opts.limit) : events;
  return { events: tail, revision, malformed };
}

/**
 * Bounded retention: delete the oldest events (by create revision) beyond the newest `keep`.
 * Malformed records count as oldest. Returns how many keys were deleted.
 */
export async function trimEvents(coord: Coordinator, cluster: string, keep: number, opts: { readonly signal?: AbortSignal } = {}): Promise<number> {
  const o = opts.signal ? { signal: opts.signal } : {};
  const { items } = await coord.list(clusterKeys(cluster).eventsPrefix, o);
  return deleteOldest(coord, items, keep, o);
}

/** Deletes the oldest keys (by create revision) beyond the newest `keep`. Shared with the journal. */
export async function deleteOldest(coord: Coordinator, items: readonly KeyValue[], keep: number, opts: { readonly signal?: AbortSignal }): Promise<number> {
  const excess = items.length - Math.max(0, keep);
  if (excess <= 0) return 0;
  const oldest = [...items].sort((a, b) => a.createRevision - b.createRevision).slice(0, excess);
  const BATCH = 64;
  for (let i = 0; i < oldest.length; i += BATCH) {
    const batch = oldest.slice(i, i + BATCH);
    // Unconditional deletes: deleting a key someone else already trimmed is harmless.
    await coord.txn([], batch.map((kv) => ({ kind: 'delete', key: kv.key }) as const), opts);
  }
  return oldest.length;
}
