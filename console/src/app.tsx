import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { Audit } from './audit.js';
import { Availability } from './availability.js';
import {
  followEvents,
  roleAtLeast,
  type ApiClient,
  type ApiResult,
  type EventItem,
  type GroupView,
  type MoveAccepted,
  type NodeView,
  type Session,
  type StatusResponse,
  type WhyResponse,
} from './api.js';

const POLL_MS = 2000;
const EVENT_LIMIT = 50;
const MOVE_WATCH_MS = 90_000;

/** An action waiting for the operator's confirmation. */
type Pending =
  | { readonly kind: 'switchover'; readonly group: string; readonly from: string | null; readonly targets: readonly string[] }
  | { readonly kind: 'failover'; readonly group: string; readonly from: string | null }
  | { readonly kind: 'maintenance'; readonly group: string; readonly on: boolean }
  | { readonly kind: 'standby'; readonly node: string; readonly on: boolean }
  | { readonly kind: 'cleanup'; readonly group: string; readonly nodes: readonly string[] };

/** The page's views (audit for admins only); switching does not reload, the status poll and event stream go on. */
type View = 'cluster' | 'availability' | 'audit';

interface Message {
  readonly id: number;
  readonly ok: boolean;
  readonly text: string;
}

/** A switchover the console requested and is watching until the assignment moves past its epoch. */
interface WatchedMove {
  readonly accepted: MoveAccepted;
  readonly since: number;
  readonly messageId: number;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h ago`;
}

function moveName(kind: string): string {
  return kind.charAt(0).toUpperCase() + kind.slice(1);
}

function errText(r: Extract<ApiResult<unknown>, { kind: 'error' }>): string {
  return `${r.code}: ${r.message}`;
}

function consoleUrl(n: NodeView): string | null {
  // Without an apiUrl, the other node is assumed to speak the scheme this page came over.
  const base = n.apiUrl ?? (n.address !== null && n.apiPort !== null ? `${location.protocol}//${n.address}:${n.apiPort}` : null);
  return base === null ? null : `${base.replace(/\/$/, '')}/console/`;
}

function describe(p: Pending, target: string): string {
  switch (p.kind) {
    case 'switchover':
      return `Switch group ${p.group} over from ${p.from ?? '(none)'} to ${target === '' ? 'the best eligible node' : target}? The service is stopped on ${p.from ?? 'the active node'} and started on the target.`;
    case 'failover':
      return `Fail group ${p.group} over from ${p.from ?? '(none)'} to the best eligible node? This is a forced move; use a switchover for a planned one.`;
    case 'maintenance':
      return p.on
        ? `Put group ${p.group} in maintenance? halo stops starting, stopping and moving it until maintenance is turned off.`
        : `Take group ${p.group} out of maintenance? halo manages it again.`;
    case 'standby':
      return p.on ? `Put node ${p.node} in standby? Its groups move away and nothing is started there.` : `Bring node ${p.node} back online? It may run groups again.`;
    case 'cleanup':
      return `Clear the failure records of group ${p.group} on ${target === '' ? 'every node' : target}? The node becomes eligible to run it again.`;
    default:
      return assertNever(p);
  }
}

function StateBadge(props: { readonly text: string; readonly tone: 'good' | 'warn' | 'bad' | 'info' | 'muted'; readonly testid?: string }) {
  return (
    <span class={`badge ${props.tone}`} data-testid={props.testid}>
      {props.text}
    </span>
  );
}

function NodeStates(props: { readonly n: NodeView }) {
  const { n } = props;
  return (
    <span class="states" data-testid={`node-state-${n.name}`}>
      {n.online ? <StateBadge text="online" tone="good" /> : <StateBadge text="offline" tone="bad" />}
      {n.standby && <StateBadge text="standby" tone="warn" />}
      {n.maintenance && <StateBadge text="maintenance" tone="warn" />}
      {!n.inConfig && <StateBadge text="not in config" tone="muted" />}
    </span>
  );
}

function groupNodeTone(state: string, healthy: boolean): 'good' | 'warn' | 'bad' | 'muted' {
  if (state === 'failed') return 'bad';
  if (state === 'running') return healthy ? 'good' : 'warn';
  if (state === 'stopped' || state === 'unknown') return 'muted';
  return 'warn';
}

function GroupNodes(props: { readonly g: GroupView }) {
  return (
    <span class="states">
      {props.g.nodes.map((gn) => {
        const healthy = gn.resources.length > 0 && gn.resources.every((r) => r.healthy);
        const label = `${gn.node}: ${gn.role === 'none' ? '' : `${gn.role} `}${gn.state}${gn.state === 'running' ? (healthy ? ', healthy' : ', unhealthy') : ''}`;
        return <StateBadge key={gn.node} text={label} tone={groupNodeTone(gn.state, healthy)} testid={`group-node-${props.g.name}-${gn.node}`} />;
      })}
    </span>
  );
}

function Overview(props: {
  readonly s: StatusResponse;
  readonly selected: string | null;
  readonly onSelect: (g: string) => void;
  /** Null for a viewer: no action buttons at all (the API would refuse them anyway). */
  readonly ask: ((p: Pending) => void) | null;
}) {
  const { s, ask } = props;
  const online = s.nodes.filter((n) => n.online && !n.standby).map((n) => n.name);
  return (
    <>
      <section>
        <h2>Nodes</h2>
        <table data-testid="nodes">
          <thead>
            <tr>
              <th>node</th>
              <th>labels</th>
              <th>state</th>
              <th>API</th>
              {ask && <th />}
            </tr>
          </thead>
          <tbody>
            {s.nodes.map((n) => (
              <tr key={n.name} data-testid={`node-${n.name}`}>
                <td class="name">
                  {n.name}
                  {s.controller?.node === n.name && <StateBadge text="controller" tone="info" testid={`controller-${n.name}`} />}
                  {s.servedBy === n.name && <span class="muted"> (this page)</span>}
                </td>
                <td>
                  {Object.entries(n.labels).map(([k, v]) => (
                    <span key={k} class="label">
                      {k}={v}
                    </span>
                  ))}
                </td>
                <td>
                  <NodeStates n={n} />
                </td>
                <td>{n.apiUrl === null ? <span class="muted">-</span> : <a href={consoleUrl(n) ?? '#'}>{n.apiUrl}</a>}</td>
                {ask && (
                  <td class="actions">
                    {n.standby ? (
                      <button data-testid={`online-${n.name}`} onClick={() => ask({ kind: 'standby', node: n.name, on: false })}>
                        Online…
                      </button>
                    ) : (
                      <button data-testid={`standby-${n.name}`} onClick={() => ask({ kind: 'standby', node: n.name, on: true })}>
                        Standby…
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Groups</h2>
        <table data-testid="groups">
          <thead>
            <tr>
              <th>group</th>
              <th>active</th>
              <th>epoch</th>
              <th>standbys</th>
              <th>nodes</th>
              {ask && <th />}
            </tr>
          </thead>
          <tbody>
            {s.groups.map((g) => {
              const a = g.assignment;
              const targets = g.candidates.filter((c) => c !== a?.active && online.includes(c));
              return (
                <tr key={g.name} data-testid={`group-${g.name}`} class={props.selected === g.name ? 'selected' : ''}>
                  <td class="name">
                    <a href={`#group=${encodeURIComponent(g.name)}`} onClick={() => props.onSelect(g.name)}>
                      {g.name}
                    </a>
                    {g.maintenance && <StateBadge text="maintenance" tone="warn" testid={`group-maintenance-${g.name}`} />}
                  </td>
                  <td data-testid={`active-${g.name}`}>
                    {a?.active ?? <span class="bad-text">none</span>}
                    {a?.transition && <StateBadge text={`${a.transition.kind}${a.transition.to ? ` → ${a.transition.to}` : ''}`} tone="info" />}
                    {g.pendingMove && <StateBadge text={`${g.pendingMove.kind} requested`} tone="info" />}
                  </td>
                  <td data-testid={`epoch-${g.name}`}>{a?.epoch ?? '-'}</td>
                  <td>{a && a.standbys.length > 0 ? a.standbys.join(', ') : <span class="muted">none</span>}</td>
                  <td>
                    <GroupNodes g={g} />
                  </td>
                  {ask && (
                    <td class="actions">
                      <button data-testid={`switchover-${g.name}`} onClick={() => ask({ kind: 'switchover', group: g.name, from: a?.active ?? null, targets })}>
                        Switchover…
                      </button>
                      <button data-testid={`failover-${g.name}`} onClick={() => ask({ kind: 'failover', group: g.name, from: a?.active ?? null })}>
                        Failover…
                      </button>
                      <button data-testid={`maintenance-${g.name}`} onClick={() => ask({ kind: 'maintenance', group: g.name, on: !g.maintenance })}>
                        {g.maintenance ? 'End maintenance…' : 'Maintenance…'}
                      </button>
                      <button data-testid={`cleanup-${g.name}`} onClick={() => ask({ kind: 'cleanup', group: g.name, nodes: g.candidates })}>
                        Cleanup…
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </>
  );
}

function GroupDetail(props: { readonly g: GroupView; readonly why: WhyResponse | null; readonly now: number }) {
  const { g, why, now } = props;
  return (
    <section data-testid="group-detail">
      <h2>
        Group {g.name} <span class="muted">({g.redundancy}, failback {g.failback}, candidates {g.candidates.join(', ')})</span>
      </h2>
      {g.ineligible.length > 0 && (
        <p class="warn-text">
          Not eligible:{' '}
          {g.ineligible.map((i) => `${i.node} (${i.reason}${i.detail ? `: ${i.detail}` : ''}${i.until !== null ? `, until ${time(i.until)}` : ''})`).join('; ')}
        </p>
      )}
      {g.failures.length > 0 && (
        <p class="bad-text" data-testid="group-failures">
          Failures: {g.failures.map((f) => `${f.node} at ${time(f.at)} (epoch ${f.epoch}): ${f.reason}`).join('; ')}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>node</th>
            <th>resource</th>
            <th>state</th>
            <th>pid</th>
            <th>restarts</th>
            <th>monitors (last result)</th>
            <th>detail</th>
          </tr>
        </thead>
        <tbody>
          {g.nodes.flatMap((gn) =>
            gn.resources.length === 0
              ? [
                  <tr key={gn.node}>
                    <td>{gn.node}</td>
                    <td colSpan={5} class="muted">
                      {gn.state}
                    </td>
                    <td>{gn.detail}</td>
                  </tr>,
                ]
              : gn.resources.map((r) => (
                  <tr key={`${gn.node}/${r.name}`} data-testid={`resource-${gn.node}-${r.name}`}>
                    <td>
                      {gn.node} <span class="muted">{gn.role === 'none' ? '' : gn.role}</span>
                    </td>
                    <td>{r.name}</td>
                    <td>
                      <StateBadge text={`${r.state}${r.state === 'running' ? (r.healthy ? ', healthy' : ', unhealthy') : ''}`} tone={groupNodeTone(r.state, r.healthy)} />
                    </td>
                    <td>{r.pid ?? '-'}</td>
                    <td>{r.restarts}</td>
                    <td>
                      {r.monitors.length === 0 ? (
                        <span class="muted">-</span>
                      ) : (
                        r.monitors.map((m, i) => (
                          <div key={i} class={m.ok ? '' : 'bad-text'}>
                            {m.kind} {m.ok ? 'ok' : 'FAILED'} ({m.detail}, {m.latencyMs} ms, {ago(m.at, now)}
                            {m.consecutiveFailures > 0 ? `, ${m.consecutiveFailures} failures in a row` : ''})
                          </div>
                        ))
                      )}
                    </td>
                    <td>{r.detail || gn.detail}</td>
                  </tr>
                )),
          )}
        </tbody>
      </table>
      <h3>Decision journal</h3>
      {why === null ? (
        <p class="muted">loading…</p>
      ) : why.entries.length === 0 ? (
        <p class="muted">no decisions recorded</p>
      ) : (
        <table data-testid="journal">
          <thead>
            <tr>
              <th>time</th>
              <th>controller</th>
              <th>rule</th>
              <th>decision</th>
              <th>actions</th>
            </tr>
          </thead>
          <tbody>
            {[...why.entries].reverse().map((e) => (
              <tr key={e.revision}>
                <td>{time(e.at)}</td>
                <td>{e.node}</td>
                <td>
                  {e.rule} <span class="muted">{e.code}</span>
                </td>
                <td>{e.message}</td>
                <td class="mono">{e.actions.join('; ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Timeline(props: { readonly events: readonly EventItem[]; readonly live: boolean }) {
  return (
    <section>
      <h2>
        Events <span class="muted">{props.live ? '(live)' : '(stream reconnecting)'}</span>
      </h2>
      <table data-testid="events">
        <tbody>
          {props.events.map((e) => (
            <tr key={e.revision} class={`ev ev-${e.kind}`}>
              <td class="nowrap">{time(e.at)}</td>
              <td class="nowrap">{e.kind}</td>
              <td class="nowrap">{[e.node, e.group, e.resource].filter((x) => x !== null).join(' / ')}</td>
              <td>{e.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ConfirmDialog(props: { readonly p: Pending; readonly busy: boolean; readonly onConfirm: (target: string) => void; readonly onCancel: () => void }) {
  const { p } = props;
  const [target, setTarget] = useState(p.kind === 'switchover' ? (p.targets[0] ?? '') : '');
  const choices: readonly string[] | null = p.kind === 'switchover' ? p.targets : p.kind === 'cleanup' ? p.nodes : null;
  return (
    <div class="overlay">
      <div class="dialog" role="dialog" aria-modal="true" data-testid="confirm">
        <h3>Confirm</h3>
        {choices !== null && (
          <label>
            {p.kind === 'switchover' ? 'Target node ' : 'Node '}
            <select data-testid="target" value={target} onChange={(e) => setTarget((e.currentTarget as HTMLSelectElement).value)}>
              {choices.map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
              <option value="">{p.kind === 'switchover' ? 'best eligible node' : 'every node'}</option>
            </select>
          </label>
        )}
        <p data-testid="confirm-text">{describe(p, target)}</p>
        <div class="buttons">
          <button class="primary" data-testid="confirm-yes" disabled={props.busy} onClick={() => props.onConfirm(target)}>
            {props.busy ? 'Working…' : 'Confirm'}
          </button>
          <button data-testid="confirm-no" disabled={props.busy} onClick={props.onCancel}>
            Cancel
          </button>
        </div>
      </div>
    </div>
  );
}

/** The tenants or groups a scoped identity is limited to, or null for the whole cluster. */
function scope(s: Session): string | null {
  const { tenants, groups } = s.identity;
  const parts = [tenants !== null ? `tenants ${tenants.join(', ')}` : null, groups !== null ? `groups ${groups.join(', ')}` : null].filter((x) => x !== null);
  return parts.length === 0 ? null : `(${parts.join('; ')})`;
}

function groupFromHash(): string | null {
  const m = /^#group=(.+)$/.exec(location.hash);
  return m?.[1] ? decodeURIComponent(m[1]) : null;
}

/**
 * The logged-in console. `session` says who is logged in: viewers get no action buttons, only
 * admins the Audit tab; the API enforces the same rules, the page only avoids offering what would
 * be refused. `onLogout` ends the session and returns an error text when that failed.
 */
export function App(props: { readonly api: ApiClient; readonly session: Session; readonly onLogout: () => Promise<string | null> }) {
  const { api, session } = props;
  const role = session.identity.role;
  const canAct = roleAtLeast(role, 'operator');
  const isAdmin = roleAtLeast(role, 'admin');
  const [status, setStatus] = useState<StatusResponse | null>(null);
  /** The last status that arrived; kept while the agent does not answer, for the banner's links. */
  const lastGood = useRef<StatusResponse | null>(null);
  const [lost, setLost] = useState<{ readonly since: number; readonly reason: string } | null>(null);
  const [events, setEvents] = useState<readonly EventItem[]>([]);
  const [live, setLive] = useState(false);
  const [selected, setSelected] = useState<string | null>(groupFromHash());
  const [why, setWhy] = useState<WhyResponse | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [messages, setMessages] = useState<readonly Message[]>([]);
  const moves = useRef<WatchedMove[]>([]);
  const nextId = useRef(1);
  const [now, setNow] = useState(Date.now());
  const [view, setView] = useState<View>('cluster');

  const say = useCallback((ok: boolean, text: string, replace?: number): number => {
    const id = replace ?? nextId.current++;
    setMessages((ms) => {
      const m: Message = { id, ok, text };
      return replace !== undefined && ms.some((x) => x.id === replace) ? ms.map((x) => (x.id === replace ? m : x)) : [m, ...ms].slice(0, 8);
    });
    return id;
  }, []);

  const checkMoves = useCallback(
    (s: StatusResponse) => {
      const t = Date.now();
      moves.current = moves.current.filter((w) => {
        const g = s.groups.find((x) => x.name === w.accepted.group);
        const a = g?.assignment;
        const done = a !== null && a !== undefined && a.epoch > w.accepted.epoch && a.transition === null && g?.pendingMove === null;
        const what = `${moveName(w.accepted.kind)} of ${w.accepted.group}`;
        if (done) {
          if (a.active !== null && a.active !== w.accepted.from) {
            say(true, `${what} done: active on ${a.active} (epoch ${a.epoch}).`, w.messageId);
          } else {
            say(false, `${what} ended with the group on ${a.active ?? 'no node'} (epoch ${a.epoch}); see the decision journal.`, w.messageId);
          }
          return false;
        }
        if (t - w.since > MOVE_WATCH_MS) {
          say(false, `${what} has not finished after ${MOVE_WATCH_MS / 1000} s; see the events and the decision journal.`, w.messageId);
          return false;
        }
        return true;
      });
    },
    [say],
  );

  const inFlight = useRef(false);
  const again = useRef(false);
  const refresh = useCallback(async () => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    try {
      do {
        again.current = false;
        const r = await api.status();
        setNow(Date.now());
        if (r.kind === 'ok') {
          lastGood.current = r.value;
          setStatus(r.value);
          setLost(null);
          checkMoves(r.value);
        } else {
          setLost((l) => l ?? { since: Date.now(), reason: errText(r) });
        }
      } while (again.current);
    } finally {
      inFlight.current = false;
    }
  }, [api, checkMoves]);

  // Poll as a fallback, and follow the event stream: any event re-reads the status.
  useEffect(() => {
    void refresh();
    const timer = setInterval(() => void refresh(), POLL_MS);
    const stop = followEvents(
      EVENT_LIMIT,
      (e) => {
        setEvents((es) => (es.some((x) => x.revision === e.revision) ? es : [e, ...es].slice(0, EVENT_LIMIT)));
        void refresh();
      },
      setLive,
    );
    return () => {
      clearInterval(timer);
      stop();
    };
  }, [refresh]);

  useEffect(() => {
    const onHash = () => setSelected(groupFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const groupName = selected ?? status?.groups[0]?.name ?? null;
  const latestRevision = events[0]?.revision ?? 0;
  useEffect(() => {
    if (groupName === null || lost !== null) return;
    let stale = false;
    void api.why(groupName).then((r) => {
      if (!stale && r.kind === 'ok') setWhy(r.value);
    });
    return () => {
      stale = true;
    };
  }, [api, groupName, latestRevision, lost === null]);

  async function confirm(target: string): Promise<void> {
    if (pending === null) return;
    const p = pending;
    setBusy(true);
    try {
      switch (p.kind) {
        case 'switchover': {
          const r = await api.switchover(p.group, target === '' ? null : target);
          if (r.kind === 'ok') {
            const id = say(true, `Switchover of ${p.group} from ${r.value.from} to ${r.value.to ?? 'the best eligible node'} accepted; waiting for it to finish…`);
            moves.current.push({ accepted: r.value, since: Date.now(), messageId: id });
          } else say(false, `Switchover of ${p.group} refused: ${errText(r)}`);
          break;
        }
        case 'failover': {
          const r = await api.failover(p.group);
          if (r.kind === 'ok') {
            const id = say(true, `Failover of ${p.group} from ${r.value.from} accepted; waiting for it to finish…`);
            moves.current.push({ accepted: r.value, since: Date.now(), messageId: id });
          } else say(false, `Failover of ${p.group} refused: ${errText(r)}`);
          break;
        }
        case 'maintenance': {
          const r = await api.maintenance(p.group, p.on);
          say(r.kind === 'ok', r.kind === 'ok' ? `Maintenance ${p.on ? 'on' : 'off'} for group ${p.group}.` : `Maintenance of ${p.group} failed: ${errText(r)}`);
          break;
        }
        case 'standby': {
          const r = await api.standby(p.node, p.on);
          say(r.kind === 'ok', r.kind === 'ok' ? `Node ${p.node} ${p.on ? 'is in standby' : 'is back online'}.` : `Node ${p.node}: ${errText(r)}`);
          break;
        }
        case 'cleanup': {
          const r = await api.cleanup(p.group, target === '' ? null : target);
          say(
            r.kind === 'ok',
            r.kind === 'ok'
              ? r.value.removed.length > 0
                ? `Cleanup of ${p.group}: failure records cleared on ${r.value.removed.join(', ')}.`
                : `Cleanup of ${p.group}: there were no failure records.`
              : `Cleanup of ${p.group} failed: ${errText(r)}`,
          );
          break;
        }
        default:
          assertNever(p);
      }
    } finally {
      setBusy(false);
      setPending(null);
      void refresh();
    }
  }

  const [loggingOut, setLoggingOut] = useState(false);
  async function logout(): Promise<void> {
    setLoggingOut(true);
    const err = await props.onLogout();
    // On success this component is gone (the login screen replaces it).
    if (err !== null) {
      setLoggingOut(false);
      say(false, err);
    }
  }

  const shown = status;
  const group = shown?.groups.find((g) => g.name === groupName) ?? null;
  const self = lastGood.current?.servedBy ?? location.host;
  const others = (lastGood.current?.nodes ?? []).filter((n) => n.name !== self);

  return (
    <div class="page">
      <header>
        <h1>halo</h1>
        {shown ? (
          <div class="summary" data-testid="summary">
            cluster <b>{shown.cluster}</b> · served by <b data-testid="served-by">{shown.servedBy}</b> · controller{' '}
            <b data-testid="controller">{shown.controller ? shown.controller.node : 'none'}</b>
            {shown.controller && <span class="muted"> (since {time(shown.controller.since)})</span>} · config{' '}
            {shown.configVersion === null ? 'not applied' : `v${shown.configVersion}`}
            {shown.maintenance && <StateBadge text="cluster maintenance" tone="warn" />}
          </div>
        ) : (
          <div class="summary muted">connecting…</div>
        )}
        <nav class="tabs" role="tablist">
          {(isAdmin ? (['cluster', 'availability', 'audit'] as const) : (['cluster', 'availability'] as const)).map((v) => (
            <button key={v} role="tab" aria-selected={view === v} class={view === v ? 'on' : ''} data-testid={`tab-${v}`} onClick={() => setView(v)}>
              {v === 'cluster' ? 'Cluster' : v === 'availability' ? 'Availability' : 'Audit'}
            </button>
          ))}
        </nav>
        <div class="whoami" data-testid="whoami">
          <span data-testid="identity">{session.identity.name}</span>
          <StateBadge text={role} tone={role === 'viewer' ? 'muted' : 'info'} testid="role" />
          {scope(session) !== null && <span class="muted"> {scope(session)}</span>}
          {session.csrf === null ? (
            // No session cookie: the browser sends its client certificate with every request.
            <span class="muted" title="The browser authenticates with its client certificate; close the browser or remove the certificate to log out.">
              {' '}
              (certificate)
            </span>
          ) : (
            <button data-testid="logout" disabled={loggingOut} onClick={() => void logout()}>
              Log out
            </button>
          )}
        </div>
      </header>
      {lost !== null && (
        <div class="banner" role="alert" data-testid="lost-banner">
          <b>Lost contact with {self}</b> since {time(lost.since)} ({lost.reason}). What is shown below is from before then.
          {others.length > 0 && (
            <span>
              {' '}
              Open the console of another node:{' '}
              {others.map((n) => {
                const url = consoleUrl(n);
                return url === null ? null : (
                  <a key={n.name} href={url} data-testid={`other-console-${n.name}`}>
                    {n.name}
                  </a>
                );
              })}
            </span>
          )}
        </div>
      )}
      {messages.length > 0 && (
        <div class="messages" data-testid="messages">
          {messages.map((m) => (
            <div key={m.id} class={`message ${m.ok ? 'ok' : 'err'}`} data-testid="message">
              {m.text}
              <button class="close" title="dismiss" onClick={() => setMessages((ms) => ms.filter((x) => x.id !== m.id))}>
                ×
              </button>
            </div>
          ))}
        </div>
      )}
      {view === 'audit' && isAdmin ? (
        <Audit api={api} revision={latestRevision} />
      ) : view === 'availability' ? (
        <div class={lost ? 'stale' : ''}>
          <Availability api={api} revision={latestRevision} />
        </div>
      ) : (
        <>
          {shown && (
            <div class={lost ? 'stale' : ''}>
              {shown.warnings.length > 0 && <p class="warn-text">{shown.warnings.join('; ')}</p>}
              <Overview s={shown} selected={groupName} onSelect={setSelected} ask={canAct ? setPending : null} />
              {group && <GroupDetail g={group} why={why?.group === group.name ? why : null} now={now} />}
            </div>
          )}
          <Timeline events={events} live={live} />
        </>
      )}
      {pending && canAct && <ConfirmDialog key={JSON.stringify(pending)} p={pending} busy={busy} onConfirm={(t) => void confirm(t)} onCancel={() => setPending(null)} />}
    </div>
  );
}
