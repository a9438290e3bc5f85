import type { z } from 'zod';
import type { GroupId, NodeId, Revision } from '../domain/ids.js';
import { GroupIdSchema, NodeIdSchema } from '../domain/ids.js';
import { clusterKeys } from '../domain/keys.js';
import {
  MirrorSyncRecordSchema,
  type MirrorSyncRecord,
  AssignmentSchema,
  ControllerRecordSchema,
  DrainReportSchema,
  FailureRecordSchema,
  GroupStatusSchema,
  MaintenanceIntentSchema,
  MoveIntentSchema,
  NodeSessionSchema,
  StandbyIntentSchema,
  StoredConfigSchema,
  type Assignment,
  type ControllerRecord,
  type DrainReport,
  type FailureRecord,
  type GroupStatus,
  type MoveIntent,
  type NodeSession,
  type StoredConfig,
} from '../domain/state.js';
import type { KeyValue } from './coordinator.js';

export interface Versioned<T> {
  readonly value: T;
  readonly revision: Revision;
}

/** One consistent, parsed reading of a cluster's state (everything but events and the journal). */
export interface ClusterSnapshot {
  readonly revision: number;
  readonly config: Versioned<StoredConfig> | undefined;
  readonly controller: ControllerRecord | undefined;
  readonly sessions: ReadonlyMap<NodeId, Versioned<NodeSession>>;
  readonly assignments: ReadonlyMap<GroupId, Versioned<Assignment>>;
  readonly status: ReadonlyMap<NodeId, ReadonlyMap<GroupId, Versioned<GroupStatus>>>;
  readonly failures: readonly Versioned<FailureRecord>[];
  readonly maintenance: { readonly cluster: boolean; readonly groups: ReadonlySet<GroupId>; readonly nodes: ReadonlySet<NodeId> };
  readonly standbyNodes: ReadonlySet<NodeId>;
  readonly moves: ReadonlyMap<GroupId, Versioned<MoveIntent>>;
  /** Endpoint drain reports, per group and node. */
  readonly drains: ReadonlyMap<GroupId, ReadonlyMap<NodeId, DrainReport>>;
  /** In-sync records of mirror resources, per group. */
  readonly mirrors: ReadonlyMap<GroupId, readonly MirrorSyncRecord[]>;
  /** Records that did not parse: reported, never acted on. */
  readonly invalid: readonly string[];
}

/** Keys a snapshot does not need (kept out of watch-maintained views). */
export function isLogKey(cluster: string, key: string): boolean {
  const k = clusterKeys(cluster);
  return key.startsWith(k.eventsPrefix) || key.startsWith(k.journalPrefix);
}

/**
 * Parse one stored record with its schema. A record that does not parse is reported in `problems`
 * and skipped (undefined): one bad record must never take a reader down or be acted on.
 */
export function decodeRecord<S extends z.ZodType>(schema: S, kv: KeyValue, problems: string[]): z.output<S> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(kv.value);
  } catch {
    problems.push(`${kv.key}: not JSON; ignored`);
    return undefined;
  }
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const first = r.error.issues[0];
  problems.push(`${kv.key}: ${first ? `${first.path.join('.')}: ${first.message}` : 'invalid'}; ignored`);
  return undefined;
}

/**
 * Decoded records, remembered per stored KeyValue object: a view keeps the same object until the
 * key changes, so each record is parsed once per revision instead of on every reconcile.
 */
export class DecodeCache<T> {
  private readonly memo = new WeakMap<KeyValue, { readonly value: T } | { readonly problem: string }>();
  constructor(private readonly schema: z.ZodType<T>) {}

  decode(kv: KeyValue, problems: string[]): T | undefined {
    let m = this.memo.get(kv);
    if (!m) {
      const found: string[] = [];
      const value = decodeRecord(this.schema, kv, found);
      m = value === undefined ? { problem: found.join('; ') } : { value };
      this.memo.set(kv, m);
    }
    if ('value' in m) return m.value;
    problems.push(m.problem);
    return undefined;
  }
}

const decoders = {
  config: new DecodeCache(StoredConfigSchema),
  controller: new DecodeCache(ControllerRecordSchema),
  session: new DecodeCache(NodeSessionSchema),
  assignment: new DecodeCache(AssignmentSchema),
  status: new DecodeCache(GroupStatusSchema),
  failure: new DecodeCache(FailureRecordSchema),
  maintenance: new DecodeCache(MaintenanceIntentSchema),
  standby: new DecodeCache(StandbyIntentSchema),
  move: new DecodeCache(MoveIntentSchema),
  drain: new DecodeCache(DrainReportSchema),
  mirror: new DecodeCache(MirrorSyncRecordSchema),
};

export function parseSnapshot(cluster: string, entries: ReadonlyMap<string, KeyValue>, revision: number): ClusterSnapshot {
  const k = clusterKeys(cluster);
  const invalid: string[] = [];
  const read = <T>(kv: KeyValue, cache: DecodeCache<T>): Versioned<T> | undefined => {
    const value = cache.decode(kv, invalid);
    return value === undefined ? undefined : { value, revision: kv.modRevision };
  };
  const name = <S extends z.ZodType>(s: string, schema: S): z.infer<S> | undefined => {
    const r = schema.safeParse(s);
    return r.success ? r.data : undefined;
  };

  let config: Versioned<StoredConfig> | undefined;
  let controller: ControllerRecord | undefined;
  const sessions = new Map<NodeId, Versioned<NodeSession>>();
  const assignments = new Map<GroupId, Versioned<Assignment>>();
  const status = new Map<NodeId, Map<GroupId, Versioned<GroupStatus>>>();
  const failures: Versioned<FailureRecord>[] = [];
  let maintCluster = false;
  const maintGroups = new Set<GroupId>();
  const maintNodes = new Set<NodeId>();
  const standbyNodes = new Set<NodeId>();
  const moves = new Map<GroupId, Versioned<MoveIntent>>();
  const drains = new Map<GroupId, Map<NodeId, DrainReport>>();
  const mirrors = new Map<GroupId, MirrorSyncRecord[]>();

  for (const [key, kv] of entries) {
    if (key === k.config) config = read(kv, decoders.config);
    else if (key === k.controller) controller = read(kv, decoders.controller)?.value;
    else if (key.startsWith(k.nodesPrefix)) {
      const v = read(kv, decoders.session);
      if (v) sessions.set(v.value.node, v);
    } else if (key.startsWith(k.assignPrefix)) {
      const v = read(kv, decoders.assignment);
      if (v) assignments.set(v.value.group, v);
    } else if (key.startsWith(k.statusPrefix)) {
      const v = read(kv, decoders.status);
      if (v) {
        const m = status.get(v.value.node) ?? new Map<GroupId, Versioned<GroupStatus>>();
        m.set(v.value.group, v);
        status.set(v.value.node, m);
      }
    } else if (key.startsWith(k.drainPrefix)) {
      const v = read(kv, decoders.drain);
      if (v) {
        const m = drains.get(v.value.group) ?? new Map<NodeId, DrainReport>();
        m.set(v.value.node, v.value);
        drains.set(v.value.group, m);
      }
    } else if (key.startsWith(k.failuresPrefix)) {
      const v = read(kv, decoders.failure);
      if (v) failures.push(v);
    } else if (key === k.maintenanceCluster) maintCluster = read(kv, decoders.maintenance) !== undefined;
    else if (key.startsWith(`${k.intentsPrefix}maintenance/group/`)) {
      const g = name(key.slice(`${k.intentsPrefix}maintenance/group/`.length), GroupIdSchema);
      if (g && read(kv, decoders.maintenance)) maintGroups.add(g);
    } else if (key.startsWith(`${k.intentsPrefix}maintenance/node/`)) {
      const n = name(key.slice(`${k.intentsPrefix}maintenance/node/`.length), NodeIdSchema);
      if (n && read(kv, decoders.maintenance)) maintNodes.add(n);
    } else if (key.startsWith(`${k.intentsPrefix}standby/`)) {
      const n = name(key.slice(`${k.intentsPrefix}standby/`.length), NodeIdSchema);
      if (n && read(kv, decoders.standby)) standbyNodes.add(n);
    } else if (key.startsWith(`${k.intentsPrefix}move/`)) {
      const v = read(kv, decoders.move);
      const g = name(key.slice(`${k.intentsPrefix}move/`.length), GroupIdSchema);
      if (v && g) moves.set(g, v);
    } else if (key.startsWith(k.mirrorPrefix)) {
      const v = read(kv, decoders.mirror);
      if (v) mirrors.set(v.value.group, [...(mirrors.get(v.value.group) ?? []), v.value]);
    }
  }
  return {
    revision,
    config,
    controller,
    sessions,
    assignments,
    status,
    failures,
    maintenance: { cluster: maintCluster, groups: maintGroups, nodes: maintNodes },
    standbyNodes,
    moves,
    drains,
    mirrors,
    invalid,
  };
}
