import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { explainTiming, formatIssues, hangDetectionMs, loadConfigFile, parseConfigText, timingBounds } from '../../src/config/index.js';
import type { HaloConfig } from '../../src/domain/config.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

function parse(text: string): HaloConfig {
  const r = parseConfigText(text, 'halo.yaml');
  if (!r.ok) assert.fail(formatIssues(r.issues));
  return r.config;
}

const base = (timing: string, monitor = ''): string =>
  [
    'cluster: t',
    'nodes: [{ name: n1, apiPort: 7401 }, { name: n2, apiPort: 7402 }]',
    `timing: { ${timing} }`,
    'groups:',
    '  - name: g',
    '    resources:',
    '      - name: r',
    '        type: process',
    '        command: sleep',
    '        startTimeoutMs: 3000',
    monitor === '' ? '' : `        monitors: [ ${monitor} ]`,
    '',
  ].join('\n');

describe('timingBounds', () => {
  test('demo timing: 1250 ms to reassign, fence 700 ms after last renewal', async () => {
    const r = await loadConfigFile(join(EXAMPLES, 'demo.yaml'));
    assert.ok(r.ok);
    // fast failures: attempts at 150, 300, 450, 600; hanging ones (abandoned after 300 ms): at 150, 600
    assert.deepEqual(timingBounds(r.config), { nodeLossDetectMs: 1250, selfFenceAfterMs: 700, tolerableLostRenewals: 3, tolerableHungRenewals: 1 });
  });

  test('defaults: ttl 2000, renew 300, margin 500, reconcile 250', () => {
    // deadline 1500: fast attempts at 300, 600, 900, 1200; hanging ones at 300, 1200
    assert.deepEqual(timingBounds(parse(base(''))), { nodeLossDetectMs: 2250, selfFenceAfterMs: 1500, tolerableLostRenewals: 3, tolerableHungRenewals: 1 });
  });

  test('renewal exactly dividing the deadline leaves no attempt at the deadline itself', () => {
    // deadline 1000, renew 250: fast attempts at 250, 500, 750 (1000 is too late); hanging: 250 only (the next would go at 1000)
    const cfg = parse(base('leaseTtlMs: 1500, renewIntervalMs: 250, safetyMarginMs: 500, reconcileIntervalMs: 100'));
    assert.deepEqual(timingBounds(cfg), { nodeLossDetectMs: 1600, selfFenceAfterMs: 1000, tolerableLostRenewals: 2, tolerableHungRenewals: 0 });
  });

  test('at the smallest ratio the schema allows, one hung renewal fences the node', () => {
    // deadline 600 = 2 x 300: fast attempts at 300 only; a hung one at 300 is abandoned at 900
    const cfg = parse(base('leaseTtlMs: 1100, renewIntervalMs: 300, safetyMarginMs: 500'));
    assert.deepEqual(timingBounds(cfg), { nodeLossDetectMs: 1350, selfFenceAfterMs: 600, tolerableLostRenewals: 0, tolerableHungRenewals: 0 });
  });
});

describe('hangDetectionMs', () => {
  test('failureThreshold x (interval + timeout): the next check starts an interval after the previous one ended', () => {
    const cfg = parse(base('', '{ kind: tcp, port: 80, intervalMs: 500, timeoutMs: 400, failureThreshold: 2 }'));
    const m = cfg.groups[0]?.resources[0]?.monitors[0];
    assert.ok(m);
    assert.equal(hangDetectionMs(m), 1800);
  });

  test('a single failing check suffices with failureThreshold 1', () => {
    const cfg = parse(base('', '{ kind: tcp, port: 80, intervalMs: 200, timeoutMs: 300, failureThreshold: 1 }'));
    const m = cfg.groups[0]?.resources[0]?.monitors[0];
    assert.ok(m);
    assert.equal(hangDetectionMs(m), 500);
  });
});

describe('explainTiming', () => {
  test('demo: states each bound with its inputs', async () => {
    const r = await loadConfigFile(join(EXAMPLES, 'demo.yaml'));
    assert.ok(r.ok);
    const lines = explainTiming(r.config);
    assert.equal(lines.length, 6);
    assert.match(lines[0] ?? '', /^node loss: .* at most 1250 ms after the failure \(leaseTtlMs 1000 \+ reconcileIntervalMs 250\)/);
    assert.match(lines[1] ?? '', /^self-fence: .* at most 700 ms after it sent its last successful renewal \(leaseTtlMs 1000 - safetyMarginMs 300\)/);
    assert.match(lines[1] ?? '', /maxLoopLagMs \(200 ms\)/);
    assert.match(lines[2] ?? '', /^lease renewal: every 150 ms .* 3 renewals failing outright, or 1 renewal hanging until abandoned after 300 ms, can be lost in a row/);
    assert.match(lines[3] ?? '', /^group web: .* within 11250 ms \(1250 ms to reassign \+ up to 10000 ms to start its 1 resource/);
    assert.match(lines[4] ?? '', /^group web \/ resource app \/ monitor 0 \(http http:\/\/\$\{HALO_NODE_ADDRESS\}:8080\/health\): .* at most 1800 ms .*\(failureThreshold 2 x \(intervalMs 500 \+ timeoutMs 400\)\)/);
    assert.match(lines[5] ?? '', /^group web: a failed resource is restarted in place up to 3 times within 60000 ms .* ineligible for it for 600000 ms/);
  });

  test('a resource without monitors is called out', () => {
    const lines = explainTiming(parse(base('')));
    assert.ok(lines.includes('group g / resource r: no monitors, so a hung process is not detected; only its exit is.'), lines.join('\n'));
  });

  test('vip and ocf resources state their built-in checks', () => {
    const text = base('').replace(
      '      - name: r\n',
      '      - name: ip\n        type: vip\n        address: 10.0.0.9\n        interface: eth0\n      - name: d\n        type: ocf\n        agent: heartbeat/Dummy\n      - name: r\n',
    );
    const lines = explainTiming(parse(text));
    assert.ok(lines.includes('group g / resource ip: 10.0.0.9/24 is checked on eth0 every 1000 ms; a missing address counts as a failure at once.'), lines.join('\n'));
    assert.ok(lines.includes('group g / resource d: the agent\'s monitor runs every 10000 ms (timeout 20000 ms); one result other than running counts as a failure.'), lines.join('\n'));
  });

  test('no groups: only the cluster-wide lines', () => {
    const cfg = parse(['cluster: t', 'nodes: [{ name: n1, apiPort: 7401 }]', ''].join('\n'));
    const lines = explainTiming(cfg);
    assert.deepEqual(
      lines.map((l) => l.split(':')[0]),
      ['node loss', 'self-fence', 'lease renewal'],
    );
  });
});
