import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCopy, type Ack } from '../../fixtures/mirror/records.js';
import type { EventsResponse } from '../../src/api/schemas.js';
import { etcdSkipReason } from '../support/etcd.js';
import type { NetnsCluster } from './cluster.js';
import { quantile } from './checker.js';
import { netnsSkipReason, NetnsHosts } from './hosts.js';
import { acksOf, dataOf, mirrorCluster, RECORD_BYTES } from './mirror-cluster.js';
import { FaultRunner, planFromEnv, type Ran } from './runner.js';

/**
 * The async mirror under the fault harness: what a failover reports as lost against what is
 * actually missing. Same cluster as test/netns/mirror.test.ts (run 160) with an async mirror and the
 * record writer without the shim (its fsync is local only: async mode promises nothing more).
 *
 * After each schedule, the acknowledged records the active's log lacks that were not missing
 * before ("newly lost") are compared with the schedule's `mirror-data-loss` events, each of which
 * says: `bytes` had not reached the new active as of `asOfAt` (the old active's last report),
 * written since `sinceAt`; changes after `asOfAt` are unknown. Asserted:
 * - nothing is lost without an event;
 * - every newly lost record was written within an event's window (at or after its `sinceAt`,
 *   before the event);
 * - the bytes lost are at most what the events report plus what was written after their
 *   `asOfAt` (the unknown tail), plus one scan period of writes before it (the report's figures
 *   come from the last scan before it was made).
 * Reported (not asserted, it depends on how much the standby received after the report): the
 * reported bytes against the lost bytes.
 *
 * HALO_MIRROR_ASYNC_SCHEDULES=N (default 20), HALO_MIRROR_ASYNC_SEED, HALO_MIRROR_ASYNC_BASE_SEED.
 */
const skip = netnsSkipReason() ?? etcdSkipReason();
const RUN = 160;
const PLAN = planFromEnv('HALO_MIRROR_ASYNC', 20);
/** The mirror's scan period (mirror-cluster.ts) plus slack for the time between a scan and the report. */
const SCAN_SLACK_MS = 150;

const key = (a: Ack): string => `${a.n}/${a.nonce}`;

interface LossEvent {
  readonly at: number;
  readonly node: string;
  readonly bytes: number;
  readonly sinceAt: number | null;
  readonly asOfAt: number;
  readonly upperBound: boolean;
}

describe('async mirror under seeded fault schedules: reported loss against actual loss', { skip: skip ?? false, timeout: Math.max(900_000, PLAN.count * 60_000) }, () => {
  let hosts: NetnsHosts;
  let c: NetnsCluster;
  let runner: FaultRunner | null = null;
  let ok = false;

  before(async () => {
    hosts = NetnsHosts.create({ run: RUN, count: 3 });
    c = await mirrorCluster(hosts, { name: 'mirrorasync', mode: 'async', sqlite: false });
    await c.start();
    runner = new FaultRunner(hosts, c, { convergeLimitMs: 60_000 });
  });

  after(async () => {
    await runner?.stop();
    if (c) await c.stop({ keep: !ok });
    await hosts?.teardown();
  });

  async function lossEvents(via: string, from: number, to: number): Promise<LossEvent[] | string> {
    const r = await c.api(via, '/v1/events?limit=1000', { timeoutMs: 3000 });
    if (!r || r.status !== 200) return `GET /v1/events on ${via}: ${r ? `${r.status} ${r.text}` : 'no answer'}`;
    const out: LossEvent[] = [];
    for (const e of (JSON.parse(r.text) as EventsResponse).events) {
      if (e.kind !== 'mirror-data-loss' || e.at < from || e.at > to) continue;
      if (!e.loss) return `a mirror-data-loss event without figures: ${e.message}`;
      const { upperBound } = e.loss;
      if (upperBound === undefined) return `a mirror-data-loss event without upperBound: ${e.message}`;
      out.push({ at: e.at, node: e.node ?? '?', ...e.loss, upperBound });
    }
    return out;
  }

  test(PLAN.replaySeed !== null ? `replay of schedule seed ${PLAN.replaySeed}` : `${PLAN.count} seeded fault schedules: the reported loss accounts for every lost record`, async (t) => {
    assert.ok(runner);
    const lost = new Set<string>();
    const rows: { reported: number; lost: number; bound: number; upper: boolean }[] = [];
    let events = 0;
    const check = async (res: Ran): Promise<string | null> => {
      const acked = acksOf(c);
      const log = join(dataOf(c, res.active.node), 'log');
      const copy = checkCopy(existsSync(log) ? readFileSync(log, 'latin1') : '', acked);
      if (copy.malformed !== null) return `the log on the active ${res.active.node} is malformed: ${copy.malformed}`;
      const fresh = copy.missing.filter((a) => !lost.has(key(a)));
      copy.missing.forEach((a) => lost.add(key(a)));
      const evs = await lossEvents(res.active.node, res.from, res.to);
      if (typeof evs === 'string') return evs;
      events += evs.length;
      if (fresh.length > 0 && evs.length === 0) return `${fresh.length} acknowledged records lost (#${fresh[0]?.n}...) but no mirror-data-loss event`;
      for (const m of fresh) {
        if (!evs.some((e) => m.at <= e.at && (e.sinceAt === null || m.at >= e.sinceAt - SCAN_SLACK_MS))) {
          return `record #${m.n} (acked at ${m.at}) was lost but no event's window covers it: ${JSON.stringify(evs)}`;
        }
      }
      const writtenIn = (lo: number, hi: number): number => acked.filter((a) => a.at > lo && a.at <= hi).length * RECORD_BYTES;
      const reported = evs.reduce((s, e) => s + e.bytes, 0);
      const bound = evs.reduce((s, e) => s + e.bytes + writtenIn(e.asOfAt - SCAN_SLACK_MS, e.at), 0);
      const lostBytes = fresh.length * RECORD_BYTES;
      if (evs.length > 0) rows.push({ reported, lost: lostBytes, bound, upper: evs.some((e) => e.upperBound) });
      if (lostBytes > bound) {
        return `${lostBytes} bytes lost (${fresh.length} records) but the events account for at most ${bound} (reported ${reported} + written after the reports): ${JSON.stringify(evs)}`;
      }
      return null;
    };
    await runner.runAll(t, PLAN, 'dist/test/netns/mirror-async.test.js', check);
    const diffs = rows.filter((r) => !r.upper).map((r) => r.lost - r.reported);
    t.diagnostic(
      `${acksOf(c).length} records acknowledged; ${events} mirror-data-loss events in ${rows.length} schedules; ${lost.size} acknowledged records lost in all (async), every one inside a reported window; ` +
        `lost minus reported bytes per schedule (reports not marked as upper bounds): p50 ${quantile(diffs, 0.5)}, min ${diffs.length > 0 ? Math.min(...diffs) : 0}, max ${diffs.length > 0 ? Math.max(...diffs) : 0}; rows [${rows.map((r) => `${r.lost}/${r.reported}/${r.bound}${r.upper ? ' (upper bound)' : ''}`).join(' ')}] (lost/reported/bound)`,
    );
    ok = true;
  });
});
