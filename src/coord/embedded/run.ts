import { resolve } from 'node:path';
import { startCoordinatorServer } from './server.js';

export interface RunCoordinatorOptions {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the coordinator like SIGINT/SIGTERM do. */
  readonly signal?: AbortSignal;
}

/**
 * `halo coordinator`: serve the embedded coordinator until SIGINT or SIGTERM (or `signal`), then
 * close it cleanly so the change log ends on a whole record.
 */
export async function runCoordinator(opts: RunCoordinatorOptions): Promise<void> {
  const dataDir = resolve(opts.dataDir);
  const server = await startCoordinatorServer({ host: opts.host, port: opts.port, dataDir });
  process.stdout.write(`halo coordinator listening on ${server.url} (data: ${dataDir})\n`);
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.removeListener('SIGINT', stop);
      process.removeListener('SIGTERM', stop);
      opts.signal?.removeEventListener('abort', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    opts.signal?.addEventListener('abort', stop, { once: true });
    if (opts.signal?.aborted) stop();
  });
  await server.close();
}
