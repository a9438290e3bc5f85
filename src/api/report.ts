import type { FastifyInstance } from 'fastify';
import type { Coordinator } from '../coord/coordinator.js';
import { clusterAvailability, type GroupAvailability, type Incident } from '../core/availability.js';
import type { HaloConfig } from '../domain/config.js';
import { groupFilter } from './auth.js';
import { ClusterError } from '../domain/errors.js';
import type { GroupId, NodeId } from '../domain/ids.js';
import { listEvents } from '../observability/events.js';
import type { Clock } from '../platform/clock.js';
import { parseRequest } from './errors.js';
import { readStoredConfig } from './observe.js';
import { ReportQuerySchema, type GroupAvailabilityBody, type IncidentBody, type ReportResponse, type TimeRef } from './schemas.js';

export interface ReportRouteDeps {
  readonly coord: Coordinator;
  readonly cluster: string;
  readonly self: NodeId;
  readonly clock: Clock;
}

const DAY_MS = 86_400_000;

const resolve = (t: TimeRef, now: number): number => (t.kind === 'at' ? t.at : now - t.ms);

/**
 * How long before a monitor failure is reported the group's checks were already failing: the
 * slowest monitor's (failureThreshold - 1) intervals, i.e. the first failing check.
 */
export function monitorDetectionMs(config: HaloConfig, group: GroupId): number {
  const g = config.groups.find((x) => x.name === group);
  if (g === undefined) return 0;
  let worst = 0;
  for (const r of g.resources) for (const m of r.monitors) worst = Math.max(worst, (m.failureThreshold - 1) * m.intervalMs);
  return worst;
}

function incidentBody(i: Incident): IncidentBody {
  return { ...i, cause: { ...i.cause }, actions: i.actions.map((a) => ({ ...a })) };
}

function groupBody(g: GroupAvailability): GroupAvailabilityBody {
  return { ...g, incidents: g.incidents.map(incidentBody), planned: g.planned.map(incidentBody) };
}

/**
 * GET /v1/report: availability of every configured group (or one) over a window, computed from
 * the event log by the pure accounting in core/availability.ts. Detection allowances come from the
 * applied configuration: the lease TTL for node loss, the monitors' thresholds for monitor failures.
 */
export function registerReportRoute(app: FastifyInstance, deps: ReportRouteDeps): void {
  const { coord, cluster, self, clock } = deps;
  app.get('/v1/report', async (req): Promise<ReportResponse> => {
    const q = parseRequest(ReportQuerySchema, req.query, 'query');
    const now = clock.wallNow();
    const to = Math.min(now, q.until === undefined ? now : resolve(q.until, now));
    const from = q.since === undefined ? to - DAY_MS : resolve(q.since, now);
    if (from > to) {
      throw new ClusterError('HA_BAD_REQUEST', `query.since: the window starts (${new Date(from).toISOString()}) after it ends (${new Date(to).toISOString()})`);
    }
    const [stored, list] = await Promise.all([readStoredConfig(coord, cluster), listEvents(coord, cluster)]);
    const config = stored?.stored.config;
    const events = list.events.map((e) => e.event);
    // The configured groups; without a configuration, every group the log names.
    const visible = groupFilter(req.identity, config);
    const known: GroupId[] = (config
      ? config.groups.map((g) => g.name)
      : [...new Set(events.flatMap((e) => (e.group === null ? [] : [e.group])))].sort()).filter(visible);
    let groups = known;
    if (q.group !== undefined) {
      const g = q.group;
      if (!known.includes(g) && !(visible(g) && events.some((e) => e.group === g))) {
        throw new ClusterError('HA_NOT_FOUND', `unknown group "${g}": not in the configuration and not in the event log; known groups: ${known.join(', ') || '(none)'}`);
      }
      groups = [g];
    }
    const report = clusterAvailability(events, {
      from,
      to,
      groups,
      ...(config ? { nodeLossDetectionMs: config.timing.leaseTtlMs, monitorDetectionMs: (g: GroupId) => monitorDetectionMs(config, g) } : {}),
    });
    const { groups: perGroup, from: _f, to: _t, ...summary } = report;
    void _f;
    void _t;
    const warnings = list.malformed.map((k) => `${k}: event record does not parse; left out of the report`);
    return { cluster, servedBy: self, from, to, summary, groups: perGroup.map(groupBody), warnings };
  });
}
