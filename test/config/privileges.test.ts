import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatWarnings, parseConfigText, rootCommandWarnings } from '../../src/config/index.js';

const HALO = fileURLToPath(new URL('../../../bin/halo.js', import.meta.url));

const lines = (...ls: string[]): string => `${ls.join('\n')}\n`;

/** Every kind of command halo runs, some as root and some not. */
const SAMPLE = lines(
  'cluster: demo',
  'nodes:',
  '  - name: n1',
  '    apiPort: 7401',
  'groups:',
  '  - name: web',
  '    resources:',
  '      - name: app', // groups[0].resources[0]: root (no user)
  '        type: process',
  '        command: node',
  '        readiness: { kind: command, command: /usr/local/bin/ready, user: app }',
  '        monitors:',
  '          - { kind: command, command: check-app }', // monitors[0]: root
  '          - { kind: tcp, host: 127.0.0.1, port: 80 }',
  '          - { kind: command, command: check-as-root, user: "0" }', // monitors[2]: root
  '      - name: worker', // groups[0].resources[1]: runs as nobody
  '        type: process',
  '        command: /usr/bin/worker',
  '        user: nobody',
  '        group: nogroup',
  '      - name: ip',
  '        type: vip',
  '        address: 10.0.0.100',
  '        interface: eth0',
  '        readiness: { kind: command, command: arping-check, user: root }', // resources[2].readiness: root
  '  - name: db',
  '    resources:',
  '      - name: dummy', // groups[1].resources[0]: OCF
  '        type: ocf',
  '        agent: heartbeat/Dummy',
  '      - name: tools', // only a group: still root
  '        type: process',
  '        command: tool',
  '        group: nogroup',
);

const EXPECTED = [
  'warning: groups[0].resources[0]: command "node" runs as root; set user: to run it with fewer privileges',
  'warning: groups[0].resources[0].monitors[0]: command "check-app" runs as root; set user: to run it with fewer privileges',
  'warning: groups[0].resources[0].monitors[2]: command "check-as-root" runs as root; set user: to run it with fewer privileges',
  'warning: groups[0].resources[2].readiness: command "arping-check" runs as root; set user: to run it with fewer privileges',
  'warning: groups[1].resources[0]: OCF agent "heartbeat/Dummy" runs as root (OCF resources have no user: field); check that you trust it',
  'warning: groups[1].resources[1]: command "tool" runs as root; set user: to run it with fewer privileges',
];

function run(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HALO, ...args], { timeout: 20_000, env: { ...process.env, HALO_API: '' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('commands that run as root', () => {
  test('one warning per process resource, command monitor and OCF resource that runs as root, in config order', () => {
    const r = parseConfigText(SAMPLE, 'halo.yaml');
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    assert.equal(formatWarnings(rootCommandWarnings(r.config)), EXPECTED.join('\n'));
  });

  test('nothing to say when every command has a user', () => {
    const r = parseConfigText(lines('cluster: demo', 'nodes: [{ name: n1, apiPort: 7401 }]', 'groups: [{ name: web, resources: [{ name: app, type: process, command: node, user: app }] }]'), 'halo.yaml');
    assert.ok(r.ok);
    assert.deepEqual(rootCommandWarnings(r.config), []);
  });

  test('halo config validate prints the warnings on stderr and the file stays valid', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'halo-priv-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'halo.yaml');
    await writeFile(file, SAMPLE);
    const r = await run(['config', 'validate', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${file}: valid (cluster demo: 1 nodes, 2 groups)\n`);
    assert.equal(r.stderr, `${EXPECTED.join('\n')}\n`);

    const j = await run(['-o', 'json', 'config', 'validate', file]);
    assert.equal(j.code, 0, j.stderr);
    const body: unknown = JSON.parse(j.stdout);
    assert.deepEqual(body, {
      ok: true,
      issues: [],
      warnings: EXPECTED.map((l) => {
        const m = /^warning: (\S+): (.*)$/.exec(l);
        return { path: m?.[1], message: m?.[2] };
      }),
    });
  });
});
