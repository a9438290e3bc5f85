import type { GroupConfig, MirrorResourceConfig } from '../domain/config.js';
import type { NodeId, ResourceId } from '../domain/ids.js';
import type { MirrorSyncRecord } from '../domain/state.js';

/**
 * Pure rules of the mirror resource: which node may take a group without losing acknowledged
 * writes, and how a mirror's state is summarised. No clock, no I/O: `now` is passed in.
 */

export type MirrorState = 'synced' | 'syncing' | 'degraded' | 'broken' | 'stale';

export interface MirrorLinkView {
  readonly state: 'synced' | 'syncing' | 'broken';
  readonly inSync: boolean;
}

/**
 * The state of a mirror as seen from its active node:
 * - synced: every standby holds everything (sync mode: and is in the in-sync set);
 * - syncing: every standby is connected, some are catching up (resync or async lag);
 * - degraded: some standby is unreachable but another one is synced (sync: in sync);
 * - broken: no standby is synced (sync mode: no standby holds every acknowledged write), or there
 *   is no standby at all.
 * `stale` is the state of a standby copy that no active feeds (see `replicaState`).
 */
export function mirrorState(mode: MirrorResourceConfig['mode'], links: readonly MirrorLinkView[]): MirrorState {
  if (links.length === 0) return 'broken';
  const good = (l: MirrorLinkView): boolean => l.state === 'synced' && (mode === 'async' || l.inSync);
  const goodCount = links.filter(good).length;
  if (goodCount === links.length) return 'synced';
  if (links.every((l) => l.state !== 'broken')) return 'syncing';
  return goodCount > 0 ? 'degraded' : 'broken';
}

/** A standby copy: 'stale' when no active has fed it for `staleAfterMs`, else 'synced'/'syncing'. */
export function replicaState(connected: boolean, lastUpdateAt: number | null, resynced: boolean, now: number, staleAfterMs: number): MirrorState {
  if (!connected && (lastUpdateAt === null || now - lastUpdateAt > staleAfterMs)) return 'stale';
  return resynced ? 'synced' : 'syncing';
}

/** Share of the data not yet on the standby, in percent (0 when there is no data). */
export function diffPercent(pendingBytes: number, totalBytes: number): number {
  if (totalBytes <= 0) return pendingBytes > 0 ? 100 : 0;
  return Math.min(100, Math.round((pendingBytes / totalBytes) * 10_000) / 100);
}

/** Sync-mode mirrors of a group whose failover is bound to the in-sync set. */
export function guardedMirrors(group: GroupConfig): MirrorResourceConfig[] {
  return group.resources.filter((r): r is MirrorResourceConfig => r.type === 'mirror' && r.mode === 'sync' && !r.allowDataLoss);
}

export interface MirrorBehind {
  readonly resource: ResourceId;
  /** Nodes known to hold every acknowledged write of that mirror. */
  readonly holders: readonly NodeId[];
}

/**
 * Why `node` may not take `group` without losing acknowledged writes, or undefined when it may:
 * for each sync-mode mirror without allowDataLoss, the newest record must list `node` as in sync
 * or name it as its writer. No record: the mirror never served, nothing was acknowledged.
 */
export function mirrorBehind(group: GroupConfig, node: NodeId, records: readonly MirrorSyncRecord[] | undefined): MirrorBehind | undefined {
  for (const m of guardedMirrors(group)) {
    const rec = newest((records ?? []).filter((r) => r.resource === m.name));
    if (rec === undefined) continue;
    if (rec.node === node || rec.inSync.includes(node)) continue;
    return { resource: m.name, holders: [rec.node, ...rec.inSync] };
  }
  return undefined;
}

function newest(rs: readonly MirrorSyncRecord[]): MirrorSyncRecord | undefined {
  let best: MirrorSyncRecord | undefined;
  for (const r of rs) if (best === undefined || r.epoch > best.epoch || (r.epoch === best.epoch && r.updatedAt > best.updatedAt)) best = r;
  return best;
}

export interface MirrorLoss {
  readonly resource: ResourceId;
  /** The node the group fails over to. */
  readonly node: NodeId;
  /** Bytes that had not reached `node` as of `asOfAt` (the old active's last report). */
  readonly bytes: number;
  /** Those bytes were written after this time (wall-clock ms); null: unknown. */
  readonly sinceAt: number | null;
  /** Time of the old active's last report (the record's updatedAt); changes after it are unknown. */
  readonly asOfAt: number;
  /**
   * The old active never had an acknowledgement from `node` (no session with it in its epoch), so
   * it could not know what the node holds: `bytes` counts everything, an upper bound.
   */
  readonly upperBound: boolean;
}

/**
 * What a failover to `node` may lose, per mirror that is not in sync there. The statement is
 * exact about the past and says where it stops: `bytes` had not reached `node` as of `asOfAt`
 * (the newest record of the old active), written after `sinceAt`; whatever the old active wrote
 * after `asOfAt` is unknown and may be missing too.
 * - async mirrors: always reported when `node` is not the record's writer, even with 0 bytes;
 * - sync mirrors (allowDataLoss): reported when `node` is not in the in-sync set and the record
 *   did not show it synced with nothing pending.
 */
export function mirrorLoss(group: GroupConfig, node: NodeId, records: readonly MirrorSyncRecord[] | undefined): MirrorLoss[] {
  const out: MirrorLoss[] = [];
  for (const m of group.resources) {
    if (m.type !== 'mirror') continue;
    const rec = newest((records ?? []).filter((r) => r.resource === m.name));
    if (rec === undefined || rec.node === node || (rec.mode === 'sync' && rec.inSync.includes(node))) continue;
    const base = { resource: m.name, node, asOfAt: rec.updatedAt };
    const sb = rec.standbys.find((s) => s.node === node);
    if (sb === undefined) {
      // Not a standby of the old active: it holds nothing known; the bytes are the whole directory.
      out.push({ ...base, bytes: rec.totalBytes, sinceAt: null, upperBound: true });
      continue;
    }
    // The old active never heard from it: it counted every byte as missing, whatever the node holds.
    const upperBound = sb.lastAckAt === null && sb.state === 'broken';
    if (rec.mode === 'async') {
      out.push({ ...base, bytes: sb.pendingBytes, sinceAt: sb.pendingBytes === 0 ? null : sb.behindSinceAt, upperBound });
      continue;
    }
    if (sb.pendingBytes === 0 && sb.behindSinceAt === null && sb.state === 'synced') continue;
    out.push({ ...base, bytes: sb.pendingBytes, sinceAt: sb.behindSinceAt ?? (sb.state === 'broken' ? rec.updatedAt : null), upperBound });
  }
  return out;
}

const at = (ms: number, now: number): string => `${new Date(ms).toISOString()} (${now - ms} ms before the failover)`;

/** One sentence with the bytes, sinceAt and asOfAt of a loss (the `mirror-data-loss` event's message). */
export function describeLoss(l: MirrorLoss, now: number): string {
  const written = l.bytes === 0 ? '' : `, written since ${l.sinceAt === null ? 'an unknown time' : at(l.sinceAt, now)}`;
  const amount = l.upperBound ? `at most ${l.bytes} bytes (the old active never heard from ${l.node}, so it counted everything)` : `${l.bytes} bytes`;
  return (
    `mirror ${l.resource}: ${amount} had not reached ${l.node} as of ${at(l.asOfAt, now)}, the old active's last report${written}; ` +
    `changes made after that report are unknown and may also be missing`
  );
}
