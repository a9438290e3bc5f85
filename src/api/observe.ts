import type { Coordinator, KeyValue } from '../coord/coordinator.js';
import { decodeRecord, parseSnapshot } from '../coord/snapshot.js';
import { ClusterError } from '../domain/errors.js';
import { candidateNodes, type GroupConfig, type HaloConfig } from '../domain/config.js';
import type { NodeId } from '../domain/ids.js';
import { clusterKeys } from '../domain/keys.js';
import {
  StoredConfigSchema,
  type Assignment,
  type ControllerRecord,
  type FailureRecord,
  type GroupStatus,
  type MoveIntent,
  type NodeSession,
  type StoredConfig,
} from '../domain/state.js';
import type { GroupNodeView, GroupView, NodeView, StatusResponse } from './schemas.js';

/**
 * Reads of the cluster state for the API. Every record is parsed with its schema; a record that
 * does not parse is skipped and reported in `warnings` rather than failing the whole read, so one
 * bad record cannot take the management plane down.
 */

type Opts = { readonly signal?: AbortSignal };

/** The stored configuration with its key revision; undefined when none has been applied. Throws HA_INTERNAL if it does not parse. */
export async function readStoredConfig(
  coord: Coordinator,
  cluster: string,
  opts: Opts = {},
): Promise<{ readonly stored: StoredConfig; readonly modRevision: KeyValue['modRevision'] } | undefined> {
  const kv = await coord.get(clusterKeys(cluster).config, opts);
  if (kv === undefined) return undefined;
  const warnings: string[] = [];
  const stored = decodeRecord(StoredConfigSchema, kv, warnings);
  if (stored === undefined) throw new ClusterError('HA_INTERNAL', `the stored configuration does not parse (${warnings.join('; ')})`);
  return { stored, modRevision: kv.modRevision };
}

/** One consistent-enough picture of the cluster: each prefix is read at its own revision. */
export interface ClusterView {
  readonly config: StoredConfig | undefined;
  readonly controller: ControllerRecord | undefined;
  readonly sessions: ReadonlyMap<string, NodeSession>;
  readonly assignments: ReadonlyMap<string, Assignment>;
  /** status by group, then by node. */
  readonly statuses: ReadonlyMap<string, ReadonlyMap<string, GroupStatus>>;
  /** failures by group, then by node. */
  readonly failures: ReadonlyMap<string, ReadonlyMap<string, FailureRecord>>;
  readonly maintenanceCluster: boolean;
  readonly maintenanceGroups: ReadonlySet<string>;
  readonly maintenanceNodes: ReadonlySet<string>;
  readonly standby: ReadonlySet<string>;
  readonly moves: ReadonlyMap<string, MoveIntent>;
  readonly warnings: readonly string[];
}

export async function observeCluster(coord: Coordinator, cluster: string, opts: Opts = {}): Promise<ClusterView> {
  const k = clusterKeys(cluster);
  const [configKv, controllerKv, ...lists] = await Promise.all([
    coord.get(k.config, opts),
    coord.get(k.controller, opts),
    coord.list(k.nodesPrefix, opts),
    coord.list(k.assignPrefix, opts),
    coord.list(k.statusPrefix, opts),
    coord.list(k.failuresPrefix, opts),
    coord.list(k.intentsPrefix, opts),
  ]);
  const entries = new Map<string, KeyValue>();
  for (const kv of [configKv, controllerKv]) if (kv) entries.set(kv.key, kv);
  for (const l of lists) for (const kv of l.items) entries.set(kv.key, kv);
  const snap = parseSnapshot(cluster, entries, Math.max(0, ...lists.map((l) => l.revision)));

  const statuses = new Map<string, Map<string, GroupStatus>>();
  for (const [node, byGroup] of snap.status) {
    for (const [group, v] of byGroup) {
      const byNode = statuses.get(group) ?? new Map<string, GroupStatus>();
      byNode.set(node, v.value);
      statuses.set(group, byNode);
    }
  }
  const failures = new Map<string, Map<string, FailureRecord>>();
  for (const { value: f } of snap.failures) {
    const byNode = failures.get(f.group) ?? new Map<string, FailureRecord>();
    byNode.set(f.node, f);
    failures.set(f.group, byNode);
  }
  return {
    config: snap.config?.value,
    controller: snap.controller,
    sessions: new Map([...snap.sessions].map(([n, v]) => [n, v.value])),
    assignments: new Map([...snap.assignments].map(([g, v]) => [g, v.value])),
    statuses,
    failures,
    maintenanceCluster: snap.maintenance.cluster,
    maintenanceGroups: snap.maintenance.groups,
    maintenanceNodes: snap.maintenance.nodes,
    standby: snap.standbyNodes,
    moves: new Map([...snap.moves].map(([g, v]) => [g, v.value])),
    warnings: snap.invalid,
  };
}

export function nodeViews(view: ClusterView): NodeView[] {
  const out: NodeView[] = [];
  const seen = new Set<string>();
  for (const n of view.config?.config.nodes ?? []) {
    seen.add(n.name);
    const s = view.sessions.get(n.name);
    out.push({
      name: n.name,
      inConfig: true,
      address: n.address,
      apiPort: n.apiPort,
      apiUrl: s?.apiUrl ?? null,
      online: s !== undefined,
      labels: { ...n.labels },
      standby: view.standby.has(n.name),
      maintenance: view.maintenanceNodes.has(n.name),
      session: s ? { sessionId: s.sessionId, pid: s.pid, startedAt: s.startedAt } : null,
    });
  }
  for (const s of [...view.sessions.values()].sort((a, b) => a.node.localeCompare(b.node))) {
    if (seen.has(s.node)) continue;
    out.push({
      name: s.node,
      inConfig: false,
      address: null,
      apiPort: null,
      apiUrl: s.apiUrl,
      online: true,
      labels: {},
      standby: view.standby.has(s.node),
      maintenance: view.maintenanceNodes.has(s.node),
      session: { sessionId: s.sessionId, pid: s.pid, startedAt: s.startedAt },
    });
  }
  return out;
}

export function groupView(view: ClusterView, cfg: HaloConfig, group: GroupConfig, wallNow: number): GroupView {
  const candidates = [...candidateNodes(cfg, group)];
  const statuses = view.statuses.get(group.name) ?? new Map<string, GroupStatus>();
  const failures = view.failures.get(group.name) ?? new Map<string, FailureRecord>();
  const assignment = view.assignments.get(group.name) ?? null;

  const nodeOrder: NodeId[] = [...candidates];
  for (const s of statuses.values()) if (!nodeOrder.includes(s.node)) nodeOrder.push(s.node);
  const nodes: GroupNodeView[] = nodeOrder.map((node) => {
    const s = statuses.get(node);
    const online = view.sessions.has(node);
    return s
      ? { node, online, role: s.role, state: s.state, epoch: s.epoch, resources: s.resources, detail: s.detail, updatedAt: s.updatedAt }
      : { node, online, role: 'none', state: 'unknown', epoch: null, resources: [], detail: online ? 'no status reported' : 'node offline', updatedAt: null };
  });

  const ineligible: GroupView['ineligible'] = [];
  for (const node of candidates) {
    const f = failures.get(node);
    const until = f ? f.at + group.recovery.failureTimeoutMs : null;
    if (f && until !== null && until > wallNow) {
      ineligible.push({ node, reason: 'failed', until, detail: f.reason });
    } else if (view.standby.has(node)) {
      ineligible.push({ node, reason: 'standby', until: null, detail: 'node is in standby' });
    } else if (view.maintenanceNodes.has(node)) {
      ineligible.push({ node, reason: 'maintenance', until: null, detail: 'node is in maintenance' });
    } else if (!view.sessions.has(node)) {
      ineligible.push({ node, reason: 'offline', until: null, detail: 'node has no session' });
    }
  }
  return {
    name: group.name,
    redundancy: group.redundancy,
    failback: group.failback,
    candidates,
    maintenance: view.maintenanceGroups.has(group.name),
    assignment,
    pendingMove: view.moves.get(group.name) ?? null,
    nodes,
    failures: [...failures.values()],
    ineligible,
  };
}

export function statusOf(view: ClusterView, cluster: string, self: NodeId, wallNow: number): StatusResponse {
  const cfg = view.config?.config;
  return {
    cluster,
    servedBy: self,
    configVersion: view.config?.version ?? null,
    configAppliedAt: view.config?.appliedAt ?? null,
    controller: view.controller ? { node: view.controller.node, since: view.controller.since } : null,
    maintenance: view.maintenanceCluster,
    nodes: nodeViews(view),
    groups: cfg ? cfg.groups.map((g) => groupView(view, cfg, g, wallNow)) : [],
    warnings: [...view.warnings],
  };
}

/** The configured group, or HA_NOT_FOUND naming it and listing the known groups. */
export function findGroup(config: StoredConfig | undefined, group: string): GroupConfig {
  const groups = config?.config.groups ?? [];
  const g = groups.find((x) => x.name === group);
  if (g) return g;
  throw new ClusterError(
    'HA_NOT_FOUND',
    config === undefined
      ? `unknown group "${group}": no configuration has been applied yet`
      : `unknown group "${group}"; known groups: ${groups.length ? groups.map((x) => x.name).join(', ') : '(none)'}`,
  );
}

/** The configured node; otherwise HA_NOT_FOUND (path parameter) or HA_BAD_REQUEST naming `field` (body field), naming it and listing the known nodes. */
export function findNode(config: StoredConfig | undefined, node: string, field?: string): NodeId {
  const nodes = config?.config.nodes ?? [];
  const n = nodes.find((x) => x.name === node);
  if (n) return n.name;
  const prefix = field ? `${field}: ` : '';
  throw new ClusterError(
    field ? 'HA_BAD_REQUEST' : 'HA_NOT_FOUND',
    config === undefined
      ? `${prefix}unknown node "${node}": no configuration has been applied yet`
      : `${prefix}unknown node "${node}"; known nodes: ${nodes.map((x) => x.name).join(', ')}`,
  );
}

