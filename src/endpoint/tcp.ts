import { connect, createServer, type Server, type Socket } from 'node:net';
import type { EndpointConfig } from '../domain/config.js';
import type { Logger } from '../observability/log.js';
import { Gate, gateStatus, pause, type Backend, type GateState } from './gate.js';
import type { Endpoint, EndpointStatus } from './types.js';

type TcpEndpointConfig = Extract<EndpointConfig, { mode: 'tcp' }>;

const RETRY_PAUSE_MS = 50;

/**
 * A TCP forwarder that follows the group's active instance. A new connection is paused until a
 * backend accepts it: while held (no active, or a drain) and while connecting fails, it waits up
 * to holdTimeoutMs, then it is closed. Once connected, bytes are copied both ways until either side
 * closes; a backend that dies takes its connections with it (TCP cannot replay a stream).
 */
export class TcpEndpoint implements Endpoint {
  readonly listen: string;
  private readonly gate = new Gate();
  private readonly server: Server;
  private readonly conns = new Set<Socket>();
  private readonly idleListeners: (() => void)[] = [];
  private inFlight = 0;
  private connecting = 0;
  private forwarded = 0;
  private refused = 0;
  private readonly closing = new AbortController();

  constructor(
    private readonly group: string,
    private readonly cfg: TcpEndpointConfig,
    private readonly host: string,
    private readonly log: Logger,
  ) {
    this.listen = `${host}:${cfg.port}`;
    this.server = createServer({ pauseOnConnect: true }, (s) => void this.handle(s));
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.cfg.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  follow(state: GateState): void {
    this.gate.set(state);
  }

  get idle(): boolean {
    return this.inFlight === 0;
  }

  onIdle(fn: () => void): void {
    this.idleListeners.push(fn);
  }

  status(): EndpointStatus {
    return {
      group: this.group,
      name: this.cfg.name,
      mode: 'tcp',
      listen: this.listen,
      ...gateStatus(this.gate.state),
      held: this.gate.waiting + this.connecting,
      inFlight: this.inFlight,
      forwarded: this.forwarded,
      retried: 0,
      refused: this.refused,
    };
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(client: Socket): Promise<void> {
    this.conns.add(client);
    const gone = new AbortController();
    client.once('close', () => {
      this.conns.delete(client);
      gone.abort();
    });
    client.on('error', () => undefined);
    const signal = AbortSignal.any([gone.signal, this.closing.signal]);
    const deadline = Date.now() + this.cfg.holdTimeoutMs;
    for (;;) {
      const b = await this.gate.acquire(deadline, signal);
      if (signal.aborted) return;
      if (b === null) {
        this.refused++;
        client.destroy();
        return;
      }
      this.connecting++;
      const up = await this.dial(b, signal);
      this.connecting--;
      if (signal.aborted) {
        up?.destroy();
        return;
      }
      if (up !== null) return this.splice(client, up);
      await pause(RETRY_PAUSE_MS, signal);
    }
  }

  private dial(b: Backend, signal: AbortSignal): Promise<Socket | null> {
    return new Promise((resolve) => {
      const s = connect({ host: b.host, port: b.port });
      const t = setTimeout(() => s.destroy(new Error('connect timeout')), this.cfg.connectTimeoutMs);
      const onAbort = () => s.destroy();
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (v: Socket | null) => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      s.once('connect', () => {
        s.removeAllListeners('error');
        settle(s);
      });
      s.once('error', (e: Error) => {
        this.log.debug({ endpoint: this.cfg.name, backend: b.key, err: e.message }, 'backend connect failed; trying again while held');
        settle(null);
      });
    });
  }

  private splice(client: Socket, up: Socket): void {
    this.inFlight++;
    this.forwarded++;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      client.destroy();
      up.destroy();
      this.inFlight--;
      if (this.inFlight === 0) for (const fn of this.idleListeners) fn();
    };
    up.on('error', end);
    client.on('error', end);
    up.on('close', end);
    client.on('close', end);
    client.pipe(up);
    up.pipe(client);
    client.resume();
  }
}
