import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { ClusterError } from '../domain/errors.js';

/**
 * The CLI's credentials file: where a cluster's API is, the token to use and the CA that signed
 * the agents' certificates. `halo demo` writes one; so can an operator. It holds a secret, so it
 * must be readable by its owner only (mode 0600): the CLI refuses a file others can read.
 */
export const CredentialsFileSchema = z.strictObject({
  /** API base URLs, tried in order. */
  api: z.array(z.string().regex(/^https?:\/\/[^\s/]+/, 'expected an http:// or https:// URL')).min(1).optional(),
  /** A bearer token (halo token create). */
  token: z.string().min(1).optional(),
  /** PEM file of the cluster CA, to verify https:// agents. */
  ca: z.string().min(1).optional(),
  /** A client certificate and key (PEM files) signed by the cluster CA, instead of or besides a token. */
  cert: z.string().min(1).optional(),
  key: z.string().min(1).optional(),
});
export type CredentialsFile = z.infer<typeof CredentialsFileSchema>;

/** $XDG_CONFIG_HOME/halo/credentials.json, else ~/.config/halo/credentials.json. */
export function defaultCredentialsPath(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const base = env['XDG_CONFIG_HOME'] || (env['HOME'] ? join(env['HOME'], '.config') : undefined);
  return base === undefined ? undefined : join(base, 'halo', 'credentials.json');
}

/**
 * Reads a credentials file. `required`: a missing file is an error (it was named explicitly);
 * otherwise a missing file is undefined. Relative paths inside it resolve against its folder.
 */
export function readCredentials(file: string, required: boolean): CredentialsFile | undefined {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClusterError('HA_BAD_REQUEST', `credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'cannot read'}`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new ClusterError('HA_PERMISSION', `credentials file ${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); it holds a secret: run "chmod 600 ${file}"`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ClusterError('HA_BAD_REQUEST', `credentials file ${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const r = CredentialsFileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ClusterError('HA_BAD_REQUEST', `credentials file ${file}: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'}`);
  }
  const dir = dirname(resolve(file));
  const abs = (p: string | undefined) => (p === undefined ? undefined : resolve(dir, p));
  const c = r.data;
  return {
    ...c,
    ...(c.ca ? { ca: abs(c.ca) } : {}),
    ...(c.cert ? { cert: abs(c.cert) } : {}),
    ...(c.key ? { key: abs(c.key) } : {}),
  } as CredentialsFile;
}

/** Writes a credentials file with mode 0600 (its folder 0700), replacing any previous one atomically. */
export function writeCredentials(file: string, creds: CredentialsFile): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(CredentialsFileSchema.parse(creds), null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}
