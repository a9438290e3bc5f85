export { startCoordinatorServer } from './server.js';
export type { CoordinatorServer, CoordinatorServerOptions } from './server.js';
export { EmbeddedCoordinator } from './client.js';
export type { EmbeddedCoordinatorOptions } from './client.js';
export { runCoordinator } from './run.js';
export { COORDINATOR_CERT_NAME, coordinatorTls, embeddedClientOptions, embeddedFiles } from './config.js';
export { DEFAULT_SECRET_FILE_NAME, defaultSecretFile, ensureSecretFile, readSecretFile } from './secret.js';
export type { RunCoordinatorOptions } from './run.js';
