import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ClusterError } from '../../domain/errors.js';
import type { KvStore } from '../memory/kv-store.js';
import { StoreRecordSchema, StoreSnapshotSchema, type StoreRecord, type StoreSnapshot } from '../memory/records.js';

const SNAPSHOT = 'snapshot.json';
const SNAPSHOT_TMP = 'snapshot.json.tmp';
const LOG = 'changes.jsonl';

const LogLineSchema = z.strictObject({ seq: z.number().int().min(1), record: StoreRecordSchema });
const SnapshotFileSchema = z.strictObject({ seq: z.number().int().min(0), store: StoreSnapshotSchema });

export interface DiskLogOptions {
  /** Write a snapshot and truncate the log once it holds this many records (default 20 000). */
  readonly compactAfterRecords?: number;
  /** ... or this many bytes (default 32 MiB). */
  readonly compactAfterBytes?: number;
}

/**
 * Durability for the embedded coordinator: an append-only JSON-lines log of store records, each
 * fsynced before `append` returns, plus a snapshot that the log continues from.
 *
 * Every line carries a sequence number and the snapshot names the last one it includes, so a crash
 * between writing a snapshot and truncating the log only leaves lines that replay skips. A torn
 * last line (crash mid-append) is cut off on load; damage anywhere else refuses to start rather
 * than guess. The snapshot is replaced atomically: write a temp file, fsync, rename, fsync the dir.
 */
export class DiskLog {
  private readonly dir: string;
  private readonly compactAfterRecords: number;
  private readonly compactAfterBytes: number;
  private fd: number | undefined;
  private seq = 0;
  private records = 0;
  private bytes = 0;

  constructor(dataDir: string, opts: DiskLogOptions = {}) {
    this.dir = dataDir;
    this.compactAfterRecords = opts.compactAfterRecords ?? 20_000;
    this.compactAfterBytes = opts.compactAfterBytes ?? 32 * 1024 * 1024;
  }

  /** Rebuild `store` from the snapshot and the log, then open the log for appends. */
  load(store: KvStore): void {
    mkdirSync(this.dir, { recursive: true });
    rmSync(join(this.dir, SNAPSHOT_TMP), { force: true });
    const snapPath = join(this.dir, SNAPSHOT);
    if (existsSync(snapPath)) {
      const parsed = SnapshotFileSchema.safeParse(parseJson(readFileSync(snapPath, 'utf8')));
      if (!parsed.success) throw damaged(`${snapPath} is not a valid snapshot: ${parsed.error.message}`);
      store.restore(parsed.data.store);
      this.seq = parsed.data.seq;
    }

    const logPath = join(this.dir, LOG);
    let validBytes = 0;
    let torn = false;
    if (existsSync(logPath)) {
      const buf = readFileSync(logPath);
      let start = 0;
      let lineNo = 0;
      while (start < buf.length) {
        const nl = buf.indexOf(0x0a, start);
        lineNo++;
        if (nl === -1) {
          // No newline: the last append was cut short and was never acknowledged.
          torn = true;
          break;
        }
        const parsed = LogLineSchema.safeParse(parseJson(buf.subarray(start, nl).toString('utf8')));
        if (!parsed.success) {
          if (nl === buf.length - 1) {
            torn = true;
            break;
          }
          throw damaged(`${logPath} line ${lineNo} is damaged: ${parsed.error.message}`);
        }
        const { seq, record } = parsed.data;
        if (seq > this.seq) {
          if (seq !== this.seq + 1) throw damaged(`${logPath} line ${lineNo}: sequence ${seq} does not follow ${this.seq}`);
          store.replay(record);
          this.seq = seq;
          this.records++;
        }
        start = nl + 1;
        validBytes = start;
      }
    }

    this.fd = openSync(logPath, 'a');
    if (torn) {
      ftruncateSync(this.fd, validBytes);
      fsyncSync(this.fd);
    }
    this.bytes = validBytes;
    fsyncDir(this.dir);
  }

  /** Append one record and fsync it. Throws when it cannot be made durable. */
  append(record: StoreRecord): void {
    const fd = this.openFd();
    const line = Buffer.from(`${JSON.stringify({ seq: this.seq + 1, record })}\n`, 'utf8');
    let off = 0;
    while (off < line.length) off += writeSync(fd, line, off, line.length - off);
    fsyncSync(fd);
    this.seq++;
    this.records++;
    this.bytes += line.length;
  }

  needsCompaction(): boolean {
    return this.records >= this.compactAfterRecords || this.bytes >= this.compactAfterBytes;
  }

  /** Replace the snapshot with `snap` (which must include every appended record) and empty the log. */
  compact(snap: StoreSnapshot): void {
    const fd = this.openFd();
    const tmp = join(this.dir, SNAPSHOT_TMP);
    const body = Buffer.from(JSON.stringify({ seq: this.seq, store: snap }), 'utf8');
    const tfd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < body.length) off += writeSync(tfd, body, off, body.length - off);
      fsyncSync(tfd);
    } finally {
      closeSync(tfd);
    }
    renameSync(tmp, join(this.dir, SNAPSHOT));
    fsyncDir(this.dir);
    ftruncateSync(fd, 0);
    fsyncSync(fd);
    this.records = 0;
    this.bytes = 0;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new ClusterError('HA_INTERNAL', 'change log is not open');
    return this.fd;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function damaged(message: string): ClusterError {
  return new ClusterError('HA_INTERNAL', `coordinator data is damaged: ${message}`);
}
