import { resolve } from 'node:path';
import type { Logger } from '../../observability/log.js';
import { makeLogger } from '../../observability/log.js';
import type { TlsMaterial } from '../../security/tls.js';
import { ensureSecretFile } from './secret.js';
import { startCoordinatorServer } from './server.js';

export interface RunCoordinatorOptions {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** The shared secret's file; created (mode 0600) when missing, refused when group or others may access it. */
  readonly secretFile: string;
  /** Serve HTTPS and require client certificates signed by the cluster CA. */
  readonly tls?: TlsMaterial;
  readonly log?: Logger;
  /** Stops the coordinator like SIGINT/SIGTERM do. */
  readonly signal?: AbortSignal;
}

/**
 * `halo coordinator`: serve the embedded coordinator until SIGINT or SIGTERM (or `signal`), then
 * close it cleanly so the change log ends on a whole record.
 */
export async function runCoordinator(opts: RunCoordinatorOptions): Promise<void> {
  const dataDir = resolve(opts.dataDir);
  const secretFile = resolve(opts.secretFile);
  const { secret, created } = await ensureSecretFile(secretFile);
  const log = opts.log ?? makeLogger({ name: 'halo-coordinator' });
  const server = await startCoordinatorServer({
    host: opts.host,
    port: opts.port,
    dataDir,
    secret,
    log,
    ...(opts.tls === undefined ? {} : { tls: opts.tls }),
  });
  process.stdout.write(
    `halo coordinator listening on ${server.url} (data: ${dataDir}; secret: ${secretFile}${created ? ', created now' : ''}${opts.tls === undefined ? '' : '; TLS with client certificates'})\n`,
  );
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
