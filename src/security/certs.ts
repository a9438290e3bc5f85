import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ClusterError } from '../domain/errors.js';

/**
 * The cluster's certificate authority and the certificates it issues, made with the system's
 * `openssl` (3.x). Subjects carry the identity: O=halo, OU=<role>, CN=<name>, where the role is
 * `node` for an agent (mutual TLS between nodes, the mirror link and the embedded coordinator) or
 * a management role (viewer, operator, admin) for a person's or a tool's client certificate.
 * Private keys are written with mode 0600, in directories with mode 0700.
 */

const run = promisify(execFile);

export const CERT_ROLES = ['node', 'viewer', 'operator', 'admin'] as const;
export type CertRole = (typeof CERT_ROLES)[number];

export interface IssueOptions {
  /** CN of the certificate: a node name or a user's name. */
  readonly name: string;
  readonly role: CertRole;
  /** IP addresses and DNS names the certificate is valid for as a server (nodes). */
  readonly ips?: readonly string[];
  readonly dns?: readonly string[];
  readonly days?: number;
  readonly signal?: AbortSignal;
}

export interface CaFiles {
  readonly dir: string;
  readonly ca: string;
  readonly caKey: string;
}

export interface IssuedFiles {
  readonly cert: string;
  readonly key: string;
}

async function openssl(args: readonly string[], signal: AbortSignal | undefined): Promise<void> {
  try {
    await run('openssl', [...args], { ...(signal ? { signal } : {}), timeout: 30_000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new ClusterError('HA_BAD_REQUEST', 'openssl was not found on PATH; install it (Debian: apt-get install openssl) to create certificates', { cause: e });
    throw new ClusterError('HA_INTERNAL', `openssl ${args[0] ?? ''} failed: ${(err.stderr ?? err.message).trim()}`, { cause: e });
  }
}

const SAFE_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** Creates the cluster CA in `dir` (ca.crt, ca.key); refuses to overwrite an existing one. */
export async function createCa(dir: string, cluster: string, opts: { readonly days?: number; readonly signal?: AbortSignal } = {}): Promise<CaFiles> {
  if (!SAFE_NAME.test(cluster)) throw new ClusterError('HA_BAD_REQUEST', `cluster name "${cluster}" cannot be used in a certificate subject`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const files: CaFiles = { dir, ca: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key') };
  const exists = await readFile(files.ca).then(
    () => true,
    () => false,
  );
  if (exists) throw new ClusterError('HA_CONFLICT', `${files.ca} exists already; a cluster has one CA (remove the directory to start over)`);
  await openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', files.caKey, '-out', files.ca,
      '-days', String(opts.days ?? 3650), '-subj', `/O=halo/OU=ca/CN=halo ${cluster} CA`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    opts.signal,
  );
  await chmod(files.caKey, 0o600);
  return files;
}

/** Issues a certificate for `name` signed by the CA in `ca.dir`: <dir>/<name>.crt and .key. */
export async function issueCert(ca: CaFiles, opts: IssueOptions): Promise<IssuedFiles> {
  if (!SAFE_NAME.test(opts.name)) throw new ClusterError('HA_BAD_REQUEST', `name "${opts.name}": expected letters, digits, "_", ".", "@" or "-" (at most 64)`);
  const out: IssuedFiles = { cert: join(ca.dir, `${opts.name}.crt`), key: join(ca.dir, `${opts.name}.key`) };
  const tmp = join(ca.dir, `.${opts.name}-${randomBytes(4).toString('hex')}`);
  const csr = `${tmp}.csr`;
  const ext = `${tmp}.ext`;
  const san = [...(opts.ips ?? []).map((ip) => `IP:${ip}`), ...(opts.dns ?? []).map((d) => `DNS:${d}`)];
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${opts.role === 'node' ? 'serverAuth,clientAuth' : 'clientAuth'}`,
    ...(san.length > 0 ? [`subjectAltName=${san.join(',')}`] : []),
  ];
  try {
    await openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', out.key, '-out', csr, '-subj', `/O=halo/OU=${opts.role}/CN=${opts.name}`], opts.signal);
    await chmod(out.key, 0o600);
    await writeFile(ext, `${lines.join('\n')}\n`);
    await openssl(
      ['x509', '-req', '-in', csr, '-CA', ca.ca, '-CAkey', ca.caKey, '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(opts.days ?? 825), '-extfile', ext, '-out', out.cert],
      opts.signal,
    );
  } finally {
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
  return out;
}

/** The CA files already in `dir` (made by createCa). */
export function caFilesIn(dir: string): CaFiles {
  return { dir, ca: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key') };
}
