import { setTimeout as sleep } from 'node:timers/promises';
import { activeIntervals, type ServiceRecord } from '../e2e/harness.js';
import type { LiveInstance } from './cluster.js';

/**
 * The checker of the fault tests: what the service's own records (test/e2e/harness.ts
 * activeIntervals/overlaps) and a sampler of the live service processes say about safety (never
 * two active instances of the group) and availability (how long nobody served).
 */

export type Interval = ReturnType<typeof activeIntervals>[number];

/** A time during which no instance of the group was active: between one's last sign of life and the next one's start. */
export interface Outage {
  /** Last record (start, alive or stop) of the instance that ended. */
  readonly from: number;
  /** Start record of the next instance. */
  readonly to: number;
  readonly ms: number;
  readonly before: string;
  readonly after: string;
}

function label(iv: Interval): string {
  return `${iv.node}/e${iv.epoch}/pid${iv.pid}`;
}

/**
 * The gaps between consecutive active intervals that start within [from, to] (default: all).
 * Only meaningful when the intervals do not overlap (check `overlaps` first). An instance that is
 * still running has its last heartbeat as its end, so call this after the next one started.
 */
export function outages(records: readonly ServiceRecord[], window: { from?: number; to?: number } = {}): Outage[] {
  const iv = activeIntervals(records);
  const out: Outage[] = [];
  for (let i = 1; i < iv.length; i++) {
    const a = iv[i - 1];
    const b = iv[i];
    if (!a || !b) continue;
    if (b.from < (window.from ?? -Infinity) || b.from > (window.to ?? Infinity)) continue;
    out.push({ from: a.to, to: b.from, ms: b.from - a.to, before: label(a), after: label(b) });
  }
  return out;
}

/** The q-quantile (0..1) of `xs` by nearest rank; NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] ?? Number.NaN;
}

/** Samples the live service instances (by PID, from the records) every `everyMs` until stopped. */
export class Sampler {
  maxLive = 0;
  maxLiveAt: string[] = [];
  samples = 0;
  private readonly seen: { at: number; pids: number[] }[] = [];
  private readonly done: Promise<void>;
  private stopped = false;

  constructor(
    private readonly live: () => Promise<LiveInstance[]>,
    private readonly everyMs = 25,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const live = await this.live();
      this.samples++;
      this.seen.push({ at: Date.now(), pids: live.map((l) => l.pid) });
      if (this.seen.length > 100_000) this.seen.splice(0, 50_000);
      if (live.length > this.maxLive) {
        this.maxLive = live.length;
        this.maxLiveAt = live.map((l) => `${l.node}/e${l.epoch}/pid${l.pid}`);
      }
      await sleep(this.everyMs);
    }
  }

  /** Whether `pid` was seen dead in any sample taken in [from, to]. */
  deadDuring(pid: number, from: number, to: number): boolean {
    return this.seen.some((s) => s.at >= from && s.at <= to && !s.pids.includes(pid));
  }

  /** Whether any instance was seen alive in [from, to]. */
  anyAliveDuring(from: number, to: number): boolean {
    return this.seen.some((s) => s.at >= from && s.at <= to && s.pids.length > 0);
  }

  /** Samples taken at or after `from` that saw more than one live instance. */
  doubleSince(from: number): { at: number; pids: number[] }[] {
    return this.seen.filter((s) => s.at >= from && s.pids.length > 1);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** The last heartbeat (or stop) an instance recorded. */
export function lastSign(records: readonly ServiceRecord[], pid: number): number {
  const iv = activeIntervals(records).find((x) => x.pid === pid);
  if (!iv) throw new Error(`no records of pid ${pid}`);
  return iv.to;
}

/** When an instance recorded its start. */
export function startOf(records: readonly ServiceRecord[], pid: number): number {
  const r = records.find((x) => x.pid === pid && x.event === 'start');
  if (!r) throw new Error(`no start record of pid ${pid}`);
  return r.at;
}
