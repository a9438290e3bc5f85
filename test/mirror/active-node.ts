import { MirrorSource } from '../../src/mirror/source.js';
import { SyncSocketServer } from '../../src/mirror/sync-socket.js';

/**
 * The active node of the mirror acceptance tests, as its own process so it can be SIGKILLed:
 * ships HALO_T_DIR to the standby on HALO_T_PORT at epoch HALO_T_EPOCH and answers the fsync shim
 * on HALO_T_SOCKET. Prints one line per source event (JSON) on stdout.
 */
const env = (k: string): string => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const mode = env('HALO_T_MODE') === 'async' ? 'async' : 'sync';
const source = new MirrorSource({
  dir: env('HALO_T_DIR'),
  group: 'g',
  node: 'active',
  epoch: Number(env('HALO_T_EPOCH')),
  mode,
  standbys: [{ name: 'standby', host: '127.0.0.1', port: Number(env('HALO_T_PORT')) }],
  scanIntervalMs: Number(process.env['HALO_T_SCAN_MS'] ?? '50'),
  syncTimeoutMs: 2000,
  onEvent: (e) => process.stdout.write(`${JSON.stringify(e)}\n`),
});
const sync = new SyncSocketServer(env('HALO_T_SOCKET'), async (p) => await source.syncPath(p));
await sync.start();
source.start();
const stop = async (): Promise<void> => {
  await source.stop();
  await sync.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
