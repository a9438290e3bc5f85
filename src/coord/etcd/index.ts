export { EtcdCoordinator, connectEtcd } from './coordinator.js';
export type { EtcdCoordinatorOptions } from './coordinator.js';
