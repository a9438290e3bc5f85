import { z } from 'zod';
import { RedundancySchema } from '../domain/config.js';
import { ErrorCodes, type ErrorCode } from '../domain/errors.js';
import { EpochSchema, GroupIdSchema, NodeIdSchema } from '../domain/ids.js';
import {
  AssignmentSchema,
  ClusterEventSchema,
  FailureRecordSchema,
  GroupStatusSchema,
  JournalEntrySchema,
  MoveIntentSchema,
  ResourceStatusSchema,
} from '../domain/state.js';

/**
 * The REST API's requests and responses, defined once. The server parses requests with these,
 * the CLI client parses responses with them, and /openapi.json is generated from them.
 */

const ERROR_CODE_LIST = Object.keys(ErrorCodes) as [ErrorCode, ...ErrorCode[]];
export const ErrorCodeSchema = z.enum(ERROR_CODE_LIST);

/** One problem in a configuration file, located by file, line and column. */
export const ConfigIssueSchema = z.object({
  file: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  /** Dotted path of the field, e.g. groups[0].resources[1].port */
  path: z.string(),
  /** The offending value as short JSON, or "(missing)". */
  value: z.string(),
  message: z.string(),
});
export type ConfigIssueBody = z.infer<typeof ConfigIssueSchema>;

/** Every error response. `details` are human-readable lines; `issues` accompany HA_CONFIG_INVALID. */
export const ErrorBodySchema = z.object({
  code: ErrorCodeSchema,
  message: z.string(),
  details: z.array(z.string()).optional(),
  issues: z.array(ConfigIssueSchema).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

// ---------------------------------------------------------------- requests

export const GroupParamsSchema = z.strictObject({ group: GroupIdSchema });
export const NodeParamsSchema = z.strictObject({ node: NodeIdSchema });

export const SwitchoverRequestSchema = z.strictObject({
  /** Target node; omitted = the best eligible standby. */
  to: NodeIdSchema.optional(),
});
export type SwitchoverRequest = z.input<typeof SwitchoverRequestSchema>;

export const FailoverRequestSchema = z.strictObject({});
export type FailoverRequest = z.input<typeof FailoverRequestSchema>;

export const MaintenanceRequestSchema = z
  .strictObject({
    on: z.boolean(),
    group: GroupIdSchema.optional(),
    node: NodeIdSchema.optional(),
  })
  .refine((b) => b.group === undefined || b.node === undefined, {
    message: 'give either group or node (or neither, for the whole cluster), not both',
    path: ['node'],
  });
export type MaintenanceRequest = z.input<typeof MaintenanceRequestSchema>;

export const CleanupRequestSchema = z.strictObject({
  /** Only this node's failure record; omitted = every node's. */
  node: NodeIdSchema.optional(),
});
export type CleanupRequest = z.input<typeof CleanupRequestSchema>;

const intFromQuery = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a non-negative integer')
    .transform((s) => Number(s))
    .pipe(z.number().int().min(min).max(max));

export const EventsQuerySchema = z.strictObject({
  /** Newest N events (after `after`). */
  limit: intFromQuery(1, 10_000).optional(),
  /** Only events created after this store revision. */
  after: intFromQuery(0, Number.MAX_SAFE_INTEGER).optional(),
});

export const WhyQuerySchema = z.strictObject({
  limit: intFromQuery(1, 1000).optional(),
});

export const ConfigSourceRequestSchema = z.strictObject({
  /** The YAML text of halo.yaml. */
  source: z.string(),
  /** File name used in issue locations; default halo.yaml. */
  file: z.string().min(1).optional(),
});
export type ConfigSourceRequest = z.input<typeof ConfigSourceRequestSchema>;

// ---------------------------------------------------------------- responses

export const NodeViewSchema = z.strictObject({
  name: NodeIdSchema,
  /** False for a node that holds a session but is not in the applied configuration. */
  inConfig: z.boolean(),
  address: z.string().nullable(),
  apiPort: z.number().int().nullable(),
  /** API URL the node advertises in its session (null when offline). */
  apiUrl: z.string().nullable(),
  online: z.boolean(),
  labels: z.record(z.string(), z.string()),
  /** Node standby (drained): no group may be active there. */
  standby: z.boolean(),
  /** Node-level maintenance: halo does not start, stop or move anything on it. */
  maintenance: z.boolean(),
  session: z
    .strictObject({
      sessionId: z.string(),
      pid: z.number().int(),
      startedAt: z.number(),
    })
    .nullable(),
});
export type NodeView = z.infer<typeof NodeViewSchema>;

/** What one node reports of one group (state 'unknown' when it reports nothing). */
export const GroupNodeViewSchema = z.strictObject({
  node: NodeIdSchema,
  online: z.boolean(),
  role: z.enum(['active', 'standby', 'none']),
  state: z.union([GroupStatusSchema.shape.state, z.literal('unknown')]),
  epoch: EpochSchema.nullable(),
  resources: z.array(ResourceStatusSchema),
  detail: z.string(),
  updatedAt: z.number().nullable(),
});
export type GroupNodeView = z.infer<typeof GroupNodeViewSchema>;

export const IneligibleNodeSchema = z.strictObject({
  node: NodeIdSchema,
  reason: z.enum(['failed', 'standby', 'offline', 'maintenance']),
  /** When the node becomes eligible again by itself (failures only). */
  until: z.number().nullable(),
  detail: z.string(),
});

export const GroupViewSchema = z.strictObject({
  name: GroupIdSchema,
  redundancy: RedundancySchema,
  failback: z.enum(['manual', 'auto']),
  /** Nodes the group may run on, most preferred first. */
  candidates: z.array(NodeIdSchema),
  /** Group-level maintenance intent (cluster-wide maintenance is in the status root). */
  maintenance: z.boolean(),
  assignment: AssignmentSchema.nullable(),
  /** A requested move the controller has not picked up yet. */
  pendingMove: MoveIntentSchema.nullable(),
  nodes: z.array(GroupNodeViewSchema),
  failures: z.array(FailureRecordSchema),
  ineligible: z.array(IneligibleNodeSchema),
});
export type GroupView = z.infer<typeof GroupViewSchema>;

export const StatusResponseSchema = z.strictObject({
  cluster: z.string(),
  /** Node whose API answered. */
  servedBy: NodeIdSchema,
  configVersion: z.number().int().nullable(),
  configAppliedAt: z.number().nullable(),
  controller: z.strictObject({ node: NodeIdSchema, since: z.number() }).nullable(),
  /** Cluster-wide maintenance. */
  maintenance: z.boolean(),
  nodes: z.array(NodeViewSchema),
  groups: z.array(GroupViewSchema),
  /** Records that were skipped because they did not parse (key and reason). */
  warnings: z.array(z.string()),
});
export type StatusResponse = z.infer<typeof StatusResponseSchema>;

export const MoveAcceptedSchema = z.strictObject({
  id: z.string(),
  kind: z.enum(['switchover', 'failover']),
  group: GroupIdSchema,
  from: NodeIdSchema,
  /** Requested target; null = the controller picks the best eligible node. */
  to: NodeIdSchema.nullable(),
  /** Epoch of the assignment when the move was requested; the move ends at a higher one. */
  epoch: EpochSchema,
});
export type MoveAccepted = z.infer<typeof MoveAcceptedSchema>;

export const MaintenanceResponseSchema = z.strictObject({
  on: z.boolean(),
  scope: z.enum(['cluster', 'group', 'node']),
  target: z.string().nullable(),
});
export type MaintenanceResponse = z.infer<typeof MaintenanceResponseSchema>;

export const NodeStandbyResponseSchema = z.strictObject({
  node: NodeIdSchema,
  standby: z.boolean(),
});
export type NodeStandbyResponse = z.infer<typeof NodeStandbyResponseSchema>;

export const CleanupResponseSchema = z.strictObject({
  group: GroupIdSchema,
  /** Nodes whose failure record was removed. */
  removed: z.array(NodeIdSchema),
});
export type CleanupResponse = z.infer<typeof CleanupResponseSchema>;

export const EventItemSchema = ClusterEventSchema.extend({
  /** Store revision that created the event; pass as `after` to read on. */
  revision: z.number().int(),
});
export type EventItem = z.infer<typeof EventItemSchema>;

export const EventsResponseSchema = z.strictObject({
  events: z.array(EventItemSchema),
  /** Store revision the list was read at. */
  revision: z.number().int(),
});
export type EventsResponse = z.infer<typeof EventsResponseSchema>;

export const WhyResponseSchema = z.strictObject({
  group: GroupIdSchema,
  /** Oldest first, newest last. */
  entries: z.array(JournalEntrySchema),
});
export type WhyResponse = z.infer<typeof WhyResponseSchema>;

export const ConfigResponseSchema = z.strictObject({
  version: z.number().int(),
  appliedAt: z.number(),
  source: z.string(),
});
export type ConfigResponse = z.infer<typeof ConfigResponseSchema>;

export const ConfigValidateResponseSchema = z.strictObject({
  ok: z.boolean(),
  issues: z.array(ConfigIssueSchema),
});
export type ConfigValidateResponse = z.infer<typeof ConfigValidateResponseSchema>;

export const ConfigApplyResponseSchema = z.strictObject({
  version: z.number().int(),
  appliedAt: z.number(),
  cluster: z.string(),
});
export type ConfigApplyResponse = z.infer<typeof ConfigApplyResponseSchema>;

/** Component names in /openapi.json: requests are documented as input, responses as output. */
export const requestSchemas = {
  SwitchoverRequest: SwitchoverRequestSchema,
  FailoverRequest: FailoverRequestSchema,
  MaintenanceRequest: MaintenanceRequestSchema,
  CleanupRequest: CleanupRequestSchema,
  ConfigSourceRequest: ConfigSourceRequestSchema,
} as const;

export const responseSchemas = {
  Error: ErrorBodySchema,
  ConfigIssue: ConfigIssueSchema,
  NodeView: NodeViewSchema,
  GroupNodeView: GroupNodeViewSchema,
  GroupView: GroupViewSchema,
  StatusResponse: StatusResponseSchema,
  MoveAccepted: MoveAcceptedSchema,
  MaintenanceResponse: MaintenanceResponseSchema,
  NodeStandbyResponse: NodeStandbyResponseSchema,
  CleanupResponse: CleanupResponseSchema,
  EventItem: EventItemSchema,
  EventsResponse: EventsResponseSchema,
  WhyResponse: WhyResponseSchema,
  ConfigResponse: ConfigResponseSchema,
  ConfigValidateResponse: ConfigValidateResponseSchema,
  ConfigApplyResponse: ConfigApplyResponseSchema,
} as const;
