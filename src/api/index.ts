export { buildApi } from './server.js';
export { openApiDocument } from './openapi.js';
export { httpStatusOf } from './errors.js';
export * from './schemas.js';
export type { ApiDeps } from './server.js';
