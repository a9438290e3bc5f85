import assert from 'node:assert/strict';
import { HaloConfigSchema, type HaloConfig } from '../../src/domain/config.js';
import { parseGroupId, parseNodeId, parseResourceId, parseRevision, type GroupId, type NodeId, type Revision } from '../../src/domain/ids.js';
import type { Assignment, DrainReport, FailureRecord, GroupStatus, MirrorSyncRecord, MoveIntent, NodeSession, TransitionKind } from '../../src/domain/state.js';
import type { ControllerAction, GroupDecision, PlanInput, PlanOutput, Versioned } from '../../src/core/plan.js';

/** Typed builders for controller snapshots. Names are plain strings here and parsed once. */

export const n = (s: string): NodeId => parseNodeId(s);
export const g = (s: string): GroupId => parseGroupId(s);

export const T0 = 1_700_000_000_000;

export interface GroupSpec {
  readonly redundancy?: 'none' | 'active-standby' | 'n-way';
  readonly preferredNodes?: readonly string[];
  readonly standbys?: number;
  readonly failback?: 'manual' | 'auto';
  readonly failureTimeoutMs?: number;
  /** An http endpoint with this drainTimeoutMs (ports fixed per group index). */
  readonly endpointDrainMs?: number;
  /** Adds a mirror resource named 'data' (port 7600). */
  readonly mirror?: { readonly mode: 'sync' | 'async'; readonly allowDataLoss?: boolean };
}

export interface AssignmentSpec {
  readonly active: string | null;
  readonly epoch?: number;
  readonly standbys?: readonly string[];
  readonly transition?: { readonly kind: TransitionKind; readonly from: string; readonly to?: string | null; readonly startedAt?: number; readonly drainUntil?: number } | null;
}

export interface StatusSpec {
  readonly state: GroupStatus['state'];
  readonly epoch: number;
  readonly role?: GroupStatus['role'];
  readonly detail?: string;
}

export class ClusterBuilder {
  private nodes: string[] = [];
  private groups: { name: string; spec: GroupSpec }[] = [];
  private now = T0;
  private nextRevision = 100;
  private readonly sessions = new Map<NodeId, NodeSession>();
  private readonly assignments = new Map<GroupId, Versioned<Assignment>>();
  private readonly status = new Map<NodeId, Map<GroupId, GroupStatus>>();
  private readonly failures: Versioned<FailureRecord>[] = [];
  private clusterMaintenance = false;
  private readonly groupMaintenance = new Set<GroupId>();
  private readonly nodeMaintenance = new Set<NodeId>();
  private readonly standbyNodes = new Set<NodeId>();
  private readonly moves = new Map<GroupId, Versioned<MoveIntent>>();
  private readonly drains = new Map<GroupId, Map<NodeId, DrainReport>>();
  private readonly mirrors = new Map<GroupId, MirrorSyncRecord[]>();

  private rev(): Revision {
    this.nextRevision += 1;
    return parseRevision(this.nextRevision);
  }

  at(now: number): this {
    this.now = now;
    return this;
  }

  withNodes(...names: string[]): this {
    this.nodes.push(...names);
    return this;
  }

  withGroup(name: string, spec: GroupSpec = {}): this {
    this.groups.push({ name, spec });
    return this;
  }

  /** Live sessions (leases) for these nodes. */
  withSession(...nodes: string[]): this {
    for (const node of nodes) {
      this.sessions.set(n(node), { node: n(node), sessionId: `s-${node}`, pid: 1000, startedAt: T0 - 60_000, apiUrl: `http://127.0.0.1:0`, leaseTtlMs: 2000 });
    }
    return this;
  }

  /** Sessions for every configured node. */
  withAllSessions(): this {
    return this.withSession(...this.nodes);
  }

  withoutSession(...nodes: string[]): this {
    for (const node of nodes) this.sessions.delete(n(node));
    return this;
  }

  withAssignment(group: string, a: AssignmentSpec): this {
    const t = a.transition ?? null;
    this.assignments.set(g(group), {
      revision: this.rev(),
      value: {
        group: g(group),
        epoch: a.epoch ?? 1,
        active: a.active === null ? null : n(a.active),
        standbys: (a.standbys ?? []).map(n),
        transition:
          t === null
            ? null
            : {
                kind: t.kind,
                from: n(t.from),
                to: t.to === undefined || t.to === null ? null : n(t.to),
                startedAt: t.startedAt ?? this.now - 1000,
                reason: 'test',
                ...(t.drainUntil === undefined ? {} : { drainUntil: t.drainUntil }),
              },
        updatedAt: this.now - 5000,
      },
    });
    return this;
  }

  withStatus(node: string, group: string, s: StatusSpec): this {
    let m = this.status.get(n(node));
    if (m === undefined) {
      m = new Map();
      this.status.set(n(node), m);
    }
    m.set(g(group), {
      node: n(node),
      group: g(group),
      epoch: s.epoch,
      role: s.role ?? 'none',
      state: s.state,
      resources: [],
      updatedAt: this.now - 100,
      detail: s.detail ?? '',
    });
    return this;
  }

  /** `node`'s endpoints of `group` report drained for the transition (epoch, startedAt). */
  withDrainReport(group: string, node: string, epoch: number, startedAt: number): this {
    let m = this.drains.get(g(group));
    if (m === undefined) {
      m = new Map();
      this.drains.set(g(group), m);
    }
    m.set(n(node), { node: n(node), group: g(group), epoch, startedAt, at: this.now - 10 });
    return this;
  }

  withFailure(group: string, node: string, at: number, epoch = 1): this {
    this.failures.push({ revision: this.rev(), value: { group: g(group), node: n(node), epoch, at, reason: 'restart limit reached' } });
    return this;
  }

  withClusterMaintenance(): this {
    this.clusterMaintenance = true;
    return this;
  }

  withGroupMaintenance(group: string): this {
    this.groupMaintenance.add(g(group));
    return this;
  }

  withNodeMaintenance(node: string): this {
    this.nodeMaintenance.add(n(node));
    return this;
  }

  /** Drained by an operator. */
  withStandbyNode(node: string): this {
    this.standbyNodes.add(n(node));
    return this;
  }

  withMove(group: string, kind: MoveIntent['kind'], to: string | null): this {
    this.moves.set(g(group), { revision: this.rev(), value: { id: `m-${group}`, kind, to: to === null ? null : n(to), at: this.now - 10, by: 'alice' } });
    return this;
  }

  /** mirror/<group>/data as the active `node` published it at `epoch`. */
  withMirrorRecord(
    group: string,
    r: { readonly node: string; readonly epoch: number; readonly inSync: readonly string[]; readonly mode?: 'sync' | 'async'; readonly standbys?: MirrorSyncRecord['standbys'] },
  ): this {
    const rec: MirrorSyncRecord = {
      group: g(group),
      resource: parseResourceId('data'),
      epoch: r.epoch,
      node: n(r.node),
      mode: r.mode ?? 'sync',
      inSync: r.inSync.map(n),
      totalBytes: 0,
      standbys: r.standbys ?? [],
      updatedAt: this.now - 100,
    };
    this.mirrors.set(g(group), [...(this.mirrors.get(g(group)) ?? []), rec]);
    return this;
  }

  config(): HaloConfig {
    return HaloConfigSchema.parse({
      cluster: 'test',
      nodes: this.nodes.map((name, i) => ({ name, apiPort: 7500 + i })),
      groups: this.groups.map(({ name, spec }, gi) => ({
        name,
        ...(spec.redundancy === undefined ? {} : { redundancy: spec.redundancy }),
        ...(spec.preferredNodes === undefined ? {} : { preferredNodes: spec.preferredNodes }),
        ...(spec.standbys === undefined ? {} : { standbys: spec.standbys }),
        ...(spec.failback === undefined ? {} : { failback: spec.failback }),
        ...(spec.failureTimeoutMs === undefined ? {} : { recovery: { failureTimeoutMs: spec.failureTimeoutMs } }),
        resources: [
          { name: 'app', type: 'process', command: 'true' },
          ...(spec.mirror ? [{ name: 'data', type: 'mirror', path: '/srv/data', port: 7600, mode: spec.mirror.mode, allowDataLoss: spec.mirror.allowDataLoss ?? false }] : []),
        ],
        ...(spec.endpointDrainMs === undefined
          ? {}
          : { endpoints: [{ name: 'front', mode: 'http', port: 9000 + gi, backendPort: 8000 + gi, drainTimeoutMs: spec.endpointDrainMs }] }),
      })),
      // A mirror requires the cluster's certificates (only named here: decisions never read them).
      ...(this.groups.some(({ spec }) => spec.mirror) ? { security: { tls: { ca: '/etc/halo/ca.crt', cert: '/etc/halo/${HALO_NODE}.crt', key: '/etc/halo/${HALO_NODE}.key' } } } : {}),
    });
  }

  build(): PlanInput {
    return {
      now: this.now,
      self: n(this.nodes[0] ?? 'n1'),
      config: this.config(),
      sessions: new Map(this.sessions),
      assignments: new Map(this.assignments),
      status: new Map([...this.status].map(([k, v]) => [k, new Map(v)])),
      failures: [...this.failures],
      maintenance: { cluster: this.clusterMaintenance, groups: new Set(this.groupMaintenance), nodes: new Set(this.nodeMaintenance) },
      standbyNodes: new Set(this.standbyNodes),
      moves: new Map(this.moves),
      drains: new Map([...this.drains].map(([k, v]) => [k, new Map(v)])),
      ...(this.mirrors.size > 0 ? { mirrors: new Map(this.mirrors) } : {}),
    };
  }
}

export const aCluster = (): ClusterBuilder => new ClusterBuilder();

/** The decision for `group`; fails the test when there is not exactly one. */
export function decisionFor(out: PlanOutput, group: string): GroupDecision {
  const ds = out.decisions.filter((d) => d.group === group);
  assert.equal(ds.length, 1, `expected one decision for ${group}, got ${ds.length}`);
  const [d] = ds;
  assert.ok(d);
  return d;
}

export type WriteAction = Extract<ControllerAction, { kind: 'writeAssignment' }>;

export function writesOf(d: GroupDecision): WriteAction[] {
  return d.actions.filter((a): a is WriteAction => a.kind === 'writeAssignment');
}

/** The single assignment write of a decision; fails the test otherwise. */
export function onlyWrite(d: GroupDecision): WriteAction {
  const ws = writesOf(d);
  assert.equal(ws.length, 1, `expected one assignment write, got ${JSON.stringify(d.actions)} (${d.reason.code}: ${d.reason.message})`);
  const [w] = ws;
  assert.ok(w);
  return w;
}

/** Apply a decision's writes to a snapshot, as the driver would after its CAS succeeded. */
export function applyDecision(input: PlanInput, d: GroupDecision): PlanInput {
  const assignments = new Map(input.assignments);
  const moves = new Map(input.moves);
  let failures = [...input.failures];
  let r = 10_000;
  for (const a of d.actions) {
    r += 1;
    switch (a.kind) {
      case 'writeAssignment':
        assignments.set(a.group, { value: a.assignment, revision: parseRevision(r) });
        if (a.consumeMove !== undefined) moves.delete(a.group);
        break;
      case 'deleteAssignment':
        assignments.delete(a.group);
        break;
      case 'rejectMove':
        moves.delete(a.group);
        break;
      case 'deleteFailure':
        failures = failures.filter((f) => !(f.value.group === a.group && f.value.node === a.node));
        break;
    }
  }
  return { ...input, assignments, moves, failures };
}
