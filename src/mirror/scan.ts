import { createHash } from 'node:crypto';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, type Entry } from './protocol.js';

/** One entry of a local scan: the wire entry plus what change detection needs. */
export interface ScanEntry extends Entry {
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/**
 * Every file, directory and symlink under `root` (root itself excluded), parents before children,
 * sorted by path. Entries whose names match `skip` (at the top level) are left out. Entries that
 * vanish while scanning are skipped: the next scan sees the new state.
 */
export async function scanTree(root: string, skip: ReadonlySet<string> = new Set()): Promise<Map<string, ScanEntry>> {
  const out = new Map<string, ScanEntry>();
  const walk = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(rel === '' ? root : join(root, rel));
    } catch (e) {
      if (isCode(e, 'ENOENT') || isCode(e, 'ENOTDIR')) return;
      throw e;
    }
    names.sort();
    for (const name of names) {
      if (rel === '' && skip.has(name)) continue;
      const p = rel === '' ? name : `${rel}/${name}`;
      const e = await statEntry(root, p);
      if (!e) continue;
      out.set(p, e);
      if (e.type === 'dir') await walk(p);
    }
  };
  await walk('');
  return out;
}

export async function statEntry(root: string, p: string): Promise<ScanEntry | undefined> {
  let st;
  try {
    st = await lstat(join(root, p), { bigint: true });
  } catch (e) {
    if (isCode(e, 'ENOENT')) return undefined;
    throw e;
  }
  const base = { path: p, mode: Number(st.mode & 0o7777n), mtimeMs: Number(st.mtimeNs) / 1e6, ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
  if (st.isDirectory()) return { ...base, type: 'dir', size: 0 };
  if (st.isFile()) return { ...base, type: 'file', size: Number(st.size) };
  if (st.isSymbolicLink()) {
    try {
      return { ...base, type: 'symlink', size: 0, target: await readlink(join(root, p)) };
    } catch (e) {
      if (isCode(e, 'ENOENT')) return undefined;
      throw e;
    }
  }
  return undefined; // sockets, fifos, devices are not mirrored
}

export function blockSum(b: Buffer): string {
  return createHash('sha1').update(b).digest('base64');
}

/** Bytes read per call while checksumming (whole blocks; fewer round trips to the thread pool). */
const READ_BYTES = 16 * BLOCK_SIZE;

/**
 * Block checksums of a file (BLOCK_SIZE blocks, the last one short); size -1 and no sums when the
 * file does not exist. `onBlock` sees each block's data (used to ship what differs without a
 * second read); the buffer is reused after the call returns or its promise settles, so a caller
 * that keeps the data copies it.
 */
export async function fileSums(
  file: string,
  onBlock?: (index: number, data: Buffer, sum: string) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<{ size: number; sums: string[] }> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if (isCode(e, 'ENOENT') || isCode(e, 'EISDIR')) return { size: -1, sums: [] };
    throw e;
  }
  try {
    const sums: string[] = [];
    const buf = Buffer.allocUnsafe(READ_BYTES);
    let pos = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, READ_BYTES, pos);
      for (let at = 0; at < bytesRead; at += BLOCK_SIZE) {
        const data = buf.subarray(at, Math.min(at + BLOCK_SIZE, bytesRead));
        const s = blockSum(data);
        sums.push(s);
        if (onBlock) {
          const r = onBlock(sums.length - 1, data, s);
          if (r) await r;
        }
      }
      pos += bytesRead;
      // A short read is the end of the file (a last block shorter than BLOCK_SIZE ends it too).
      if (bytesRead < READ_BYTES) break;
    }
    return { size: pos, sums };
  } finally {
    await fh.close();
  }
}

export function isCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && e.code === code;
}
