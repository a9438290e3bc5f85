/**
 * Percentiles and the human-readable table of the benchmark. Figures only: nothing here
 * compares against a target to pass or fail.
 */

/** Summary of one series of trials, in the unit of its samples (ms unless named otherwise). */
export interface Summary {
  /** Trials that produced a figure. */
  readonly n: number;
  /** Trials that did not reach the end state within their limit (not in the percentiles). */
  readonly timedOut: number;
  readonly min: number | null;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  /** Every sample, in trial order, rounded to 0.1. */
  readonly samples: readonly number[];
}

/**
 * Nearest-rank percentile (the smallest sample with at least `p`% of samples at or below it).
 * With 20 samples p99 is the largest sample; with 100 it is the second largest.
 */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? null;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

export function summarize(samples: readonly number[], timedOut = 0): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const r = (x: number | null): number | null => (x === null ? null : round1(x));
  return {
    n: samples.length,
    timedOut,
    min: r(sorted[0] ?? null),
    p50: r(percentile(sorted, 50)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted[sorted.length - 1] ?? null),
    mean: r(samples.length === 0 ? null : samples.reduce((a, b) => a + b, 0) / samples.length),
    samples: samples.map(round1),
  };
}

/** One row of the table: a label, a summary (or a single value) and the target printed next to it. */
export interface TableRow {
  readonly label: string;
  readonly unit: string;
  readonly summary: Summary | null;
  /** For single readings (RSS, CPU) instead of a series. */
  readonly value?: number | null;
  readonly target?: string;
}

function cell(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-';
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

/** Fixed-width plain-text table; columns: what, n, p50, p99, max, unit, target. */
export function formatTable(rows: readonly TableRow[]): string {
  const head = ['figure', 'n', 'p50', 'p99', 'max', 'unit', 'target'];
  const body = rows.map((r) => {
    if (r.summary === null) return [r.label, '1', cell(r.value), '', '', r.unit, r.target ?? ''];
    const s = r.summary;
    const n = s.timedOut > 0 ? `${s.n} (+${s.timedOut} timed out)` : String(s.n);
    return [r.label, n, cell(s.p50), cell(s.p99), cell(s.max), r.unit, r.target ?? ''];
  });
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((c, i) => {
        const w = widths[i] ?? 0;
        // Numbers right-aligned, text left-aligned.
        return i >= 1 && i <= 4 ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), rule, ...body.map(line)].join('\n');
}
