export { startCoordinatorServer } from './server.js';
export type { CoordinatorServer, CoordinatorServerOptions } from './server.js';
export { EmbeddedCoordinator } from './client.js';
export type { EmbeddedCoordinatorOptions } from './client.js';
export { runCoordinator } from './run.js';
export type { RunCoordinatorOptions } from './run.js';
