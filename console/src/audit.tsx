import { useEffect, useState } from 'preact/hooks';
import type { ApiClient, AuditEntry } from './api.js';

const LIMITS = [100, 500, 2000] as const;
type Limit = (typeof LIMITS)[number];
/** Requests are not cluster events, so the log is also re-read on a timer while it is shown. */
const REFRESH_MS = 5000;

function stamp(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function outcomeTone(o: AuditEntry['outcome']): string {
  return o === 'ok' ? 'good' : o === 'refused' ? 'warn' : 'bad';
}

/**
 * The audit log (GET /v1/audit, admins only), newest first: who asked what, through which
 * credential and from where, and what came of it. Re-read when a cluster event arrives
 * (`revision`) and every REFRESH_MS.
 */
export function Audit(props: { readonly api: ApiClient; readonly revision: number }) {
  const { api } = props;
  const [limit, setLimit] = useState<Limit>(100);
  const [entries, setEntries] = useState<readonly AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);
  const [only, setOnly] = useState<'all' | 'not-ok'>('all');

  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);

  useEffect(() => {
    const ctl = new AbortController();
    void api.audit(limit, ctl.signal).then((r) => {
      if (ctl.signal.aborted) return;
      if (r.kind === 'ok') {
        setEntries([...r.value.entries].reverse());
        setError(null);
      } else setError(`${r.code}: ${r.message}`);
    });
    return () => ctl.abort();
  }, [api, limit, props.revision, tick]);

  const shown = entries === null ? null : only === 'all' ? entries : entries.filter((e) => e.outcome !== 'ok');

  return (
    <section data-testid="audit">
      <h2>
        Audit log{' '}
        <span class="windows" role="group" aria-label="entries">
          {LIMITS.map((l) => (
            <button key={l} data-testid={`audit-limit-${l}`} class={l === limit ? 'on' : ''} aria-pressed={l === limit} onClick={() => setLimit(l)}>
              last {l}
            </button>
          ))}
        </span>
        <span class="windows" role="group" aria-label="outcome">
          <button data-testid="audit-all" class={only === 'all' ? 'on' : ''} aria-pressed={only === 'all'} onClick={() => setOnly('all')}>
            all
          </button>
          <button data-testid="audit-not-ok" class={only === 'not-ok' ? 'on' : ''} aria-pressed={only === 'not-ok'} onClick={() => setOnly('not-ok')}>
            refused / failed
          </button>
        </span>
      </h2>
      {error !== null && (
        <p class="bad-text" data-testid="audit-error">
          {error}
        </p>
      )}
      {shown === null ? (
        <p class="muted">loading…</p>
      ) : shown.length === 0 ? (
        <p class="muted">no entries</p>
      ) : (
        <table data-testid="audit-entries">
          <thead>
            <tr>
              <th>time</th>
              <th>identity</th>
              <th>role</th>
              <th>source</th>
              <th>request</th>
              <th>outcome</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e) => (
              <tr
                key={`${e.revision}-${e.at}-${e.method}-${e.route}`}
                data-testid="audit-entry"
                data-identity={e.identity}
                data-method={e.method}
                data-route={e.route}
                data-target={e.target ?? ''}
                data-outcome={e.outcome}
                data-status={e.status}
              >
                <td class="nowrap">{stamp(e.at)}</td>
                <td>
                  {e.identity} <span class="muted">{e.kind}</span>
                </td>
                <td>{e.role ?? <span class="muted">-</span>}</td>
                <td class="mono">
                  {e.source}
                  {e.node !== '' && <span class="muted"> → {e.node}</span>}
                </td>
                <td class="mono">
                  {e.method} {e.route}
                  {e.target !== null && <span> {e.target}</span>}
                </td>
                <td class="nowrap">
                  <span class={`badge ${outcomeTone(e.outcome)}`}>{e.outcome}</span> {e.status}
                  {e.code !== null && <span class="muted"> {e.code}</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
