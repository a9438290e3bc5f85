import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { isAlive } from '../../src/platform/proc.js';
import { netnsSkipReason, NetnsHosts, removeNamespaces } from './hosts.js';

/**
 * The namespace harness itself: hosts reach each other, isolate/heal and one-way cuts do what they
 * say, and teardown leaves no namespace and no process behind.
 */
const skip = netnsSkipReason();
const RUN = 151;

function namespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

describe('network-namespace hosts', { skip: skip ?? false, timeout: 60_000 }, () => {
  let hosts: NetnsHosts;
  const servers: number[] = [];

  before(() => {
    hosts = NetnsHosts.create({ run: RUN, count: 3 });
    for (const h of hosts.hosts) {
      const c = hosts.spawn(h.name, process.execPath, ['-e', `require('node:http').createServer((q, r) => r.end('${h.name}')).listen(80, '${h.address}')`]);
      if (c.pid !== undefined) servers.push(c.pid);
    }
  });
  after(async () => {
    await hosts?.teardown();
  });

  const get = async (from: string, to: string): Promise<string | null> => (await hosts.fetchFrom(from, `http://${hosts.host(to).address}/`, { timeoutMs: 500 }))?.text ?? null;

  const reach = async (): Promise<Record<string, string | null>> => {
    const out: Record<string, string | null> = {};
    for (const a of ['h1', 'h2', 'h3']) for (const b of ['h1', 'h2', 'h3']) if (a !== b) out[`${a}>${b}`] = await get(a, b);
    return out;
  };

  test('addresses exist only inside the namespaces', async () => {
    const root = spawnSync('ip', ['-o', 'addr'], { encoding: 'utf8' }).stdout;
    assert.equal(root.includes(`10.213.${RUN}.`), false);
    // every server answers from every other host (polling: the servers take a moment to listen)
    const deadline = Date.now() + 10_000;
    let r = await reach();
    while (Object.values(r).some((v) => v === null) && Date.now() < deadline) r = await reach();
    assert.deepEqual(r, { 'h1>h2': 'h2', 'h1>h3': 'h3', 'h2>h1': 'h1', 'h2>h3': 'h3', 'h3>h1': 'h1', 'h3>h2': 'h2' });
  });

  test('isolate cuts a host off both ways, heal restores it', async () => {
    hosts.isolate('h2');
    hosts.isolate('h2'); // idempotent
    assert.deepEqual(await reach(), { 'h1>h2': null, 'h1>h3': 'h3', 'h2>h1': null, 'h2>h3': null, 'h3>h1': 'h1', 'h3>h2': null });
    assert.equal(await get('h2', 'h2'), 'h2', 'an isolated host still reaches itself');
    hosts.heal('h2');
    assert.deepEqual(hosts.faults(), []);
    assert.equal(Object.values(await reach()).every((v) => v !== null), true);
  });

  test('a one-way cut drops packets from one host at the other', async () => {
    hosts.cutOneWay('h1', 'h3');
    // TCP needs both directions, so both connections between h1 and h3 fail; h2 is unaffected.
    assert.deepEqual(await reach(), { 'h1>h2': 'h2', 'h1>h3': null, 'h2>h1': 'h1', 'h2>h3': 'h3', 'h3>h1': null, 'h3>h2': 'h2' });
    const rules = spawnSync('ip', ['netns', 'exec', hosts.host('h3').ns, 'nft', 'list', 'chain', 'inet', 'halo', 'in'], { encoding: 'utf8' }).stdout;
    assert.match(rules, new RegExp(`ip saddr 10\\.213\\.${RUN}\\.1 drop`));
    hosts.healOneWay('h1', 'h3');
    assert.equal(Object.values(await reach()).every((v) => v !== null), true);
  });

  test('teardown kills what it started and deletes every namespace; a leftover is removed on create', async () => {
    await hosts.teardown();
    assert.deepEqual(
      namespaces().filter((n) => n.startsWith(`halo-${RUN}-`)),
      [],
    );
    for (const pid of servers) assert.equal(isAlive(pid), false, 'server process is gone');
    // A crashed run leaves a namespace with a process inside: the next create removes both.
    spawnSync('ip', ['netns', 'add', `halo-${RUN}-h9`]);
    const orphan = spawn('ip', ['netns', 'exec', `halo-${RUN}-h9`, 'sleep', '300'], { stdio: 'ignore' });
    const orphanPid = orphan.pid ?? -1;
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(isAlive(orphanPid), true);
    const again = NetnsHosts.create({ run: RUN, count: 1 });
    try {
      assert.equal(isAlive(orphanPid), false, 'the process left inside the stale namespace was killed');
      assert.deepEqual(
        namespaces().filter((n) => n.startsWith(`halo-${RUN}-`)).sort(),
        [`halo-${RUN}-br`, `halo-${RUN}-h1`],
      );
    } finally {
      await again.teardown();
    }
    assert.deepEqual(removeNamespaces(`halo-${RUN}-`), []);
  });
});
