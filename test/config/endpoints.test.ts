import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIssues, parseConfigText, type ConfigIssue } from '../../src/config/index.js';
import { endpointListenAddress } from '../../src/domain/config.js';

const lines = (...ls: string[]): string => `${ls.join('\n')}\n`;

/** Two nodes, one group; `eps` are the YAML lines of its endpoints list (indented 6). */
const withEndpoints = (...eps: string[]) =>
  lines(
    'cluster: demo', // 1
    'nodes:', // 2
    '  - name: n1', // 3
    '    address: 127.0.0.11', // 4
    '    apiPort: 7401', // 5
    '  - name: n2', // 6
    '    address: 127.0.0.12', // 7
    '    apiPort: 7402', // 8
    'groups:', // 9
    '  - name: web', // 10
    '    resources:', // 11
    '      - { name: app, type: process, command: node }', // 12
    '    endpoints:', // 13
    ...eps, // 14...
  );

function issuesOf(text: string): ConfigIssue[] {
  const r = parseConfigText(text, 'halo.yaml');
  if (r.ok) assert.fail('expected the config to be rejected');
  return r.issues;
}

function expectOne(text: string, path: string, line: number, fragment: string): void {
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, `expected one issue, got:\n${formatIssues(issues)}`);
  const [i] = issues;
  assert.ok(i);
  assert.equal(i.path, path, formatIssues(issues));
  assert.equal(i.line, line, formatIssues(issues));
  assert.ok(i.message.includes(fragment), `message "${i.message}" should contain "${fragment}"`);
}

describe('config: endpoints', () => {
  test('defaults: node address, holdTimeoutMs 10 s, drainTimeoutMs 5 s, retry GET and HEAD', () => {
    const r = parseConfigText(withEndpoints('      - { name: front, mode: http, port: 8081, backendPort: 8080 }', '      - { name: raw, mode: tcp, port: 9081, backendPort: 9080 }'), 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
    const [http, tcp] = r.config.groups[0]?.endpoints ?? [];
    assert.deepEqual(http, { name: 'front', mode: 'http', port: 8081, backendPort: 8080, holdTimeoutMs: 10_000, drainTimeoutMs: 5_000, connectTimeoutMs: 1_000, retryMethods: ['GET', 'HEAD'], maxBodyBytes: 1_048_576 });
    assert.deepEqual(tcp, { name: 'raw', mode: 'tcp', port: 9081, backendPort: 9080, holdTimeoutMs: 10_000, drainTimeoutMs: 5_000, connectTimeoutMs: 1_000 });
    assert.ok(tcp);
    assert.equal(endpointListenAddress(tcp, '127.0.0.12'), '127.0.0.12');
    assert.equal(endpointListenAddress({ listenAddress: '${HALO_NODE_ADDRESS}' }, '127.0.0.12'), '127.0.0.12');
  });

  test('mode is required and must be tcp or http', () => {
    const issues = issuesOf(withEndpoints('      - { name: front, mode: udp, port: 8081, backendPort: 8080 }'));
    assert.equal(issues[0]?.path, 'groups[0].endpoints[0].mode', formatIssues(issues));
  });

  test('retryMethods only in http mode, upper-case methods', () => {
    assert.equal(issuesOf(withEndpoints('      - { name: raw, mode: tcp, port: 9081, backendPort: 9080, retryMethods: [GET] }'))[0]?.path, 'groups[0].endpoints[0].retryMethods');
    expectOne(withEndpoints('      - { name: front, mode: http, port: 8081, backendPort: 8080, retryMethods: [get] }'), 'groups[0].endpoints[0].retryMethods[0]', 14, 'upper-case HTTP method');
  });

  test('port of a node API', () => {
    expectOne(withEndpoints('      - { name: front, mode: http, port: 7402, backendPort: 8080 }'), 'groups[0].endpoints[0].port', 14, '127.0.0.12:7402 on node "n2" is already used by the API of node "n2"');
  });

  test('a wildcard listen address clashes with the API port too', () => {
    expectOne(withEndpoints('      - { name: front, mode: http, listenAddress: 0.0.0.0, port: 7401, backendPort: 8080 }'), 'groups[0].endpoints[0].port', 14, 'already used by the API of node "n1"');
  });

  test('a listen address of another host does not clash with the API port', () => {
    const r = parseConfigText(withEndpoints('      - { name: front, mode: http, listenAddress: 10.1.1.1, port: 7401, backendPort: 8080 }'), 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : formatIssues(r.issues));
  });

  test('the embedded coordinator port', () => {
    const text = withEndpoints('      - { name: front, mode: http, listenAddress: 127.0.0.1, port: 7400, backendPort: 8080 }').replace('cluster: demo\n', 'cluster: demo\ncoordinator: { kind: embedded, address: "127.0.0.1:7400" }\n');
    const issues = issuesOf(text);
    assert.equal(issues.length, 1, formatIssues(issues));
    assert.match(issues[0]?.message ?? '', /already used by the embedded coordinator/);
  });

  test('two endpoints on the same port', () => {
    expectOne(
      withEndpoints('      - { name: front, mode: http, port: 8081, backendPort: 8080 }', '      - { name: raw, mode: tcp, port: 8081, backendPort: 9080 }'),
      'groups[0].endpoints[1].port',
      15,
      'already used by endpoint "front" of groups[0]',
    );
  });

  test('duplicate endpoint names', () => {
    expectOne(
      withEndpoints('      - { name: front, mode: http, port: 8081, backendPort: 8080 }', '      - { name: front, mode: tcp, port: 8082, backendPort: 9080 }'),
      'groups[0].endpoints[1].name',
      15,
      'duplicate endpoint name "front"',
    );
  });

  test('an endpoint forwarding to itself', () => {
    expectOne(withEndpoints('      - { name: front, mode: http, port: 8080, backendPort: 8080 }'), 'groups[0].endpoints[0].port', 14, 'the endpoint would forward to itself');
  });

  test("an endpoint on another endpoint's backend port", () => {
    expectOne(
      withEndpoints('      - { name: front, mode: http, port: 8081, backendPort: 8080 }', '      - { name: raw, mode: tcp, port: 8080, backendPort: 9080 }'),
      'groups[0].endpoints[1].port',
      15,
      'is the backendPort of endpoint "front"',
    );
  });

  test('an unknown placeholder in listenAddress', () => {
    expectOne(withEndpoints('      - { name: front, mode: http, listenAddress: "${HOST}", port: 8081, backendPort: 8080 }'), 'groups[0].endpoints[0].listenAddress', 14, 'unknown placeholder');
  });
});
