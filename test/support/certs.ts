import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsFiles } from '../../src/domain/config.js';
import { createCa, issueCert, type CaFiles, type CertRole, type IssuedFiles } from '../../src/security/certs.js';
import type { TlsMaterial } from '../../src/security/tls.js';

/**
 * Certificates for tests, made once per process with the real `halo certs` code
 * (src/security/certs.ts, openssl) in one temporary directory that is removed when the process
 * exits. Every call with the same `ca` shares one CA; certificates are cached by (options, name).
 *
 *   const c = await testCerts(['n1', 'n2']);
 *   new MirrorReceiver({ ..., tls: c.tls['n2'] })       // TlsMaterial (PEM text)
 *   config.security.tls = c.files                         // paths, cert/key with ${HALO_NODE}
 *   c.ca, c.certs['n1'].cert, c.certs['n1'].key           // single paths
 */
export interface TestCerts {
  /** Directory of these certificates (<name>.crt, <name>.key). */
  readonly dir: string;
  /** Path of the CA certificate. */
  readonly ca: string;
  /** Paths of each requested name's certificate and key. */
  readonly certs: Readonly<Record<string, IssuedFiles>>;
  /** Each requested name's TLS identity in memory (CA, certificate, key as PEM). */
  readonly tls: Readonly<Record<string, TlsMaterial>>;
  /** `security.tls` of a config using these certificates: cert and key paths contain ${HALO_NODE}. */
  readonly files: TlsFiles;
}

export interface TestCertOptions {
  /** OU of the certificates (default 'node'). */
  readonly role?: CertRole;
  /** Which CA signs them (default 'test'); another name makes a separate, unrelated CA. */
  readonly ca?: string;
  /** Subject alternative names (IP) per name, for HTTPS servers that are checked by address. */
  readonly ips?: Readonly<Record<string, readonly string[]>>;
}

let root: Promise<string> | null = null;
const cas = new Map<string, Promise<CaFiles>>();
const variants = new Map<string, Promise<string>>();
const issued = new Map<string, Promise<{ files: IssuedFiles; tls: TlsMaterial }>>();

function rootDir(): Promise<string> {
  root ??= mkdtemp(join(tmpdir(), 'halo-test-certs-')).then((d) => {
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
    return d;
  });
  return root;
}

function caOf(name: string): Promise<CaFiles> {
  let p = cas.get(name);
  if (!p) {
    p = rootDir().then(async (r) => await createCa(join(r, `ca-${name}`), `test-${name}`));
    cas.set(name, p);
  }
  return p;
}

export async function testCerts(names: readonly string[], o: TestCertOptions = {}): Promise<TestCerts> {
  const caName = o.ca ?? 'test';
  const role = o.role ?? 'node';
  const ca = await caOf(caName);
  // One directory per option set, so that <dir>/${HALO_NODE}.crt names every name's certificate.
  const variantKey = JSON.stringify([caName, role, o.ips ?? {}]);
  let vp = variants.get(variantKey);
  if (!vp) {
    vp = (async () => {
      const d = join(ca.dir, `v${variants.size}`);
      await mkdir(d, { recursive: true, mode: 0o700 });
      return d;
    })();
    variants.set(variantKey, vp);
  }
  const dir = await vp;
  const one = (name: string): Promise<{ files: IssuedFiles; tls: TlsMaterial }> => {
    const key = `${variantKey}/${name}`;
    let p = issued.get(key);
    if (!p) {
      p = (async () => {
        const files = await issueCert({ ...ca, dir }, { name, role, ips: o.ips?.[name] ?? [] });
        const [caPem, cert, keyPem] = await Promise.all([readFile(ca.ca, 'utf8'), readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
        return { files, tls: { ca: caPem, cert, key: keyPem } };
      })();
      issued.set(key, p);
    }
    return p;
  };
  const all = await Promise.all(names.map(async (n) => [n, await one(n)] as const));
  return {
    dir,
    ca: ca.ca,
    certs: Object.fromEntries(all.map(([n, x]) => [n, x.files])),
    tls: Object.fromEntries(all.map(([n, x]) => [n, x.tls])),
    files: { ca: ca.ca, cert: join(dir, '${HALO_NODE}.crt'), key: join(dir, '${HALO_NODE}.key') },
  };
}

/** The TLS identity of `name` in `c` (throws when it was not requested). */
export function tlsOf(c: TestCerts, name: string): TlsMaterial {
  const t = c.tls[name];
  if (!t) throw new Error(`no test certificate for "${name}"; request it from testCerts`);
  return t;
}
