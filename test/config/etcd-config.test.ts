import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../src/config/index.js';

const base = (coordinator: string, timing = '') => `cluster: prod
coordinator:
${coordinator}
${timing}
nodes:
  - { name: n1, address: 10.0.0.1, apiPort: 7401 }
`;

test('an etcd coordinator parses with its defaults', () => {
  const r = parseConfigText(base('  kind: etcd\n  endpoints: [http://10.0.0.1:2379, http://10.0.0.2:2379]'), 'halo.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.issues));
  assert.deepEqual(r.config.coordinator, {
    kind: 'etcd',
    endpoints: ['http://10.0.0.1:2379', 'http://10.0.0.2:2379'],
    prefix: '',
    dialTimeoutMs: 3000,
    requestTimeoutMs: 2000,
  });
});

test('etcd needs at least one endpoint', () => {
  const r = parseConfigText(base('  kind: etcd\n  endpoints: []'), 'halo.yaml');
  assert.ok(!r.ok);
  assert.equal(r.issues[0]?.path, 'coordinator.endpoints');
  assert.equal(r.issues[0]?.line, 4);
});

test('etcd leases are whole seconds: a 1500 ms TTL is refused with what to use instead', () => {
  const r = parseConfigText(base('  kind: etcd\n  endpoints: [http://10.0.0.1:2379]', 'timing: { leaseTtlMs: 3500, renewIntervalMs: 300, safetyMarginMs: 500 }'), 'halo.yaml');
  assert.ok(!r.ok);
  const issue = r.issues.find((i) => i.path === 'timing.leaseTtlMs');
  assert.ok(issue, JSON.stringify(r.issues));
  assert.match(issue.message, /whole seconds.*4000/);
});
