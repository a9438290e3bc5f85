import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventsResponse } from '../../src/api/schemas.js';
import { monotonicNowMs } from '../../src/platform/proc.js';
import { writeFenceDeadline } from '../../src/resources/process/fence.js';
import { NetnsCluster } from './cluster.js';
import { etcdSkipReason } from '../support/etcd.js';
import { eventually } from '../support/util.js';
import { netnsSkipReason, NetnsHosts } from './hosts.js';

/**
 * The ocf resource with Debian's resource-agents, run unchanged:
 *  - heartbeat/IPaddr2 driven by an OcfAgent inside a namespace host (as the halo agent there would):
 *    start adds the address to that host's eth0, monitor sees it, stop removes it.
 *  - heartbeat/Dummy in group "web" of a real three-node cluster: the group runs, the agent's
 *    monitor notices its state file was removed, and the group fails over (maxRestarts: 0).
 */
const RUN = 158;
const DUMMY = '/usr/lib/ocf/resource.d/heartbeat/Dummy';
function skipReason(): string | undefined {
  const s = netnsSkipReason() ?? etcdSkipReason();
  if (s !== undefined) return s;
  if (existsSync(DUMMY)) return undefined;
  if (process.env['CI'] === 'true') throw new Error(`${DUMMY} is missing in CI: install resource-agents (.ci/run does)`);
  return 'skipped: resource-agents is not installed (apt-get install -y resource-agents)';
}
const skip = skipReason();

const AGENT_MODULE = pathToFileURL(join(import.meta.dirname, '../../src/resources/ocf/agent.js')).href;
const CONFIG_MODULE = pathToFileURL(join(import.meta.dirname, '../../src/domain/config.js')).href;

/** Runs one OcfAgent method inside the host (a fresh process each time, as after an agent restart). */
const DRIVER = `
const spec = JSON.parse(process.argv[1]);
const { OcfAgent } = await import(spec.agentModule);
const { OcfResourceSchema } = await import(spec.configModule);
const agent = new OcfAgent(OcfResourceSchema.parse(spec.cfg));
const r = await agent[spec.method](spec.ctx);
process.stdout.write(JSON.stringify(r));
`;

describe('ocf resource with Debian resource-agents across namespace hosts', { skip: skip ?? false, timeout: 180_000 }, () => {
  let hosts: NetnsHosts;
  before(() => {
    hosts = NetnsHosts.create({ run: RUN, count: 3 });
  });
  after(async () => {
    await hosts?.teardown();
  });

  test('heartbeat/IPaddr2 inside a namespace: start adds the address, monitor sees it, stop removes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'halo-ipaddr2-'));
    try {
      const ip = `10.213.${RUN}.50`;
      const fenceFile = join(dir, 'fence');
      writeFenceDeadline(fenceFile, monotonicNowMs() + 600_000);
      const cfg = { name: 'addr', type: 'ocf', agent: 'heartbeat/IPaddr2', params: { ip, cidr_netmask: '24', nic: 'eth0' } };
      const ctx = { node: 'h1', group: `ipaddr2-${RUN}`, epoch: 1, role: 'active', stateDir: join(dir, 'state'), fenceFile };
      const call = async (method: string): Promise<unknown> => {
        const spec = { agentModule: AGENT_MODULE, configModule: CONFIG_MODULE, cfg, ctx, method };
        const r = await hosts.run('h1', process.execPath, ['--input-type=module', '-e', DRIVER, JSON.stringify(spec)]);
        assert.equal(r.code, 0, `${method} in h1: ${r.stderr}`);
        return JSON.parse(r.stdout) as unknown;
      };
      const has = async (h: string): Promise<boolean> => (await hosts.run(h, 'ip', ['-o', '-4', 'addr', 'show', 'dev', 'eth0'])).stdout.includes(` inet ${ip}/24 `);

      assert.equal(((await call('probe')) as { kind: string }).kind, 'stopped');
      const started = (await call('start')) as { ok: boolean; detail: string };
      assert.equal(started.ok, true, started.detail);
      assert.equal(await has('h1'), true, 'the address is on h1');
      assert.equal(await has('h2'), false, 'and only there');
      const running = (await call('probe')) as { kind: string; detail: string };
      assert.deepEqual([running.kind, running.detail], ['running', 'monitor: OCF_SUCCESS']);
      // h1 answers ARP for the address on the shared link (ARP ping from h2).
      const reach = await hosts.run('h2', 'arping', ['-c', '1', '-w', '2', '-i', 'eth0', ip]);
      assert.equal(reach.code, 0, `h2 gets an ARP answer for ${ip}: ${reach.stdout}${reach.stderr}`);
      const stopped = (await call('stop')) as { ok: boolean; detail: string };
      assert.equal(stopped.ok, true, stopped.detail);
      assert.equal(await has('h1'), false, 'stop removed the address');
      assert.equal(((await call('probe')) as { kind: string }).kind, 'stopped');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('heartbeat/Dummy in a cluster group: runs, its monitor notices the removed state file, the group fails over', async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'halo-dummy-'));
    const stateOf = (node: string): string => join(stateDir, `dummy-${node}.state`);
    const c = new NetnsCluster(hosts, {
      name: 'ocf',
      configure: (doc) => {
        doc.setIn(['groups', 0, 'recovery', 'maxRestarts'], 0);
        doc.setIn(['groups', 0, 'resources', 1], {
          name: 'dummy',
          type: 'ocf',
          agent: 'heartbeat/Dummy',
          params: { state: join(stateDir, 'dummy-${HALO_NODE}.state') },
          monitorIntervalMs: 200,
          monitorTimeoutMs: 5000,
        });
      },
    });
    let ok = false;
    try {
      await c.start();
      const first = await c.agreedActive();
      assert.ok(first);
      await eventually(() => existsSync(stateOf(first.node)), { timeoutMs: 10_000, what: `Dummy state file of ${first.node}` });
      assert.deepEqual(
        c.nodes.filter((n) => existsSync(stateOf(n))),
        [first.node],
        'Dummy runs on the active node only',
      );
      const removedAt = c.mark(`rm ${stateOf(first.node)}`);
      rmSync(stateOf(first.node));
      let next = '';
      await eventually(
        async () => {
          const a = await c.agreedActive();
          next = a !== null && a.node !== first.node ? a.node : '';
          return next !== '' && existsSync(stateOf(next));
        },
        { timeoutMs: 30_000, what: `group moved away from ${first.node}` },
      );
      t.diagnostic(`${first.node} -> ${next}: group running there ${Date.now() - removedAt} ms after the state file was removed`);
      const r = await c.api(next, '/v1/events?limit=200', { timeoutMs: 3000 });
      assert.ok(r && r.status === 200, 'events answered');
      const events = (JSON.parse(r.text) as EventsResponse).events;
      const exitedEv = events.find((e) => e.kind === 'resource-exited' && e.resource === 'dummy' && e.node === first.node);
      assert.ok(exitedEv, `an event says dummy exited on ${first.node}: ${JSON.stringify(events.map((e) => e.message))}`);
      assert.match(exitedEv.message, /heartbeat\/Dummy monitor: OCF_NOT_RUNNING \(7\)/);
      assert.deepEqual(
        c.nodes.filter((n) => existsSync(stateOf(n))),
        [next],
        'Dummy runs on the new active only',
      );
      ok = true;
    } finally {
      await c.stop({ keep: !ok });
      if (!ok) t.diagnostic(`logs kept in ${c.dir}`);
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
