import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { MonitorConfig } from '../domain/config.js';
import { CheckFailed, runCheck } from './check.js';
import type { CheckResult, Monitor } from './types.js';
import { substituteNodeVars } from '../domain/node-vars.js';

type HttpConfig = Extract<MonitorConfig, { kind: 'http' }>;

/** Bodies are read up to this size for `bodyMatch`; the rest is ignored. */
export const MAX_BODY_BYTES = 64 * 1024;

/**
 * GET `url`; passes when the status is `expectStatus` (default: any 2xx) and, if `bodyMatch` is set,
 * the body (first MAX_BODY_BYTES) matches that regular expression. One fresh connection per check
 * (no pooling: a check must see the service as a new client would).
 */
export class HttpMonitor implements Monitor {
  readonly config: HttpConfig;
  private readonly url: URL;
  private readonly bodyRe: RegExp | null;

  constructor(config: HttpConfig, vars?: Readonly<Record<string, string>>) {
    this.config = config;
    this.url = new URL(substituteNodeVars(config.url, vars));
    this.bodyRe = config.bodyMatch === undefined ? null : new RegExp(config.bodyMatch);
  }

  check(signal?: AbortSignal): Promise<CheckResult> {
    return runCheck(this.config.timeoutMs, signal, async (sig) => {
      const res = await get(this.url, sig);
      const { expectStatus } = this.config;
      const statusOk = expectStatus === undefined ? res.status >= 200 && res.status < 300 : res.status === expectStatus;
      if (!statusOk) {
        throw new CheckFailed(`status ${res.status}, expected ${expectStatus === undefined ? '2xx' : String(expectStatus)}`);
      }
      if (this.bodyRe !== null && !this.bodyRe.test(res.body)) {
        throw new CheckFailed(`status ${res.status} but body does not match /${this.bodyRe.source}/: ${JSON.stringify(res.body.slice(0, 120))}`);
      }
      return `status ${res.status}`;
    });
  }
}

function get(url: URL, signal: AbortSignal): Promise<{ status: number; body: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', agent: false, signal, headers: { connection: 'close', 'user-agent': 'halo-monitor' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (): void => {
        res.destroy();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      };
      res.on('data', (chunk: Buffer) => {
        if (size >= MAX_BODY_BYTES) return;
        chunks.push(chunk.subarray(0, MAX_BODY_BYTES - size));
        size += chunk.length;
        if (size >= MAX_BODY_BYTES) finish();
      });
      res.once('end', finish);
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}
