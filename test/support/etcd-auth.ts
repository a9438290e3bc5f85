import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * etcd user auth and TLS material for tests: certificates made with `openssl`, and `etcdctl` to
 * create users and roles and to switch auth on, as an operator would.
 */

export const ETCDCTL_BINARY = '/usr/bin/etcdctl';

/**
 * Undefined when etcdctl and openssl can run here; otherwise why the caller should skip (.ci/run
 * installs both). With CI=true a missing tool throws.
 */
export function etcdAuthToolsSkipReason(): string | undefined {
  const missing: string[] = [];
  if (!existsSync(ETCDCTL_BINARY)) missing.push(`${ETCDCTL_BINARY} not found; install it with: apt-get install -y etcd-client`);
  if (spawnSync('openssl', ['version'], { encoding: 'utf8' }).status !== 0) missing.push('openssl not found; install it with: apt-get install -y openssl');
  if (missing.length === 0) return undefined;
  if (process.env['CI'] === 'true') throw new Error(`etcd auth tests cannot run in CI: ${missing.join('; ')}`);
  return `skipped: ${missing.join('; ')}`;
}

function openssl(cwd: string, args: readonly string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** PEM files made by makeEtcdCerts, all in one directory. */
export interface EtcdCertFiles {
  readonly dir: string;
  readonly ca: string;
  /** The members' certificate (127.0.0.1, server and client use: it also serves the peer links). */
  readonly server: { readonly cert: string; readonly key: string };
  /** A client certificate for halo (CN=halo). */
  readonly client: { readonly cert: string; readonly key: string };
  /** A client certificate for etcdctl as root (CN=root). */
  readonly root: { readonly cert: string; readonly key: string };
  /** A second CA that signed nothing etcd trusts. */
  readonly otherCa: string;
}

/** A CA, the member certificate, client certificates for halo and root, and an unrelated CA, in `dir`. */
export function makeEtcdCerts(dir: string): EtcdCertFiles {
  mkdirSync(dir, { recursive: true });
  const ca = (name: string): void =>
    openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`]);
  const signed = (name: string, cn: string, ext: string): { cert: string; key: string } => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`]);
    openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  };
  ca('ca');
  ca('other-ca');
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    server: signed('server', 'etcd', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n'),
    client: signed('client', 'halo', 'extendedKeyUsage=clientAuth\n'),
    root: signed('root', 'root', 'extendedKeyUsage=clientAuth\n'),
    otherCa: join(dir, 'other-ca.pem'),
  };
}

export interface EtcdctlTarget {
  readonly endpoints: readonly string[];
  /** CA and client certificate when the members serve TLS. */
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string };
}

/** Runs etcdctl (API v3) against `target`; throws with its stderr when it fails. */
export function etcdctl(target: EtcdctlTarget, args: readonly string[]): string {
  const tls = target.tls ? [`--cacert=${target.tls.ca}`, `--cert=${target.tls.cert}`, `--key=${target.tls.key}`] : [];
  const r = spawnSync(ETCDCTL_BINARY, [`--endpoints=${target.endpoints.join(',')}`, ...tls, '--dial-timeout=3s', '--command-timeout=5s', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 20_000,
  });
  if (r.status !== 0) throw new Error(`etcdctl ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/**
 * The operator's steps for halo on an etcd with user auth: a root user (with the root role), a
 * role `halo-rw` with readwrite on `prefix` (every key under it), a user `halo` with that role,
 * then `auth enable`.
 */
export function enableEtcdAuth(target: EtcdctlTarget, o: { readonly prefix: string; readonly rootPassword: string; readonly haloPassword: string }): void {
  etcdctl(target, ['user', 'add', `root:${o.rootPassword}`, '--interactive=false']);
  etcdctl(target, ['user', 'grant-role', 'root', 'root']);
  etcdctl(target, ['role', 'add', 'halo-rw']);
  etcdctl(target, ['role', 'grant-permission', 'halo-rw', 'readwrite', o.prefix, '--prefix=true']);
  etcdctl(target, ['user', 'add', `halo:${o.haloPassword}`, '--interactive=false']);
  etcdctl(target, ['user', 'grant-role', 'halo', 'halo-rw']);
  etcdctl(target, ['auth', 'enable']);
}
