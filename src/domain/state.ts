import { z } from 'zod';
import { HaloConfigSchema } from './config.js';
import { EpochSchema, GroupIdSchema, NodeIdSchema, ResourceIdSchema } from './ids.js';

/**
 * Records kept in the coordinator. Each is parsed with its schema whenever it is read back
 * (the store is a trust boundary). Times ending in `At` are wall-clock epoch milliseconds.
 */

/** The applied configuration, versioned. Key: config. */
export const StoredConfigSchema = z.strictObject({
  version: z.number().int().min(1),
  appliedAt: z.number(),
  /** The YAML text as submitted, for `halo config get`. */
  source: z.string(),
  config: HaloConfigSchema,
});
export type StoredConfig = z.infer<typeof StoredConfigSchema>;

/** A node's session; bound to the node's lease, so it vanishes when the lease expires. Key: nodes/<node>. */
export const NodeSessionSchema = z.strictObject({
  node: NodeIdSchema,
  /** Unique per agent process start. */
  sessionId: z.string().min(1),
  pid: z.number().int(),
  startedAt: z.number(),
  /** Base URL of this agent's REST API. */
  apiUrl: z.string(),
  leaseTtlMs: z.number().int(),
});
export type NodeSession = z.infer<typeof NodeSessionSchema>;

/** The elected controller; bound to the controller's lease. Key: controller. */
export const ControllerRecordSchema = z.strictObject({
  node: NodeIdSchema,
  sessionId: z.string().min(1),
  since: z.number(),
});
export type ControllerRecord = z.infer<typeof ControllerRecordSchema>;

export const TransitionKindSchema = z.enum(['switchover', 'failover', 'evacuate', 'failback', 'recover']);
export type TransitionKind = z.infer<typeof TransitionKindSchema>;

/**
 * Where a group should run; written only by the controller, with compare-and-swap. Key: assign/<group>.
 *
 * Safety contract: `active` names a new node (with `epoch` + 1) only after the previous active
 * node either reported the group stopped (GroupStatus.state 'stopped' or 'failed' for this group)
 * or lost its session lease. While a move is in progress `active` is null and `transition` says
 * which node is being released and where the group is going.
 */
export const AssignmentSchema = z.strictObject({
  group: GroupIdSchema,
  epoch: EpochSchema,
  active: NodeIdSchema.nullable(),
  /** Ranked standby instances, best first. */
  standbys: z.array(NodeIdSchema),
  transition: z
    .strictObject({
      kind: TransitionKindSchema,
      from: NodeIdSchema,
      /** Requested target; null = best eligible node. */
      to: NodeIdSchema.nullable(),
      startedAt: z.number(),
      reason: z.string(),
      /**
       * Present while a planned move drains the group's endpoints (wall-clock deadline). During
       * that phase `active` still names the old node, which keeps running: endpoints hold new
       * connections and let in-flight ones finish there, then report drained (DrainReport).
       */
      drainUntil: z.number().optional(),
    })
    .nullable(),
  updatedAt: z.number(),
});
export type Assignment = z.infer<typeof AssignmentSchema>;

export const ResourceStateSchema = z.enum(['stopped', 'starting', 'running', 'failed', 'stopping', 'unknown']);
export type ResourceState = z.infer<typeof ResourceStateSchema>;

export const MonitorResultSchema = z.strictObject({
  kind: z.string(),
  ok: z.boolean(),
  at: z.number(),
  latencyMs: z.number(),
  detail: z.string(),
  consecutiveFailures: z.number().int(),
});
export type MonitorResult = z.infer<typeof MonitorResultSchema>;

export const ResourceStatusSchema = z.strictObject({
  name: ResourceIdSchema,
  state: ResourceStateSchema,
  pid: z.number().int().nullable(),
  startedAt: z.number().nullable(),
  healthy: z.boolean(),
  restarts: z.number().int(),
  monitors: z.array(MonitorResultSchema),
  detail: z.string(),
});
export type ResourceStatus = z.infer<typeof ResourceStatusSchema>;

/**
 * What one node observes of one group; bound to that node's lease. Key: status/<node>/<group>.
 * state:
 *  - running: every resource started and healthy (role active)
 *  - starting / recovering / stopping: work in progress
 *  - stopped: no resource of the group runs on this node
 *  - failed: the recovery ladder gave up here; every resource is stopped
 */
export const GroupStatusSchema = z.strictObject({
  node: NodeIdSchema,
  group: GroupIdSchema,
  epoch: EpochSchema,
  role: z.enum(['active', 'standby', 'none']),
  state: z.enum(['running', 'starting', 'recovering', 'stopping', 'stopped', 'failed']),
  resources: z.array(ResourceStatusSchema),
  updatedAt: z.number(),
  detail: z.string(),
});
export type GroupStatus = z.infer<typeof GroupStatusSchema>;

/**
 * A node's endpoints of a group hold new connections and none is in flight to the old active any
 * more, for the draining transition identified by (epoch, startedAt). Bound to that node's lease.
 * Key: drain/<group>/<node>.
 */
export const DrainReportSchema = z.strictObject({
  node: NodeIdSchema,
  group: GroupIdSchema,
  epoch: EpochSchema,
  /** The `transition.startedAt` of the drain this report answers. */
  startedAt: z.number(),
  at: z.number(),
});
export type DrainReport = z.infer<typeof DrainReportSchema>;

/**
 * The group gave up on this node (restart limit reached). Makes the node ineligible for the group
 * until `at` + recovery.failureTimeoutMs, or until an operator runs cleanup. Key: failures/<group>/<node>.
 */
export const FailureRecordSchema = z.strictObject({
  group: GroupIdSchema,
  node: NodeIdSchema,
  epoch: EpochSchema,
  at: z.number(),
  reason: z.string(),
});
export type FailureRecord = z.infer<typeof FailureRecordSchema>;

/** Operator intents. Keys: intents/maintenance/cluster | intents/maintenance/group/<g> | intents/maintenance/node/<n>. */
export const MaintenanceIntentSchema = z.strictObject({ at: z.number(), by: z.string() });
export type MaintenanceIntent = z.infer<typeof MaintenanceIntentSchema>;

/** Node standby (drain): no group may be active there. Key: intents/standby/<node>. */
export const StandbyIntentSchema = z.strictObject({ at: z.number(), by: z.string() });
export type StandbyIntent = z.infer<typeof StandbyIntentSchema>;

/** A requested move. The controller consumes it (deletes it) when it starts the transition. Key: intents/move/<group>. */
export const MoveIntentSchema = z.strictObject({
  id: z.string().min(1),
  kind: z.enum(['switchover', 'failover']),
  to: NodeIdSchema.nullable(),
  at: z.number(),
  by: z.string(),
});
export type MoveIntent = z.infer<typeof MoveIntentSchema>;

export const EventKindSchema = z.enum([
  'node-joined',
  'node-lost',
  'controller-elected',
  'config-applied',
  'group-placed',
  'group-started',
  'group-stopped',
  'monitor-failed',
  'monitor-recovered',
  /** A resource's process exited by itself (detected at once, no monitor threshold). */
  'resource-exited',
  'resource-restarted',
  'resource-adopted',
  'group-failed',
  'failed-over',
  'switched-over',
  'fenced',
  'maintenance',
  'node-standby',
  'cleanup',
  'waiting',
  /** A returning node's divergent mirror files were moved to its quarantine directory. */
  'mirror-quarantined',
  /** A failover went to a node not known to hold every acknowledged mirror write (allowDataLoss). */
  'mirror-data-loss',
  'mirror-out-of-sync',
]);
export type EventKind = z.infer<typeof EventKindSchema>;

/** Cluster-wide event log; ordered by the store's create revision. Key: events/<at>-<node>-<n>. */
export const ClusterEventSchema = z.strictObject({
  at: z.number(),
  kind: EventKindSchema,
  node: NodeIdSchema.nullable(),
  group: GroupIdSchema.nullable(),
  resource: ResourceIdSchema.nullable(),
  message: z.string(),
  epoch: EpochSchema.nullable(),
  /**
   * mirror-data-loss only: what the failover may have lost, as figures. `bytes` had not reached
   * the new active as of `asOfAt` (the old active's last report) and were written since `sinceAt`
   * (null: unknown); changes after `asOfAt` are unknown. `upperBound`: the old active never heard
   * from that node, so `bytes` counts everything it had not confirmed (absent in events recorded
   * before halo reported it: unknown, and such events must still be read).
   */
  loss: z.strictObject({ bytes: z.number().int().min(0), sinceAt: z.number().nullable(), asOfAt: z.number(), upperBound: z.boolean().optional() }).optional(),
});
export type ClusterEvent = z.infer<typeof ClusterEventSchema>;

/** One controller decision for a group, with the rule that made it. Key: journal/<group>/<at>-<n>. */
export const JournalEntrySchema = z.strictObject({
  at: z.number(),
  node: NodeIdSchema,
  group: GroupIdSchema,
  rule: z.string(),
  code: z.string(),
  message: z.string(),
  actions: z.array(z.string()),
  revision: z.number().int(),
});
export type JournalEntry = z.infer<typeof JournalEntrySchema>;

/**
 * What the active node of a mirror resource publishes about its standbys. Key:
 * mirror/<group>/<resource>; not bound to a lease, so it outlives the active that wrote it.
 *
 * Safety contract (sync mode): the active writes a record without a standby BEFORE it
 * acknowledges any application fsync that standby does not hold, and writes its own first record
 * (inSync empty, at its epoch) before it serves at all. So every node listed in `inSync` of the
 * newest record holds every acknowledged write, and the last writer (`node`) does too.
 */
export const MirrorSyncRecordSchema = z.strictObject({
  group: GroupIdSchema,
  resource: ResourceIdSchema,
  epoch: EpochSchema,
  /** The active node that wrote the record. */
  node: NodeIdSchema,
  mode: z.enum(['sync', 'async']),
  inSync: z.array(NodeIdSchema),
  /** Bytes in the mirrored directory (for the diff percentage). */
  totalBytes: z.number().min(0).default(0),
  standbys: z.array(
    z.strictObject({
      node: NodeIdSchema,
      state: z.enum(['synced', 'syncing', 'broken']),
      pendingBytes: z.number().int().min(0),
      /** Oldest change not yet on that standby (wall-clock ms), null when none. */
      behindSinceAt: z.number().nullable(),
      lagMs: z.number().min(0).default(0),
      lastAckAt: z.number().nullable().default(null),
      brokeAt: z.number().nullable().default(null),
      resync: z.strictObject({ doneBytes: z.number().min(0), totalBytes: z.number().min(0), etaMs: z.number().nullable() }).nullable().default(null),
    }),
  ),
  updatedAt: z.number(),
});
export type MirrorSyncRecord = z.infer<typeof MirrorSyncRecordSchema>;
