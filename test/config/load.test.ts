import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configInvalidError, configJsonSchema, formatIssues, loadConfigFile, parseConfigText, type ConfigIssue } from '../../src/config/index.js';

const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url));

const lines = (...ls: string[]): string => `${ls.join('\n')}\n`;

/** A minimal valid config; the cases below are variations of it, written out so line numbers are visible. */
const VALID = lines(
  'cluster: demo', // 1
  'nodes:', // 2
  '  - name: n1', // 3
  '    apiPort: 7401', // 4
  '  - name: n2', // 5
  '    apiPort: 7402', // 6
  'groups:', // 7
  '  - name: web', // 8
  '    resources:', // 9
  '      - name: app', // 10
  '        type: process', // 11
  '        command: node', // 12
);

type Expect = { path: string; line: number; column: number; message: string; value?: string };

function issuesOf(text: string): ConfigIssue[] {
  const r = parseConfigText(text, 'halo.yaml');
  if (r.ok) assert.fail('expected the config to be rejected');
  return r.issues;
}

/** Asserts the text yields exactly one issue, at the given place, with the given message fragment. */
function expectOne(text: string, e: Expect): ConfigIssue {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, `expected one issue, got:\n${formatIssues(issues)}`);
  const [i] = issues;
  assert.ok(i);
  assert.equal(i.file, 'halo.yaml');
  assert.equal(i.path, e.path);
  assert.equal(i.line, e.line, `line of ${formatIssues(issues)}`);
  assert.equal(i.column, e.column, `column of ${formatIssues(issues)}`);
  assert.ok(i.message.includes(e.message), `message "${i.message}" should contain "${e.message}"`);
  if (e.value !== undefined) assert.equal(i.value, e.value);
  return i;
}

describe('parseConfigText: valid input', () => {
  test('the minimal config parses with defaults applied', () => {
    const r = parseConfigText(VALID, 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    assert.equal(r.source, VALID);
    const c = r.config;
    assert.deepEqual(c.coordinator, { kind: 'embedded', address: '127.0.0.1:7400', dataDir: '.halo/coordinator' });
    assert.deepEqual(c.timing, { leaseTtlMs: 2000, renewIntervalMs: 300, safetyMarginMs: 500, maxLoopLagMs: 250, reconcileIntervalMs: 250 });
    assert.equal(c.stateDir, '.halo/state');
    assert.deepEqual(c.nodes[0], { name: 'n1', address: '127.0.0.1', apiPort: 7401, labels: {} });
    const g = c.groups[0];
    assert.ok(g);
    assert.equal(g.redundancy, 'active-standby');
    assert.equal(g.failback, 'manual');
    assert.equal(g.preferredNodes, undefined);
    assert.deepEqual(g.recovery, { maxRestarts: 3, windowMs: 60_000, backoffInitialMs: 0, backoffMaxMs: 10_000, failureTimeoutMs: 600_000 });
    assert.deepEqual(g.resources[0], { name: 'app', type: 'process', command: 'node', args: [], env: {}, startTimeoutMs: 10_000, stopTimeoutMs: 5_000, monitors: [] });
  });

  test('every example file is valid', async () => {
    const files = (await readdir(EXAMPLES)).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
    assert.ok(files.includes('demo.yaml'));
    for (const f of files) {
      const r = await loadConfigFile(join(EXAMPLES, f));
      assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    }
  });

  test('examples/demo.yaml: three loopback nodes, one web group, defaults filled in', async () => {
    const r = await loadConfigFile(join(EXAMPLES, 'demo.yaml'));
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    const c = r.config;
    assert.equal(c.cluster, 'demo');
    assert.deepEqual(c.coordinator, { kind: 'embedded', address: '127.0.0.1:7400', dataDir: '.halo/coordinator' });
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.address, n.apiPort]),
      [
        ['n1', '127.0.0.11', 7401],
        ['n2', '127.0.0.12', 7402],
        ['n3', '127.0.0.13', 7403],
      ],
    );
    for (const n of c.nodes) assert.deepEqual(Object.keys(n.labels).sort(), ['host', 'site']);
    assert.deepEqual(c.timing, { leaseTtlMs: 1000, renewIntervalMs: 150, safetyMarginMs: 300, maxLoopLagMs: 200, reconcileIntervalMs: 250 });
    assert.equal(c.groups.length, 1);
    const g = c.groups[0];
    assert.ok(g);
    assert.equal(g.name, 'web');
    assert.equal(g.redundancy, 'active-standby');
    assert.deepEqual(g.preferredNodes, ['n1', 'n2', 'n3']);
    assert.deepEqual(g.recovery, { maxRestarts: 3, windowMs: 60_000, backoffInitialMs: 0, backoffMaxMs: 10_000, failureTimeoutMs: 600_000 });
    const app = g.resources[0];
    assert.ok(app?.type === 'process');
    assert.equal(app.name, 'app');
    assert.equal(app.command, 'node');
    assert.deepEqual(app.args, ['examples/sample-service.mjs']);
    assert.deepEqual(app.env, { HOST: '${HALO_NODE_ADDRESS}', PORT: '8080' });
    assert.deepEqual(app.monitors, [
      { kind: 'http', url: 'http://${HALO_NODE_ADDRESS}:8080/health', intervalMs: 500, timeoutMs: 400, failureThreshold: 2, recoveryThreshold: 1 },
    ]);
  });

  test('an http monitor url may contain ${HALO_NODE_ADDRESS} and is kept verbatim', () => {
    const text = VALID + lines('        monitors:', '          - kind: http', '            url: "https://${HALO_NODE_ADDRESS}:8443/ready?x=1"');
    const r = parseConfigText(text, 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    const m = r.config.groups[0]?.resources[0]?.monitors[0];
    assert.ok(m && m.kind === 'http');
    assert.equal(m.url, 'https://${HALO_NODE_ADDRESS}:8443/ready?x=1');
  });

  test('YAML anchors and flow style are accepted', () => {
    const text = lines(
      'cluster: demo',
      'nodes:',
      '  - { name: n1, apiPort: 7401, labels: &east { site: east } }',
      '  - { name: n2, apiPort: 7402, labels: *east }',
    );
    const r = parseConfigText(text, 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    assert.deepEqual(r.config.nodes[1]?.labels, { site: 'east' });
    assert.deepEqual(r.config.groups, []);
  });
});

describe('parseConfigText: malformed input, one exact issue each', () => {
  test('YAML syntax error: unclosed flow sequence', () => {
    const text = lines('cluster: demo', 'nodes: [ { name: n1, apiPort: 7401 }', 'groups: []');
    expectOne(text, { path: 'groups', line: 3, column: 1, message: 'YAML syntax error: Flow sequence in block collection' });
  });

  test('YAML syntax error: unterminated quoted string', () => {
    const text = lines('cluster: "demo', 'nodes: []');
    // The parser notices at the end of the input; the position is where the quote should have closed.
    expectOne(text, { path: '(root)', line: 3, column: 1, message: 'Missing closing "quote' });
  });

  test('YAML: tab used for indentation', () => {
    const text = VALID.replace('  - name: n2', '\t- name: n2');
    const issues = issuesOf(text);
    const tab = issues.find((i) => i.message.includes('tab used for indentation'));
    assert.ok(tab, formatIssues(issues));
    assert.equal(tab.line, 5);
    assert.equal(tab.column, 1);
  });

  test('YAML: more than one document', () => {
    expectOne(`${VALID}---\ncluster: other\n`, { path: '(root)', line: 13, column: 1, message: 'more than one YAML document' });
  });

  test('duplicate key at the top level', () => {
    const text = VALID.replace('cluster: demo\n', 'cluster: demo\ncluster: demo2\n');
    expectOne(text, { path: 'cluster', line: 2, column: 1, value: '"cluster"', message: 'duplicate key "cluster"' });
  });

  test('duplicate key inside a list item', () => {
    const text = VALID.replace('    apiPort: 7402\n', '    apiPort: 7402\n    apiPort: 7403\n');
    expectOne(text, { path: 'nodes[1].apiPort', line: 7, column: 5, message: 'duplicate key "apiPort"' });
  });

  test('empty file', () => {
    expectOne('', { path: '(root)', line: 1, column: 1, value: '(missing)', message: 'the file is empty' });
  });

  test('a file holding only comments counts as empty', () => {
    expectOne('# nothing here yet\n', { path: '(root)', line: 1, column: 1, message: 'the file is empty' });
  });

  test('top level is a list instead of a mapping', () => {
    expectOne('- cluster: demo\n', { path: '(root)', line: 1, column: 1, value: '[{"cluster":"demo"}]', message: 'expected a mapping, not a list' });
  });

  test('missing cluster is reported at the top-level mapping', () => {
    const text = VALID.replace('cluster: demo\n', '');
    expectOne(text, { path: 'cluster', line: 1, column: 1, value: '(missing)', message: 'required field missing: expected a string' });
  });

  test('unknown top-level key (typo) names the key, its position and the likely intent', () => {
    const text = `${VALID}timming:\n  leaseTtlMs: 1000\n`;
    expectOne(text, { path: 'timming', line: 13, column: 1, value: '{"leaseTtlMs":1000}', message: 'unknown field "timming"; did you mean "timing"?' });
  });

  test('unknown nested key in a monitor', () => {
    const text = VALID + lines('        monitors:', '          - kind: tcp', '            port: 80', '            failureTreshold: 2');
    expectOne(text, { path: 'groups[0].resources[0].monitors[0].failureTreshold', line: 16, column: 13, message: 'did you mean "failureThreshold"?' });
  });

  test('unknown key with no close match lists the accepted fields', () => {
    const text = VALID.replace('    apiPort: 7401\n', '    apiPort: 7401\n    zone: a\n');
    expectOne(text, { path: 'nodes[0].zone', line: 5, column: 5, message: 'expected one of: name, address, apiPort, labels' });
  });

  test('invalid node name', () => {
    const text = VALID.replace('name: n1', 'name: Node_1');
    expectOne(text, { path: 'nodes[0].name', line: 3, column: 11, value: '"Node_1"', message: 'expected a node name' });
  });

  test('duplicate node name', () => {
    const text = VALID.replace('name: n2', 'name: n1');
    expectOne(text, { path: 'nodes[1].name', line: 5, column: 11, message: 'duplicate node name "n1"' });
  });

  test('duplicate apiPort on the same address', () => {
    const text = VALID.replace('apiPort: 7402', 'apiPort: 7401');
    expectOne(text, { path: 'nodes[1].apiPort', line: 6, column: 14, value: '7401', message: 'address 127.0.0.1:7401 is used by another node' });
  });

  test('the same apiPort on different addresses is fine', () => {
    const text = VALID.replace('apiPort: 7402', 'apiPort: 7401\n    address: 127.0.0.12');
    const r = parseConfigText(text, 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
  });

  test('port out of range', () => {
    const text = VALID.replace('apiPort: 7401', 'apiPort: 70000');
    expectOne(text, { path: 'nodes[0].apiPort', line: 4, column: 14, value: '70000', message: 'expected a number (integer, 1 to 65535)' });
  });

  test('port as a string', () => {
    const text = VALID.replace('apiPort: 7401', 'apiPort: "80x"');
    expectOne(text, { path: 'nodes[0].apiPort', line: 4, column: 14, value: '"80x"', message: 'expected a number (integer, 1 to 65535), not a string' });
  });

  test('quoted number gets a hint', () => {
    const text = VALID.replace('apiPort: 7401', "apiPort: '7401'");
    expectOne(text, { path: 'nodes[0].apiPort', line: 4, column: 14, message: '(write it without quotes)' });
  });

  test('a fractional port is not an integer', () => {
    const text = VALID.replace('apiPort: 7401', 'apiPort: 7401.5');
    expectOne(text, { path: 'nodes[0].apiPort', line: 4, column: 14, value: '7401.5', message: 'integer' });
  });

  test('a key with no value is reported at the key', () => {
    const text = VALID.replace('apiPort: 7401', 'apiPort:');
    expectOne(text, { path: 'nodes[0].apiPort', line: 4, column: 5, value: 'null', message: 'expected a number (integer, 1 to 65535), not null' });
  });

  test('negative monitor interval', () => {
    const text = VALID + lines('        monitors:', '          - kind: tcp', '            port: 8080', '            intervalMs: -5');
    expectOne(text, { path: 'groups[0].resources[0].monitors[0].intervalMs', line: 16, column: 25, value: '-5', message: 'expected a number (integer milliseconds, 10 to 3600000)' });
  });

  test('unknown monitor kind', () => {
    const text = VALID + lines('        monitors:', '          - kind: ping', '            port: 8080');
    expectOne(text, { path: 'groups[0].resources[0].monitors[0].kind', line: 14, column: 19, value: '"ping"', message: 'unknown kind "ping": expected one of: "tcp", "http", "command", "disk"' });
  });

  test('monitor without kind is reported at the monitor', () => {
    const text = VALID + lines('        monitors:', '          - port: 8080');
    expectOne(text, { path: 'groups[0].resources[0].monitors[0].kind', line: 14, column: 13, value: '(missing)', message: 'required field "kind" missing' });
  });

  test('tcp monitor missing port is reported at the monitor mapping', () => {
    const text = VALID + lines('        monitors:', '          - kind: tcp', '            host: 127.0.0.1');
    expectOne(text, { path: 'groups[0].resources[0].monitors[0].port', line: 14, column: 13, value: '(missing)', message: 'required field missing' });
  });

  test('http monitor with a bad url', () => {
    const text = VALID + lines('        monitors:', '          - kind: http', '            url: ftp://example.org/health');
    expectOne(text, { path: 'groups[0].resources[0].monitors[0].url', line: 15, column: 18, value: '"ftp://example.org/health"', message: 'expected an http:// or https:// URL' });
  });

  test('group with no resources', () => {
    const text = lines('cluster: demo', 'nodes:', '  - name: n1', '    apiPort: 7401', 'groups:', '  - name: web', '    resources: []');
    expectOne(text, { path: 'groups[0].resources', line: 7, column: 16, value: '[]', message: 'expected a list with at least 1 entry' });
  });

  test('group without a resources field', () => {
    const text = lines('cluster: demo', 'nodes:', '  - name: n1', '    apiPort: 7401', 'groups:', '  - name: web', '    redundancy: none');
    expectOne(text, { path: 'groups[0].resources', line: 6, column: 5, value: '(missing)', message: 'required field missing: expected a list of mappings' });
  });

  test('unknown resource type', () => {
    const text = VALID.replace('type: process', 'type: docker');
    expectOne(text, { path: 'groups[0].resources[0].type', line: 11, column: 15, value: '"docker"', message: 'unknown type "docker": expected one of: "process", "vip", "ocf"' });
  });

  /** Group "web" of VALID with `res` (resource lines, indented) as its only resource: the first one is on line 8. */
  const withResource = (...res: string[]): string => lines('cluster: demo', 'nodes:', '  - name: n1', '    apiPort: 7401', 'groups:', '  - name: web', '    resources:', ...res);

  test('vip: address out of range', () => {
    const text = withResource('      - name: ip', '        type: vip', '        address: 10.0.0.300', '        interface: eth0');
    expectOne(text, { path: 'groups[0].resources[0].address', line: 10, column: 18, value: '"10.0.0.300"', message: 'expected an IPv4 address such as 10.0.0.100 (no prefix length: use prefixLength)' });
  });

  test('vip: address written with a prefix length', () => {
    const text = withResource('      - name: ip', '        type: vip', '        address: 10.0.0.1/24', '        interface: eth0');
    expectOne(text, { path: 'groups[0].resources[0].address', line: 10, column: 18, value: '"10.0.0.1/24"', message: 'no prefix length: use prefixLength' });
  });

  test('vip: interface missing', () => {
    const text = withResource('      - name: ip', '        type: vip', '        address: 10.0.0.1');
    expectOne(text, { path: 'groups[0].resources[0].interface', line: 8, column: 9, value: '(missing)', message: 'required field missing: expected a string' });
  });

  test('vip: prefixLength above 32', () => {
    const text = withResource('      - name: ip', '        type: vip', '        address: 10.0.0.1', '        prefixLength: 33', '        interface: eth0');
    expectOne(text, { path: 'groups[0].resources[0].prefixLength', line: 11, column: 23, value: '33', message: 'expected a number (integer, 1 to 32)' });
  });

  test('vip: interface name with a slash', () => {
    const text = withResource('      - name: ip', '        type: vip', '        address: 10.0.0.1', '        interface: eth0/1');
    expectOne(text, { path: 'groups[0].resources[0].interface', line: 11, column: 20, value: '"eth0/1"', message: 'expected an interface name such as eth0' });
  });

  test('ocf: agent without a provider', () => {
    const text = withResource('      - name: d', '        type: ocf', '        agent: Dummy');
    expectOne(text, { path: 'groups[0].resources[0].agent', line: 10, column: 16, value: '"Dummy"', message: 'expected provider/type, e.g. heartbeat/Dummy' });
  });

  test('ocf: parameter name that cannot be an environment variable', () => {
    const text = withResource('      - name: d', '        type: ocf', '        agent: heartbeat/Dummy', '        params:', '          state-file: /tmp/x');
    expectOne(text, { path: 'groups[0].resources[0].params["state-file"]', line: 12, column: 11, value: '"state-file"', message: 'invalid key: expected an OCF parameter name' });
  });

  test('ocf: parameter value that is not a string', () => {
    const text = withResource('      - name: d', '        type: ocf', '        agent: heartbeat/Dummy', '        params:', '          port: 80');
    expectOne(text, { path: 'groups[0].resources[0].params.port', line: 12, column: 17, value: '80', message: 'expected a string, not a number' });
  });

  test('ocf: relative ocfRoot', () => {
    const text = withResource('      - name: d', '        type: ocf', '        agent: heartbeat/Dummy', '        ocfRoot: usr/lib/ocf');
    expectOne(text, { path: 'groups[0].resources[0].ocfRoot', line: 11, column: 18, value: '"usr/lib/ocf"', message: 'expected an absolute path' });
  });

  test('ocf: misspelt timing field', () => {
    const text = withResource('      - name: d', '        type: ocf', '        agent: heartbeat/Dummy', '        monitorIntervallMs: 100');
    expectOne(text, { path: 'groups[0].resources[0].monitorIntervallMs', line: 11, column: 9, value: '100', message: 'unknown field "monitorIntervallMs"; did you mean "monitorIntervalMs"?' });
  });

  test('vip and ocf resources parse with their defaults', () => {
    const r = parseConfigText(
      withResource('      - name: d', '        type: ocf', '        agent: heartbeat/Dummy', '      - name: ip', '        type: vip', '        address: 10.0.0.1', '        interface: eth-${HALO_NODE}'),
      'halo.yaml',
    );
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    assert.deepEqual(r.config.groups[0]?.resources, [
      { name: 'd', type: 'ocf', agent: 'heartbeat/Dummy', ocfRoot: '/usr/lib/ocf', params: {}, startTimeoutMs: 20_000, stopTimeoutMs: 20_000, monitorTimeoutMs: 20_000, promoteTimeoutMs: 20_000, demoteTimeoutMs: 20_000, monitorIntervalMs: 10_000, monitors: [] },
      { name: 'ip', type: 'vip', address: '10.0.0.1', prefixLength: 24, interface: 'eth-${HALO_NODE}', arpCount: 1, startTimeoutMs: 5000, stopTimeoutMs: 5000, checkIntervalMs: 1000, monitors: [] },
    ]);
  });

  test('unknown redundancy model', () => {
    const text = VALID.replace('  - name: web\n', '  - name: web\n    redundancy: n+m\n');
    expectOne(text, { path: 'groups[0].redundancy', line: 9, column: 17, value: '"n+m"', message: 'expected one of: "none", "active-standby", "n-way"' });
  });

  test('preferredNodes naming an unknown node', () => {
    const text = VALID.replace('  - name: web\n', '  - name: web\n    preferredNodes: [n1, n9]\n');
    expectOne(text, { path: 'groups[0].preferredNodes[1]', line: 9, column: 26, value: '"n9"', message: 'unknown node "n9"; expected one of: n1, n2' });
  });

  test('preferredNodes listing a node twice', () => {
    const text = VALID.replace('  - name: web\n', '  - name: web\n    preferredNodes: [n2, n2]\n');
    expectOne(text, { path: 'groups[0].preferredNodes', line: 9, column: 21, message: 'a node is listed more than once' });
  });

  test('duplicate resource name in a group', () => {
    const text = VALID + lines('      - name: app', '        type: process', '        command: sleep');
    expectOne(text, { path: 'groups[0].resources[1].name', line: 13, column: 15, message: 'duplicate resource name "app" in group "web"' });
  });

  test('duplicate group name', () => {
    const text = VALID + lines('  - name: web', '    resources:', '      - { name: other, type: process, command: sleep }');
    expectOne(text, { path: 'groups[1].name', line: 13, column: 11, message: 'duplicate group name "web"' });
  });

  test('renewIntervalMs too close to the lease TTL', () => {
    const text = `${VALID}timing:\n  leaseTtlMs: 1000\n  renewIntervalMs: 400\n`;
    expectOne(text, { path: 'timing.renewIntervalMs', line: 15, column: 20, value: '400', message: 'renewIntervalMs (400) must be at most half of leaseTtlMs - safetyMarginMs (500)' });
  });

  test('safetyMarginMs smaller than maxLoopLagMs', () => {
    const text = `${VALID}timing:\n  safetyMarginMs: 100\n  maxLoopLagMs: 250\n`;
    expectOne(text, { path: 'timing.safetyMarginMs', line: 14, column: 19, value: '100', message: 'safetyMarginMs (100) must be at least maxLoopLagMs (250)' });
  });

  test('invalid environment variable name is reported at the key', () => {
    const text = VALID + lines('        env:', '          GOOD: "1"', '          BAD-NAME: "2"');
    expectOne(text, { path: 'groups[0].resources[0].env["BAD-NAME"]', line: 15, column: 11, value: '"BAD-NAME"', message: 'expected an environment variable name' });
  });

  test('environment value that is not a string', () => {
    const text = VALID + lines('        env:', '          PORT: 8080');
    expectOne(text, { path: 'groups[0].resources[0].env.PORT', line: 14, column: 17, value: '8080', message: 'expected a string, not a number' });
  });

  test('backoffMaxMs smaller than backoffInitialMs', () => {
    const text = VALID.replace('  - name: web\n', '  - name: web\n    recovery:\n      backoffInitialMs: 5000\n      backoffMaxMs: 1000\n');
    expectOne(text, { path: 'groups[0].recovery.backoffMaxMs', line: 11, column: 21, value: '1000', message: 'must be at least backoffInitialMs' });
  });

  test('args as a string instead of a list', () => {
    const text = `${VALID}        args: --port 8080\n`;
    expectOne(text, { path: 'groups[0].resources[0].args', line: 13, column: 15, value: '"--port 8080"', message: 'expected a list of strings, not a string' });
  });

  test('nodes present but empty', () => {
    const text = VALID.replace(/nodes:\n(.|\n)*?groups:/, 'nodes: []\ngroups:').replace(/groups:(.|\n)*/, 'groups: []\n');
    expectOne(text, { path: 'nodes', line: 2, column: 8, value: '[]', message: 'expected a list with at least 1 entry' });
  });

  test('long values are truncated to 60 characters', () => {
    const long = 'x'.repeat(100);
    const i = expectOne(VALID.replace('command: node', `command: node\n        startTimeoutMs: "${long}"`), {
      path: 'groups[0].resources[0].startTimeoutMs',
      line: 13,
      column: 25,
      message: 'expected a number',
    });
    assert.equal(i.value.length, 60);
    assert.ok(i.value.startsWith('"xxx') && i.value.endsWith('...'));
  });
});

describe('parseConfigText: several issues', () => {
  test('all structural issues are reported, ordered by line', () => {
    const text = lines(
      'cluster: Demo', // 1
      'nodes:', // 2
      '  - name: n1', // 3
      '    apiPort: 0', // 4
      'groups:', // 5
      '  - name: web', // 6
      '    colour: blue', // 7
      '    resources:', // 8
      '      - name: app', // 9
      '        type: process', // 10
      '        command: ""', // 11
      'clusterName: x', // 12
    );
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => [i.line, i.column, i.path]),
      [
        [1, 10, 'cluster'],
        [4, 14, 'nodes[0].apiPort'],
        [7, 5, 'groups[0].colour'],
        [11, 18, 'groups[0].resources[0].command'],
        [12, 1, 'clusterName'],
      ],
    );
    assert.match(issues[3]?.message ?? '', /expected a non-empty string/);
  });

  test('cross-field rules are checked once the structure is valid', () => {
    const text = VALID.replace('name: n2', 'name: n1') + lines('timing:', '  safetyMarginMs: 100');
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => i.path),
      ['nodes[1].name', 'timing.safetyMarginMs'],
    );
  });
});

describe('loadConfigFile', () => {
  test('file not found is an issue at line 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-config-'));
    try {
      const file = join(dir, 'missing.yaml');
      const r = await loadConfigFile(file);
      assert.equal(r.ok, false);
      assert.ok(!r.ok);
      assert.deepEqual(r.issues, [{ file, line: 0, column: 0, path: '(root)', value: '(missing)', message: 'file not found: expected a halo configuration file (YAML) at this path' }]);
      assert.equal(formatIssues(r.issues), `${file}: file not found: expected a halo configuration file (YAML) at this path`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a directory is an issue, not a crash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-config-'));
    try {
      const r = await loadConfigFile(dir);
      assert.ok(!r.ok);
      assert.equal(r.issues.length, 1);
      assert.equal(r.issues[0]?.line, 0);
      assert.match(r.issues[0]?.message ?? '', /is a directory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('reads and validates a file, naming it in issues', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-config-'));
    try {
      const good = join(dir, 'good.yaml');
      const bad = join(dir, 'bad.yaml');
      await writeFile(good, VALID);
      await writeFile(bad, VALID.replace('apiPort: 7401', 'apiPort: -1'));
      const g = await loadConfigFile(good);
      assert.ok(g.ok);
      assert.equal(g.source, await readFile(good, 'utf8'));
      const b = await loadConfigFile(bad);
      assert.ok(!b.ok);
      assert.equal(formatIssues(b.issues), `${bad}:4:14: nodes[0].apiPort: got -1: expected a number (integer, 1 to 65535)`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an aborted read rejects', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await assert.rejects(loadConfigFile(join(EXAMPLES, 'demo.yaml'), { signal: ac.signal }), /stop/);
  });
});

describe('formatIssues', () => {
  test('one compiler-style line per issue', () => {
    const text = VALID.replace('apiPort: 7401', 'apiPort: "80x"').replace('cluster: demo\n', '');
    const out = formatIssues(parseConfigText(text, 'halo.yaml').ok ? [] : issuesOf(text));
    assert.equal(
      out,
      [
        'halo.yaml:1:1: cluster: required field missing: expected a string',
        'halo.yaml:3:14: nodes[0].apiPort: got "80x": expected a number (integer, 1 to 65535), not a string',
      ].join('\n'),
    );
  });

  test('no issues, empty output', () => {
    assert.equal(formatIssues([]), '');
  });

  test('configInvalidError carries the formatted lines', () => {
    const issues = issuesOf(VALID.replace('apiPort: 7401', 'apiPort: 0'));
    const e = configInvalidError(issues);
    assert.equal(e.code, 'HA_CONFIG_INVALID');
    assert.equal(e.message, 'halo.yaml: 1 problem in the configuration');
    assert.deepEqual(e.details, ['halo.yaml:4:14: nodes[0].apiPort: got 0: expected a number (integer, 1 to 65535)']);
  });
});

describe('configJsonSchema', () => {
  test('is plain JSON describing the file', () => {
    const s: unknown = JSON.parse(JSON.stringify(configJsonSchema()));
    assert.ok(s !== null && typeof s === 'object');
    const schema = s as { $schema?: string; type?: string; required?: string[]; additionalProperties?: boolean; properties?: Record<string, { type?: string; properties?: Record<string, { default?: unknown; minimum?: number }> }> };
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.type, 'object');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(schema.required, ['cluster', 'nodes']);
    assert.equal(schema.properties?.['nodes']?.type, 'array');
    assert.deepEqual(Object.keys(schema.properties ?? {}), ['cluster', 'coordinator', 'timing', 'stateDir', 'nodes', 'groups', 'security']);
    const lease = schema.properties?.['timing']?.properties?.['leaseTtlMs'];
    assert.equal(lease?.default, 2000);
    assert.equal(lease?.minimum, 200);
  });
});
