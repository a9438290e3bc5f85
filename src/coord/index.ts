export type {
  Compare,
  Coordinator,
  KeyValue,
  LeaseRenewal,
  Opts,
  TxnOp,
  TxnResult,
  WatchEvent,
} from './coordinator.js';
export { MemoryCoordinator } from './memory/index.js';
export type { MemoryCoordinatorOptions } from './memory/index.js';
export {
  EmbeddedCoordinator,
  coordinatorTls,
  defaultSecretFile,
  embeddedClientOptions,
  embeddedFiles,
  runCoordinator,
  startCoordinatorServer,
} from './embedded/index.js';
export type {
  CoordinatorServer,
  CoordinatorServerOptions,
  EmbeddedCoordinatorOptions,
  RunCoordinatorOptions,
} from './embedded/index.js';
export { EtcdCoordinator, connectEtcd, type EtcdCoordinatorOptions } from './etcd/index.js';
