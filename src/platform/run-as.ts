/**
 * Running a command as another user (`user:` / `group:` of process resources and command monitors).
 *
 * Why setpriv and not spawn's `uid`/`gid` options: libuv, when either option is given, calls
 * setgroups(0, NULL) in the child before setgid/setuid, so the command would run with *no*
 * supplementary groups — not the user's (initgroups), and there is no hook in between to set them.
 * The guard cannot drop privileges on itself either: it would then run as the same user as the
 * command, which could kill it (SIGKILL) and outlive the fence deadline, and it could no longer
 * write its records into the root-owned state directory. So the caller (the guard, a monitor)
 * stays root and execs the command through util-linux `setpriv`, which in the child, in this
 * order: sets the supplementary groups (setgroups), the gid (setresgid), the uid (setresuid: real,
 * effective and saved, so it cannot switch back), clears the inheritable capabilities and sets
 * no_new_privs (setuid-root or file-capability executables such as sudo gain nothing), then
 * execs the command in place — same pid, same process group, same open files (the logs halo opened).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Who a command runs as, resolved on this node. */
export interface RunAsIdentity {
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups (setgroups), the user's own (as initgroups would set them) or just `group`. */
  readonly groups: readonly number[];
  /** Login name and home directory for HOME, USER and LOGNAME; null when only `group` was given. */
  readonly login: { readonly name: string; readonly home: string } | null;
}

/** What the config says: a name or numeric id for either, both optional. */
export interface RunAsFields {
  readonly user?: string | undefined;
  readonly group?: string | undefined;
}

/** How to start a command as someone: the resolved identity and the setpriv binary, or null to start it as the caller. */
export interface RunAsPlan {
  readonly identity: RunAsIdentity;
  /** Absolute path of setpriv, or null when nothing has to change (the caller already is that user and group). */
  readonly setpriv: string | null;
}

export type RunAsResolution =
  | { readonly ok: true; readonly plan: RunAsPlan | null }
  | { readonly ok: false; readonly code: 'HA_RESOURCE_START_FAILED' | 'HA_PERMISSION'; readonly detail: string };

/** Where setpriv is looked for: fixed paths, never $PATH (a root process must not exec whatever PATH finds first). */
export const SETPRIV_PATHS: readonly string[] = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

const LOOKUP_TIMEOUT_MS = 5_000;

/** The caller's own ids (injectable for tests). */
export interface SelfIds {
  readonly uid: number;
  readonly gid: number;
}

export function selfIds(): SelfIds {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

/**
 * Resolves `fields` on this node (getent passwd/group, `id -G`, so NSS sources such as LDAP count)
 * and checks that the caller may switch to it. `{ ok: true, plan: null }` when neither field is
 * set. Never throws: a missing user or group, a missing setpriv and a non-root caller are results
 * whose detail starts with the field (`user: ...`, `group: ...`).
 */
export async function resolveRunAs(fields: RunAsFields, opts: { signal?: AbortSignal; self?: SelfIds; setprivPaths?: readonly string[] } = {}): Promise<RunAsResolution> {
  if (fields.user === undefined && fields.group === undefined) return { ok: true, plan: null };
  const self = opts.self ?? selfIds();
  const lookup = await lookupIdentity(fields, self, opts.signal);
  if (!lookup.ok) return lookup;
  const identity = lookup.identity;
  const decision = decideSwitch(fields, identity, self);
  if (decision.kind === 'refuse') return { ok: false, code: 'HA_PERMISSION', detail: decision.detail };
  if (decision.kind === 'same') return { ok: true, plan: { identity, setpriv: null } };
  const setpriv = findSetpriv(opts.setprivPaths ?? SETPRIV_PATHS);
  if (setpriv === null) {
    return {
      ok: false,
      code: 'HA_RESOURCE_START_FAILED',
      detail: `${fields.user !== undefined ? 'user' : 'group'}: running a command as another user needs setpriv (util-linux), not found in ${SETPRIV_PATHS.join(', ')}`,
    };
  }
  return { ok: true, plan: { identity, setpriv } };
}

/**
 * Whether a caller running as `self` may run a command as `identity`. Only root switches users:
 * a non-root agent can run the command as itself (nothing to change; its supplementary groups stay
 * as they are) and must refuse anything else rather than run it with the wrong identity.
 */
export function decideSwitch(fields: RunAsFields, identity: RunAsIdentity, self: SelfIds): { kind: 'switch' } | { kind: 'same' } | { kind: 'refuse'; detail: string } {
  if (self.uid === 0) return { kind: 'switch' };
  if (identity.uid !== self.uid) {
    return {
      kind: 'refuse',
      detail: `user: "${fields.user ?? ''}" (uid ${identity.uid}) is not the agent's own user (uid ${self.uid}), and only an agent running as root can switch users; run the agent as root or remove user:`,
    };
  }
  if (identity.gid !== self.gid) {
    return {
      kind: 'refuse',
      detail: `group: ${fields.group !== undefined ? `"${fields.group}"` : `the primary group of "${fields.user ?? ''}"`} (gid ${identity.gid}) is not the agent's own group (gid ${self.gid}), and only an agent running as root can switch groups`,
    };
  }
  return { kind: 'same' };
}

/**
 * The argv that runs `command args` as `identity` through setpriv (see the module comment for the
 * order of the calls). `--` ends setpriv's options, so a command or argument starting with "-"
 * is never read as one.
 */
export function setprivArgv(identity: Pick<RunAsIdentity, 'uid' | 'gid' | 'groups'>, command: string, args: readonly string[]): string[] {
  return [
    `--reuid=${identity.uid}`,
    `--regid=${identity.gid}`,
    identity.groups.length > 0 ? `--groups=${identity.groups.join(',')}` : '--clear-groups',
    '--inh-caps=-all',
    '--no-new-privs',
    '--',
    command,
    ...args,
  ];
}

/** HOME, USER and LOGNAME of the identity's user (empty with only a group). */
export function runAsEnv(identity: RunAsIdentity): Record<string, string> {
  if (identity.login === null) return {};
  return { HOME: identity.login.home, USER: identity.login.name, LOGNAME: identity.login.name };
}

function findSetpriv(paths: readonly string[]): string | null {
  for (const p of paths) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

type Lookup = { ok: true; identity: RunAsIdentity } | { ok: false; code: 'HA_RESOURCE_START_FAILED'; detail: string };

async function lookupIdentity(fields: RunAsFields, self: SelfIds, signal: AbortSignal | undefined): Promise<Lookup> {
  let uid = self.uid;
  let gid = self.gid;
  let login: RunAsIdentity['login'] = null;
  let groups: number[] = [];
  if (fields.user !== undefined) {
    const r = await getent('passwd', fields.user, signal);
    if (r.kind === 'error') return fail(`user: cannot look up "${fields.user}": ${r.detail}`);
    if (r.kind === 'absent') return fail(`user: no user "${fields.user}" on this node (getent passwd ${fields.user} found nothing)`);
    // name:password:uid:gid:gecos:home:shell
    const [name, , u, g, , home] = r.line.split(':');
    const pu = parseId(u);
    const pg = parseId(g);
    if (name === undefined || pu === null || pg === null) return fail(`user: unexpected passwd entry for "${fields.user}": ${r.line}`);
    uid = pu;
    gid = pg;
    login = { name, home: home === undefined || home === '' ? '/' : home };
    if (fields.group === undefined) {
      // What initgroups(name, gid) would set: the primary group plus every group listing the user.
      const ids = await run('id', ['-G', name], signal);
      if (ids.kind !== 'ok') return fail(`user: cannot list the groups of "${name}": ${ids.kind === 'error' ? ids.detail : 'id -G found nothing'}`);
      const parsed = ids.out.trim().split(/\s+/).map(parseId);
      if (parsed.some((x) => x === null)) return fail(`user: unexpected output of id -G ${name}: ${ids.out.trim()}`);
      groups = [...new Set(parsed.filter((x): x is number => x !== null))];
    }
  }
  if (fields.group !== undefined) {
    const r = await getent('group', fields.group, signal);
    if (r.kind === 'error') return fail(`group: cannot look up "${fields.group}": ${r.detail}`);
    if (r.kind === 'absent') return fail(`group: no group "${fields.group}" on this node (getent group ${fields.group} found nothing)`);
    // name:password:gid:members
    const pg = parseId(r.line.split(':')[2]);
    if (pg === null) return fail(`group: unexpected group entry for "${fields.group}": ${r.line}`);
    gid = pg;
    groups = [pg];
  }
  return { ok: true, identity: { uid, gid, groups, login } };
}

function fail(detail: string): Lookup {
  return { ok: false, code: 'HA_RESOURCE_START_FAILED', detail };
}

function parseId(s: string | undefined): number | null {
  if (s === undefined || !/^\d{1,10}$/.test(s)) return null;
  const n = Number(s);
  return n <= 0xffff_fffe ? n : null;
}

async function getent(db: 'passwd' | 'group', key: string, signal: AbortSignal | undefined): Promise<{ kind: 'ok'; line: string } | { kind: 'absent' } | { kind: 'error'; detail: string }> {
  // The schema allows only names and numbers, but a key starting with "-" would be read as an option.
  if (key.startsWith('-')) return { kind: 'absent' };
  const r = await run('getent', [db, key], signal);
  if (r.kind !== 'ok') return r;
  const line = r.out.split('\n')[0] ?? '';
  return line === '' ? { kind: 'absent' } : { kind: 'ok', line };
}

/** Runs a lookup tool; exit code 2 (getent: key not found) and 1 (id: no such user) read as absent. */
function run(cmd: string, args: readonly string[], signal: AbortSignal | undefined): Promise<{ kind: 'ok'; out: string } | { kind: 'absent' } | { kind: 'error'; detail: string }> {
  const sig = signal === undefined ? AbortSignal.timeout(LOOKUP_TIMEOUT_MS) : AbortSignal.any([signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)]);
  return new Promise((resolve) => {
    execFile(cmd, [...args], { signal: sig, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' } }, (err, stdout, stderr) => {
      if (err === null) {
        resolve({ kind: 'ok', out: stdout });
        return;
      }
      const code = 'code' in err ? err.code : undefined;
      if (code === 2 || code === 1) resolve({ kind: 'absent' });
      else if (sig.aborted) resolve({ kind: 'error', detail: `${cmd} ${args.join(' ')} gave no answer within ${LOOKUP_TIMEOUT_MS} ms (or was aborted)` });
      else resolve({ kind: 'error', detail: `${cmd} ${args.join(' ')}: ${typeof code === 'string' ? code : stderr.trim() || err.message}` });
    });
  });
}
