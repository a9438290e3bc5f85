import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { cp, mkdir, open, readFile, rename, rm, symlink, unlink, utimes, chmod, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ClusterError } from '../domain/errors.js';
import { encodeFrame, FrameDecoder, OpSchema, parseWith, type Entry, type Op } from './protocol.js';
import { fileSums, isCode, scanTree, statEntry } from './scan.js';

/**
 * The standby's copy of a mirrored directory, and the rules for changing it.
 *
 * Durability and atomicity of one batch: the batch (ops and data, with a length and a SHA-1 of
 * both) is first written to `<meta>/journal` and fdatasynced: one fsync, on a file that exists
 * for the replica's whole life (created once with write-temp / fsync / rename / fsync-directory).
 * Only then is the batch acknowledged: from that moment it survives a crash. It is then applied
 * in place and every touched file and directory is fsynced before the next batch is journaled.
 * At open() a journal whose checksum holds is applied again, then invalidated; a torn journal
 * (checksum mismatch) was never acknowledged and is ignored. The journal is also invalidated when
 * the node becomes active, so an old standby batch can never be replayed over the application's
 * own writes.
 *
 * Re-applying is safe because every op except `rename` sets state without reading it (bytes at
 * offsets, a size, absence), so applying a batch on top of any prefix of itself gives the same
 * result; a `rename` must be the only op of its batch, and re-applying it is skipped when its
 * source is gone and its target exists.
 *
 * Epochs: `<meta>/epoch.json` holds the highest epoch this replica has accepted (requests with
 * a lower epoch are refused with HA_MIRROR_STALE_EPOCH) and the epoch whose data it holds
 * completely (`dataEpoch`, set when an active at that epoch finished a resync). While a session's
 * epoch is newer than `dataEpoch`, the first change to any file that existed at the start of the
 * session moves the old file to `<meta>/quarantine/<epoch>-<time>/` first: data the replica holds
 * from an older epoch (for instance an old active's writes that were never shipped) is set aside,
 * never silently merged or destroyed.
 */

const EpochFileSchema = z.strictObject({
  accepted: z.number().int().min(0),
  dataEpoch: z.number().int().min(0),
  /** 'active' when this node last served the directory itself at `dataEpoch`. */
  role: z.enum(['active', 'standby']),
});
export type EpochFile = z.infer<typeof EpochFileSchema>;

export interface ReplicaOptions {
  /** The mirrored directory. */
  readonly dir: string;
  /** Directory for the journal, epoch file and quarantine; must not be inside `dir`. */
  readonly metaDir: string;
}

export interface ApplyResult {
  /** Relative paths moved to quarantine by this batch. */
  readonly quarantined: readonly string[];
  readonly quarantineDir: string | null;
}

export class Replica {
  private state: EpochFile = { accepted: 0, dataEpoch: 0, role: 'standby' };
  /** Paths that existed when the current quarantining session began and are not yet set aside. */
  private guarded: Set<string> | null = null;
  private quarantineDir: string | null = null;
  private journal: FileHandle | null = null;

  constructor(readonly opts: ReplicaOptions) {}

  get epochs(): EpochFile {
    return this.state;
  }

  /** Create directories, load the epoch file and replay a leftover journal. */
  async open(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
    await mkdir(this.opts.metaDir, { recursive: true });
    try {
      const raw: unknown = JSON.parse(await readFile(join(this.opts.metaDir, 'epoch.json'), 'utf8'));
      this.state = parseWith(EpochFileSchema, raw, `${join(this.opts.metaDir, 'epoch.json')}`);
    } catch (e) {
      if (!isCode(e, 'ENOENT')) throw e;
    }
    const jpath = join(this.opts.metaDir, 'journal');
    let raw: Buffer | null = null;
    try {
      raw = await readFile(jpath);
    } catch (e) {
      if (!isCode(e, 'ENOENT')) throw e;
    }
    if (raw === null) {
      const tmp = `${jpath}.tmp`;
      const fh = await open(tmp, 'w');
      await fh.sync();
      await fh.close();
      await rename(tmp, jpath);
      await fsyncPath(this.opts.metaDir);
    }
    await this.journal?.close();
    this.journal = await open(jpath, 'r+');
    const frame = raw ? decodeJournal(raw) : null;
    if (frame) {
      const ops = parseWith(z.array(OpSchema), frame.header, 'journal');
      await this.applyOps(ops, frame.payload, true);
      await this.invalidateJournal();
    }
  }

  /** Release the journal file handle. */
  async close(): Promise<void> {
    await this.journal?.close();
    this.journal = null;
  }

  /**
   * Accept `epoch` for a new session: refuses an epoch below the accepted one, records a higher
   * one durably, and starts quarantining if the replica's data is from an older epoch.
   */
  async beginSession(epoch: number): Promise<void> {
    this.checkEpoch(epoch);
    if (epoch > this.state.accepted) await this.saveState({ ...this.state, accepted: epoch });
    if (epoch > this.state.dataEpoch || (this.state.role === 'active' && epoch !== this.state.dataEpoch)) {
      const existing = await scanTree(this.opts.dir);
      this.guarded = new Set([...existing.values()].filter((e) => e.type !== 'dir').map((e) => e.path));
      this.quarantineDir = join(this.opts.metaDir, 'quarantine', `${epoch}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    } else {
      this.guarded = null;
      this.quarantineDir = null;
    }
  }

  checkEpoch(epoch: number): void {
    if (epoch < this.state.accepted) {
      throw new ClusterError('HA_MIRROR_STALE_EPOCH', `epoch ${epoch} is older than epoch ${this.state.accepted} accepted by ${this.opts.dir}`);
    }
  }

  /** The active at `epoch` finished its resync: this replica now holds that epoch's data. */
  async markResynced(epoch: number): Promise<void> {
    this.checkEpoch(epoch);
    await this.saveState({ accepted: Math.max(epoch, this.state.accepted), dataEpoch: epoch, role: 'standby' });
    this.guarded = null;
    this.quarantineDir = null;
  }

  /** This node now serves the directory as the active at `epoch`. */
  async markActive(epoch: number): Promise<void> {
    this.checkEpoch(epoch);
    await this.invalidateJournal();
    await this.saveState({ accepted: epoch, dataEpoch: epoch, role: 'active' });
  }

  async manifest(): Promise<Entry[]> {
    const m = await scanTree(this.opts.dir);
    return [...m.values()].map(({ path, type, size, mode, mtimeMs, target }) => (target === undefined ? { path, type, size, mode, mtimeMs } : { path, type, size, mode, mtimeMs, target }));
  }

  /** Block checksums of a regular file; size -1 when the path is no regular file reached through real directories. */
  async sums(path: string, signal?: AbortSignal): Promise<{ size: number; sums: string[] }> {
    const k = await new BatchView(this.opts.dir).kind(path);
    if (k !== 'file' || (await new BatchView(this.opts.dir).badParent(path)) !== null) return { size: -1, sums: [] };
    return await fileSums(join(this.opts.dir, path), undefined, signal);
  }

  /**
   * Make the batch durable (journal), then apply it. `onDurable` runs once the journal is on
   * disk (the caller acknowledges there); the returned promise settles when the batch is applied.
   */
  async applyBatch(epoch: number, ops: readonly Op[], payload: Buffer, onDurable?: (r: ApplyResult) => void): Promise<ApplyResult> {
    this.checkEpoch(epoch);
    if (ops.length > 1 && ops.some((o) => o.op === 'rename')) throw new ClusterError('HA_MIRROR_PROTOCOL', 'a rename must be the only op of its batch');
    const need = ops.reduce((a, o) => a + (o.op === 'write' ? o.len : 0), 0);
    if (need !== payload.length) throw new ClusterError('HA_MIRROR_PROTOCOL', `batch writes ${need} bytes but carries ${payload.length}`);
    // Before anything is journaled or acknowledged: a batch that could not be applied as a whole
    // (or would reach outside the directory) is refused, and never replayed at open().
    await checkBatch(this.opts.dir, ops);
    const quarantined = await this.quarantineFor(ops);
    const result: ApplyResult = { quarantined, quarantineDir: quarantined.length > 0 ? this.quarantineDir : null };
    await this.writeJournal(ops, payload);
    onDurable?.(result);
    await this.applyOps(ops, payload, false);
    return result;
  }

  private async quarantineFor(ops: readonly Op[]): Promise<string[]> {
    const guarded = this.guarded;
    const qdir = this.quarantineDir;
    if (!guarded || !qdir || guarded.size === 0) return [];
    const touched = new Set<string>();
    for (const o of ops) {
      if (o.op === 'rename') {
        touched.add(o.from);
        touched.add(o.to);
      } else if (o.op === 'rmdir') {
        for (const g of guarded) if (g === o.path || g.startsWith(`${o.path}/`)) touched.add(g);
      } else if (o.op !== 'meta' && o.op !== 'mkdir') touched.add(o.path);
    }
    // A path whose first op in the batch removes or replaces it whole (unlink, rename onto it, rmdir
    // of it or of a directory above it) is moved to quarantine, not copied: a copy of a large (or
    // huge sparse) file would hold up the session for as long as it takes to read it, and fill the
    // disk with its holes.
    const removedFirst = new Set<string>();
    const seenFirst = new Set<string>();
    for (const o of ops) {
      const paths = o.op === 'rename' ? [o.from, o.to] : o.op === 'rmdir' ? [...guarded].filter((g) => g === o.path || g.startsWith(`${o.path}/`)) : [o.path];
      for (const path of paths) {
        if (seenFirst.has(path)) continue;
        seenFirst.add(path);
        if (o.op === 'rmdir' || (o.op === 'unlink' && o.path === path) || (o.op === 'rename' && o.to === path && o.from !== path)) removedFirst.add(path);
      }
    }
    const out: string[] = [];
    for (const p of touched) {
      if (!guarded.has(p)) continue;
      guarded.delete(p);
      const src = join(this.opts.dir, p);
      const dst = join(qdir, p);
      await mkdir(dirname(dst), { recursive: true });
      try {
        if (removedFirst.has(p)) await moveOrCopy(src, dst);
        else await cp(src, dst, { preserveTimestamps: true, verbatimSymlinks: true });
      } catch (e) {
        if (isCode(e, 'ENOENT')) continue;
        throw e;
      }
      await fsyncPath(dst, { follow: false });
      out.push(p);
    }
    if (out.length > 0) await fsyncTree(qdir, out);
    return out;
  }

  private async writeJournal(ops: readonly Op[], payload: Buffer): Promise<void> {
    const fh = this.journal;
    if (!fh) throw new ClusterError('HA_INTERNAL', 'replica is not open');
    const all = encodeJournal(ops, payload);
    let done = 0;
    while (done < all.length) done += (await fh.write(all, done, all.length - done, done)).bytesWritten;
    await fh.datasync();
  }

  private async invalidateJournal(): Promise<void> {
    const fh = this.journal;
    if (!fh) return;
    await fh.write(Buffer.alloc(JOURNAL_HEAD), 0, JOURNAL_HEAD, 0);
    await fh.datasync();
  }

  private async applyOps(ops: readonly Op[], payload: Buffer, replay: boolean): Promise<void> {
    const root = this.opts.dir;
    const files = new Map<string, FileHandle>();
    const dirs = new Set<string>();
    const abs = (p: string): string => join(root, p);
    const handle = async (p: string): Promise<FileHandle> => {
      let fh = files.get(p);
      if (fh) return fh;
      try {
        // An existing file: its directory entry does not change, no directory fsync needed.
        fh = await open(abs(p), constants.O_RDWR | constants.O_NOFOLLOW);
      } catch (e) {
        if (!isCode(e, 'ENOENT')) throw e;
        await mkdir(dirname(abs(p)), { recursive: true });
        fh = await open(abs(p), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
        dirs.add(dirname(abs(p)));
      }
      files.set(p, fh);
      return fh;
    };
    const closeOne = async (p: string): Promise<void> => {
      const fh = files.get(p);
      if (fh) {
        await fh.sync();
        await fh.close();
        files.delete(p);
      }
    };
    let pos = 0;
    // Defence in depth (checkBatch refused such batches already): never follow a symlink, or
    // anything but a directory, in the middle of a path. On replay the op is skipped (a journal
    // of an older halo, or a directory changed by hand since), live it fails the batch.
    const safe = new SafeParents(root);
    try {
      for (const o of ops) {
        // A write's data is the next `len` payload bytes, also when the op is skipped.
        const data = o.op === 'write' ? payload.subarray(pos, pos + o.len) : null;
        pos += o.op === 'write' ? o.len : 0;
        const bad = await safe.check(o.op === 'rename' ? [o.from, o.to] : [o.path]);
        if (bad !== null) {
          if (replay) continue;
          throw new ClusterError('HA_MIRROR_PROTOCOL', `"${bad.path}" goes through "${bad.parent}", which is not a directory`);
        }
        if (o.op === 'rename' || o.op === 'unlink' || o.op === 'rmdir' || o.op === 'symlink') safe.forget();
        try {
          switch (o.op) {
            case 'mkdir':
              await mkdir(abs(o.path), { recursive: true, mode: o.mode });
              dirs.add(dirname(abs(o.path)));
              break;
            case 'write': {
              const fh = await handle(o.path);
              let done = 0;
              while (data !== null && done < data.length) {
                const { bytesWritten } = await fh.write(data, done, data.length - done, o.offset + done);
                done += bytesWritten;
              }
              break;
            }
            case 'truncate':
              await (await handle(o.path)).truncate(o.size);
              break;
            case 'create':
              await handle(o.path);
              break;
            case 'rename': {
              await closeOne(o.from);
              await closeOne(o.to);
              if (replay && !(await statEntry(root, o.from)) && (await statEntry(root, o.to))) break;
              await mkdir(dirname(abs(o.to)), { recursive: true });
              await rename(abs(o.from), abs(o.to));
              dirs.add(dirname(abs(o.from)));
              dirs.add(dirname(abs(o.to)));
              break;
            }
            case 'unlink':
              await closeOne(o.path);
              try {
                await unlink(abs(o.path));
              } catch (e) {
                if (isCode(e, 'EISDIR')) await rm(abs(o.path), { recursive: true, force: true });
                else if (!isCode(e, 'ENOENT')) throw e;
              }
              dirs.add(dirname(abs(o.path)));
              break;
            case 'rmdir':
              for (const p of [...files.keys()]) if (p === o.path || p.startsWith(`${o.path}/`)) await closeOne(p);
              await rm(abs(o.path), { recursive: true, force: true });
              dirs.add(dirname(abs(o.path)));
              break;
            case 'symlink':
              await closeOne(o.path);
              await rm(abs(o.path), { recursive: true, force: true });
              await mkdir(dirname(abs(o.path)), { recursive: true });
              await symlink(o.target, abs(o.path));
              dirs.add(dirname(abs(o.path)));
              break;
            case 'meta': {
              const e = await statEntry(root, o.path);
              if (!e || e.type === 'symlink') break;
              if (e.mode !== o.mode) await chmod(abs(o.path), o.mode);
              const t = o.mtimeMs / 1000;
              await utimes(abs(o.path), t, t);
              if (e.type === 'file' && !files.has(o.path)) files.set(o.path, await open(abs(o.path), 'r'));
              break;
            }
          }
        } catch (e) {
          // Replaying a journal over a directory that no longer fits it (changed since): skip
          // what cannot apply rather than never open again; live, the batch fails.
          if (replay && STRUCTURAL_ERRORS.some((c) => isCode(e, c))) continue;
          throw e;
        }
      }
      for (const fh of files.values()) await fh.sync();
    } finally {
      for (const fh of files.values()) await fh.close().catch(() => undefined);
    }
    for (const d of dirs) await fsyncPath(d);
  }

  private async saveState(next: EpochFile): Promise<void> {
    const tmp = join(this.opts.metaDir, 'epoch.json.tmp');
    const fh = await open(tmp, 'w');
    try {
      await fh.write(JSON.stringify(next));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.opts.metaDir, 'epoch.json'));
    await fsyncPath(this.opts.metaDir);
    this.state = next;
  }
}

const STRUCTURAL_ERRORS = ['ENOENT', 'ENOTDIR', 'EISDIR', 'ELOOP', 'ENOTEMPTY', 'EEXIST', 'EINVAL', 'EFBIG', 'ENAMETOOLONG'] as const;
/** |mtimeMs| of a `meta` op beyond this (about the year 5000) is refused: the kernel refuses it too. */
const MAX_MTIME_MS = 1e14;

type Kind = 'file' | 'dir' | 'symlink' | 'absent';

/** The proper prefixes of a relative path, outermost first: a/b/c -> a, a/b. */
function parentsOf(p: string): string[] {
  const segs = p.split('/');
  return segs.slice(0, -1).map((_, i) => segs.slice(0, i + 1).join('/'));
}

/**
 * What a batch sees at each path: the directory as it is (lstat, never following a symlink),
 * changed by the batch's earlier ops.
 */
class BatchView {
  /** Set by an earlier op of the batch. */
  private readonly changed = new Map<string, Kind>();
  /** Paths whose earlier subtree an earlier op removed (unlink, rmdir, symlink). */
  private readonly cleared = new Set<string>();
  private readonly disk = new Map<string, Kind>();

  constructor(private readonly root: string) {}

  async kind(p: string): Promise<Kind> {
    const c = this.changed.get(p);
    if (c !== undefined) return c;
    if (this.cleared.has(p) || parentsOf(p).some((q) => this.cleared.has(q))) return 'absent';
    let d = this.disk.get(p);
    if (d === undefined) {
      const e = await statEntry(this.root, p).catch((err: unknown) => {
        // A parent that is a file: nothing can be below it.
        if (isCode(err, 'ENOTDIR')) return undefined;
        throw err;
      });
      d = e === undefined ? 'absent' : e.type;
      this.disk.set(p, d);
    }
    return d;
  }

  /** The first parent of `p` that is neither a directory nor absent (to be created as one), or null. */
  async badParent(p: string): Promise<string | null> {
    for (const q of parentsOf(p)) {
      const k = await this.kind(q);
      if (k !== 'dir' && k !== 'absent') return q;
    }
    return null;
  }

  set(p: string, k: Kind): void {
    if (k === 'absent' || k === 'symlink') {
      for (const key of [...this.changed.keys()]) if (key.startsWith(`${p}/`)) this.changed.delete(key);
      this.cleared.add(p);
    }
    this.changed.set(p, k);
    if (k !== 'absent') for (const q of parentsOf(p)) this.changed.set(q, 'dir');
  }
}

/**
 * Refuses (HA_MIRROR_PROTOCOL) a batch that could not be applied as a whole: an op whose path
 * goes through a symlink or a file (it would write outside the directory, or fail), data ops on
 * a symlink or a directory, a directory over a file or symlink, a rename of nothing or into its
 * own subtree or over a directory. The active's scans (lstat) never produce such a batch.
 */
async function checkBatch(root: string, ops: readonly Op[]): Promise<void> {
  const v = new BatchView(root);
  const refuse = (o: Op, why: string): never => {
    throw new ClusterError('HA_MIRROR_PROTOCOL', `batch op ${o.op} "${o.op === 'rename' ? `${o.from}" -> "${o.to}` : o.path}": ${why}`);
  };
  for (const o of ops) {
    for (const p of o.op === 'rename' ? [o.from, o.to] : [o.path]) {
      const bad = await v.badParent(p);
      if (bad !== null) refuse(o, `"${bad}" is a ${await v.kind(bad)}, not a directory`);
    }
    switch (o.op) {
      case 'write':
      case 'truncate':
      case 'create': {
        const k = await v.kind(o.path);
        if (k !== 'file' && k !== 'absent') refuse(o, `the path is a ${k}`);
        v.set(o.path, 'file');
        break;
      }
      case 'mkdir': {
        const k = await v.kind(o.path);
        if (k !== 'dir' && k !== 'absent') refuse(o, `the path is a ${k}`);
        v.set(o.path, 'dir');
        break;
      }
      case 'rename': {
        const from = await v.kind(o.from);
        const to = await v.kind(o.to);
        if (from === 'absent') refuse(o, 'nothing to rename');
        if (o.to === o.from || o.to.startsWith(`${o.from}/`)) refuse(o, 'renamed into itself');
        if (to === 'dir') refuse(o, 'the target is a directory');
        if (from === 'dir' && to !== 'absent') refuse(o, `a directory over a ${to}`);
        v.set(o.from, 'absent');
        v.set(o.to, from);
        break;
      }
      case 'unlink':
      case 'rmdir':
        v.set(o.path, 'absent');
        break;
      case 'symlink':
        v.set(o.path, 'symlink');
        break;
      case 'meta':
        if (Math.abs(o.mtimeMs) > MAX_MTIME_MS) refuse(o, `modification time ${o.mtimeMs} is out of range`);
        break;
    }
  }
}

/** Checks that the parents of paths are real directories (or absent), caching the ones seen. */
class SafeParents {
  private readonly dirs = new Set<string>();

  constructor(private readonly root: string) {}

  async check(paths: readonly string[]): Promise<{ path: string; parent: string } | null> {
    for (const p of paths) {
      for (const q of parentsOf(p)) {
        if (this.dirs.has(q)) continue;
        let e;
        try {
          e = await statEntry(this.root, q);
        } catch (err) {
          if (isCode(err, 'ENOTDIR')) return { path: p, parent: q };
          throw err;
        }
        if (e === undefined) break; // absent: created below as a real directory
        if (e.type !== 'dir') return { path: p, parent: q };
        this.dirs.add(q);
      }
    }
    return null;
  }

  /** After an op that may have replaced a directory. */
  forget(): void {
    this.dirs.clear();
  }
}

const JOURNAL_MAGIC = 0x484d4a31; // "HMJ1"
const JOURNAL_HEAD = 28;

/** Journal record: magic, frame length, SHA-1 of the frame, the frame (ops header + payload). */
export function encodeJournal(ops: readonly Op[], payload: Buffer): Buffer {
  const frame = Buffer.concat(encodeFrame(ops, payload));
  const head = Buffer.alloc(JOURNAL_HEAD);
  head.writeUInt32BE(JOURNAL_MAGIC, 0);
  head.writeUInt32BE(frame.length, 4);
  createHash('sha1').update(frame).digest().copy(head, 8);
  return Buffer.concat([head, frame]);
}

/** The frame of a valid journal, or null (empty, invalidated or torn). */
function decodeJournal(raw: Buffer): { header: unknown; payload: Buffer } | null {
  if (raw.length < JOURNAL_HEAD || raw.readUInt32BE(0) !== JOURNAL_MAGIC) return null;
  const len = raw.readUInt32BE(4);
  if (raw.length < JOURNAL_HEAD + len) return null;
  const frame = raw.subarray(JOURNAL_HEAD, JOURNAL_HEAD + len);
  if (!createHash('sha1').update(frame).digest().equals(raw.subarray(8, 28))) return null;
  return new FrameDecoder().push(frame)[0] ?? null;
}

/** fsync a file or directory by path (directories: makes entry changes in it durable). */
export async function fsyncPath(p: string, opts: { readonly follow?: boolean } = {}): Promise<void> {
  let fh;
  try {
    fh = await open(p, opts.follow === false ? constants.O_RDONLY | constants.O_NOFOLLOW : 'r');
  } catch (e) {
    if (isCode(e, 'ENOENT')) return;
    // A symlink itself (which may lead anywhere, or in a loop): its directory's fsync makes it durable.
    if (opts.follow === false && isCode(e, 'ELOOP')) return;
    throw e;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncTree(root: string, rels: readonly string[]): Promise<void> {
  const dirs = new Set<string>([root]);
  for (const r of rels) {
    let d = dirname(join(root, r));
    while (d.length >= root.length) {
      dirs.add(d);
      if (d === root) break;
      d = dirname(d);
    }
  }
  for (const d of dirs) await fsyncPath(d);
  await fsyncPath(dirname(root));
}

/** Renames `src` to `dst`; copies when they are on different filesystems (the copy is left in place). */
async function moveOrCopy(src: string, dst: string): Promise<void> {
  try {
    await rename(src, dst);
  } catch (e) {
    if (!isCode(e, 'EXDEV')) throw e;
    await cp(src, dst, { preserveTimestamps: true, verbatimSymlinks: true });
  }
}
