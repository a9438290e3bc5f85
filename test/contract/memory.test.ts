import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { ManualClock } from '../../src/platform/clock.js';
import { coordinatorContract } from './coordinator.contract.js';

const HISTORY_LIMIT = 50;

coordinatorContract('memory (system clock)', async () => {
  const coord = new MemoryCoordinator({ historyLimit: HISTORY_LIMIT });
  return { coord, historyLimit: HISTORY_LIMIT, cleanup: () => coord.close() };
});

coordinatorContract('memory (manual clock)', async () => {
  const clock = new ManualClock();
  const coord = new MemoryCoordinator({ clock, historyLimit: HISTORY_LIMIT });
  return {
    coord,
    historyLimit: HISTORY_LIMIT,
    advance: async (ms: number) => {
      clock.advance(ms);
      coord.expireLeases();
    },
    cleanup: () => coord.close(),
  };
});
