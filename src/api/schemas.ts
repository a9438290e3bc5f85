import { z } from 'zod';
import { RedundancySchema, TenantIdSchema } from '../domain/config.js';
import { AuditEntrySchema, CredentialIdSchema, IdentitySchema, RoleSchema, TokenRecordSchema } from '../domain/security.js';
import { ErrorCodes, type ErrorCode } from '../domain/errors.js';
import { EpochSchema, GroupIdSchema, NodeIdSchema, ResourceIdSchema } from '../domain/ids.js';
import {
  AssignmentSchema,
  ClusterEventSchema,
  FailureRecordSchema,
  GroupStatusSchema,
  JournalEntrySchema,
  MirrorSyncRecordSchema,
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

/** A point in time in a query: epoch milliseconds, an ISO 8601 time, or a duration before now (90s, 15m, 24h, 7d, 2w). */
export type TimeRef = { readonly kind: 'at'; readonly at: number } | { readonly kind: 'ago'; readonly ms: number };

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a TimeRef; undefined when `s` is none of the accepted forms. */
export function parseTimeRef(s: string): TimeRef | undefined {
  if (/^\d{1,15}$/.test(s)) return { kind: 'at', at: Number(s) };
  const rel = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(s);
  if (rel) return { kind: 'ago', ms: Number(rel[1]) * (UNIT_MS[rel[2] ?? ''] ?? 1) };
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) {
    const at = Date.parse(s);
    if (Number.isFinite(at)) return { kind: 'at', at };
  }
  return undefined;
}

const TimeRefSchema = z.string().transform((s, ctx): TimeRef => {
  const t = parseTimeRef(s);
  if (t !== undefined) return t;
  ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds, an ISO 8601 time (2025-01-31T14:00:00Z) or a duration before now (30m, 24h, 7d)' });
  return z.NEVER;
});

export const ReportQuerySchema = z.strictObject({
  /** Window start; default 24 hours before `until`. */
  since: TimeRefSchema.optional(),
  /** Window end; default now (a later time is taken as now). */
  until: TimeRefSchema.optional(),
  /** Only this group. */
  group: GroupIdSchema.optional(),
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

/** One mirror resource as its active node last published it, with the derived state. */
export const MirrorViewSchema = z.strictObject({
  state: z.enum(['synced', 'syncing', 'degraded', 'broken', 'stale']),
  /** Share of the data not yet on the worst standby, percent. */
  diffPercent: z.number(),
  /** The record is older than 30 s (its active may be gone). */
  recordAgeMs: z.number(),
  record: MirrorSyncRecordSchema,
});
export type MirrorView = z.infer<typeof MirrorViewSchema>;

export const MirrorsResponseSchema = z.strictObject({ mirrors: z.array(MirrorViewSchema) });
export type MirrorsResponse = z.infer<typeof MirrorsResponseSchema>;

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

/** The first event that took a group's service down (see docs/availability.md). */
export const IncidentCauseSchema = z.strictObject({
  kind: z.enum(['monitor-failed', 'resource-exited', 'node-lost', 'fenced', 'group-failed', 'restarted', 'stopped', 'failover', 'switchover']),
  at: z.number(),
  node: NodeIdSchema.nullable(),
  resource: ResourceIdSchema.nullable(),
  message: z.string(),
});

export const IncidentSchema = z.strictObject({
  group: GroupIdSchema,
  /** A planned move (switchover, evacuation, failback): downtime, but not a failure. */
  planned: z.boolean(),
  cause: IncidentCauseSchema,
  /** When the service stopped serving (may precede the window). */
  downAt: z.number(),
  detectedAt: z.number(),
  /** When an instance served again; null while open at the end of the window. */
  recoveredAt: z.number().nullable(),
  recoveredOn: NodeIdSchema.nullable(),
  /** recoveredAt is when an in-place restart was issued (the log has no event for its end). */
  recoveryEstimated: z.boolean(),
  detectionMs: z.number(),
  /** Detected -> serving again. */
  recoveryMs: z.number().nullable(),
  /** Down -> serving again: the recovery time achieved (RTO). */
  outageMs: z.number().nullable(),
  /** Downtime inside the window. */
  downInWindowMs: z.number(),
  actions: z.array(
    z.strictObject({
      kind: z.enum(['restart', 'failover', 'switchover', 'place']),
      at: z.number(),
      node: NodeIdSchema.nullable(),
      resource: ResourceIdSchema.nullable(),
    }),
  ),
  /** Data lost (RPO achieved) in ms of writes; null when there is no replicated data to judge. */
  rpoMs: z.number().nullable(),
});
export type IncidentBody = z.infer<typeof IncidentSchema>;

const availabilityStats = {
  observedMs: z.number(),
  upMs: z.number(),
  downMs: z.number(),
  plannedDownMs: z.number(),
  /** Fraction in [0, 1]; null when nothing was accounted. */
  uptime: z.number().nullable(),
  /** -log10(1 - uptime); null when uptime is 1 (no downtime: infinitely many nines) or unknown. */
  nines: z.number().nullable(),
  failures: z.number().int(),
  plannedMoves: z.number().int(),
  open: z.number().int(),
  mtbfMs: z.number().nullable(),
  mttrMs: z.number().nullable(),
};

export const AvailabilityStatsSchema = z.strictObject(availabilityStats);

export const GroupAvailabilitySchema = z.strictObject({
  group: GroupIdSchema,
  from: z.number(),
  to: z.number(),
  /** Start of accounting inside the window; null when the group never started. */
  observedFrom: z.number().nullable(),
  ...availabilityStats,
  incidents: z.array(IncidentSchema),
  planned: z.array(IncidentSchema),
});
export type GroupAvailabilityBody = z.infer<typeof GroupAvailabilitySchema>;

export const ReportResponseSchema = z.strictObject({
  cluster: z.string(),
  servedBy: NodeIdSchema,
  from: z.number(),
  to: z.number(),
  /** Cluster roll-up over the groups below (time-weighted). */
  summary: AvailabilityStatsSchema,
  groups: z.array(GroupAvailabilitySchema),
  /** E.g. event records that did not parse and were left out. */
  warnings: z.array(z.string()),
});
export type ReportResponse = z.infer<typeof ReportResponseSchema>;

/** Component names in /openapi.json: requests are documented as input, responses as output. */
// ---------------------------------------------------------------- security

/** POST /v1/tokens. `expiresInMs` omitted = never expires; tenants/groups omitted = unscoped. */
export const TokenCreateRequestSchema = z.strictObject({
  name: z.string().min(1).max(128).regex(/^[^\u0000-\u001f\u007f]+$/, 'expected a name without control characters'),
  role: RoleSchema,
  tenants: z.array(TenantIdSchema).min(1).max(100).optional(),
  groups: z.array(GroupIdSchema).min(1).max(1000).optional(),
  expiresInMs: z.number().int().min(60_000).max(10 * 365 * 86_400_000).optional(),
});
export type TokenCreateRequest = z.input<typeof TokenCreateRequestSchema>;

export const TokenParamsSchema = z.strictObject({ id: CredentialIdSchema });

/** A token as listed: everything but its hash. */
export const TokenViewSchema = TokenRecordSchema.omit({ hash: true });
export type TokenView = z.infer<typeof TokenViewSchema>;

export const TokenCreatedSchema = z.strictObject({
  /** The whole token. Shown once: it is stored only as a hash. */
  token: z.string(),
  info: TokenViewSchema,
});
export type TokenCreated = z.infer<typeof TokenCreatedSchema>;

export const TokensResponseSchema = z.strictObject({ tokens: z.array(TokenViewSchema) });
export type TokensResponse = z.infer<typeof TokensResponseSchema>;

export const TokenRevokedSchema = z.strictObject({ id: CredentialIdSchema, revoked: z.literal(true) });
export type TokenRevoked = z.infer<typeof TokenRevokedSchema>;

/** POST /v1/session: a token to log in with; omitted = the client certificate of the connection. */
export const SessionRequestSchema = z.strictObject({ token: z.string().min(1).max(200).optional() });

export const SessionResponseSchema = z.strictObject({
  identity: IdentitySchema,
  /** Send back in x-halo-csrf on every mutating request made with the session cookie; null without a session. */
  csrf: z.string().nullable(),
  /** When the session ends; null without a session. */
  expiresAt: z.number().nullable(),
});
export type SessionResponse = z.infer<typeof SessionResponseSchema>;

export const AuditQuerySchema = z.strictObject({
  limit: intFromQuery(1, 10_000).optional(),
  after: intFromQuery(0, Number.MAX_SAFE_INTEGER).optional(),
});

export const AuditItemSchema = AuditEntrySchema.extend({ revision: z.number().int() });
export type AuditItem = z.infer<typeof AuditItemSchema>;
export const AuditResponseSchema = z.strictObject({ entries: z.array(AuditItemSchema) });
export type AuditResponse = z.infer<typeof AuditResponseSchema>;

export const HealthResponseSchema = z.strictObject({ ok: z.literal(true), node: z.string() });

export const requestSchemas = {
  TokenCreateRequest: TokenCreateRequestSchema,
  SessionRequest: SessionRequestSchema,
  SwitchoverRequest: SwitchoverRequestSchema,
  FailoverRequest: FailoverRequestSchema,
  MaintenanceRequest: MaintenanceRequestSchema,
  CleanupRequest: CleanupRequestSchema,
  ConfigSourceRequest: ConfigSourceRequestSchema,
} as const;

/** One endpoint on the node that answers (see docs/endpoint.md). */
export const EndpointStatusSchema = z.strictObject({
  group: z.string(),
  name: z.string(),
  mode: z.enum(['tcp', 'http']),
  /** address:port it listens on. */
  listen: z.string(),
  /** host:port new connections/requests go to; null while held. */
  backend: z.string().nullable(),
  /** Why new connections/requests are held; null when forwarding. */
  heldReason: z.string().nullable(),
  /** A planned move is draining this group. */
  draining: z.boolean(),
  /** Connections (tcp) or requests (http) waiting for a backend now. */
  held: z.number().int(),
  /** Connections or requests forwarded to a backend now. */
  inFlight: z.number().int(),
  forwarded: z.number().int(),
  retried: z.number().int(),
  refused: z.number().int(),
});
export type EndpointStatusView = z.infer<typeof EndpointStatusSchema>;

export const EndpointsResponseSchema = z.strictObject({ node: z.string(), endpoints: z.array(EndpointStatusSchema) });
export type EndpointsResponse = z.infer<typeof EndpointsResponseSchema>;

export const responseSchemas = {
  TokenView: TokenViewSchema,
  TokenCreated: TokenCreatedSchema,
  TokensResponse: TokensResponseSchema,
  TokenRevoked: TokenRevokedSchema,
  SessionResponse: SessionResponseSchema,
  AuditItem: AuditItemSchema,
  AuditResponse: AuditResponseSchema,
  HealthResponse: HealthResponseSchema,
  EndpointsResponse: EndpointsResponseSchema,
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
  MirrorView: MirrorViewSchema,
  MirrorsResponse: MirrorsResponseSchema,
  WhyResponse: WhyResponseSchema,
  ConfigResponse: ConfigResponseSchema,
  ConfigValidateResponse: ConfigValidateResponseSchema,
  ConfigApplyResponse: ConfigApplyResponseSchema,
  Incident: IncidentSchema,
  AvailabilityStats: AvailabilityStatsSchema,
  GroupAvailability: GroupAvailabilitySchema,
  ReportResponse: ReportResponseSchema,
} as const;
