import type { Server, Socket } from 'node:net';
import { ClusterError, isClusterError } from '../domain/errors.js';
import type { TlsMaterial } from '../security/tls.js';
import { listenLink } from './link.js';
import { encodeFrame, FrameDecoder, parseWith, RequestSchema, writeFrame, type Request, type Response } from './protocol.js';
import { Replica, type ReplicaOptions } from './replica.js';

/** What a receiver reports to its owner (agent: events, status). */
export type ReceiverEvent =
  | { readonly kind: 'session'; readonly source: string; readonly epoch: number }
  | { readonly kind: 'quarantined'; readonly epoch: number; readonly dir: string; readonly paths: readonly string[] }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string }
  /** A connection closed before any frame was read: no valid node certificate of the cluster CA. */
  | { readonly kind: 'unauthenticated'; readonly address: string; readonly reason: string }
  | { readonly kind: 'resynced'; readonly epoch: number };

export interface ReceiverOptions extends ReplicaOptions {
  readonly host: string;
  readonly port: number;
  /**
   * This node's TLS identity. Only peers presenting a node certificate (OU=node) of the same CA
   * get to send frames, and a session's `hello` must name the node of that certificate.
   */
  readonly tls: TlsMaterial;
  /** Benchmarks only (bench/mirror.ts): a plain TCP listener without authentication, see link.ts. Never set by the agent. */
  readonly unencryptedForBenchmark?: boolean;
  readonly onEvent?: (e: ReceiverEvent) => void;
}

export interface ReceiverStatus {
  readonly connected: boolean;
  readonly source: string | null;
  readonly epoch: number;
  readonly dataEpoch: number;
  /** Wall-clock ms of the last applied batch (or session start). */
  readonly lastUpdateAt: number | null;
  readonly batches: number;
  readonly bytes: number;
}

/**
 * The standby side: listens on host:port and applies what one active sends. A newer session
 * (higher or equal epoch) replaces an older connection; requests are processed one at a time, in
 * order, so a batch's ack always means every earlier batch is durable too.
 */
export class MirrorReceiver {
  readonly replica: Replica;
  private server: Server | null = null;
  private current: Socket | null = null;
  private readonly sockets = new Set<Socket>();
  private source: string | null = null;
  private lastUpdateAt: number | null = null;
  private batches = 0;
  private bytes = 0;
  /** Serialises work across connections (a replaced session must not interleave with the new one). */
  private chain: Promise<void> = Promise.resolve();
  /** Aborts what the current session still has running (checksums of a large file). */
  private currentWork: AbortController | null = null;

  constructor(private readonly opts: ReceiverOptions) {
    this.replica = new Replica(opts);
  }

  async start(): Promise<void> {
    await this.replica.open();
    const srv = await listenLink({
      host: this.opts.host,
      port: this.opts.port,
      tls: this.opts.tls,
      ...(this.opts.unencryptedForBenchmark === true ? { unencryptedForBenchmark: true } : {}),
      onPeer: (sock, peer) => this.serve(sock, peer),
      onRefused: (r) => this.opts.onEvent?.({ kind: 'unauthenticated', address: r.address, reason: r.reason }),
    });
    // Every connection, also one still in its handshake, ends with stop().
    srv.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server = srv;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    this.server = null;
    this.current?.destroy();
    for (const s of this.sockets) s.destroy();
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
    await this.chain.catch(() => undefined);
    await this.replica.close();
  }

  status(): ReceiverStatus {
    return {
      connected: this.current !== null,
      source: this.source,
      epoch: this.replica.epochs.accepted,
      dataEpoch: this.replica.epochs.dataEpoch,
      lastUpdateAt: this.lastUpdateAt,
      batches: this.batches,
      bytes: this.bytes,
    };
  }

  /** `peer`: the node named by the peer's certificate (null only on an unencrypted benchmark link). */
  private serve(sock: Socket, peer: string | null): void {
    sock.setNoDelay(true);
    const dec = new FrameDecoder();
    let inSession = false;
    // Work of a connection that is gone is not finished for nobody.
    const work = new AbortController();
    sock.once('close', () => work.abort(new ClusterError('HA_MIRROR_PROTOCOL', 'the connection closed')));
    const fail = (id: number, e: unknown): void => {
      const code = isClusterError(e, 'HA_MIRROR_STALE_EPOCH') ? 'HA_MIRROR_STALE_EPOCH' : isClusterError(e, 'HA_MIRROR_PROTOCOL') ? 'HA_MIRROR_PROTOCOL' : 'HA_INTERNAL';
      const message = e instanceof Error ? e.message : String(e);
      this.opts.onEvent?.({ kind: 'refused', code, message });
      const resp: Response = { kind: 'error', id, code, message };
      sock.end(Buffer.concat(encodeFrame(resp)));
    };
    const send = (resp: Response): void => {
      void writeFrame(sock, encodeFrame(resp)).catch(() => undefined);
    };
    const handle = async (req: Request, payload: Buffer): Promise<void> => {
      if (sock.destroyed) return;
      if (req.kind !== 'hello' && (!inSession || this.current !== sock)) {
        throw new ClusterError('HA_MIRROR_PROTOCOL', `"${req.kind}" before "hello" or on a replaced session`);
      }
      switch (req.kind) {
        case 'hello': {
          // The certificate says which node this is: it cannot open a session in another's name.
          if (peer !== null && req.source !== peer) throw new ClusterError('HA_MIRROR_PROTOCOL', `hello from "${req.source}" on a connection authenticated as node "${peer}"`);
          await this.replica.beginSession(req.epoch);
          if (this.current && this.current !== sock) this.current.destroy();
          this.current = sock;
          this.currentWork = work;
          this.source = req.source;
          inSession = true;
          this.lastUpdateAt = Date.now();
          this.opts.onEvent?.({ kind: 'session', source: req.source, epoch: req.epoch });
          send({ kind: 'welcome', id: req.id, dataEpoch: this.replica.epochs.dataEpoch, manifest: await this.replica.manifest() });
          return;
        }
        case 'sums': {
          this.replica.checkEpoch(req.epoch);
          const r = await this.replica.sums(req.path, work.signal);
          send({ kind: 'sums', id: req.id, size: r.size, sums: r.sums });
          return;
        }
        case 'batch': {
          // Acknowledged as soon as the batch is durable in the journal; applying follows.
          await this.replica.applyBatch(req.epoch, req.ops, payload, (r) => {
            this.batches += 1;
            this.bytes += payload.length;
            this.lastUpdateAt = Date.now();
            if (r.quarantined.length > 0 && r.quarantineDir) this.opts.onEvent?.({ kind: 'quarantined', epoch: req.epoch, dir: r.quarantineDir, paths: r.quarantined });
            send({ kind: 'ack', id: req.id, quarantined: [...r.quarantined] });
          });
          return;
        }
        case 'resynced':
          await this.replica.markResynced(req.epoch);
          this.opts.onEvent?.({ kind: 'resynced', epoch: req.epoch });
          send({ kind: 'ack', id: req.id, quarantined: [] });
          return;
      }
    };
    sock.on('data', (chunk: Buffer) => {
      let frames;
      try {
        frames = dec.push(chunk);
      } catch (e) {
        fail(0, e);
        return;
      }
      for (const f of frames) {
        let req: Request;
        try {
          req = parseWith(RequestSchema, f.header, 'mirror request');
        } catch (e) {
          fail(0, e);
          return;
        }
        // Requests are handled one at a time, all connections together. A hello that will replace
        // the current session (same node certificate rule, an epoch not below the accepted one)
        // must not wait behind what that session still has running: it is cut short.
        if (req.kind === 'hello' && this.current !== null && this.current !== sock && (peer === null || req.source === peer) && req.epoch >= this.replica.epochs.accepted) {
          this.currentWork?.abort(new ClusterError('HA_MIRROR_PROTOCOL', `session replaced by a hello at epoch ${req.epoch}`));
        }
        this.chain = this.chain.then(() => handle(req, f.payload)).catch((e: unknown) => fail(req.id, e));
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (this.current === sock) this.current = null;
    });
  }
}
