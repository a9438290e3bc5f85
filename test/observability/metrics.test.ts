import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSnapshot } from '../../src/coord/snapshot.js';
import type { KeyValue } from '../../src/coord/coordinator.js';
import { parseConfigText } from '../../src/config/index.js';
import { parseGroupId, parseNodeId, parseResourceId, parseRevision } from '../../src/domain/ids.js';
import { clusterKeys } from '../../src/domain/keys.js';
import type { ClusterEvent, GroupStatus, NodeSession, StoredConfig } from '../../src/domain/state.js';
import { METRIC_NAMES, createMetrics } from '../../src/observability/metrics.js';

/**
 * A strict parser of the Prometheus text exposition format 0.0.4: every line is a comment
 * (# HELP / # TYPE), blank, or a sample `name{label="value",...} value`. Anything else fails.
 * TYPE must come before a family's samples and name a known type; sample names must belong to the
 * family of the last TYPE (with _bucket/_sum/_count for histograms).
 */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}
interface Family {
  readonly name: string;
  readonly type: string;
  help: string | null;
  readonly samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string, line: number): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value "${s}"`);
  return Number(s);
}

function parseLabels(s: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without "="`);
    const key = s.slice(i, eq);
    if (!LABEL.test(key)) throw new Error(`line ${line}: bad label name "${key}"`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value not quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const c = s[j];
      if (c === undefined) throw new Error(`line ${line}: unterminated label value`);
      if (c === '\\') {
        const n = s[j + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`line ${line}: bad escape`);
        j += 2;
        continue;
      }
      if (c === '"') break;
      value += c;
      j++;
    }
    if (key in labels) throw new Error(`line ${line}: duplicate label "${key}"`);
    labels[key] = value;
    i = j + 1;
    if (i < s.length) {
      if (s[i] !== ',') throw new Error(`line ${line}: expected "," between labels`);
      i++;
    }
  }
  return labels;
}

function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  const lines = text.split('\n');
  lines.forEach((raw, idx) => {
    const n = idx + 1;
    if (raw === '') return;
    if (raw.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(raw);
      if (!m) return; // plain comment
      const [, what, name = '', rest = ''] = m;
      if (!NAME.test(name)) throw new Error(`line ${n}: bad metric name "${name}"`);
      if (what === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`line ${n}: bad type "${rest}"`);
        if (families.has(name) && families.get(name)?.type !== undefined && families.get(name)?.samples.length) throw new Error(`line ${n}: TYPE after samples`);
        const help = families.get(name)?.help ?? null;
        current = { name, type: rest, help, samples: [] };
        families.set(name, current);
      } else {
        const f = families.get(name);
        if (f) f.help = rest;
        else families.set(name, { name, type: 'untyped', help: rest, samples: [] });
        current = families.get(name);
      }
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(raw);
    if (!m) throw new Error(`line ${n}: not a sample: ${raw}`);
    const [, name = '', , labelText, value = ''] = m;
    if (!current) throw new Error(`line ${n}: sample before any TYPE`);
    const base = current.name;
    const allowed = current.type === 'histogram' ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : current.type === 'summary' ? [base, `${base}_sum`, `${base}_count`] : [base];
    if (!allowed.includes(name)) throw new Error(`line ${n}: sample ${name} outside its family ${base}`);
    current.samples.push({ name, labels: labelText === undefined ? {} : parseLabels(labelText, n), value: parseValue(value, n) });
  });
  return families;
}

function sample(f: Map<string, Family>, family: string, name: string, labels: Record<string, string>): number | undefined {
  const s = f.get(family)?.samples.find((x) => x.name === name && Object.keys(labels).every((k) => x.labels[k] === labels[k]) && Object.keys(x.labels).length >= Object.keys(labels).length);
  return s?.value;
}

const CLUSTER = 'demo';
const keys = clusterKeys(CLUSTER);
const n1 = parseNodeId('n1');

function snapshotOf(records: Record<string, unknown>) {
  const entries = new Map<string, KeyValue>();
  let rev = 1;
  for (const [key, value] of Object.entries(records)) {
    entries.set(key, { key, value: JSON.stringify(value), createRevision: parseRevision(rev), modRevision: parseRevision(rev), version: 1, lease: null });
    rev++;
  }
  return parseSnapshot(CLUSTER, entries, rev);
}

function config(): StoredConfig {
  const r = parseConfigText(
    `cluster: demo\ncoordinator:\n  kind: memory\nnodes:\n  - name: n1\n    apiPort: 7401\n  - name: n2\n    apiPort: 7402\n  - name: n3\n    apiPort: 7403\ngroups:\n  - name: web\n    resources:\n      - name: app\n        type: process\n        command: /bin/true\n`,
    'halo.yaml',
  );
  if (!r.ok) throw new Error('test config does not parse');
  return { version: 1, appliedAt: 1, source: '', config: r.config };
}

const session = (node: string): NodeSession => ({ node: parseNodeId(node), sessionId: `s-${node}`, pid: 1, startedAt: 1, apiUrl: 'http://127.0.0.1:1', leaseTtlMs: 2000 });
const status = (node: string, state: GroupStatus['state']): GroupStatus => ({
  node: parseNodeId(node),
  group: parseGroupId('web'),
  epoch: 1,
  role: state === 'running' ? 'active' : 'none',
  state,
  resources: [],
  updatedAt: 1,
  detail: '',
});
const event = (kind: ClusterEvent['kind']): ClusterEvent => ({ at: 1, kind, node: n1, group: parseGroupId('web'), resource: parseResourceId('app'), message: kind, epoch: 1 });

describe('metrics', () => {
  test('the exposition parses strictly and holds every series', async () => {
    const m = createMetrics();
    m.updateFromSnapshot(
      snapshotOf({
        [keys.config]: config(),
        [keys.node(n1)]: session('n1'),
        [keys.node(parseNodeId('n2'))]: session('n2'),
        [keys.status(n1, parseGroupId('web'))]: status('n1', 'running'),
        [keys.status(parseNodeId('n2'), parseGroupId('web'))]: status('n2', 'stopped'),
      }),
      n1,
    );
    m.observeMonitor({ group: 'web', resource: 'app', monitor: 'tcp', ok: true, latencyMs: 3 });
    m.observeMonitor({ group: 'web', resource: 'app', monitor: 'http', ok: false, latencyMs: 1200 });
    m.countEvent(event('resource-restarted'));
    m.countEvent(event('resource-restarted'));
    m.countEvent(event('failed-over'));
    m.countEvent(event('switched-over'));
    m.countEvent(event('monitor-failed'));
    m.observeRenewal(4);
    m.observeRenewal(40);
    m.setLoopLag(250);
    m.observeCoordRequest('txn', 7, 'ok');
    m.observeCoordRequest('get', 5000, 'error');
    m.setMirrorLag('web', 'data', 1500);

    const text = await m.registry.metrics();
    const f = parseExposition(text);
    for (const name of Object.values(METRIC_NAMES)) {
      const fam = f.get(name);
      assert.ok(fam, `missing family ${name}`);
      assert.ok(fam.samples.length > 0, `no samples for ${name}`);
      assert.ok(fam.help !== null && fam.help.length > 0, `no HELP for ${name}`);
    }
    // Nothing from prom-client's default collectors: this registry has only halo's metrics.
    assert.deepEqual([...f.keys()].filter((k) => !k.startsWith('halo_')), []);

    assert.equal(f.get(METRIC_NAMES.nodeOnline)?.type, 'gauge');
    assert.equal(sample(f, METRIC_NAMES.nodeOnline, 'halo_node_online', { node: 'n1' }), 1);
    assert.equal(sample(f, METRIC_NAMES.nodeOnline, 'halo_node_online', { node: 'n2' }), 1);
    assert.equal(sample(f, METRIC_NAMES.nodeOnline, 'halo_node_online', { node: 'n3' }), 0);
    // Only the group states this node reports.
    assert.deepEqual(f.get(METRIC_NAMES.groupState)?.samples, [{ name: 'halo_group_state', labels: { group: 'web', node: 'n1', role: 'active', state: 'running' }, value: 1 }]);
    assert.equal(sample(f, METRIC_NAMES.monitorOk, 'halo_monitor_ok', { monitor: 'tcp' }), 1);
    assert.equal(sample(f, METRIC_NAMES.monitorOk, 'halo_monitor_ok', { monitor: 'http' }), 0);
    assert.equal(f.get(METRIC_NAMES.monitorCheck)?.type, 'histogram');
    assert.equal(sample(f, METRIC_NAMES.monitorCheck, 'halo_monitor_check_duration_seconds_sum', { monitor: 'http' }), 1.2);
    assert.equal(sample(f, METRIC_NAMES.monitorCheck, 'halo_monitor_check_duration_seconds_bucket', { monitor: 'http', le: '1' }), 0);
    assert.equal(sample(f, METRIC_NAMES.monitorCheck, 'halo_monitor_check_duration_seconds_bucket', { monitor: 'http', le: '2.5' }), 1);
    assert.equal(f.get(METRIC_NAMES.restarts)?.type, 'counter');
    assert.equal(sample(f, METRIC_NAMES.restarts, 'halo_resource_restarts_total', { group: 'web', resource: 'app' }), 2);
    assert.equal(sample(f, METRIC_NAMES.failovers, 'halo_failovers_total', { group: 'web' }), 1);
    assert.equal(sample(f, METRIC_NAMES.switchovers, 'halo_switchovers_total', { group: 'web' }), 1);
    assert.equal(sample(f, METRIC_NAMES.leaseRenewal, 'halo_lease_renewal_duration_seconds_count', {}), 2);
    assert.equal(sample(f, METRIC_NAMES.leaseRenewal, 'halo_lease_renewal_duration_seconds_bucket', { le: '0.005' }), 1);
    assert.equal(sample(f, METRIC_NAMES.loopLag, 'halo_event_loop_lag_seconds', {}), 0.25);
    assert.equal(sample(f, METRIC_NAMES.coordRequest, 'halo_coordinator_request_duration_seconds_count', { op: 'get', outcome: 'error' }), 1);
    assert.equal(sample(f, METRIC_NAMES.mirrorLag, 'halo_mirror_lag_seconds', { group: 'web', resource: 'data' }), 1.5);
  });

  test('a later snapshot replaces the state series; registries are independent', async () => {
    const m = createMetrics();
    m.updateFromSnapshot(snapshotOf({ [keys.config]: config(), [keys.node(n1)]: session('n1'), [keys.status(n1, parseGroupId('web'))]: status('n1', 'running') }), n1);
    m.updateFromSnapshot(snapshotOf({ [keys.status(n1, parseGroupId('web'))]: status('n1', 'stopping') }), n1);
    const f = parseExposition(await m.registry.metrics());
    assert.deepEqual(f.get(METRIC_NAMES.nodeOnline)?.samples, []);
    assert.deepEqual(
      f.get(METRIC_NAMES.groupState)?.samples.map((s) => s.labels['state']),
      ['stopping'],
    );
    const other = createMetrics();
    other.setLoopLag(5);
    assert.equal(sample(parseExposition(await m.registry.metrics()), METRIC_NAMES.loopLag, 'halo_event_loop_lag_seconds', {}), 0);
  });

  test('the parser rejects what Prometheus would reject', () => {
    assert.throws(() => parseExposition('# TYPE x gauge\nx{a="1} 1\n'), /unterminated/);
    assert.throws(() => parseExposition('# TYPE x gauge\ny 1\n'), /outside its family/);
    assert.throws(() => parseExposition('x 1\n'), /before any TYPE/);
    assert.throws(() => parseExposition('# TYPE x gauge\nx one\n'), /bad value/);
  });
});
