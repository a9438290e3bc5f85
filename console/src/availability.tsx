import { useEffect, useState } from 'preact/hooks';
import type { ApiClient, GroupAvailabilityBody, IncidentBody, ReportResponse } from './api.js';
// The same formatting as `halo report`, so the console and the CLI agree.
import { describeActions, formatDuration, formatNines, formatUptime } from '../../src/cli/format.js';

/** The windows the view offers, as `since` durations of GET /v1/report. */
export const WINDOWS = [
  { id: '1h', label: '1 h' },
  { id: '24h', label: '24 h' },
  { id: '7d', label: '7 d' },
] as const;
export type WindowId = (typeof WINDOWS)[number]['id'];

/** Events come in bursts (a failover is several): the report is read once the burst settles. */
const SETTLE_MS = 300;
/** Re-read now and then even without events, so an open incident and the window's end move on. */
const REFRESH_MS = 15_000;
/** Width of the timeline's coordinate space; the SVG stretches it to the page. */
const TL_WIDTH = 1000;
const TL_HEIGHT = 22;
/** Narrowest segment drawn, in timeline units: a 3 s outage in a 7 d window must still be visible. */
const MIN_SEG = 3;

const dur = (v: number | null): string => (v === null ? '-' : formatDuration(v));

/** Local date and time to the second: "Jan 31, 14:03:07". */
function stamp(ms: number): string {
  return new Date(ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

function causeWhere(i: IncidentBody): string {
  const c = i.cause;
  return c.resource !== null ? `${c.resource}@${c.node ?? '?'}` : (c.node ?? '');
}

/** The hover text of an incident's segment: cause, times and the recovery time achieved. */
function incidentTitle(i: IncidentBody): string {
  const where = causeWhere(i);
  const est = i.recoveryEstimated ? '~' : '';
  return [
    `${i.planned ? 'planned: ' : ''}${i.cause.kind}${where ? ` (${where})` : ''}`,
    i.cause.message,
    `down at ${stamp(i.downAt)}`,
    `detected ${stamp(i.detectedAt)} (after ${formatDuration(i.detectionMs)})`,
    i.recoveredAt === null
      ? 'not recovered yet'
      : `recovered ${stamp(i.recoveredAt)}${i.recoveredOn !== null ? ` on ${i.recoveredOn}` : ''} (after ${est}${dur(i.recoveryMs)})`,
    `RTO ${i.outageMs === null ? 'open' : `${est}${formatDuration(i.outageMs)}`}`,
    ...(i.actions.length > 0 ? [`actions: ${describeActions(i.actions)}`] : []),
  ].join('\n');
}

type SegmentKind = 'unobserved' | 'up' | 'incident' | 'planned';

interface Segment {
  readonly kind: SegmentKind;
  readonly x: number;
  readonly w: number;
  readonly title: string;
}

/**
 * When a group was accounted for less than this share of the window (it was started recently), a
 * second bar shows just the accounted time, where its outages are wide enough to tell apart.
 */
const ZOOM_BELOW = 0.1;

/** Lays [lo, hi] of a group's window out on [0, TL_WIDTH]: serving underneath, outages drawn over it. */
export function segments(g: GroupAvailabilityBody, lo: number, hi: number): Segment[] {
  const span = Math.max(1, hi - lo);
  const x = (t: number): number => ((Math.min(hi, Math.max(lo, t)) - lo) / span) * TL_WIDTH;
  const out: Segment[] = [];
  const start = g.observedFrom ?? g.to;
  if (start > lo) {
    out.push({ kind: 'unobserved', x: 0, w: x(start), title: `not accounted: the group had not started (until ${stamp(start)})` });
  }
  if (start < hi) {
    out.push({ kind: 'up', x: x(start), w: TL_WIDTH - x(start), title: `serving from ${stamp(start)} to ${stamp(g.to)}, apart from the outages` });
  }
  // Planned moves first, so an incident overlapping one is drawn on top.
  for (const i of [...g.planned, ...g.incidents]) {
    if ((i.recoveredAt ?? g.to) < lo || i.downAt > hi) continue;
    const a = x(i.downAt);
    const b = x(i.recoveredAt ?? g.to);
    const w = Math.max(MIN_SEG, b - a);
    out.push({ kind: i.planned ? 'planned' : 'incident', x: Math.min(a, TL_WIDTH - w), w, title: incidentTitle(i) });
  }
  return out;
}

function TimelineBar(props: { readonly g: GroupAvailabilityBody; readonly lo: number; readonly hi: number; readonly testid: string; readonly note?: string }) {
  const { g, lo, hi } = props;
  return (
    <>
      <svg
        class="tl"
        data-testid={props.testid}
        viewBox={`0 0 ${TL_WIDTH} ${TL_HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`availability of ${g.group} from ${stamp(lo)} to ${stamp(hi)}`}
      >
        {segments(g, lo, hi).map((s, n) => (
          <rect key={n} class={`seg seg-${s.kind}`} data-kind={s.kind} x={s.x} y={0} width={s.w} height={TL_HEIGHT}>
            <title>{s.title}</title>
          </rect>
        ))}
      </svg>
      <div class="tl-axis muted">
        <span>{stamp(lo)}</span>
        {props.note !== undefined && <span>{props.note}</span>}
        <span>{stamp(hi)}</span>
      </div>
    </>
  );
}

/** The window's bar, and a zoomed one of the accounted time when that is a small part of it. */
function Timelines(props: { readonly g: GroupAvailabilityBody }) {
  const { g } = props;
  const start = g.observedFrom;
  const zoom = start !== null && start < g.to && g.to - start < ZOOM_BELOW * (g.to - g.from);
  return (
    <>
      <TimelineBar g={g} lo={g.from} hi={g.to} testid={`timeline-${g.group}`} />
      {zoom && (
        <div class="tl-zoom">
          <TimelineBar g={g} lo={start} hi={g.to} testid={`timeline-zoom-${g.group}`} note={`since the group started (${formatDuration(g.to - start)})`} />
        </div>
      )}
    </>
  );
}

function Stats(props: { readonly r: ReportResponse }) {
  const { r } = props;
  const s = r.summary;
  return (
    <table data-testid="availability-groups">
      <thead>
        <tr>
          <th>group</th>
          <th>uptime</th>
          <th>nines</th>
          <th>down (planned)</th>
          <th>incidents</th>
          <th>planned moves</th>
          <th>MTBF</th>
          <th>MTTR</th>
          <th class="tl-col">timeline</th>
        </tr>
      </thead>
      <tbody>
        {r.groups.map((g) => (
          <tr key={g.group} data-testid={`avail-${g.group}`}>
            <td class="name">{g.group}</td>
            <td data-testid={`uptime-${g.group}`} class={g.failures > 0 ? 'bad-text' : ''}>
              {formatUptime(g.uptime)}
            </td>
            <td data-testid={`nines-${g.group}`}>{formatNines(g.nines, g.uptime)}</td>
            <td class="nowrap">
              {formatDuration(g.downMs)} <span class="muted">({formatDuration(g.plannedDownMs)})</span>
            </td>
            <td data-testid={`failures-${g.group}`}>
              {g.failures}
              {g.open > 0 && <span class="badge bad">{g.open} open</span>}
            </td>
            <td data-testid={`planned-${g.group}`}>{g.plannedMoves}</td>
            <td data-testid={`mtbf-${g.group}`} class="nowrap">
              {dur(g.mtbfMs)}
            </td>
            <td data-testid={`mttr-${g.group}`} class="nowrap">
              {dur(g.mttrMs)}
            </td>
            <td class="tl-col">
              <Timelines g={g} />
            </td>
          </tr>
        ))}
      </tbody>
      {r.groups.length > 1 && (
        <tfoot>
          <tr data-testid="avail-cluster">
            <td class="name">cluster</td>
            <td>{formatUptime(s.uptime)}</td>
            <td>{formatNines(s.nines, s.uptime)}</td>
            <td class="nowrap">
              {formatDuration(s.downMs)} <span class="muted">({formatDuration(s.plannedDownMs)})</span>
            </td>
            <td>{s.failures}</td>
            <td>{s.plannedMoves}</td>
            <td class="nowrap">{dur(s.mtbfMs)}</td>
            <td class="nowrap">{dur(s.mttrMs)}</td>
            <td />
          </tr>
        </tfoot>
      )}
    </table>
  );
}

function Incidents(props: { readonly r: ReportResponse }) {
  const all = props.r.groups.flatMap((g) => [...g.incidents, ...g.planned]).sort((a, b) => b.downAt - a.downAt);
  if (all.length === 0) return <p class="muted">no incidents and no planned moves in this window</p>;
  const estimated = all.some((i) => i.recoveryEstimated);
  return (
    <>
      <table data-testid="incidents">
        <thead>
          <tr>
            <th>group</th>
            <th>cause</th>
            <th>down at</th>
            <th>detection</th>
            <th>recovery</th>
            <th>outage (RTO)</th>
            <th>actions</th>
          </tr>
        </thead>
        <tbody>
          {all.map((i) => {
            const est = i.recoveryEstimated ? '~' : '';
            const where = causeWhere(i);
            return (
              <tr
                key={`${i.group}/${i.downAt}/${i.cause.kind}`}
                data-testid="incident"
                data-group={i.group}
                data-cause={i.cause.kind}
                data-planned={String(i.planned)}
                title={i.cause.message}
              >
                <td class="name">{i.group}</td>
                <td class="nowrap" data-testid="incident-cause">
                  <span class={`badge ${i.planned ? 'warn' : 'bad'}`}>{i.planned ? 'planned' : 'incident'}</span>
                  {i.cause.kind}
                  {where && <span class="muted"> ({where})</span>}
                </td>
                <td class="nowrap">{stamp(i.downAt)}</td>
                <td class="nowrap" data-testid="incident-detection">
                  {formatDuration(i.detectionMs)}
                </td>
                <td class="nowrap" data-testid="incident-recovery">
                  {i.recoveredAt === null ? (
                    <span class="bad-text">open</span>
                  ) : (
                    <>
                      {est}
                      {dur(i.recoveryMs)}
                      <span class="muted">
                        {' '}
                        at {stamp(i.recoveredAt)}
                        {i.recoveredOn !== null ? ` on ${i.recoveredOn}` : ''}
                      </span>
                    </>
                  )}
                </td>
                <td class="nowrap">{i.outageMs === null ? <span class="bad-text">open</span> : `${est}${formatDuration(i.outageMs)}`}</td>
                <td data-testid="incident-actions">{describeActions(i.actions) || <span class="muted">-</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {estimated && <p class="muted">~ recovered by a restart in place: counted until the restart was issued (the log records no end of a restart)</p>}
    </>
  );
}

/**
 * Availability per group over the chosen window (GET /v1/report): uptime, nines, MTBF/MTTR, a
 * timeline bar per group and the incidents. Re-read when `revision` (the newest event seen)
 * changes, and every REFRESH_MS.
 */
export function Availability(props: { readonly api: ApiClient; readonly revision: number }) {
  const { api } = props;
  const [win, setWin] = useState<WindowId>('24h');
  const [report, setReport] = useState<{ readonly win: WindowId; readonly r: ReportResponse } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  useEffect(() => {
    const ctl = new AbortController();
    const timer = setTimeout(() => {
      void api.report(win, ctl.signal).then((r) => {
        if (ctl.signal.aborted) return;
        if (r.kind === 'ok') {
          setReport({ win, r: r.value });
          setError(null);
        } else setError(`${r.code}: ${r.message}`);
      });
    }, SETTLE_MS);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [api, win, props.revision, tick]);

  // A report of another window is not shown under this window's button.
  const shown = report !== null && report.win === win ? report.r : null;

  return (
    <section data-testid="availability">
      <h2>
        Availability{' '}
        <span class="windows" role="group" aria-label="window">
          {WINDOWS.map((w) => (
            <button key={w.id} data-testid={`window-${w.id}`} class={w.id === win ? 'on' : ''} aria-pressed={w.id === win} onClick={() => setWin(w.id)}>
              {w.label}
            </button>
          ))}
        </span>
      </h2>
      {error !== null && (
        <p class="bad-text" data-testid="availability-error">
          {error}
        </p>
      )}
      {shown === null ? (
        <p class="muted">loading…</p>
      ) : (
        <div data-testid="availability-report" data-window={win}>
          <p class="muted">
            {stamp(shown.from)} – {stamp(shown.to)} ({formatDuration(shown.to - shown.from)}), answered by {shown.servedBy}.{' '}
            <span class="legend">
              <i class="seg-up" /> serving <i class="seg-incident" /> incident <i class="seg-planned" /> planned move <i class="seg-unobserved" /> not started
            </span>
          </p>
          {shown.groups.length === 0 ? <p class="muted">no groups</p> : <Stats r={shown} />}
          <h3>Incidents and planned moves</h3>
          <Incidents r={shown} />
          {shown.warnings.map((w, n) => (
            <p key={n} class="warn-text">
              {w}
            </p>
          ))}
        </div>
      )}
    </section>
  );
}
