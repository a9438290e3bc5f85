import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ClusterError } from '../../domain/errors.js';
import { errnoCode, readPrivateFile } from '../../security/secret-file.js';

/**
 * The embedded coordinator's shared secret: a file holding one token that every caller sends as
 * `authorization: Bearer <token>`. `halo coordinator` creates it (32 random bytes, base64url, mode
 * 0600) when it is missing and refuses to start while group or others have any access to it;
 * clients only read it.
 */

/** Name of the secret file when the config does not name one; it sits next to the data directory. */
export const DEFAULT_SECRET_FILE_NAME = 'coordinator.secret';

/** Printable ASCII without spaces (header-safe), long enough that guessing it is hopeless. */
const SECRET_FORMAT = /^[\x21-\x7e]{32,1024}$/;

/** `coordinator.secret` in the parent of `dataDir` (`.halo/coordinator` -> `.halo/coordinator.secret`). */
export function defaultSecretFile(dataDir: string): string {
  return join(dirname(dataDir), DEFAULT_SECRET_FILE_NAME);
}

/**
 * Reads the secret in `file`. With `ownerOnly` (the server) it refuses a file that group or others
 * may read or write. Failures name the file: HA_COORD_UNAVAILABLE when it does not exist yet (the
 * coordinator creates it when it starts, so a client may retry), HA_CONFIG_INVALID otherwise.
 */
export async function readSecretFile(file: string, opts: { readonly ownerOnly: boolean }): Promise<string> {
  const text = await readPrivateFile(file, {
    what: 'coordinator secret',
    ownerOnly: opts.ownerOnly,
    onMissing: (f, cause) =>
      new ClusterError('HA_COORD_UNAVAILABLE', `cannot read coordinator secret ${f} (ENOENT): "halo coordinator" creates it when it starts; on another machine, copy it from the coordinator's (mode 0600)`, { cause }),
  });
  const secret = text.trim();
  if (!SECRET_FORMAT.test(secret)) {
    throw new ClusterError('HA_CONFIG_INVALID', `coordinator secret ${file}: expected one line of 32 to 1024 printable characters without spaces; remove the file and start "halo coordinator" to create a new one`);
  }
  return secret;
}

/**
 * The secret in `file`, created first when it does not exist: 32 random bytes, base64url, mode 0600,
 * in a directory created with mode 0700. Creation is atomic and never overwrites: the new secret is
 * written to a temporary file and hard-linked into place, so a concurrent creator's secret wins and
 * both read the same one. Then the file is read with the owner-only check.
 */
export async function ensureSecretFile(file: string): Promise<{ readonly secret: string; readonly created: boolean }> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let created = false;
  const tmp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx', flush: true });
    await link(tmp, file);
    created = true;
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST') {
      throw new ClusterError('HA_CONFIG_INVALID', `cannot create coordinator secret ${file} (${errnoCode(e) ?? String(e)})`, { cause: e });
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return { secret: await readSecretFile(file, { ownerOnly: true }), created };
}

/**
 * Checks `authorization` headers against one secret in constant time: both sides are hashed first,
 * so neither the content nor the length of the secret shows in the time taken.
 */
export class SecretVerifier {
  private readonly digest: Buffer;

  constructor(secret: string) {
    this.digest = sha256(`Bearer ${secret}`);
  }

  matches(header: string | undefined): boolean {
    if (header === undefined) return false;
    return timingSafeEqual(sha256(header), this.digest);
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
