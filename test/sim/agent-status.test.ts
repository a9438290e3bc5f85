import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent/agent.js';
import type { Compare, Coordinator, Opts, TxnOp } from '../../src/coord/coordinator.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { ClusterError } from '../../src/domain/errors.js';
import { HaloConfigSchema } from '../../src/domain/config.js';
import { parseGroupId, parseNodeId, type LeaseId } from '../../src/domain/ids.js';
import { clusterKeys } from '../../src/domain/keys.js';
import { GroupStatusSchema, type GroupStatus } from '../../src/domain/state.js';
import { silentLogger } from '../../src/observability/log.js';
import { ManualClock } from '../../src/platform/clock.js';
import { CuttableCoordinator, World } from './world.js';

/**
 * A status write abandoned at its deadline can still reach the store later (a partition heals and
 * the request that was queued to a cut-off member arrives). The agent writes its status
 * compare-and-swap, so such a write fails instead of overwriting a newer one; and should the stored
 * status still go back (a write by anything else), the agent sees that in its view and writes again.
 */
const CONFIG = HaloConfigSchema.parse({
  cluster: 'st',
  coordinator: { kind: 'memory' },
  timing: { leaseTtlMs: 1000, renewIntervalMs: 150, safetyMarginMs: 300, maxLoopLagMs: 200, reconcileIntervalMs: 100 },
  nodes: [{ name: 'n1', address: '127.0.0.1', apiPort: 7401 }],
  groups: [{ name: 'web', resources: [{ name: 'app', type: 'process', command: 'sim' }] }],
});

const KEY = clusterKeys('st').status(parseNodeId('n1'), parseGroupId('web'));

const flush = async () => {
  for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
};

interface Harness {
  /** The agent's status as stored (read from the store itself, past any wrapper). */
  readonly stored: () => Promise<GroupStatus | null>;
  /** Advance the clock by `ms` in 50 ms steps, letting the agent work at each. */
  readonly run: (ms: number) => Promise<void>;
}

/**
 * One agent (node n1, group web) on a memory store, seen through `wrap` (the link the agent
 * uses); started before `body`, shut down and its directory removed after.
 */
async function withAgent(wrap: (store: MemoryCoordinator) => Coordinator, body: (h: Harness & { readonly store: MemoryCoordinator }) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'halo-status-'));
  const clock = new ManualClock(0);
  const store = new MemoryCoordinator({ clock });
  const world = new World(clock);
  const node = parseNodeId('n1');
  const agent = new Agent({
    coord: wrap(store),
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
    const kv = await store.get(KEY);
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
    await body({ store, stored, run });
  } finally {
    await agent.shutdown({ keepResources: false });
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Holds back the next write to `key` once armed: the caller gets HA_COORD_OUTCOME_UNKNOWN at once
 * (as at its deadline), and the write reaches the store only at `land()`, as it was sent.
 */
class LateWrites extends CuttableCoordinator {
  armed = false;
  private late: (() => Promise<unknown>) | null = null;
  constructor(
    private readonly store: Coordinator,
    private readonly key: string,
  ) {
    super(store);
  }
  private hold(apply: () => Promise<unknown>): never {
    this.armed = false;
    this.late = apply;
    throw new ClusterError('HA_COORD_OUTCOME_UNKNOWN', 'held back by the test');
  }
  override async put(key: string, value: string, opts?: Opts & { readonly lease?: LeaseId }) {
    if (this.armed && key === this.key) this.hold(() => this.store.put(key, value, opts?.lease !== undefined ? { lease: opts.lease } : {}));
    return super.put(key, value, opts);
  }
  override async txn(compares: readonly Compare[], ops: readonly TxnOp[], opts?: Opts) {
    if (this.armed && ops.some((o) => o.key === this.key)) this.hold(() => this.store.txn(compares, ops));
    return super.txn(compares, ops, opts);
  }
  get holding(): boolean {
    return this.late !== null;
  }
  async land(): Promise<void> {
    const apply = this.late;
    this.late = null;
    await apply?.();
  }
}

test('an agent writes its status again when the stored one goes back to an older one', async () => {
  await withAgent(
    (store) => store,
    async ({ store, stored, run }) => {
      await run(1500);
      const good = await stored();
      assert.ok(good, 'the agent wrote its status');
      // The stored status goes back to what it was a while ago (an unconditional put).
      await store.put(KEY, JSON.stringify({ ...good, state: 'stopped', epoch: 0, updatedAt: good.updatedAt - 3000 }));
      assert.equal((await stored())?.updatedAt, good.updatedAt - 3000);
      await run(1500);
      const after = await stored();
      assert.ok(after && after.updatedAt >= good.updatedAt, `the status was written again (stored updatedAt ${after?.updatedAt}, last written ${good.updatedAt})`);
      assert.equal(after.state, good.state);
      assert.equal(after.epoch, good.epoch);
    },
  );
});

test('a status write that reaches the store after a newer one does not overwrite it', async () => {
  let late: LateWrites | null = null;
  await withAgent(
    (store) => (late = new LateWrites(store, KEY)),
    async ({ stored, run }) => {
      const coord = late;
      assert.ok(coord);
      await run(1500);
      assert.ok(await stored(), 'the agent wrote its status');
      // The next status write (the periodic refresh, at most 5 s later) is abandoned with an unknown
      // outcome; the agent writes again on a later pass and that one lands.
      coord.armed = true;
      await run(6000);
      assert.ok(coord.holding, 'a status write was held back');
      const old = (await stored())?.updatedAt ?? 0;
      await run(6000);
      const newer = await stored();
      assert.ok(newer && newer.updatedAt > old, 'a later status write landed');
      // Now the abandoned write reaches the store.
      await coord.land();
      const after = await stored();
      assert.equal(after?.updatedAt, newer.updatedAt, `the stored status went back from ${newer.updatedAt} to ${after?.updatedAt}`);
    },
  );
});
