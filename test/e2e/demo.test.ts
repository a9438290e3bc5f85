import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HALO_BIN } from '../../src/demo/run.js';
import { eventually } from '../support/util.js';
import { clusterFetch } from '../../src/security/fetch.js';
import { isAlive, readCmdline } from '../../src/platform/proc.js';

/**
 * `halo demo` as a user runs it: it comes up with the sample service answering through the node
 * that serves it, and Ctrl-C (SIGINT) leaves no process behind — coordinator, agents, guards or
 * services.
 */
test('halo demo: starts a 3-node cluster serving the sample service; Ctrl-C leaves nothing running', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-demo-'));
  // The demo saves its admin credential where the CLI looks: $XDG_CONFIG_HOME/halo/credentials.json.
  const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg'), HALO_CREDENTIALS: '', HALO_TOKEN: '', HALO_API: '', HALO_CA: '' };
  const demo = spawn(process.execPath, [HALO_BIN, 'demo', '--dir', join(dir, 'state')], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  demo.stdout.on('data', (d: Buffer) => (out += d.toString()));
  demo.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => demo.on('exit', (code) => res(code)));
  try {
    await eventually(async () => out.includes('Ctrl-C stops everything'), { timeoutMs: 60_000, what: `demo ready; output so far:\n${out}` });
    assert.match(out, /halo switchover web --to n2/, 'the demo prints what to try');

    const credFile = join(dir, 'xdg', 'halo', 'credentials.json');
    assert.equal(statSync(credFile).mode & 0o777, 0o600, 'the credentials file is readable by its owner only');
    const creds = JSON.parse(readFileSync(credFile, 'utf8')) as { api: string[]; token: string; ca: string };
    assert.deepEqual(creds.api, ['https://127.0.0.11:7401', 'https://127.0.0.12:7402', 'https://127.0.0.13:7403']);
    const https = clusterFetch({ ca: readFileSync(creds.ca, 'utf8') });
    assert.equal((await https('https://127.0.0.11:7401/v1/status')).status, 401, 'the API refuses a caller without a credential');
    await assert.rejects(fetch('https://127.0.0.11:7401/healthz'), 'the API certificate is not trusted without the cluster CA');
    // The README's tour: the CLI finds the demo's nodes and credential by itself.
    const cli = await new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
      const p = spawn(process.execPath, [HALO_BIN, '-o', 'json', 'status'], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => res({ code, stdout, stderr }));
    });
    assert.equal(cli.code, 0, cli.stderr);
    const status = JSON.parse(cli.stdout) as {
      nodes: { name: string; online: boolean; session: { pid: number } | null }[];
      groups: { name: string; assignment: { active: string | null } | null; nodes: { node: string; resources: { pid: number | null }[] }[] }[];
    };
    assert.deepEqual(status.nodes.map((n) => [n.name, n.online]), [['n1', true], ['n2', true], ['n3', true]]);
    const web = status.groups.find((g) => g.name === 'web');
    const active = web?.assignment?.active;
    assert.ok(active, 'web has an active node');
    const addr = { n1: '127.0.0.11', n2: '127.0.0.12', n3: '127.0.0.13' }[active];
    const served = (await (await fetch(`http://${addr}:8080/`)).json()) as { node: string };
    assert.equal(served.node, active, 'the response names the node serving it');
    for (const ep of ['127.0.0.11', '127.0.0.12', '127.0.0.13']) {
      const viaEndpoint = (await (await fetch(`http://${ep}:8081/`)).json()) as { node: string };
      assert.equal(viaEndpoint.node, active, `the endpoint on ${ep}:8081 forwards to the active node`);
    }

    const metrics = await (await https('https://127.0.0.12:7402/metrics', { headers: { authorization: `Bearer ${creds.token}` } })).text();
    assert.match(metrics, /^halo_node_online\{node="n1"\} 1$/m, 'every agent serves Prometheus metrics');

    const pids = [
      ...status.nodes.flatMap((n) => (n.session ? [n.session.pid] : [])),
      ...(web?.nodes.flatMap((n) => n.resources.flatMap((r) => (r.pid === null ? [] : [r.pid]))) ?? []),
    ];
    const guard = JSON.parse(readFileSync(join(dir, 'state', 'state', active, 'web', 'app', 'pid.json'), 'utf8')) as { guardPid: number };
    pids.push(guard.guardPid);
    assert.equal(pids.length, 5, `3 agents, 1 service, 1 guard: ${JSON.stringify(pids)}`);
    assert.ok(pids.every(isAlive));

    demo.kill('SIGINT');
    assert.equal(await exited, 0, out);
    await eventually(async () => pids.every((p) => !isAlive(p)), { timeoutMs: 10_000, what: 'every demo process gone' });
    assert.match(out, /nothing left running/);
    // Nothing else that mentions the demo's directory (the coordinator, guards) survives either.
    assert.deepEqual(leftoversOf(dir), []);
  } finally {
    // After a failure above: stop the demo as a user would, then make sure nothing of it survives
    // to load the machine for the tests that follow.
    if (demo.exitCode === null) {
      demo.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    }
    for (const pid of [...(demo.exitCode === null && demo.pid !== undefined ? [demo.pid] : []), ...leftoversOf(dir)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone in the meantime.
      }
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
});

/** Live processes whose command line mentions the demo's directory (coordinator, agents, guards). */
function leftoversOf(dir: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => Number(d))
    .filter((pid) => isAlive(pid) && (readCmdline(pid) ?? []).some((a) => a.includes(dir)));
}
