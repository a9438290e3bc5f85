export { parseConfigText, loadConfigFile, formatIssues, formatPath, configInvalidError, configJsonSchema } from './load.js';
export { explainTiming, timingBounds, hangDetectionMs, RENEW_TIMEOUT_INTERVALS } from './timing.js';
export { substituteNodeVars, NODE_VARS } from '../domain/node-vars.js';
export type { ConfigIssue, ParseResult } from './load.js';
export type { TimingBounds } from './timing.js';
export type { NodeVars } from '../domain/node-vars.js';
