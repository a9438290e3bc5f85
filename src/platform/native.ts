import { execFile } from 'node:child_process';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ClusterError } from '../domain/errors.js';

/**
 * halo's native helpers (native/*.c), compiled on the node with the system C compiler (`cc`) into a
 * directory of the node's own state (root's: never a shared writable path), when missing or older
 * than their source.
 *
 *  - halo-fsync.so  the mirror's fsync shim (LD_PRELOAD into a resource's processes)
 *  - halo-guard     the fencing guard every `process` resource runs under
 */
export type NativeHelper = 'halo-fsync.so' | 'halo-guard';

/** Source in native/, compiler flags, and libraries (named after the source: --as-needed linkers drop one named before it). */
const SOURCES: Readonly<Record<NativeHelper, { readonly source: string; readonly flags: readonly string[]; readonly libs: readonly string[] }>> = {
  'halo-fsync.so': { source: 'halo-fsync.c', flags: ['-O2', '-shared', '-fPIC', '-Wall'], libs: ['-ldl'] },
  'halo-guard': { source: 'halo-guard.c', flags: ['-O2', '-Wall'], libs: [] },
};

/** One compile per output path at a time in this process. */
const building = new Map<string, Promise<string>>();

/** Path of `helper` in `outDir`, compiled first when needed. HA_INTERNAL when no compiler is available. */
export function ensureNative(helper: NativeHelper, outDir: string, opts: { signal?: AbortSignal } = {}): Promise<string> {
  const out = join(outDir, helper);
  const pending = building.get(out);
  if (pending) return pending;
  const p = build(helper, out, outDir, opts.signal).finally(() => building.delete(out));
  building.set(out, p);
  return p;
}

async function build(helper: NativeHelper, out: string, outDir: string, signal: AbortSignal | undefined): Promise<string> {
  const { source, flags, libs } = SOURCES[helper];
  const src = fileURLToPath(new URL(`../../../native/${source}`, import.meta.url));
  const [s, bin] = await Promise.all([stat(src), stat(out).catch(() => null)]);
  if (bin && bin.mtimeMs >= s.mtimeMs) return out;
  await mkdir(outDir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await promisify(execFile)('cc', [...flags, '-o', tmp, src, ...libs], signal ? { signal } : {});
  } catch (e) {
    throw new ClusterError('HA_INTERNAL', `could not compile ${src} with cc (halo needs a C compiler on each node): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  await rename(tmp, out);
  return out;
}
