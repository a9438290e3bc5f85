import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { App } from './app.js';
import { ApiClient, type ApiResult, type Session } from './api.js';

/** Where the page is: asking the API who we are, showing the login form, or logged in. */
type Auth =
  | { readonly kind: 'checking' }
  | { readonly kind: 'login'; readonly notice: string | null }
  | { readonly kind: 'in'; readonly session: Session };

/** Shown on the login screen when a call answered 401 or the session's lifetime ran out. */
export const EXPIRED_NOTICE = 'Session expired: log in again.';
/** How long after `expiresAt` the page asks the API whether the session is really over. */
const EXPIRY_SLACK_MS = 1000;
/** setTimeout's largest delay; a longer session is checked again when this runs out. */
const MAX_TIMER_MS = 2_147_483_647;
/** After a failed expiry check (agent unreachable), the next one. */
const RECHECK_MS = 10_000;
/** At most one expiry check per this interval, even if the browser's clock is ahead of the agents'. */
const MIN_CHECK_MS = 5000;

function errText(r: Extract<ApiResult<unknown>, { kind: 'error' }>): string {
  return `${r.code}: ${r.message}`;
}

function Login(props: { readonly api: ApiClient; readonly notice: string | null; readonly onSession: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: Event): Promise<void> {
    e.preventDefault();
    const t = token.trim();
    if (t === '') {
      setError('Paste a token first.');
      return;
    }
    setBusy(true);
    setError(null);
    const r = await props.api.login(t);
    setBusy(false);
    if (r.kind === 'ok') {
      setToken('');
      props.onSession(r.value);
    } else {
      setError(r.status === 401 ? 'The token was not accepted (unknown, revoked or expired).' : `Login failed: ${errText(r)}`);
    }
  }

  return (
    <div class="page">
      <header>
        <h1>halo</h1>
        <div class="summary muted">log in</div>
      </header>
      <section class="login" data-testid="login">
        <h2>Log in</h2>
        {props.notice !== null && (
          <p class="notice" role="status" data-testid="login-notice">
            {props.notice}
          </p>
        )}
        <form onSubmit={(e) => void submit(e)}>
          <label>
            API token
            <input
              type="password"
              autocomplete="off"
              spellcheck={false}
              data-testid="login-token"
              value={token}
              disabled={busy}
              onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
            />
          </label>
          <button type="submit" class="primary" data-testid="login-submit" disabled={busy}>
            {busy ? 'Logging in…' : 'Log in'}
          </button>
        </form>
        {error !== null && (
          <p class="bad-text" role="alert" data-testid="login-error">
            {error}
          </p>
        )}
        <p class="muted">
          Create a token with <code>halo token create</code>. The page keeps only an HttpOnly session cookie, never the token. A browser with a client
          certificate of the cluster is logged in without a token.
        </p>
      </section>
    </div>
  );
}

/**
 * The page's root: asks GET /v1/session first (a session cookie or a client certificate may
 * already authenticate the browser), shows the login form otherwise, and goes back to it when any
 * call answers 401 or the session's lifetime runs out.
 */
export function Root() {
  const [auth, setAuth] = useState<Auth>({ kind: 'checking' });
  const expired = useCallback(() => setAuth({ kind: 'login', notice: EXPIRED_NOTICE }), []);
  const api = useMemo(() => new ApiClient(expired), [expired]);

  const enter = useCallback(
    (s: Session) => {
      api.useSession(s);
      setAuth({ kind: 'in', session: s });
    },
    [api],
  );

  useEffect(() => {
    let stale = false;
    void api.session().then((r) => {
      if (stale) return;
      if (r.kind === 'ok') enter(r.value);
      else setAuth({ kind: 'login', notice: r.status === 401 ? null : `Could not ask the agent who is logged in (${errText(r)}).` });
    });
    return () => {
      stale = true;
    };
  }, [api, enter]);

  // At the end of the session's lifetime, ask the API (it may have been renewed) before leaving.
  const session = auth.kind === 'in' ? auth.session : null;
  const [recheck, setRecheck] = useState(0);
  useEffect(() => {
    if (session === null || session.expiresAt === null) return;
    const { expiresAt } = session;
    const delay = Math.min(MAX_TIMER_MS, Math.max(MIN_CHECK_MS, expiresAt - Date.now() + EXPIRY_SLACK_MS));
    let stale = false;
    const timer = setTimeout(() => {
      if (Date.now() < expiresAt) {
        setRecheck((n) => n + 1);
        return;
      }
      // A 401 here is the answer we are checking for, so it goes back to login with the notice.
      void api.session().then((r) => {
        if (stale) return;
        if (r.kind === 'ok') enter(r.value);
        else if (r.status === 401) {
          api.useSession(null);
          expired();
        } else setTimeout(() => setRecheck((n) => n + 1), RECHECK_MS);
      });
    }, delay);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [session, recheck, api, enter, expired]);

  const logout = useCallback(async (): Promise<string | null> => {
    const r = await api.logout();
    if (r.kind === 'error' && r.status !== 401) return `Logout failed: ${errText(r)}`;
    api.useSession(null);
    setAuth({ kind: 'login', notice: 'Logged out.' });
    return null;
  }, [api]);

  switch (auth.kind) {
    case 'checking':
      return (
        <div class="page">
          <header>
            <h1>halo</h1>
            <div class="summary muted">connecting…</div>
          </header>
        </div>
      );
    case 'login':
      return <Login api={api} notice={auth.notice} onSession={enter} />;
    case 'in':
      return <App key={`${auth.session.identity.name}/${auth.session.csrf ?? ''}`} api={api} session={auth.session} onLogout={logout} />;
  }
}
