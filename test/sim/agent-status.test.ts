import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { HaloConfigSchema } from '../../src/domain/config.js';
import { parseGroupId, parseNodeId } from '../../src/domain/ids.js';
import { clusterKeys } from '../../src/domain/keys.js';
import { GroupStatusSchema } from '../../src/domain/state.js';
import { silentLogger } from '../../src/observability/log.js';
import { ManualClock } from '../../src/platform/clock.js';
import { World } from './world.js';

/**
 * A status write abandoned at its deadline can still reach the store later (a partition heals and
 * the request that was queued to a cut-off member arrives) and overwrite a newer one. The agent
 * sees its own stored status in its view and writes it again.
 */
const CONFIG = HaloConfigSchema.parse({
  cluster: 'st',
  coordinator: { kind: 'memory' },
  timing: { leaseTtlMs: 1000, renewIntervalMs: 150, safetyMarginMs: 300, maxLoopLagMs: 200, reconcileIntervalMs: 100 },
  nodes: [{ name: 'n1', address: '127.0.0.1', apiPort: 7401 }],
  groups: [{ name: 'web', resources: [{ name: 'app', type: 'process', command: 'sim' }] }],
});

const flush = async () => {
  for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
};

test('an agent writes its status again when an older write lands after a newer one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-status-'));
  const clock = new ManualClock(0);
  const coord = new MemoryCoordinator({ clock });
  const world = new World(clock);
  const node = parseNodeId('n1');
  const key = clusterKeys('st').status(node, parseGroupId('web'));
  const agent = new Agent({
    coord,
    clock,
    node,
    config: CONFIG,
    configSource: 'test',
    apiUrl: 'http://test',
    stateDir: join(dir, 'n1'),
    fenceFile: join(dir, 'n1', 'fence'),
    writeFence: (d) => world.fence.set(node, d),
    makeResource: (cfg) => world.resourceAgent(cfg, node),
    makeMonitor: (cfg) => ({ config: cfg, check: async () => ({ ok: true, latencyMs: 0, detail: 'ok' }) }),
    log: silentLogger,
    pid: 1,
  });
  const stored = async () => {
    const kv = await coord.get(key);
    return kv ? GroupStatusSchema.parse(JSON.parse(kv.value)) : null;
  };
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      clock.advance(50);
      await flush();
    }
  };
  try {
    await agent.start();
    await run(1500);
    const good = await stored();
    assert.ok(good, 'the agent wrote its status');
    // An older write of its own lands late: the same record as it was a while ago.
    await coord.put(key, JSON.stringify({ ...good, state: 'stopped', epoch: 0, updatedAt: good.updatedAt - 3000 }));
    assert.equal((await stored())?.updatedAt, good.updatedAt - 3000);
    await run(1500);
    const after = await stored();
    assert.ok(after && after.updatedAt >= good.updatedAt, `the status was written again (stored updatedAt ${after?.updatedAt}, last written ${good.updatedAt})`);
    assert.equal(after.state, good.state);
    assert.equal(after.epoch, good.epoch);
  } finally {
    await agent.shutdown({ keepResources: false });
    rmSync(dir, { recursive: true, force: true });
  }
});
