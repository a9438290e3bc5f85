export { ApiClient } from './client.js';
export { buildProgram, runCli, DEFAULT_API_URLS } from './program.js';
export { formatTable, formatDuration, formatTime } from './format.js';
export type { ApiClientOptions } from './client.js';
export type { CliIo } from './program.js';
