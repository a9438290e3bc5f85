import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClusterSnapshot } from '../coord/snapshot.js';
import type { NodeId } from '../domain/ids.js';
import type { ClusterEvent } from '../domain/state.js';

/**
 * Prometheus metrics of one halo process. Every metric lives in the registry returned here (never
 * prom-client's global default registry), so several agents can run in one process (tests, demo)
 * without mixing their series. Durations are recorded in seconds, the Prometheus base unit; the
 * update methods take milliseconds, like the rest of halo.
 *
 * Who calls what:
 * - `updateFromSnapshot` after each observed snapshot (node online, group state on this node);
 * - `observeMonitor` after each monitor check;
 * - `countEvent` for each event this process appends (restarts by agents, failovers and
 *   switchovers by the controller: sum over instances for the cluster);
 * - `observeRenewal`, `setLoopLag`, `observeCoordRequest` from the agent's loops;
 * - `setMirrorLag` from replication.
 * The methods never throw and never do I/O.
 */

export const METRIC_NAMES = {
  nodeOnline: 'halo_node_online',
  groupState: 'halo_group_state',
  monitorOk: 'halo_monitor_ok',
  monitorCheck: 'halo_monitor_check_duration_seconds',
  restarts: 'halo_resource_restarts_total',
  failovers: 'halo_failovers_total',
  switchovers: 'halo_switchovers_total',
  leaseRenewal: 'halo_lease_renewal_duration_seconds',
  loopLag: 'halo_event_loop_lag_seconds',
  coordRequest: 'halo_coordinator_request_duration_seconds',
  mirrorLag: 'halo_mirror_lag_seconds',
} as const;

export interface MonitorObservation {
  readonly group: string;
  readonly resource: string;
  /** Monitor kind (tcp, http, command, ...), the `kind` of MonitorResult. */
  readonly monitor: string;
  readonly ok: boolean;
  readonly latencyMs: number;
}

export type CoordOutcome = 'ok' | 'error';

export interface Metrics {
  readonly registry: Registry;
  /**
   * Replace the state gauges from one snapshot: `halo_node_online{node}` for every node of the
   * configuration or with a session (1 = has a live session), and `halo_group_state{group,node,role,state}`
   * = 1 for each group `self` reports (its status record). Series of nodes and groups no longer
   * present disappear.
   */
  updateFromSnapshot(snapshot: ClusterSnapshot, self: NodeId): void;
  /** One monitor check: `halo_monitor_ok` (1/0) and `halo_monitor_check_duration_seconds`. */
  observeMonitor(m: MonitorObservation): void;
  /** Counts `resource-restarted`, `failed-over` and `switched-over`; other kinds are ignored. */
  countEvent(ev: ClusterEvent): void;
  /** Duration of one lease keep-alive round trip. */
  observeRenewal(ms: number): void;
  /** Latest measured event-loop lag. */
  setLoopLag(ms: number): void;
  /** Duration of one coordinator request (`op`: get, list, put, txn, ...). */
  observeCoordRequest(op: string, ms: number, outcome: CoordOutcome): void;
  /** Replication lag of one mirror (registered now; replication fills it). */
  setMirrorLag(group: string, resource: string, ms: number): void;
}

/** Buckets for short operations: 1 ms .. 10 s. */
const FAST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const seconds = (ms: number): number => (Number.isFinite(ms) ? Math.max(0, ms) / 1000 : 0);

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];

  const nodeOnline = new Gauge({ name: METRIC_NAMES.nodeOnline, help: '1 when the node holds a live session, else 0', labelNames: ['node'] as const, registers });
  const groupState = new Gauge({
    name: METRIC_NAMES.groupState,
    help: 'Group state reported by this node: 1 for the current role and state',
    labelNames: ['group', 'node', 'role', 'state'] as const,
    registers,
  });
  const monitorOk = new Gauge({ name: METRIC_NAMES.monitorOk, help: 'Last monitor result: 1 ok, 0 failed', labelNames: ['group', 'resource', 'monitor'] as const, registers });
  const monitorCheck = new Histogram({
    name: METRIC_NAMES.monitorCheck,
    help: 'Duration of monitor checks',
    labelNames: ['group', 'resource', 'monitor'] as const,
    buckets: FAST_BUCKETS,
    registers,
  });
  const restarts = new Counter({ name: METRIC_NAMES.restarts, help: 'Resources restarted in place by this node', labelNames: ['group', 'resource'] as const, registers });
  const failovers = new Counter({ name: METRIC_NAMES.failovers, help: 'Failovers decided by this node as controller', labelNames: ['group'] as const, registers });
  const switchovers = new Counter({ name: METRIC_NAMES.switchovers, help: 'Planned moves (switchover, evacuation, failback) completed by this node as controller', labelNames: ['group'] as const, registers });
  const leaseRenewal = new Histogram({ name: METRIC_NAMES.leaseRenewal, help: 'Duration of session lease renewals', buckets: FAST_BUCKETS, registers });
  const loopLag = new Gauge({ name: METRIC_NAMES.loopLag, help: 'Latest measured event-loop lag', registers });
  const coordRequest = new Histogram({
    name: METRIC_NAMES.coordRequest,
    help: 'Duration of coordinator requests',
    labelNames: ['op', 'outcome'] as const,
    buckets: FAST_BUCKETS,
    registers,
  });
  const mirrorLag = new Gauge({ name: METRIC_NAMES.mirrorLag, help: 'Replication lag of a mirror behind its active', labelNames: ['group', 'resource'] as const, registers });

  return {
    registry,
    updateFromSnapshot(snapshot, self) {
      nodeOnline.reset();
      const nodes = new Set<NodeId>(snapshot.config?.value.config.nodes.map((n) => n.name) ?? []);
      for (const n of snapshot.sessions.keys()) nodes.add(n);
      for (const n of [...nodes].sort()) nodeOnline.set({ node: n }, snapshot.sessions.has(n) ? 1 : 0);
      groupState.reset();
      for (const [group, st] of snapshot.status.get(self) ?? []) {
        groupState.set({ group, node: self, role: st.value.role, state: st.value.state }, 1);
      }
    },
    observeMonitor(m) {
      const labels = { group: m.group, resource: m.resource, monitor: m.monitor };
      monitorOk.set(labels, m.ok ? 1 : 0);
      monitorCheck.observe(labels, seconds(m.latencyMs));
    },
    countEvent(ev) {
      const group = ev.group ?? '';
      switch (ev.kind) {
        case 'resource-restarted':
          restarts.inc({ group, resource: ev.resource ?? '' });
          return;
        case 'failed-over':
          failovers.inc({ group });
          return;
        case 'switched-over':
          switchovers.inc({ group });
          return;
        default:
          return;
      }
    },
    observeRenewal(ms) {
      leaseRenewal.observe(seconds(ms));
    },
    setLoopLag(ms) {
      loopLag.set(seconds(ms));
    },
    observeCoordRequest(op, ms, outcome) {
      coordRequest.observe({ op, outcome }, seconds(ms));
    },
    setMirrorLag(group, resource, ms) {
      mirrorLag.set({ group, resource }, seconds(ms));
    },
  };
}
