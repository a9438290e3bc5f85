import type { Socket } from 'node:net';
import { z } from 'zod';
import { ClusterError } from '../domain/errors.js';

/**
 * The mirror replication protocol. One TCP connection per (active, standby) pair, opened by the
 * active. Every frame is
 *
 *   u32 BE  length of the rest of the frame
 *   u32 BE  length of the JSON header
 *   JSON header (UTF-8), parsed with the schemas below
 *   payload bytes (the data of a batch's `write` ops, in op order)
 *
 * Requests carry an `id` and the sender's `epoch`; the standby answers each request with exactly
 * one response with the same `id`, in request order. A standby that has accepted epoch E refuses
 * any request with an epoch below E with `HA_MIRROR_STALE_EPOCH` and closes the connection.
 */

export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Block size of the checksums used by resync and change detection. */
export const BLOCK_SIZE = 64 * 1024;

/** A path relative to the mirrored directory: '/'-separated, no '.', '..' or empty segments. */
export const RelPathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.startsWith('/') && p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..' && !seg.includes('\0')), {
    message: 'expected a relative path without "." or ".." segments',
  });

const mode = z.number().int().min(0).max(0o7777);

export const OpSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('mkdir'), path: RelPathSchema, mode }),
  /** Write `len` payload bytes at `offset`; creates the file (mode 0644) when missing. */
  z.strictObject({ op: z.literal('write'), path: RelPathSchema, offset: z.number().int().min(0), len: z.number().int().min(0) }),
  z.strictObject({ op: z.literal('truncate'), path: RelPathSchema, size: z.number().int().min(0) }),
  /** Create an empty file if missing (never truncates). */
  z.strictObject({ op: z.literal('create'), path: RelPathSchema, mode }),
  /** Must be the only op of its batch (keeps journal replay idempotent, see Replica). */
  z.strictObject({ op: z.literal('rename'), from: RelPathSchema, to: RelPathSchema }),
  z.strictObject({ op: z.literal('unlink'), path: RelPathSchema }),
  /** Remove a directory and everything under it. */
  z.strictObject({ op: z.literal('rmdir'), path: RelPathSchema }),
  z.strictObject({ op: z.literal('symlink'), path: RelPathSchema, target: z.string().min(1).max(4096) }),
  /** Set mode and modification time (ms since the epoch, fractional) after the data ops. */
  z.strictObject({ op: z.literal('meta'), path: RelPathSchema, mode, mtimeMs: z.number() }),
]);
export type Op = z.infer<typeof OpSchema>;

export const EntrySchema = z.strictObject({
  path: RelPathSchema,
  type: z.enum(['file', 'dir', 'symlink']),
  size: z.number().int().min(0),
  mode,
  mtimeMs: z.number(),
  /** Symlink target. */
  target: z.string().optional(),
});
export type Entry = z.infer<typeof EntrySchema>;

const req = { id: z.number().int().min(0), epoch: z.number().int().min(0) };

export const RequestSchema = z.discriminatedUnion('kind', [
  /** Opens a session; the answer is `welcome` with the standby's manifest. */
  z.strictObject({ kind: z.literal('hello'), ...req, group: z.string().min(1), source: z.string().min(1) }),
  /** Block checksums of one file (resync / block deltas). */
  z.strictObject({ kind: z.literal('sums'), ...req, path: RelPathSchema }),
  /** Apply `ops` atomically and durably; answered with `ack` once durable. */
  z.strictObject({ kind: z.literal('batch'), ...req, ops: z.array(OpSchema).max(100_000) }),
  /** The active has finished comparing every file: the replica now holds the data of `epoch`. */
  z.strictObject({ kind: z.literal('resynced'), ...req }),
]);
export type Request = z.infer<typeof RequestSchema>;

export const ResponseSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('welcome'),
    id: z.number().int(),
    /** Epoch whose data the replica holds completely (0: none yet). */
    dataEpoch: z.number().int().min(0),
    manifest: z.array(EntrySchema),
  }),
  z.strictObject({ kind: z.literal('sums'), id: z.number().int(), size: z.number().int().min(-1), sums: z.array(z.string()) }),
  z.strictObject({ kind: z.literal('ack'), id: z.number().int(), quarantined: z.array(z.string()) }),
  z.strictObject({
    kind: z.literal('error'),
    id: z.number().int(),
    code: z.enum(['HA_MIRROR_STALE_EPOCH', 'HA_MIRROR_PROTOCOL', 'HA_INTERNAL']),
    message: z.string(),
  }),
]);
export type Response = z.infer<typeof ResponseSchema>;

export interface Frame {
  readonly header: unknown;
  readonly payload: Buffer;
}

export function encodeFrame(header: object, payload: Buffer | readonly Buffer[] = []): Buffer[] {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const parts = Buffer.isBuffer(payload) ? [payload] : payload;
  const plen = parts.reduce((a, b) => a + b.length, 0);
  const pre = Buffer.allocUnsafe(8);
  pre.writeUInt32BE(4 + h.length + plen, 0);
  pre.writeUInt32BE(h.length, 4);
  return [pre, h, ...parts];
}

/** Incremental frame decoder: feed it chunks, take whole frames. Throws HA_MIRROR_PROTOCOL on garbage. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.peek(4);
      const len = head.readUInt32BE(0);
      if (len < 4 || len > MAX_FRAME_BYTES) throw new ClusterError('HA_MIRROR_PROTOCOL', `frame length ${len} is out of range (4..${MAX_FRAME_BYTES})`);
      if (this.buffered < 4 + len) break;
      const buf = this.take(4 + len);
      const hlen = buf.readUInt32BE(4);
      if (hlen > len - 4) throw new ClusterError('HA_MIRROR_PROTOCOL', `header length ${hlen} exceeds frame length ${len}`);
      let header: unknown;
      try {
        header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
      } catch (e) {
        throw new ClusterError('HA_MIRROR_PROTOCOL', 'frame header is not JSON', { cause: e });
      }
      out.push({ header, payload: buf.subarray(8 + hlen) });
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 && this.chunks[0] !== undefined ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }
}

export function parseWith<T>(schema: z.ZodType<T>, v: unknown, what: string): T {
  const r = schema.safeParse(v);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new ClusterError('HA_MIRROR_PROTOCOL', `invalid ${what}${where}: ${issue?.message ?? 'does not parse'}`);
  }
  return r.data;
}

/** Write frame parts; resolves when the socket accepted them (waits for 'drain' under backpressure). */
export async function writeFrame(sock: Socket, parts: readonly Buffer[]): Promise<void> {
  let ok = true;
  for (const p of parts) ok = sock.write(p) && ok;
  if (ok) return;
  await new Promise<void>((resolve, reject) => {
    const onDrain = (): void => {
      sock.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      sock.off('drain', onDrain);
      reject(new ClusterError('HA_MIRROR_UNAVAILABLE', 'connection closed while sending'));
    };
    sock.once('drain', onDrain);
    sock.once('close', onClose);
  });
}
