export { parseConfigText, loadConfigFile, formatIssues, formatPath, configInvalidError, configJsonSchema } from './load.js';
export { rootCommandWarnings, formatWarnings } from './privileges.js';
export { redactConfigSource, REDACTED } from './redact.js';
export { explainTiming, timingBounds, hangDetectionMs, RENEW_TIMEOUT_INTERVALS } from './timing.js';
export { substituteNodeVars, NODE_VARS } from '../domain/node-vars.js';
export type { ConfigIssue, ParseResult } from './load.js';
export type { ConfigWarning } from './privileges.js';
export type { TimingBounds } from './timing.js';
export type { NodeVars } from '../domain/node-vars.js';
