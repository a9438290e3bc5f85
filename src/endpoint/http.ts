import { Agent as HttpAgent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { EndpointConfig } from '../domain/config.js';
import { mayRetry } from '../core/endpoint.js';
import type { Logger } from '../observability/log.js';
import { Gate, gateStatus, pause, type Backend, type GateState } from './gate.js';
import type { Endpoint, EndpointStatus } from './types.js';

type HttpEndpointConfig = Extract<EndpointConfig, { mode: 'http' }>;

/** Headers that describe one connection, not the message: never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** How long to wait before trying a backend again after it refused a connection. */
const RETRY_PAUSE_MS = 50;

/** Outcome of one attempt to forward a request. */
type Attempt =
  | { readonly kind: 'done' }
  /** Nothing reached the backend (connect failed, or a reused idle connection was already closed): safe to send again. */
  | { readonly kind: 'not-sent'; readonly error: string }
  /** The request was sent but the backend failed before answering: send again only if idempotent. */
  | { readonly kind: 'lost'; readonly error: string }
  /** The answer had started: nothing can be done but cut the client's response. */
  | { readonly kind: 'broken'; readonly error: string };

function forwardHeaders(h: IncomingHttpHeaders, remote: string | undefined): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const extra = new Set((typeof h.connection === 'string' ? h.connection : '').split(',').map((s) => s.trim().toLowerCase()));
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k) || extra.has(k)) continue;
    out[k] = v;
  }
  if (remote !== undefined) {
    const prior = h['x-forwarded-for'];
    out['x-forwarded-for'] = typeof prior === 'string' && prior !== '' ? `${prior}, ${remote}` : remote;
  }
  return out;
}

/**
 * An HTTP reverse proxy on node:http that follows the group's active instance. Request bodies are
 * buffered (up to maxBodyBytes) so a request can be sent again: always when it never reached the
 * backend, and once more when the backend died after receiving it and its method is idempotent
 * (retryMethods). Keep-alive connections to each backend are pooled and dropped when the backend
 * changes.
 */
export class HttpEndpoint implements Endpoint {
  readonly listen: string;
  private readonly gate = new Gate();
  private readonly server: Server;
  private readonly pools = new Map<string, { agent: HttpAgent; inFlight: number }>();
  private readonly idleListeners: (() => void)[] = [];
  private inFlight = 0;
  private retrying = 0;
  private forwarded = 0;
  private retried = 0;
  private refused = 0;
  private readonly closing = new AbortController();

  constructor(
    private readonly group: string,
    private readonly cfg: HttpEndpointConfig,
    private readonly host: string,
    private readonly log: Logger,
  ) {
    this.listen = `${host}:${cfg.port}`;
    this.server = createServer({ keepAlive: true }, (req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
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
    const before = this.gate.state;
    this.gate.set(state);
    const keep = state.kind === 'open' ? state.backend.key : before.kind === 'open' && state.draining ? before.backend.key : null;
    for (const [key, pool] of this.pools) if (key !== keep && pool.inFlight === 0) this.dropPool(key);
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
      mode: 'http',
      listen: this.listen,
      ...gateStatus(this.gate.state),
      held: this.gate.waiting + this.retrying,
      inFlight: this.inFlight,
      forwarded: this.forwarded,
      retried: this.retried,
      refused: this.refused,
    };
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const key of [...this.pools.keys()]) this.dropPool(key);
  }

  private dropPool(key: string): void {
    this.pools.get(key)?.agent.destroy();
    this.pools.delete(key);
  }

  private pool(b: Backend): { agent: HttpAgent; inFlight: number } {
    let p = this.pools.get(b.key);
    if (!p) {
      p = { agent: new HttpAgent({ keepAlive: true, maxSockets: 256 }), inFlight: 0 };
      this.pools.set(b.key, p);
    }
    return p;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const gone = new AbortController();
    const cut = () => gone.abort();
    res.once('close', cut);
    const signal = AbortSignal.any([gone.signal, this.closing.signal]);
    const body = await readBody(req, this.cfg.maxBodyBytes, signal);
    if (body === 'too-large') return this.reply(res, 413, `request body larger than maxBodyBytes (${this.cfg.maxBodyBytes})`);
    if (body === null) return;
    const headers = forwardHeaders(req.headers, req.socket.remoteAddress);
    const idempotent = mayRetry(req.method, this.cfg.retryMethods);
    let deadline = Date.now() + this.cfg.holdTimeoutMs;
    let resent = false;
    let lastError = 'no active instance';
    for (;;) {
      const b = await this.gate.acquire(deadline, signal);
      if (signal.aborted) return;
      if (b === null) {
        this.refused++;
        const s = this.gate.state;
        return this.reply(res, 503, `no active instance within holdTimeoutMs (${this.cfg.holdTimeoutMs} ms): ${s.kind === 'open' ? lastError : s.reason}`);
      }
      const a = await this.attempt(b, req, headers, body, res, signal);
      if (a.kind === 'done' || signal.aborted) return;
      if (a.kind === 'broken') {
        this.log.debug({ endpoint: this.cfg.name, err: a.error }, 'backend failed while answering');
        res.destroy();
        return;
      }
      lastError = `${b.host}:${b.port}: ${a.error}`;
      if (a.kind === 'lost') {
        if (!idempotent || resent) {
          this.refused++;
          return this.reply(res, 502, `the active instance failed before answering (${a.error})${idempotent ? ' twice' : `; ${req.method ?? ''} is not retried`}`);
        }
        resent = true;
        this.retried++;
        deadline = Math.max(deadline, Date.now() + this.cfg.holdTimeoutMs);
      }
      // The backend is down or going away: wait a little (the gate may change meanwhile), then try again.
      this.retrying++;
      await pause(RETRY_PAUSE_MS, signal);
      this.retrying--;
    }
  }

  private reply(res: ServerResponse, status: number, message: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { 'content-type': 'text/plain', 'x-halo-endpoint': this.cfg.name });
    res.end(`${message}\n`);
  }

  private attempt(b: Backend, req: IncomingMessage, headers: Record<string, string | string[]>, body: Buffer, res: ServerResponse, signal: AbortSignal): Promise<Attempt> {
    const pool = this.pool(b);
    pool.inFlight++;
    this.inFlight++;
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      const finish = (a: Attempt) => {
        if (settled) return;
        settled = true;
        if (connectTimer) clearTimeout(connectTimer);
        signal.removeEventListener('abort', onAbort);
        pool.inFlight--;
        this.inFlight--;
        if (a.kind === 'done') this.forwarded++;
        if (pool.inFlight === 0) {
          const s = this.gate.state;
          const current = s.kind === 'open' && s.backend.key === b.key;
          if (!current && !(s.kind === 'held' && s.draining)) this.dropPool(b.key);
        }
        if (this.inFlight === 0) for (const fn of this.idleListeners) fn();
        resolve(a);
      };
      const out = request({
        host: b.host,
        port: b.port,
        method: req.method,
        path: req.url,
        headers: { ...headers, 'content-length': String(body.length) },
        agent: pool.agent,
      });
      const onAbort = () => {
        out.destroy();
        finish({ kind: 'done' });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      let responded = false;
      out.on('socket', (sock: Socket) => {
        if (!sock.connecting) return;
        connectTimer = setTimeout(() => out.destroy(new Error(`connect timeout (${this.cfg.connectTimeoutMs} ms)`)), this.cfg.connectTimeoutMs);
        sock.once('connect', () => clearTimeout(connectTimer));
      });
      out.on('error', (e: NodeJS.ErrnoException) => {
        const msg = e.code ?? e.message;
        if (responded) return finish({ kind: 'broken', error: msg });
        const neverSent = e.code === 'ECONNREFUSED' || e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' || /connect timeout/.test(e.message) || (out.reusedSocket && e.code === 'ECONNRESET');
        finish(neverSent ? { kind: 'not-sent', error: msg } : { kind: 'lost', error: msg });
      });
      out.on('response', (up: IncomingMessage) => {
        responded = true;
        const h: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) h[k] = v;
        res.writeHead(up.statusCode ?? 502, up.statusMessage, h);
        up.on('data', (chunk: Buffer) => {
          if (!res.write(chunk)) {
            up.pause();
            res.once('drain', () => up.resume());
          }
        });
        up.on('end', () => {
          res.end();
          finish({ kind: 'done' });
        });
        up.on('error', (e: Error) => finish({ kind: 'broken', error: e.message }));
        up.on('aborted', () => finish({ kind: 'broken', error: 'backend closed the connection mid-answer' }));
      });
      out.end(body);
    });
  }
}

/** The whole request body; 'too-large' past `max` bytes; null when the client went away. */
function readBody(req: IncomingMessage, max: number, signal: AbortSignal): Promise<Buffer | 'too-large' | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const settle = (v: Buffer | 'too-large' | null) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => settle(null);
    signal.addEventListener('abort', onAbort, { once: true });
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.resume();
        settle('too-large');
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => settle(Buffer.concat(chunks)));
    req.on('error', () => settle(null));
  });
}
