import { z } from 'zod';
import { GroupIdSchema, NodeIdSchema, ResourceIdSchema } from './ids.js';

/**
 * halo.yaml: the single source of the configuration types. Durations are integers in
 * milliseconds and their field names end in `Ms`. Unknown fields are rejected (typos must not
 * silently fall back to defaults).
 */

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

const MonitorCommon = {
  /** Time between checks. */
  intervalMs: ms(10, 3_600_000).default(1000),
  /** One check taking longer than this counts as a failure. */
  timeoutMs: ms(10, 600_000).default(1000),
  /** Consecutive failures before the resource counts as failed. */
  failureThreshold: z.number().int().min(1).max(100).default(3),
  /** Consecutive successes before a failed resource counts as healthy again. */
  recoveryThreshold: z.number().int().min(1).max(100).default(1),
};

export const MonitorConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('tcp'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535),
    ...MonitorCommon,
  }),
  z.strictObject({
    kind: z.literal('http'),
    /** Full URL, e.g. http://127.0.0.1:8080/health (may contain ${HALO_NODE_ADDRESS}). */
    url: z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http:// or https:// URL'),
    /** Expected status code; default: any 2xx. */
    expectStatus: z.number().int().min(100).max(599).optional(),
    /** Regular expression the body must match. */
    bodyMatch: z.string().min(1).optional(),
    ...MonitorCommon,
  }),
  z.strictObject({
    kind: z.literal('command'),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    ...MonitorCommon,
  }),
  z.strictObject({
    kind: z.literal('disk'),
    /** Directory in which a small file is written, fsynced and removed. */
    path: z.string().min(1),
    ...MonitorCommon,
  }),
]);
export type MonitorConfig = z.infer<typeof MonitorConfigSchema>;

/** Fields every resource type has (the group runner relies on them). */
const ResourceCommon = {
  /** Time for the resource to become ready (readiness monitor passing) before start counts as failed. */
  startTimeoutMs: ms(100, 3_600_000).default(10_000),
  /** Grace period after SIGTERM to the process group before SIGKILL (process); time to stop (others). */
  stopTimeoutMs: ms(0, 3_600_000).default(5_000),
  /** A monitor that must pass once before the resource counts as started. */
  readiness: MonitorConfigSchema.optional(),
  monitors: z.array(MonitorConfigSchema).default([]),
};

export const ProcessResourceSchema = z.strictObject({
  name: ResourceIdSchema,
  type: z.literal('process'),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'), z.string()).default({}),
  cwd: z.string().min(1).optional(),
  ...ResourceCommon,
});
export type ProcessResourceConfig = z.infer<typeof ProcessResourceSchema>;

/**
 * A directory replicated from the group's active node to its other nodes over TCP (see
 * docs/mirror.md). Every node of the group runs a receiver on `port` while it is not active.
 */
export const MirrorResourceSchema = z.strictObject({
  name: ResourceIdSchema,
  type: z.literal('mirror'),
  /** Absolute path of the mirrored directory (the same path on every node). */
  path: z.string().regex(/^\/./, 'expected an absolute directory path'),
  /**
   * async: changes are shipped as they are detected (lag reported). sync: in addition, an
   * application fsync (through the fsync shim) returns only once a standby holds the data.
   */
  mode: z.enum(['sync', 'async']).default('async'),
  /** TCP port of the receiver on every node (listening on the node's address). */
  port: z.number().int().min(1).max(65535),
  /**
   * sync mode: allow failover to a node not known to hold every acknowledged write (the event
   * records what may be lost). Default false: the group waits for an in-sync node.
   */
  allowDataLoss: z.boolean().default(false),
  /** Time between change scans on the active. */
  scanIntervalMs: ms(5, 60_000).default(50),
  /** sync mode: how long an fsync waits for a standby before that standby leaves the in-sync set. */
  syncTimeoutMs: ms(10, 600_000).default(5000),
  ...ResourceCommon,
});
export type MirrorResourceConfig = z.infer<typeof MirrorResourceSchema>;

export const ResourceConfigSchema = z.discriminatedUnion('type', [ProcessResourceSchema, MirrorResourceSchema]);
export type ResourceConfig = z.infer<typeof ResourceConfigSchema>;

export const RecoveryPolicySchema = z.strictObject({
  /** Restarts in place allowed within `windowMs` before the group fails over. */
  maxRestarts: z.number().int().min(0).max(1000).default(3),
  windowMs: ms(1000, 86_400_000).default(60_000),
  /** Delay before the first restart; doubles with each further restart in the window. */
  backoffInitialMs: ms(0, 600_000).default(0),
  backoffMaxMs: ms(0, 3_600_000).default(10_000),
  /** How long a node stays ineligible for the group after the group failed there. */
  failureTimeoutMs: ms(0, 604_800_000).default(600_000),
});
export type RecoveryPolicy = z.infer<typeof RecoveryPolicySchema>;

export const RedundancySchema = z.enum(['none', 'active-standby', 'n-way']);
export type Redundancy = z.infer<typeof RedundancySchema>;

export const GroupConfigSchema = z.strictObject({
  name: GroupIdSchema,
  redundancy: RedundancySchema.default('active-standby'),
  /** Nodes the group may run on, most preferred first. Default: every node, in config order. */
  preferredNodes: z.array(NodeIdSchema).optional(),
  /** n-way: how many ranked standbys to keep (default: every other eligible node). */
  standbys: z.number().int().min(0).max(64).optional(),
  /** manual: stay where it runs; auto: move back to a more preferred node when it is eligible again. */
  failback: z.enum(['manual', 'auto']).default('manual'),
  recovery: RecoveryPolicySchema.prefault({}),
  resources: z.array(ResourceConfigSchema).min(1),
});
export type GroupConfig = z.infer<typeof GroupConfigSchema>;

export const NodeConfigSchema = z.strictObject({
  name: NodeIdSchema,
  /** Address the node's API listens on and other nodes use to reach it. */
  address: z.string().min(1).default('127.0.0.1'),
  apiPort: z.number().int().min(1).max(65535),
  labels: z.record(z.string().min(1), z.string()).default({}),
});
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

export const CoordinatorConfigSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('embedded'),
    /** host:port of the embedded coordinator server. */
    address: z.string().regex(/^[^:\s]+:\d{1,5}$/, 'expected host:port').default('127.0.0.1:7400'),
    /** Where `halo coordinator` persists its state. */
    dataDir: z.string().min(1).default('.halo/coordinator'),
  }),
  z.strictObject({
    kind: z.literal('etcd'),
    /** Client URLs of the etcd members, e.g. http://10.0.0.1:2379. */
    endpoints: z.array(z.string().min(1)).min(1),
    /** Namespace for every key halo writes, e.g. /halo/prod (several clusters can share one etcd). */
    prefix: z.string().default(''),
    /** PEM file paths; relative paths are relative to the config file. */
    tls: z.strictObject({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).optional(),
    auth: z.strictObject({ username: z.string().min(1), password: z.string() }).optional(),
    /** How long an agent's first contact waits for a member to answer. */
    dialTimeoutMs: ms(100, 60_000).default(3000),
    /** Deadline of one store call, retries on other members included. */
    requestTimeoutMs: ms(100, 60_000).default(2000),
  }),
  z.strictObject({ kind: z.literal('memory') }),
]);
export type CoordinatorConfig = z.infer<typeof CoordinatorConfigSchema>;

export const TimingSchema = z.strictObject({
  /** Session lease TTL at the coordinator. */
  leaseTtlMs: ms(200, 600_000).default(2000),
  /** How often the agent renews its lease. */
  renewIntervalMs: ms(20, 60_000).default(300),
  /**
   * An agent runs resources active only until (time it sent its last successful renewal) +
   * leaseTtlMs - safetyMarginMs, by its own monotonic clock.
   */
  safetyMarginMs: ms(0, 600_000).default(500),
  /** Event-loop lag above this counts as a fault that threatens the lease. */
  maxLoopLagMs: ms(10, 60_000).default(250),
  /** How often agents and the controller re-evaluate even without a change. */
  reconcileIntervalMs: ms(10, 60_000).default(250),
});
export type Timing = z.infer<typeof TimingSchema>;

export const HaloConfigSchema = z
  .strictObject({
    cluster: z.string().regex(/^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/, 'expected a cluster name: lower-case letters, digits, "-" or "_"'),
    coordinator: CoordinatorConfigSchema.default({ kind: 'embedded', address: '127.0.0.1:7400', dataDir: '.halo/coordinator' }),
    timing: TimingSchema.prefault({}),
    /** Directory for per-node runtime state and resource logs. */
    stateDir: z.string().min(1).default('.halo/state'),
    nodes: z.array(NodeConfigSchema).min(1),
    groups: z.array(GroupConfigSchema).default([]),
  })
  .superRefine((cfg, ctx) => {
    const nodeNames = new Set<string>();
    cfg.nodes.forEach((n, i) => {
      if (nodeNames.has(n.name)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'name'], message: `duplicate node name "${n.name}"` });
      nodeNames.add(n.name);
    });
    const endpoints = new Set<string>();
    cfg.nodes.forEach((n, i) => {
      const ep = `${n.address}:${n.apiPort}`;
      if (endpoints.has(ep)) ctx.addIssue({ code: 'custom', path: ['nodes', i, 'apiPort'], message: `address ${ep} is used by another node` });
      endpoints.add(ep);
    });
    const groupNames = new Set<string>();
    cfg.groups.forEach((g, gi) => {
      if (groupNames.has(g.name)) ctx.addIssue({ code: 'custom', path: ['groups', gi, 'name'], message: `duplicate group name "${g.name}"` });
      groupNames.add(g.name);
      (g.preferredNodes ?? []).forEach((n, ni) => {
        if (!nodeNames.has(n)) ctx.addIssue({ code: 'custom', path: ['groups', gi, 'preferredNodes', ni], message: `unknown node "${n}"; expected one of: ${[...nodeNames].join(', ')}` });
      });
      if (new Set(g.preferredNodes ?? []).size !== (g.preferredNodes ?? []).length) {
        ctx.addIssue({ code: 'custom', path: ['groups', gi, 'preferredNodes'], message: 'a node is listed more than once' });
      }
      const resNames = new Set<string>();
      g.resources.forEach((r, ri) => {
        if (resNames.has(r.name)) ctx.addIssue({ code: 'custom', path: ['groups', gi, 'resources', ri, 'name'], message: `duplicate resource name "${r.name}" in group "${g.name}"` });
        resNames.add(r.name);
      });
      if (g.recovery.backoffMaxMs < g.recovery.backoffInitialMs) {
        ctx.addIssue({ code: 'custom', path: ['groups', gi, 'recovery', 'backoffMaxMs'], message: 'must be at least backoffInitialMs' });
      }
    });
    const t = cfg.timing;
    if (cfg.coordinator.kind === 'etcd' && t.leaseTtlMs % 1000 !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['timing', 'leaseTtlMs'],
        message: `etcd grants leases in whole seconds: use a multiple of 1000 (${Math.ceil(t.leaseTtlMs / 1000) * 1000} would be granted for ${t.leaseTtlMs})`,
      });
    }
    if (t.renewIntervalMs * 2 > t.leaseTtlMs - t.safetyMarginMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['timing', 'renewIntervalMs'],
        message: `renewIntervalMs (${t.renewIntervalMs}) must be at most half of leaseTtlMs - safetyMarginMs (${t.leaseTtlMs - t.safetyMarginMs}) so one lost renewal does not fence a healthy node; lower renewIntervalMs or raise leaseTtlMs`,
      });
    }
    if (t.safetyMarginMs < t.maxLoopLagMs) {
      ctx.addIssue({
        code: 'custom',
        path: ['timing', 'safetyMarginMs'],
        message: `safetyMarginMs (${t.safetyMarginMs}) must be at least maxLoopLagMs (${t.maxLoopLagMs}): a stalled event loop could otherwise outlive the lease`,
      });
    }
  });

export type HaloConfig = z.infer<typeof HaloConfigSchema>;

/** Nodes a group may run on, most preferred first. */
export function candidateNodes(cfg: HaloConfig, group: GroupConfig): readonly NodeConfig['name'][] {
  const all = cfg.nodes.map((n) => n.name);
  if (!group.preferredNodes) return all;
  return group.preferredNodes;
}
