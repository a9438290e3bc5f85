import type { FastifyInstance } from 'fastify';
import { groupFilter } from './auth.js';
import { readStoredConfig } from './observe.js';
import type { Coordinator } from '../coord/coordinator.js';
import { diffPercent, mirrorState } from '../core/mirror.js';
import { clusterKeys } from '../domain/keys.js';
import { parseStored } from '../domain/parse.js';
import { MirrorSyncRecordSchema, type MirrorSyncRecord } from '../domain/state.js';
import type { Clock } from '../platform/clock.js';
import type { MirrorsResponse, MirrorView } from './schemas.js';

/** A record not refreshed for this long is reported stale (its active published every <= 10 s). */
const STALE_AFTER_MS = 30_000;

export function mirrorView(rec: MirrorSyncRecord, now: number): MirrorView {
  const age = Math.max(0, now - rec.updatedAt);
  const state = age > STALE_AFTER_MS ? 'stale' : mirrorState(rec.mode, rec.standbys.map((s) => ({ state: s.state, inSync: rec.inSync.includes(s.node) })));
  const worst = rec.standbys.reduce((a, s) => Math.max(a, s.state === 'broken' ? rec.totalBytes : s.pendingBytes), 0);
  return { state, diffPercent: diffPercent(worst, rec.totalBytes), recordAgeMs: age, record: rec };
}

/** GET /v1/mirrors: every mirror resource's last published record with its derived state. */
export function registerMirrorsRoute(app: FastifyInstance, deps: { readonly coord: Coordinator; readonly cluster: string; readonly clock: Clock }): void {
  app.get('/v1/mirrors', async (req): Promise<MirrorsResponse> => {
    const visible = groupFilter(req.identity, (await readStoredConfig(deps.coord, deps.cluster))?.stored.config);
    const { items } = await deps.coord.list(clusterKeys(deps.cluster).mirrorPrefix);
    const now = deps.clock.wallNow();
    const mirrors: MirrorView[] = [];
    for (const kv of items) {
      const rec = parseStored(MirrorSyncRecordSchema, kv.value);
      if (rec && visible(rec.group)) mirrors.push(mirrorView(rec, now));
    }
    return { mirrors };
  });
}
