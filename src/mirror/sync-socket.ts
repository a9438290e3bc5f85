import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';

/**
 * The agent's end of the fsync shim (native/halo-fsync.c): a unix socket on which the shim asks
 * "S <absolute path>\n" after the application's fsync; the answer "OK <standbys>\n" is written
 * only once `onSync` resolved (the standbys hold the data), "ERR <message>\n" otherwise. Requests
 * on one connection are answered in order.
 */
export class SyncSocketServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly onSync: (absPath: string) => Promise<readonly string[]>,
  ) {}

  async start(): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    await rm(this.path, { force: true });
    const srv = createServer((sock) => {
      let buf = '';
      let chain: Promise<void> = Promise.resolve();
      sock.setEncoding('utf8');
      sock.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          chain = chain.then(async () => {
            if (!line.startsWith('S ')) {
              sock.write('ERR expected "S <path>"\n');
              return;
            }
            try {
              const held = await this.onSync(line.slice(2));
              sock.write(`OK ${held.join(',')}\n`);
            } catch (e) {
              sock.write(`ERR ${(e instanceof Error ? e.message : String(e)).replace(/\n/g, ' ')}\n`);
            }
          });
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.path, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    // Owner only, whatever the umask: whoever can connect can make the agent ship (cheap) and
    // learn which standbys hold the data. Only the application (same user) should.
    await chmod(this.path, 0o600);
    this.server = srv;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    this.server = null;
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
    await rm(this.path, { force: true });
  }
}
