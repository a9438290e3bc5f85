import { z } from 'zod';
import { GroupIdSchema, NodeIdSchema, ResourceIdSchema } from './ids.js';

/**
 * halo.yaml: the single source of the configuration types. Durations are integers in
 * milliseconds and their field names end in `Ms`. Unknown fields are rejected (typos must not
 * silently fall back to defaults).
 */

const ms = (min: number, max: number) => z.number().int().min(min).max(max);

/** A user or group name (or numeric id) a command runs as. */
const PosixName = z.string().regex(/^([a-z_][a-z0-9_-]{0,31}\$?|\d{1,10})$/, 'expected a user or group name (lower-case letters, digits, "_", "-") or a numeric id');

/**
 * Who a command runs as. Without `user` it runs as the agent's own user (root on most hosts:
 * `halo config validate` warns). The guard drops privileges (groups, gid, uid) before exec.
 */
const RunAs = {
  /** User to run as; its primary group and supplementary groups apply unless `group` is given. */
  user: PosixName.optional(),
  /** Group to run as (default: the user's primary group). */
  group: PosixName.optional(),
};

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
    ...RunAs,
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
  ...RunAs,
  ...ResourceCommon,
});
export type ProcessResourceConfig = z.infer<typeof ProcessResourceSchema>;

/** A dotted-quad IPv4 address, each part 0-255, no leading zeros. */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** A Linux interface name (no '/', ':' or whitespace); may contain a node placeholder, so the 15-byte limit is checked after substitution. */
const IFACE = /^(?=.{1,64}$)([A-Za-z0-9_.@-]|\$\{HALO_NODE(_ADDRESS)?\})+$/;

/**
 * A floating IPv4 address: added to `interface` on the active node (plus gratuitous ARP so peers
 * update their neighbour caches at once), removed on stop and by a fencing guard when the node's
 * lease runs out. Needs root or CAP_NET_ADMIN (and CAP_NET_RAW for arping).
 */
export const VipResourceSchema = z.strictObject({
  name: ResourceIdSchema,
  type: z.literal('vip'),
  address: z.string().regex(IPV4, 'expected an IPv4 address such as 10.0.0.100 (no prefix length: use prefixLength)'),
  prefixLength: z.number().int().min(1).max(32).default(24),
  /** Interface to add the address to, e.g. eth0 (may contain ${HALO_NODE}). */
  interface: z.string().regex(IFACE, 'expected an interface name such as eth0 (letters, digits, "_", ".", "-", "@"; may contain ${HALO_NODE})'),
  /** Gratuitous ARP packets sent after adding the address (0: none). */
  arpCount: z.number().int().min(0).max(100).default(1),
  startTimeoutMs: ms(100, 600_000).default(5_000),
  stopTimeoutMs: ms(100, 600_000).default(5_000),
  /** Optional extra monitors; the address being present is always checked (every `checkIntervalMs`). */
  checkIntervalMs: ms(10, 3_600_000).default(1000),
  readiness: MonitorConfigSchema.optional(),
  monitors: z.array(MonitorConfigSchema).default([]),
});
export type VipResourceConfig = z.infer<typeof VipResourceSchema>;

/** OCF parameter names: the part after OCF_RESKEY_, as resource agents spell them. */
const OCF_PARAM = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Any OCF resource agent script, run unchanged (Pacemaker's resource-agents, or your own). The
 * default per-action timeouts are Pacemaker's (20 s); `halo agents describe` shows what an agent
 * advertises.
 */
export const OcfResourceSchema = z.strictObject({
  name: ResourceIdSchema,
  type: z.literal('ocf'),
  /** provider/type, e.g. heartbeat/Dummy -> <ocfRoot>/resource.d/heartbeat/Dummy. */
  agent: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'expected provider/type, e.g. heartbeat/Dummy').refine((s) => !s.split('/').some((p) => p === '.' || p === '..'), 'expected provider/type, e.g. heartbeat/Dummy'),
  ocfRoot: z.string().regex(/^\//, 'expected an absolute path').default('/usr/lib/ocf'),
  /** Passed as OCF_RESKEY_<name>; values may contain ${HALO_NODE} and ${HALO_NODE_ADDRESS}. */
  params: z.record(z.string().regex(OCF_PARAM, 'expected an OCF parameter name: letters, digits and "_", not starting with a digit'), z.string()).default({}),
  startTimeoutMs: ms(100, 3_600_000).default(20_000),
  stopTimeoutMs: ms(100, 3_600_000).default(20_000),
  monitorTimeoutMs: ms(100, 3_600_000).default(20_000),
  promoteTimeoutMs: ms(100, 3_600_000).default(20_000),
  demoteTimeoutMs: ms(100, 3_600_000).default(20_000),
  /** How often the agent's monitor action runs while the resource is active. */
  monitorIntervalMs: ms(100, 3_600_000).default(10_000),
  readiness: MonitorConfigSchema.optional(),
  monitors: z.array(MonitorConfigSchema).default([]),
});
export type OcfResourceConfig = z.infer<typeof OcfResourceSchema>;


/**
 * A directory replicated from the group's active node to its other nodes over TCP (see
 * docs/mirror.md). Every node of the group runs a receiver on `port` while it is not active.
 */
export const MirrorResourceSchema = z.strictObject({
  name: ResourceIdSchema,
  type: z.literal('mirror'),
  /** Absolute path of the mirrored directory (normally the same on every node; may contain ${HALO_NODE}). */
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

export const ResourceConfigSchema = z.discriminatedUnion('type', [ProcessResourceSchema, VipResourceSchema, OcfResourceSchema, MirrorResourceSchema]);
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

const HTTP_METHOD = /^[A-Z][A-Z-]{0,31}$/;

const EndpointCommon = {
  /** Name of the endpoint, unique within its group (shown in status and logs). */
  name: ResourceIdSchema,
  /**
   * Address the endpoint listens on, on every node. Default: the node's own address. May be
   * "${HALO_NODE_ADDRESS}" (the node's address), a literal address, or 0.0.0.0 / :: (all).
   */
  listenAddress: z.string().min(1).optional(),
  /** Port the endpoint listens on, on every node. */
  port: z.number().int().min(1).max(65535),
  /** Port of the active instance, on the active node's address. */
  backendPort: z.number().int().min(1).max(65535),
  /** While no instance is active (or a switchover is draining), new connections/requests wait this long before they are refused. */
  holdTimeoutMs: ms(0, 600_000).default(10_000),
  /** Planned switchover: how long in-flight connections/requests may take to finish on the old active before it is stopped anyway. */
  drainTimeoutMs: ms(0, 600_000).default(5_000),
  /** Time to connect to the active instance before the attempt counts as failed (and is tried again while the hold lasts). */
  connectTimeoutMs: ms(10, 60_000).default(1_000),
};

/**
 * A stable address for a group's clients: on every node, the endpoint listens on `port` and
 * forwards to the group's current active instance (active node's address, `backendPort`).
 */
export const EndpointConfigSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('tcp'), ...EndpointCommon }),
  z.strictObject({
    mode: z.literal('http'),
    ...EndpointCommon,
    /** Requests that failed because the active instance died are sent once more, to the new active, if their method is listed. */
    retryMethods: z.array(z.string().regex(HTTP_METHOD, 'expected an upper-case HTTP method such as GET')).default(['GET', 'HEAD']),
    /** Largest request body the endpoint buffers (bodies are kept so a request can be sent again). */
    maxBodyBytes: z.number().int().min(0).max(1_073_741_824).default(1_048_576),
  }),
]);
export type EndpointConfig = z.infer<typeof EndpointConfigSchema>;

/** A tenant: the unit a scoped token sees and acts on. */
export const TenantIdSchema = z.string().regex(/^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/, 'expected a tenant name: lower-case letters, digits, "-" or "_"');

export const GroupConfigSchema = z.strictObject({
  name: GroupIdSchema,
  /** The tenant the group belongs to; tokens scoped to other tenants neither see nor act on it. */
  tenant: TenantIdSchema.default('default'),
  redundancy: RedundancySchema.default('active-standby'),
  /** Nodes the group may run on, most preferred first. Default: every node, in config order. */
  preferredNodes: z.array(NodeIdSchema).optional(),
  /** n-way: how many ranked standbys to keep (default: every other eligible node). */
  standbys: z.number().int().min(0).max(64).optional(),
  /** manual: stay where it runs; auto: move back to a more preferred node when it is eligible again. */
  failback: z.enum(['manual', 'auto']).default('manual'),
  recovery: RecoveryPolicySchema.prefault({}),
  resources: z.array(ResourceConfigSchema).min(1),
  /** Client-facing addresses that follow the active instance (see docs/endpoint.md). */
  endpoints: z.array(EndpointConfigSchema).default([]),
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
    /**
     * The shared secret every caller of the embedded coordinator presents (`halo coordinator` creates
     * it, mode 0600, when missing). Default: `coordinator.secret` next to dataDir, i.e.
     * `.halo/coordinator.secret`. Relative paths are relative to the config file.
     */
    secretFile: z.string().min(1).optional(),
  }),
  z.strictObject({
    kind: z.literal('etcd'),
    /** Client URLs of the etcd members, e.g. http://10.0.0.1:2379. */
    endpoints: z.array(z.string().min(1)).min(1),
    /** Namespace for every key halo writes, e.g. /halo/prod (several clusters can share one etcd). */
    prefix: z.string().default(''),
    /** PEM file paths; relative paths are relative to the config file. */
    tls: z.strictObject({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).optional(),
    /**
     * etcd user auth (after `etcdctl auth enable`): the user and its password, given inline or, better,
     * in `passwordFile` (owner-only, mode 0600; one line, a trailing newline is ignored; relative to
     * the config file). Exactly one of `password` and `passwordFile`. API and CLI show an inline
     * password as "***".
     */
    auth: z
      .strictObject({ username: z.string().min(1), password: z.string().optional(), passwordFile: z.string().min(1).optional() })
      .superRefine((a, ctx) => {
        if (a.password !== undefined && a.passwordFile !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['passwordFile'], message: 'give either password or passwordFile, not both' });
        } else if (a.password === undefined && a.passwordFile === undefined) {
          ctx.addIssue({ code: 'custom', path: [], message: 'etcd auth needs password or passwordFile (a file with mode 0600 holding the password)' });
        }
      })
      .optional(),
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

/** PEM files of the cluster's TLS identity (made by `halo certs`); paths may contain ${HALO_NODE}. */
export const TlsFilesSchema = z.strictObject({
  /** The cluster CA: peers (agents, CLI, mirror links, the embedded coordinator) must present a certificate it signed. */
  ca: z.string().min(1),
  /** This node's certificate (CN = node name, OU = node), signed by the CA. */
  cert: z.string().min(1),
  key: z.string().min(1),
});
export type TlsFiles = z.infer<typeof TlsFilesSchema>;

export const SecurityConfigSchema = z.strictObject({
  /**
   * TLS on every agent API, mirror link and the embedded coordinator, with mutual authentication
   * between nodes. Without it the API is plain HTTP (still token-authenticated), which an agent
   * accepts only on loopback addresses.
   */
  tls: TlsFilesSchema.optional(),
  /** `open`: GET /metrics answers without a credential (for a scraper on a trusted network). */
  metrics: z.enum(['authenticated', 'open']).default('authenticated'),
  /** Lifetime of a console login session. */
  sessionTtlMs: ms(60_000, 30 * 86_400_000).default(8 * 3_600_000),
});
export type SecurityConfig = z.infer<typeof SecurityConfigSchema>;

export const HaloConfigSchema = z
  .strictObject({
    cluster: z.string().regex(/^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/, 'expected a cluster name: lower-case letters, digits, "-" or "_"'),
    coordinator: CoordinatorConfigSchema.default({ kind: 'embedded', address: '127.0.0.1:7400', dataDir: '.halo/coordinator' }),
    timing: TimingSchema.prefault({}),
    /** Directory for per-node runtime state and resource logs. */
    stateDir: z.string().min(1).default('.halo/state'),
    nodes: z.array(NodeConfigSchema).min(1),
    groups: z.array(GroupConfigSchema).default([]),
    security: SecurityConfigSchema.prefault({}),
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
        if (r.type === 'mirror' && cfg.security.tls === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['groups', gi, 'resources', ri],
            message: `mirror "${r.name}" requires security.tls (ca, cert, key): the mirror link is mutually authenticated with the cluster's certificates; create them with "halo certs"`,
          });
        }
      });
      if (g.recovery.backoffMaxMs < g.recovery.backoffInitialMs) {
        ctx.addIssue({ code: 'custom', path: ['groups', gi, 'recovery', 'backoffMaxMs'], message: 'must be at least backoffInitialMs' });
      }
    });
    checkEndpoints(cfg, ctx);
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

const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/** The address an endpoint listens on at a node (its default is the node's address). */
export function endpointListenAddress(ep: Pick<EndpointConfig, 'listenAddress'>, nodeAddress: string): string {
  const a = ep.listenAddress ?? nodeAddress;
  return a.replace(/\$\{HALO_NODE_ADDRESS\}/g, nodeAddress);
}

const overlap = (a: string, b: string): boolean => a === b || WILDCARD.has(a) || WILDCARD.has(b);

type RawConfig = {
  readonly nodes: readonly { readonly name: string; readonly address: string; readonly apiPort: number }[];
  readonly groups: readonly { readonly endpoints: readonly EndpointConfig[] }[];
  readonly coordinator: { readonly kind: string; readonly address?: string };
};

/**
 * Endpoints listen on every node: on each node, no two listeners (endpoints, the node's API, the
 * embedded coordinator) may share an address and port, and an endpoint must not forward to itself.
 */
function checkEndpoints(cfg: RawConfig, ctx: z.RefinementCtx): void {
  const reported = new Set<string>();
  const issue = (path: (string | number)[], message: string) => {
    // Each endpoint is checked once per node; one issue per field is enough.
    const key = path.join('.');
    if (reported.has(key)) return;
    reported.add(key);
    ctx.addIssue({ code: 'custom', path, message });
  };
  const coord = cfg.coordinator.kind === 'embedded' && cfg.coordinator.address !== undefined ? cfg.coordinator.address : null;
  for (const node of cfg.nodes) {
    const seen: { addr: string; port: number; what: string }[] = [{ addr: node.address, port: node.apiPort, what: `the API of node "${node.name}"` }];
    if (coord !== null) {
      const i = coord.lastIndexOf(':');
      seen.push({ addr: coord.slice(0, i), port: Number(coord.slice(i + 1)), what: 'the embedded coordinator' });
    }
    cfg.groups.forEach((g, gi) => {
      const names = new Set<string>();
      g.endpoints.forEach((ep, ei) => {
        const path = ['groups', gi, 'endpoints', ei];
        if (names.has(ep.name)) issue([...path, 'name'], `duplicate endpoint name "${ep.name}" in the group`);
        names.add(ep.name);
        const addr = endpointListenAddress(ep, node.address);
        if (ep.listenAddress !== undefined && /\$\{/.test(addr)) {
          issue([...path, 'listenAddress'], `unknown placeholder in "${ep.listenAddress}"; expected an address or \${HALO_NODE_ADDRESS}`);
          return;
        }
        if (ep.port === ep.backendPort && overlap(addr, node.address)) {
          issue([...path, 'port'], `port ${ep.port} is also the backendPort on ${node.address}: the endpoint would forward to itself; use another port`);
        }
        else {
          const backend = cfg.groups.flatMap((og, ogi) => og.endpoints.map((oe) => ({ og: ogi, oe }))).find(({ oe }) => oe.backendPort === ep.port);
          if (backend && overlap(addr, node.address)) {
            issue([...path, 'port'], `port ${ep.port} on ${node.address} is the backendPort of endpoint "${backend.oe.name}" of groups[${backend.og}] (where its service listens); use another port`);
          }
        }
        const clash = seen.find((s) => s.port === ep.port && overlap(s.addr, addr));
        if (clash) issue([...path, 'port'], `${addr}:${ep.port} on node "${node.name}" is already used by ${clash.what}; use another port`);
        seen.push({ addr, port: ep.port, what: `endpoint "${ep.name}" of groups[${gi}]` });
      });
    });
  }
}

/** Nodes a group may run on, most preferred first. */
export function candidateNodes(cfg: HaloConfig, group: GroupConfig): readonly NodeConfig['name'][] {
  const all = cfg.nodes.map((n) => n.name);
  if (!group.preferredNodes) return all;
  return group.preferredNodes;
}
