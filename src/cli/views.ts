import type { EventItem, GroupView, IncidentBody, MirrorsResponse, ReportResponse, StatusResponse } from '../api/schemas.js';
import type { JournalEntry } from '../domain/state.js';
import { dash, describeActions, formatDuration, formatNines, formatTable, formatTime, formatUptime } from './format.js';

/** Human renderings of API answers (the -o table output). */

/** One word for where a group stands, as seen from its assignment and the active node's report. */
export function groupState(g: GroupView): string {
  const a = g.assignment;
  if (!a) return 'unplaced';
  if (a.transition) return `${a.transition.kind}: ${a.transition.from} -> ${a.transition.to ?? 'best node'}`;
  if (a.active === null) return 'stopped';
  const n = g.nodes.find((x) => x.node === a.active);
  return n ? n.state : 'unknown';
}

function groupNotes(g: GroupView, now: number): string {
  const notes: string[] = [];
  if (g.maintenance) notes.push('maintenance');
  if (g.pendingMove) notes.push(`${g.pendingMove.kind} requested${g.pendingMove.to ? ` to ${g.pendingMove.to}` : ''}`);
  for (const i of g.ineligible) {
    if (i.reason === 'failed') notes.push(`failed on ${i.node}${i.until !== null ? ` (eligible in ${formatDuration(Math.max(0, i.until - now))})` : ''}`);
  }
  return notes.join('; ');
}

function monitorsText(ms: GroupView['nodes'][number]['resources'][number]['monitors']): string {
  return ms.map((m) => `${m.kind} ${m.ok ? 'ok' : `FAIL x${m.consecutiveFailures}`}${m.ok ? ` ${Math.round(m.latencyMs)}ms` : m.detail ? ` (${m.detail})` : ''}`).join(', ');
}

/** Rows of every resource of the given groups on every node that reports one. */
function resourceRows(groups: readonly GroupView[]): string[][] {
  const rows: string[][] = [];
  for (const g of groups) {
    for (const n of g.nodes) {
      if (n.resources.length === 0) {
        if (n.state !== 'unknown' && n.state !== 'stopped') rows.push([g.name, n.node, n.role, n.state, '-', '-', '-', '-', n.detail]);
        continue;
      }
      for (const r of n.resources) {
        rows.push([g.name, n.node, n.role, n.state, r.name, r.state === 'running' ? (r.healthy ? 'healthy' : 'UNHEALTHY') : r.state, dash(r.pid), String(r.restarts), monitorsText(r.monitors) || r.detail]);
      }
    }
  }
  return rows;
}

export function renderStatus(s: StatusResponse, now: number): string {
  const head = [
    `cluster ${s.cluster}`,
    s.configVersion === null ? 'no configuration applied' : `config v${s.configVersion}`,
    s.controller ? `controller ${s.controller.node}` : 'no controller',
    `answered by ${s.servedBy}`,
  ].join(' · ');
  const out: string[] = [head];
  if (s.maintenance) out.push('MAINTENANCE: the whole cluster is in maintenance; halo starts, stops and moves nothing');
  out.push('');
  out.push(
    formatTable(
      ['NODE', 'STATE', 'API', 'LABELS', 'NOTES'],
      s.nodes.map((n) => [
        n.name,
        n.online ? 'online' : 'offline',
        dash(n.apiUrl ?? (n.address !== null && n.apiPort !== null ? `http://${n.address}:${n.apiPort}` : null)),
        dash(Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',')),
        [n.standby ? 'standby' : '', n.maintenance ? 'maintenance' : '', n.inConfig ? '' : 'not in config'].filter(Boolean).join(', '),
      ]),
    ),
  );
  if (s.groups.length > 0) {
    out.push('');
    out.push(
      formatTable(
        ['GROUP', 'ACTIVE', 'EPOCH', 'STANDBYS', 'STATE', 'NOTES'],
        s.groups.map((g) => [g.name, dash(g.assignment?.active), dash(g.assignment?.epoch), dash(g.assignment?.standbys.join(',')), groupState(g), groupNotes(g, now)]),
      ),
    );
    const rows = resourceRows(s.groups);
    if (rows.length > 0) {
      out.push('');
      out.push(formatTable(['GROUP', 'NODE', 'ROLE', 'STATE', 'RESOURCE', 'HEALTH', 'PID', 'RESTARTS', 'MONITORS'], rows));
    }
  }
  for (const w of s.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}

export function renderGroup(g: GroupView, now: number): string {
  const a = g.assignment;
  const out = [
    `group ${g.name} (${g.redundancy}, failback ${g.failback}) · ${groupState(g)}`,
    `active ${dash(a?.active)} · epoch ${dash(a?.epoch)} · standbys ${dash(a?.standbys.join(','))} · candidates ${g.candidates.join(',')}`,
  ];
  const notes = groupNotes(g, now);
  if (notes) out.push(notes);
  out.push('');
  out.push(formatTable(['NODE', 'ONLINE', 'ROLE', 'STATE', 'EPOCH', 'DETAIL'], g.nodes.map((n) => [n.node, n.online ? 'yes' : 'no', n.role, n.state, dash(n.epoch), n.detail])));
  const rows = resourceRows([g]);
  if (rows.length > 0) {
    out.push('');
    out.push(formatTable(['GROUP', 'NODE', 'ROLE', 'STATE', 'RESOURCE', 'HEALTH', 'PID', 'RESTARTS', 'MONITORS'], rows));
  }
  if (g.ineligible.length > 0) {
    out.push('');
    out.push(formatTable(['INELIGIBLE', 'REASON', 'UNTIL', 'DETAIL'], g.ineligible.map((i) => [i.node, i.reason, i.until === null ? '-' : formatTime(i.until), i.detail])));
  }
  return out.join('\n');
}

export function eventRow(e: EventItem): string[] {
  return [formatTime(e.at), e.kind, dash(e.node), dash(e.group), e.message];
}

export function renderEvents(events: readonly EventItem[]): string {
  if (events.length === 0) return 'no events';
  return formatTable(['TIME', 'KIND', 'NODE', 'GROUP', 'MESSAGE'], events.map(eventRow));
}

/** One line per event for --follow, in the same column order as the table. */
export function renderEventLine(e: EventItem): string {
  const [time, kind, node, group, message] = eventRow(e);
  return `${time}  ${(kind ?? '').padEnd(18)}  ${(node ?? '').padEnd(6)}  ${(group ?? '').padEnd(8)}  ${message ?? ''}`;
}

export function renderJournal(group: string, entries: readonly JournalEntry[]): string {
  if (entries.length === 0) return `no decisions recorded for group ${group} yet`;
  return formatTable(
    ['TIME', 'NODE', 'RULE', 'CODE', 'ACTIONS', 'MESSAGE'],
    entries.map((e) => [formatTime(e.at), e.node, e.rule, e.code, dash(e.actions.join(',')), e.message]),
  );
}

// ------------------------------------------------------------------ availability report

const ms = (v: number | null): string => (v === null ? '-' : formatDuration(v));

function causeText(i: IncidentBody): string {
  const c = i.cause;
  const what = c.resource !== null ? `${c.resource}@${c.node ?? '?'}` : c.node ?? '';
  return what ? `${c.kind} (${what})` : c.kind;
}

function incidentRows(list: readonly IncidentBody[]): string[][] {
  return list.map((i) => [
    i.group,
    formatTime(i.downAt),
    causeText(i),
    ms(i.detectionMs),
    i.recoveryMs === null ? 'open' : `${i.recoveryEstimated ? '~' : ''}${formatDuration(i.recoveryMs)}`,
    i.outageMs === null ? 'open' : `${i.recoveryEstimated ? '~' : ''}${formatDuration(i.outageMs)}`,
    formatDuration(i.downInWindowMs),
    dash(describeActions(i.actions)),
  ]);
}

export function renderReport(r: ReportResponse): string {
  const s = r.summary;
  const out = [
    `availability of cluster ${r.cluster} · ${formatTime(r.from)} .. ${formatTime(r.to)} (${formatDuration(r.to - r.from)}) · answered by ${r.servedBy}`,
    [
      `overall ${formatUptime(s.uptime)}`,
      `${formatNines(s.nines, s.uptime)} nines`,
      `down ${formatDuration(s.downMs)}${s.plannedDownMs > 0 ? ` (planned ${formatDuration(s.plannedDownMs)})` : ''}`,
      `${s.failures} failure${s.failures === 1 ? '' : 's'}${s.open > 0 ? `, ${s.open} open` : ''}`,
      `MTBF ${ms(s.mtbfMs)}`,
      `MTTR ${ms(s.mttrMs)}`,
    ].join(' · '),
    '',
  ];
  if (r.groups.length === 0) out.push('no groups');
  else {
    out.push(
      formatTable(
        ['GROUP', 'UPTIME', 'NINES', 'DOWN', 'PLANNED', 'FAILURES', 'OPEN', 'MTBF', 'MTTR'],
        r.groups.map((g) => [
          g.group,
          formatUptime(g.uptime),
          formatNines(g.nines, g.uptime),
          formatDuration(g.downMs),
          formatDuration(g.plannedDownMs),
          String(g.failures),
          String(g.open),
          ms(g.mtbfMs),
          ms(g.mttrMs),
        ]),
      ),
    );
  }
  const head = ['GROUP', 'DOWN AT', 'CAUSE', 'DETECTION', 'RECOVERY', 'OUTAGE', 'IN WINDOW', 'ACTIONS'];
  const incidents = r.groups.flatMap((g) => g.incidents);
  const planned = r.groups.flatMap((g) => g.planned);
  out.push('');
  out.push(incidents.length === 0 ? 'no incidents' : `incidents\n${formatTable(head, incidentRows(incidents))}`);
  if (planned.length > 0) out.push('', `planned moves\n${formatTable(head, incidentRows(planned))}`);
  if (incidents.some((i) => i.recoveryEstimated) || planned.some((i) => i.recoveryEstimated)) {
    out.push('', '~ recovered by a restart in place: counted until the restart was issued (the log records no end of a restart)');
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return out.join('\n');
}

const CSV_HEADER = [
  'group',
  'planned',
  'cause',
  'cause_node',
  'cause_resource',
  'down_at',
  'detected_at',
  'recovered_at',
  'recovered_on',
  'recovery_estimated',
  'detection_ms',
  'recovery_ms',
  'outage_ms',
  'down_in_window_ms',
  'actions',
  'rpo_ms',
  'message',
] as const;

function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

/** RFC 4180 CSV, one row per incident (planned moves included, oldest first), with a header row. */
export function renderReportCsv(r: ReportResponse): string {
  const all = r.groups.flatMap((g) => [...g.incidents, ...g.planned]).sort((a, b) => a.downAt - b.downAt);
  const rows = all.map((i) =>
    [
      i.group,
      i.planned,
      i.cause.kind,
      i.cause.node,
      i.cause.resource,
      iso(i.downAt),
      iso(i.detectedAt),
      iso(i.recoveredAt),
      i.recoveredOn,
      i.recoveryEstimated,
      i.detectionMs,
      i.recoveryMs,
      i.outageMs,
      i.downInWindowMs,
      describeActions(i.actions),
      i.rpoMs,
      i.cause.message,
    ]
      .map(csvField)
      .join(','),
  );
  return [CSV_HEADER.join(','), ...rows].join('\r\n') + '\r\n';
}

/** `halo mirror status`: one row per (mirror, standby). */
export function renderMirrors(r: MirrorsResponse, now: number): string {
  if (r.mirrors.length === 0) return 'no mirror has published its state (no mirror resource has been active yet)';
  const rows: string[][] = [];
  for (const m of r.mirrors) {
    const rec = m.record;
    const head = [`${rec.group}/${rec.resource}`, `${rec.mode} ${m.state}`, `${rec.node} @${rec.epoch}`, `${m.diffPercent}%`];
    if (rec.standbys.length === 0) rows.push([...head, '-', '-', '-', '-', '-', '-', formatTime(rec.updatedAt)]);
    for (const s of rec.standbys) {
      const resync = s.resync
        ? `${s.resync.totalBytes > 0 ? Math.round((s.resync.doneBytes / s.resync.totalBytes) * 100) : 100}%${s.resync.etaMs === null ? '' : ` eta ${formatDuration(s.resync.etaMs)}`}`
        : '-';
      rows.push([
        ...head,
        `${s.node}${rec.inSync.includes(s.node) ? ' (in sync)' : ''}`,
        s.state,
        s.state === 'broken' ? '-' : `${s.lagMs}ms`,
        String(s.pendingBytes),
        resync,
        s.brokeAt === null ? '-' : `${formatDuration(Math.max(0, now - s.brokeAt))} ago`,
        s.lastAckAt === null ? '-' : formatTime(s.lastAckAt),
      ]);
    }
  }
  return formatTable(['MIRROR', 'STATE', 'ACTIVE', 'DIFF', 'STANDBY', 'LINK', 'LAG', 'PENDING B', 'RESYNC', 'BROKEN', 'LAST UPDATE'], rows);
}
