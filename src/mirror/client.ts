import type { Socket } from 'node:net';
import { ClusterError } from '../domain/errors.js';
import type { TlsMaterial } from '../security/tls.js';
import { connectLink } from './link.js';
import { encodeFrame, FrameDecoder, parseWith, ResponseSchema, writeFrame, type Request, type Response } from './protocol.js';

type Pending = { readonly resolve: (r: Response) => void; readonly reject: (e: unknown) => void };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type RequestBody = DistributiveOmit<Request, 'id' | 'epoch'>;

export interface MirrorClientOptions {
  /** This node's TLS identity (the cluster CA, its certificate and key). */
  readonly tls: TlsMaterial;
  /** Node name the standby's certificate must carry (CN). */
  readonly peer?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  readonly answerTimeoutMs?: number;
  /** Benchmarks only: see link.ts. */
  readonly unencryptedForBenchmark?: boolean;
}

/**
 * The active's end of one replication connection: pipelined requests, responses matched in
 * order. An `error` response rejects with a ClusterError of its code; a closed connection
 * rejects everything pending with HA_MIRROR_UNAVAILABLE.
 */
export class MirrorClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: ClusterError | null = null;

  private constructor(
    private readonly sock: Socket,
    readonly epoch: number,
    /** A request (sending it included) not answered within this closes the connection. */
    private readonly answerTimeoutMs: number,
  ) {
    const dec = new FrameDecoder();
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const f of dec.push(chunk)) this.settle(parseWith(ResponseSchema, f.header, 'mirror response'));
      } catch (e) {
        this.close(e instanceof ClusterError ? e : new ClusterError('HA_MIRROR_PROTOCOL', String(e)));
      }
    });
    sock.on('error', (e) => this.close(new ClusterError('HA_MIRROR_UNAVAILABLE', `mirror connection failed: ${e.message}`, { cause: e })));
    sock.on('close', () => this.close(new ClusterError('HA_MIRROR_UNAVAILABLE', 'mirror connection closed')));
  }

  /**
   * Connects within `timeoutMs` (default 3000), over TLS with the node's certificate (see link.ts);
   * `peer`: the standby's node name, which its certificate must carry. `answerTimeoutMs` (default
   * 30000): a peer that accepted the connection but does not answer a request in time (a stuck
   * standby, a connection whose other end is gone without a reset) fails the connection instead of
   * holding the link.
   */
  static async open(host: string, port: number, epoch: number, opts: MirrorClientOptions): Promise<MirrorClient> {
    const signal = AbortSignal.any([...(opts.signal ? [opts.signal] : []), AbortSignal.timeout(opts.timeoutMs ?? 3000)]);
    const sock = await connectLink({
      host,
      port,
      tls: opts.tls,
      signal,
      ...(opts.peer !== undefined ? { peer: opts.peer } : {}),
      ...(opts.unencryptedForBenchmark === true ? { unencryptedForBenchmark: true } : {}),
    });
    sock.setNoDelay(true);
    return new MirrorClient(sock, epoch, opts.answerTimeoutMs ?? 30_000);
  }

  get closed(): boolean {
    return this.closedWith !== null;
  }

  /** Send one request; resolves with its (non-error) response. */
  async request(body: RequestBody, payload: readonly Buffer[] = []): Promise<Response> {
    if (this.closedWith) throw this.closedWith;
    const id = this.nextId++;
    const p = new Promise<Response>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    // Rejected by close() while the frame is still being written: the caller sees the write error.
    p.catch(() => undefined);
    const timer = setTimeout(() => this.close(new ClusterError('HA_MIRROR_UNAVAILABLE', `mirror peer did not answer "${body.kind}" within ${this.answerTimeoutMs} ms`)), this.answerTimeoutMs);
    try {
      await writeFrame(this.sock, encodeFrame({ ...body, id, epoch: this.epoch }, payload));
      return await p;
    } finally {
      clearTimeout(timer);
    }
  }

  close(why: ClusterError = new ClusterError('HA_MIRROR_UNAVAILABLE', 'mirror connection closed')): void {
    if (this.closedWith) return;
    this.closedWith = why;
    this.sock.destroy();
    for (const p of this.pending.values()) p.reject(why);
    this.pending.clear();
  }

  private settle(r: Response): void {
    const p = this.pending.get(r.id) ?? (r.kind === 'error' ? this.pending.values().next().value : undefined);
    if (!p) {
      if (r.kind === 'error') this.close(new ClusterError(r.code, r.message));
      return;
    }
    this.pending.delete(r.id);
    if (r.kind === 'error') {
      const err = new ClusterError(r.code, r.message);
      p.reject(err);
      this.close(err);
    } else p.resolve(r);
  }
}
