/** Plain-text rendering for the CLI: one table formatter and a few units. */

/**
 * Columns padded to their widest cell, separated by two spaces, no trailing spaces.
 * Cells must not contain newlines.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => (cells[i] ?? '').padEnd(w))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** 850 ms, 1.4 s, 2 min 5 s, 3 h 10 min. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.floor((ms % 3_600_000) / 60_000)} min`;
}

/** Wall-clock time in UTC, to the millisecond: 2025-01-31 14:03:07.120Z */
export function formatTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ');
}

/** `-` for empty values, so columns never look shifted. */
export function dash(s: string | number | null | undefined): string {
  return s === null || s === undefined || s === '' ? '-' : String(s);
}
