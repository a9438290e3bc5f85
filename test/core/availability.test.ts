import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterAvailability, groupAvailability, ninesOf, type AvailabilityOptions } from '../../src/core/availability.js';
import { isClusterError } from '../../src/domain/errors.js';
import { parseGroupId, parseNodeId, parseResourceId, type GroupId } from '../../src/domain/ids.js';
import type { ClusterEvent, EventKind } from '../../src/domain/state.js';

const web = parseGroupId('web');
const db = parseGroupId('db');
const n1 = parseNodeId('n1');
const n2 = parseNodeId('n2');
const app = parseResourceId('app');

const T = 1_700_000_000_000;
const HOUR = 3_600_000;
const WINDOW: AvailabilityOptions = { from: T, to: T + HOUR };

function ev(kind: EventKind, at: number, node: string | null, more: { group?: GroupId | null; resource?: boolean; epoch?: number } = {}): ClusterEvent {
  return {
    at,
    kind,
    node: node === null ? null : parseNodeId(node),
    group: more.group === undefined ? web : more.group,
    resource: more.resource ? app : null,
    message: `${kind} on ${node ?? '-'}`,
    epoch: more.epoch ?? null,
  };
}

/** web placed and started on n1 well before the window. */
const startedOnN1 = (group: GroupId = web): ClusterEvent[] => [ev('group-placed', T - 60_000, 'n1', { group }), ev('group-started', T - 59_000, 'n1', { group })];

describe('groupAvailability', () => {
  test('no incidents: 100 %, nines null (infinite), no MTBF/MTTR', () => {
    const r = groupAvailability(web, [...startedOnN1(), ev('maintenance', T + 10, null)], WINDOW);
    assert.equal(r.observedFrom, T);
    assert.equal(r.observedMs, HOUR);
    assert.equal(r.downMs, 0);
    assert.equal(r.upMs, HOUR);
    assert.equal(r.uptime, 1);
    assert.equal(r.nines, null);
    assert.deepEqual(r.incidents, []);
    assert.deepEqual(r.planned, []);
    assert.equal(r.failures, 0);
    assert.equal(r.mtbfMs, null);
    assert.equal(r.mttrMs, null);
  });

  test('a process exit restarted in place: down from the exit, with no monitor allowance, until the group runs again', () => {
    const events = [
      ...startedOnN1(),
      ev('resource-exited', T + 600_000, 'n1', { resource: true }),
      ev('resource-restarted', T + 600_010, 'n1', { resource: true }),
      ev('group-started', T + 600_230, 'n1'),
    ];
    // Even with a slow monitor configured, an exit is known to the millisecond.
    const r = groupAvailability(web, events, { ...WINDOW, monitorDetectionMs: () => 5000 });
    assert.equal(r.incidents.length, 1);
    const i = r.incidents[0];
    assert.ok(i);
    assert.equal(i.cause.kind, 'resource-exited');
    assert.equal(i.downAt, T + 600_000);
    assert.equal(i.recoveredAt, T + 600_230);
    assert.equal(i.recoveryEstimated, false);
    assert.equal(i.outageMs, 230);
    assert.deepEqual(i.actions.map((a) => a.kind), ['restart']);
    assert.equal(r.downMs, 230);
  });

  test('a crash restarted in place: down from the exit to the restart (estimated end)', () => {
    const events = [
      ...startedOnN1(),
      ev('monitor-failed', T + 600_000, 'n1', { resource: true }),
      ev('resource-restarted', T + 600_050, 'n1', { resource: true }),
      // A later unrelated event on the group ends the restart's uncertainty; it is not an outage.
      ev('waiting', T + 700_000, null),
    ];
    const r = groupAvailability(web, events, WINDOW);
    assert.equal(r.incidents.length, 1);
    const i = r.incidents[0];
    assert.ok(i);
    assert.equal(i.cause.kind, 'monitor-failed');
    assert.equal(i.cause.resource, app);
    assert.equal(i.downAt, T + 600_000);
    assert.equal(i.detectedAt, T + 600_000);
    assert.equal(i.recoveredAt, T + 600_050);
    assert.equal(i.recoveryEstimated, true);
    assert.equal(i.recoveredOn, n1);
    assert.equal(i.detectionMs, 0);
    assert.equal(i.recoveryMs, 50);
    assert.equal(i.outageMs, 50);
    assert.equal(i.downInWindowMs, 50);
    assert.equal(i.rpoMs, null);
    assert.deepEqual(i.actions.map((a) => a.kind), ['restart']);
    assert.equal(r.downMs, 50);
    assert.equal(r.uptime, (HOUR - 50) / HOUR);
    assert.equal(r.failures, 1);
    assert.equal(r.mtbfMs, HOUR - 50);
    assert.equal(r.mttrMs, 50);
  });

  test('a hung application: detection counts from the first failing check; restarts that fail escalate to a failover', () => {
    const detected = T + 1_000_000;
    const events = [
      ...startedOnN1(),
      ev('monitor-failed', detected, 'n1', { resource: true }),
      ev('resource-restarted', detected + 100, 'n1', { resource: true }),
      // The start failed: a second attempt without a new failure report.
      ev('resource-restarted', detected + 1_100, 'n1', { resource: true }),
      ev('group-failed', detected + 2_100, 'n1', { resource: true }),
      ev('group-stopped', detected + 2_200, 'n1'),
      ev('failed-over', detected + 2_300, 'n2', { epoch: 2 }),
      ev('group-started', detected + 3_300, 'n2', { epoch: 2 }),
    ];
    // 3 failures 1 s apart: the first failing check was 2 s before the report.
    const r = groupAvailability(web, events, { ...WINDOW, monitorDetectionMs: (g) => (g === web ? 2_000 : 0) });
    assert.equal(r.incidents.length, 1);
    const i = r.incidents[0];
    assert.ok(i);
    assert.equal(i.cause.kind, 'monitor-failed');
    assert.equal(i.downAt, detected - 2_000);
    assert.equal(i.detectionMs, 2_000);
    assert.equal(i.recoveredAt, detected + 3_300);
    assert.equal(i.recoveryEstimated, false);
    assert.equal(i.recoveredOn, n2);
    assert.equal(i.recoveryMs, 3_300);
    assert.equal(i.outageMs, 5_300);
    assert.deepEqual(i.actions.map((a) => `${a.kind}@${a.at - detected}`), ['restart@100', 'restart@1100', 'failover@2300']);
    assert.equal(r.downMs, 5_300);
  });

  test('a node loss: down from the last moment the lease can have been renewed; stale copies on the returning node are not outages', () => {
    const lost = T + 1_800_000;
    const events = [
      ...startedOnN1(),
      ev('node-lost', lost, 'n1', { group: null }), // the controller's node-level event: not about the group
      ev('node-lost', lost + 10, 'n1', { epoch: 1 }),
      ev('failed-over', lost + 10, 'n2', { epoch: 2 }),
      ev('group-started', lost + 1_510, 'n2', { epoch: 2 }),
      // n1 comes back and reports its old copy stopped, and a late monitor result: not about the serving instance.
      ev('group-stopped', lost + 100_000, 'n1', { epoch: 1 }),
      ev('monitor-failed', lost + 100_001, 'n1', { resource: true }),
    ];
    const r = groupAvailability(web, events, { ...WINDOW, nodeLossDetectionMs: 2_000 });
    assert.equal(r.incidents.length, 1);
    const i = r.incidents[0];
    assert.ok(i);
    assert.equal(i.cause.kind, 'node-lost');
    assert.equal(i.cause.node, n1);
    assert.equal(i.detectedAt, lost + 10);
    assert.equal(i.downAt, lost + 10 - 2_000);
    assert.equal(i.detectionMs, 2_000);
    assert.equal(i.recoveryMs, 1_500);
    assert.equal(i.outageMs, 3_500);
    assert.deepEqual(i.actions.map((a) => [a.kind, a.node]), [['failover', n2]]);
    assert.equal(r.downMs, 3_500);
  });

  test('a self-fenced node: down when it fenced; the later node loss is the same incident', () => {
    const f = T + 100_000;
    const events = [
      ...startedOnN1(),
      ev('fenced', f, 'n1'),
      ev('group-stopped', f + 20, 'n1'),
      ev('node-lost', f + 3_000, 'n1'),
      ev('failed-over', f + 3_000, 'n2'),
      ev('group-started', f + 4_000, 'n2'),
    ];
    const r = groupAvailability(web, events, { ...WINDOW, nodeLossDetectionMs: 2_000 });
    assert.equal(r.incidents.length, 1);
    assert.equal(r.incidents[0]?.cause.kind, 'fenced');
    assert.equal(r.incidents[0]?.downAt, f);
    assert.equal(r.downMs, 4_000);
  });

  test('overlapping incidents are merged: a crash, then the node is lost while restarting', () => {
    const t = T + 200_000;
    const events = [
      ...startedOnN1(),
      ev('monitor-failed', t, 'n1', { resource: true }),
      ev('resource-restarted', t + 50, 'n1', { resource: true }),
      // Detected 1 s later with a 2 s lease: the node may have died before the restart was issued.
      ev('node-lost', t + 1_000, 'n1'),
      ev('failed-over', t + 1_000, 'n2'),
      ev('group-started', t + 2_000, 'n2'),
    ];
    const r = groupAvailability(web, events, { ...WINDOW, nodeLossDetectionMs: 2_000 });
    assert.equal(r.incidents.length, 1);
    const i = r.incidents[0];
    assert.ok(i);
    assert.equal(i.cause.kind, 'monitor-failed');
    assert.equal(i.downAt, t);
    assert.equal(i.detectedAt, t);
    assert.equal(i.recoveredAt, t + 2_000);
    assert.equal(i.recoveryEstimated, false);
    assert.equal(i.recoveredOn, n2);
    assert.deepEqual(i.actions.map((a) => a.kind), ['restart', 'failover']);
    assert.equal(r.downMs, 2_000);
    assert.equal(r.failures, 1);
  });

  test('separate incidents stay separate; MTBF and MTTR over them', () => {
    const events = [
      ...startedOnN1(),
      ev('monitor-failed', T + 100_000, 'n1', { resource: true }),
      ev('resource-restarted', T + 100_200, 'n1', { resource: true }),
      ev('monitor-failed', T + 2_000_000, 'n1', { resource: true }),
      ev('monitor-recovered', T + 2_000_600, 'n1', { resource: true }),
    ];
    const r = groupAvailability(web, events, WINDOW);
    assert.deepEqual(r.incidents.map((i) => [i.downAt - T, i.outageMs, i.recoveryEstimated]), [
      [100_000, 200, true],
      [2_000_000, 600, false],
    ]);
    assert.equal(r.downMs, 800);
    assert.equal(r.mttrMs, 400);
    assert.equal(r.mtbfMs, (HOUR - 800) / 2);
  });

  test('an incident open at the end of the window counts as down until the end', () => {
    const to = T + HOUR;
    const events = [
      ...startedOnN1(),
      ev('monitor-failed', to - 60_000, 'n1', { resource: true }),
      ev('group-failed', to - 59_000, 'n1', { resource: true }),
      ev('group-stopped', to - 58_000, 'n1'),
      // Recovery after the window: not known at `to`.
      ev('group-started', to + 1, 'n1'),
    ];
    const r = groupAvailability(web, events, WINDOW);
    assert.equal(r.incidents.length, 1);
    const i = r.incidents[0];
    assert.ok(i);
    assert.equal(i.recoveredAt, null);
    assert.equal(i.recoveryMs, null);
    assert.equal(i.outageMs, null);
    assert.equal(i.downInWindowMs, 60_000);
    assert.equal(r.open, 1);
    assert.equal(r.downMs, 60_000);
    assert.equal(r.mttrMs, null);
    assert.equal(r.mtbfMs, HOUR - 60_000);
  });

  test('window boundaries clip incidents; incidents wholly outside are left out', () => {
    const events = [
      ...startedOnN1(),
      // Before the window entirely.
      ev('monitor-failed', T - 30_000, 'n1', { resource: true }),
      ev('monitor-recovered', T - 29_000, 'n1', { resource: true }),
      // Across the start.
      ev('group-failed', T - 5_000, 'n1'),
      ev('failed-over', T - 4_000, 'n2'),
      ev('group-started', T + 7_000, 'n2'),
      // Across the end.
      ev('node-lost', T + HOUR - 3_000, 'n2'),
      ev('failed-over', T + HOUR - 3_000, 'n1'),
      ev('group-started', T + HOUR + 2_000, 'n1'),
    ];
    const r = groupAvailability(web, events, WINDOW);
    assert.deepEqual(
      r.incidents.map((i) => [i.cause.kind, i.downAt - T, i.recoveredAt === null ? null : i.recoveredAt - T, i.downInWindowMs]),
      [
        ['group-failed', -5_000, 7_000, 7_000],
        ['node-lost', HOUR - 3_000, null, 3_000],
      ],
    );
    assert.equal(r.incidents[0]?.outageMs, 12_000);
    assert.equal(r.downMs, 10_000);
    assert.equal(r.open, 1);
  });

  test('a planned switchover counts as downtime but is listed apart and kept out of MTBF/MTTR', () => {
    const t = T + 300_000;
    const events = [
      ...startedOnN1(),
      ev('group-stopped', t, 'n1'),
      ev('switched-over', t + 100, 'n2', { epoch: 2 }),
      ev('group-started', t + 900, 'n2', { epoch: 2 }),
    ];
    const r = groupAvailability(web, events, WINDOW);
    assert.deepEqual(r.incidents, []);
    assert.equal(r.planned.length, 1);
    const p = r.planned[0];
    assert.ok(p);
    assert.equal(p.planned, true);
    assert.equal(p.cause.kind, 'switchover');
    assert.equal(p.downAt, t);
    assert.equal(p.outageMs, 900);
    assert.deepEqual(p.actions.map((a) => [a.kind, a.node]), [['switchover', n2]]);
    assert.equal(r.downMs, 900);
    assert.equal(r.plannedDownMs, 900);
    assert.equal(r.plannedMoves, 1);
    assert.equal(r.failures, 0);
    assert.equal(r.mtbfMs, null);
    assert.equal(r.mttrMs, null);
  });

  test('an operator failover is an unplanned incident caused by the failover', () => {
    const events = [...startedOnN1(), ev('group-stopped', T + 10_000, 'n1'), ev('failed-over', T + 10_100, 'n2'), ev('group-started', T + 11_000, 'n2')];
    const r = groupAvailability(web, events, WINDOW);
    assert.equal(r.incidents[0]?.cause.kind, 'failover');
    assert.equal(r.incidents[0]?.planned, false);
    assert.equal(r.downMs, 1_000);
  });

  test('a group deployed during the window is accounted from its first start; the first start is not an outage', () => {
    const events = [ev('group-placed', T + 1_000, 'n1'), ev('resource-restarted', T + 1_500, 'n1', { resource: true }), ev('group-started', T + 3_000, 'n1')];
    const r = groupAvailability(web, events, WINDOW);
    assert.equal(r.observedFrom, T + 3_000);
    assert.equal(r.observedMs, HOUR - 3_000);
    assert.equal(r.uptime, 1);
    assert.deepEqual(r.incidents, []);
  });

  test('a group never started is not accounted', () => {
    const r = groupAvailability(web, [ev('group-placed', T + 1_000, 'n1')], WINDOW);
    assert.equal(r.observedFrom, null);
    assert.equal(r.observedMs, 0);
    assert.equal(r.uptime, null);
    assert.equal(r.nines, null);
  });

  test('a window that ends before it starts is a bad request', () => {
    assert.throws(() => groupAvailability(web, [], { from: T, to: T - 1 }), (e: unknown) => isClusterError(e, 'HA_BAD_REQUEST'));
  });
});

describe('nines and the cluster roll-up', () => {
  test('99.95 % is 3.3 nines; 100 % has no finite number of nines', () => {
    assert.ok(Math.abs((ninesOf(0.9995) ?? 0) - 3.30103) < 1e-5);
    assert.ok(Math.abs((ninesOf(0.99) ?? 0) - 2) < 1e-9);
    assert.equal(ninesOf(0), 0);
    assert.equal(ninesOf(1), null);
    assert.equal(ninesOf(null), null);
  });

  test('a group down 0.05 % of the window reports 3.3 nines', () => {
    const events = [...startedOnN1(), ev('group-stopped', T + 1_000, 'n1'), ev('group-started', T + 1_000 + 1_800, 'n1')];
    const r = groupAvailability(web, events, WINDOW);
    assert.equal(r.downMs, 1_800);
    assert.ok(Math.abs((r.uptime ?? 0) - 0.9995) < 1e-12);
    assert.ok(Math.abs((r.nines ?? 0) - 3.30103) < 1e-5);
  });

  test('roll-up is time-weighted over groups; groups without events count as up', () => {
    const events = [
      ...startedOnN1(web),
      ...startedOnN1(db),
      ev('monitor-failed', T + 10_000, 'n1', { resource: true, group: db }),
      ev('monitor-recovered', T + 10_500, 'n1', { resource: true, group: db }),
      ev('group-stopped', T + 20_000, 'n1', { group: web }),
      ev('switched-over', T + 20_100, 'n2', { group: web }),
      ev('group-started', T + 20_300, 'n2', { group: web }),
    ];
    const quiet = parseGroupId('quiet');
    const r = clusterAvailability(events, { ...WINDOW, groups: [web, db, quiet] });
    assert.deepEqual(r.groups.map((g) => [g.group, g.downMs]), [
      [web, 300],
      [db, 500],
      [quiet, 0],
    ]);
    assert.equal(r.observedMs, 3 * HOUR);
    assert.equal(r.downMs, 800);
    assert.equal(r.plannedDownMs, 300);
    assert.equal(r.uptime, (3 * HOUR - 800) / (3 * HOUR));
    assert.equal(r.failures, 1);
    assert.equal(r.plannedMoves, 1);
    assert.equal(r.mttrMs, 500);
    assert.equal(r.mtbfMs, 3 * HOUR - 800);
    // Default group list: every group named in the events, sorted.
    assert.deepEqual(clusterAvailability(events, WINDOW).groups.map((g) => g.group), [db, web]);
  });
});
