import type { IncidentBody } from '../api/schemas.js';

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

/** 99.950 %: truncated, never rounded up, so 99.9999 % is not shown as 100 %. */
export function formatUptime(uptime: number | null): string {
  if (uptime === null) return '-';
  if (uptime >= 1) return '100 %';
  return `${(Math.floor(uptime * 100_000) / 1000).toFixed(3)} %`;
}

/** One decimal, truncated; "∞" when there was no downtime; "-" when nothing was accounted. */
export function formatNines(nines: number | null, uptime: number | null): string {
  if (uptime === null) return '-';
  if (nines === null) return '∞';
  return (Math.floor(nines * 10 + 1e-9) / 10).toFixed(1);
}

/** "restart x2 on n1, failover to n2": consecutive actions of one kind and node are counted. */
export function describeActions(actions: IncidentBody['actions']): string {
  const parts: { text: string; n: number }[] = [];
  for (const a of actions) {
    const where = a.node === null ? '' : a.kind === 'restart' ? ` on ${a.node}` : ` to ${a.node}`;
    const text = `${a.kind}${a.resource !== null && a.kind === 'restart' ? ` ${a.resource}` : ''}${where}`;
    const last = parts[parts.length - 1];
    if (last && last.text === text) last.n++;
    else parts.push({ text, n: 1 });
  }
  return parts.map((p) => (p.n > 1 ? p.text.replace(/^(\S+)/, `$1 x${p.n}`) : p.text)).join(', ');
}
