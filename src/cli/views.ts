import type { EventItem, GroupView, StatusResponse } from '../api/schemas.js';
import type { JournalEntry } from '../domain/state.js';
import { dash, formatDuration, formatTable, formatTime } from './format.js';

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
