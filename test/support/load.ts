import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

/**
 * A bounded HTTP load generator for loopback tests: `workers` keep-alive clients, each sending one
 * GET at a time (with `pauseMs` between), until stopped or `maxRequests` were sent. Every request
 * is recorded: when it started and ended (performance.now()), and how it ended.
 */

export interface LoadSample {
  readonly startAt: number;
  readonly endAt: number;
  readonly ok: boolean;
  /** HTTP status, or null when the request failed without an answer. */
  readonly status: number | null;
  /** Error or non-2xx body, for failures. */
  readonly error: string | null;
  /** The JSON answer's "node", "pid" and "epoch" fields, when present (the sample service sends them). */
  readonly node: string | null;
  readonly pid: number | null;
  readonly epoch: number | null;
}

export interface LoadOptions {
  /** Where the next request goes (read before each request, so a test may move the client). */
  readonly url: () => string;
  readonly workers: number;
  /** Pause between two requests of one worker. */
  readonly pauseMs: number;
  /** A request taking longer than this fails (the client gives up). */
  readonly timeoutMs: number;
  /** Stop after this many requests in total. */
  readonly maxRequests: number;
  /** Reuse connections (default true); false sends "Connection: close" and opens one per request. */
  readonly keepAlive?: boolean;
}

export class LoadGenerator {
  readonly samples: LoadSample[] = [];
  private readonly agent: Agent;
  private readonly stopper = new AbortController();
  private running: Promise<void>[] = [];
  private sent = 0;

  constructor(private readonly opts: LoadOptions) {
    if (opts.workers < 1 || opts.workers > 64) throw new Error('workers must be 1..64');
    this.agent = new Agent({ keepAlive: opts.keepAlive ?? true, maxSockets: opts.workers });
  }

  start(): void {
    for (let i = 0; i < this.opts.workers; i++) this.running.push(this.worker());
  }

  /** Requests sent so far. */
  get count(): number {
    return this.sent;
  }

  /** Stop sending; resolves once every request in flight ended. */
  async stop(): Promise<LoadSample[]> {
    this.stopper.abort();
    await Promise.all(this.running);
    this.running = [];
    this.agent.destroy();
    return this.samples;
  }

  private async worker(): Promise<void> {
    const signal = this.stopper.signal;
    while (!signal.aborted && this.sent < this.opts.maxRequests) {
      this.sent++;
      this.samples.push(await this.one(this.opts.url()));
      if (this.opts.pauseMs > 0) await new Promise((r) => setTimeout(r, this.opts.pauseMs));
    }
  }

  private one(url: string): Promise<LoadSample> {
    const startAt = performance.now();
    return new Promise((resolve) => {
      let done = false;
      const finish = (s: Omit<LoadSample, 'startAt' | 'endAt'>) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ startAt, endAt: performance.now(), ...s });
      };
      const req = request(url, { agent: this.agent, method: 'GET' }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e: Error) => finish({ ok: false, status: res.statusCode ?? null, error: e.message, node: null, pid: null, epoch: null }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return finish({ ok: false, status, error: text.trim().slice(0, 200), node: null, pid: null, epoch: null });
          let node: string | null = null;
          let pid: number | null = null;
          let epoch: number | null = null;
          try {
            const body: unknown = JSON.parse(text);
            if (typeof body === 'object' && body !== null) {
              const b = body as { node?: unknown; pid?: unknown; epoch?: unknown };
              node = typeof b.node === 'string' ? b.node : null;
              pid = typeof b.pid === 'number' ? b.pid : null;
              epoch = typeof b.epoch === 'number' ? b.epoch : null;
            }
          } catch {
            /* not JSON: fine */
          }
          finish({ ok: true, status, error: null, node, pid, epoch });
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`client timeout after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
      req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, status: null, error: e.code ?? e.message, node: null, pid: null, epoch: null }));
      req.end();
    });
  }
}
