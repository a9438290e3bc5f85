import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedCoordinator, startCoordinatorServer } from '../../src/coord/embedded/index.js';
import { coordinatorContract } from './coordinator.contract.js';

const SECRET = 'contract-test-secret-0123456789abcdef';

const HISTORY_LIMIT = 50;

coordinatorContract('embedded', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'halo-coord-'));
  const server = await startCoordinatorServer({ host: '127.0.0.1', port: 0, dataDir, historyLimit: HISTORY_LIMIT, secret: SECRET });
  const coord = new EmbeddedCoordinator({ url: server.url, secret: SECRET });
  return {
    coord,
    historyLimit: HISTORY_LIMIT,
    cleanup: async () => {
      await coord.close();
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
