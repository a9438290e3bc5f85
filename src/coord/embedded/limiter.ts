/** Limits of the failed-authentication counter, per source address. */
export interface FailureLimits {
  /** Failures allowed in one window; past it, failures are answered 429 (default 20). */
  readonly maxFailures: number;
  /** Length of the window, counted from the address's first failure in it (default 10 000 ms). */
  readonly windowMs: number;
  /** Addresses tracked at once; the oldest is forgotten beyond it (default 10 000). */
  readonly maxTracked: number;
}

export const DEFAULT_FAILURE_LIMITS: FailureLimits = { maxFailures: 20, windowMs: 10_000, maxTracked: 10_000 };

interface Window {
  readonly startedAt: number;
  failures: number;
}

/** What `FailureLimiter.fail` decided about one failed attempt. */
export type FailureVerdict =
  | { readonly kind: 'counted'; readonly failures: number }
  /** This failure reached the limit: log it, and expect 429s until `untilMs` passes. */
  | { readonly kind: 'limit-reached'; readonly failures: number; readonly untilMs: number }
  | { readonly kind: 'limited' };

/**
 * Counts failed authentication attempts per source address in fixed windows. Pure bookkeeping:
 * the caller passes the time (monotonic ms), so tests drive it without sleeping. Memory is bounded
 * by `maxTracked`, so a caller with many addresses cannot grow it without limit.
 */
export class FailureLimiter {
  private readonly limits: FailureLimits;
  private readonly windows = new Map<string, Window>();

  constructor(limits: Partial<FailureLimits> = {}) {
    this.limits = { ...DEFAULT_FAILURE_LIMITS, ...limits };
  }

  /** Whether `address` has used up its failures in the current window. */
  isLimited(address: string, nowMs: number): boolean {
    const w = this.current(address, nowMs);
    return w !== undefined && w.failures >= this.limits.maxFailures;
  }

  /** Records one failed attempt from `address`; past the limit it is only answered (`limited`), not counted. */
  fail(address: string, nowMs: number): FailureVerdict {
    let w = this.current(address, nowMs);
    if (w === undefined) {
      w = { startedAt: nowMs, failures: 0 };
      this.track(address, w, nowMs);
    }
    if (w.failures >= this.limits.maxFailures) return { kind: 'limited' };
    w.failures++;
    if (w.failures === this.limits.maxFailures) return { kind: 'limit-reached', failures: w.failures, untilMs: w.startedAt + this.limits.windowMs };
    return { kind: 'counted', failures: w.failures };
  }

  /** The window of `address` if it is still open; an expired one is dropped. */
  private current(address: string, nowMs: number): Window | undefined {
    const w = this.windows.get(address);
    if (w === undefined) return undefined;
    if (nowMs - w.startedAt < this.limits.windowMs) return w;
    this.windows.delete(address);
    return undefined;
  }

  private track(address: string, w: Window, nowMs: number): void {
    if (this.windows.size >= this.limits.maxTracked) {
      for (const [a, old] of this.windows) {
        if (nowMs - old.startedAt >= this.limits.windowMs) this.windows.delete(a);
      }
      // Still full: forget the oldest window (Map keeps insertion order).
      const oldest = this.windows.keys().next();
      if (this.windows.size >= this.limits.maxTracked && oldest.done !== true) this.windows.delete(oldest.value);
    }
    this.windows.set(address, w);
  }
}
