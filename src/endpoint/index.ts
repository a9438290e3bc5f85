/** Client-facing endpoints that follow a group's active instance (docs/endpoint.md). */
export { EndpointManager } from './manager.js';
export type { EndpointManagerDeps } from './manager.js';
export type { EndpointStatus } from './types.js';
