import { open } from 'node:fs/promises';
import { ClusterError } from '../domain/errors.js';

/**
 * Reading files that hold a secret (the embedded coordinator's shared secret, an etcd password):
 * one place that checks their mode and says precisely what is wrong with them.
 */

export interface PrivateFileOptions {
  /** What the file holds, for messages: "coordinator secret", "etcd password file". */
  readonly what: string;
  /** Refuse a file that group or others may read or write (checked on the open handle). */
  readonly ownerOnly: boolean;
  /** The error for a file that does not exist (default: HA_CONFIG_INVALID naming the file). */
  readonly onMissing?: (file: string, cause: unknown) => ClusterError;
}

/**
 * The text of `file`. Failures name `what` and the file: HA_CONFIG_INVALID when it cannot be read
 * (or `onMissing`'s error when it does not exist), or, with `ownerOnly`, when its mode lets group or
 * others in.
 */
export async function readPrivateFile(file: string, opts: PrivateFileOptions): Promise<string> {
  try {
    const fh = await open(file, 'r');
    try {
      if (opts.ownerOnly) {
        // Checked on the open handle, so the file we read is the file we checked.
        const mode = (await fh.stat()).mode & 0o777;
        if ((mode & 0o077) !== 0) {
          throw new ClusterError(
            'HA_CONFIG_INVALID',
            `${opts.what} ${file} has mode ${mode.toString(8).padStart(4, '0')}: group and others must have no access to it; run: chmod 600 ${file}`,
          );
        }
      }
      return await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof ClusterError) throw e;
    const code = errnoCode(e) ?? 'error';
    if (code === 'ENOENT' && opts.onMissing) throw opts.onMissing(file, e);
    throw new ClusterError('HA_CONFIG_INVALID', `cannot read ${opts.what} ${file} (${code}); it must be readable by the user running halo`, { cause: e });
  }
}

export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
