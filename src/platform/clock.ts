/**
 * Time as a seam. `now()` is monotonic milliseconds (for deadlines such as lease validity);
 * `wallNow()` is epoch milliseconds (for records other processes read).
 */
export interface Clock {
  now(): number;
  wallNow(): number;
  /** Resolves after `ms`; rejects with the abort reason when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock: CLOCK_MONOTONIC (comparable across processes on one machine) and Date.now(). */
export class SystemClock implements Clock {
  now(): number {
    return Number(process.hrtime.bigint() / 1_000_000n);
  }
  wallNow(): number {
    return Date.now();
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/** A clock that moves only when told to. Sleeps resolve in deadline order as `advance` passes them. */
export class ManualClock implements Clock {
  private t: number;
  private readonly wallOffset: number;
  private sleepers: { until: number; resolve: () => void }[] = [];

  constructor(start = 0, wallOffset = 1_700_000_000_000) {
    this.t = start;
    this.wallOffset = wallOffset;
  }
  now(): number {
    return this.t;
  }
  wallNow(): number {
    return this.t + this.wallOffset;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.sleepers = this.sleepers.filter((s) => s !== entry);
        reject(signal?.reason);
      };
      const entry = {
        until: this.t + ms,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.sleepers.push(entry);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  /** Move time forward, waking sleepers whose deadline has passed (in order). */
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.until <= this.t).sort((a, b) => a.until - b.until);
    this.sleepers = this.sleepers.filter((s) => s.until > this.t);
    for (const s of due) s.resolve();
  }
}
