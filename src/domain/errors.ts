/**
 * One error type for the whole of halo. Codes are stable: the CLI, the API and the docs show them.
 * Throw only for the unexpected or for "could not ask"; expected outcomes are returned as unions.
 */
export const ErrorCodes = {
  HA_CONFIG_INVALID: 'configuration is invalid',
  HA_BAD_REQUEST: 'request is invalid',
  HA_NOT_FOUND: 'no such object',
  HA_CONFLICT: 'conflicting concurrent change',
  HA_COORD_UNAVAILABLE: 'coordinator could not be reached',
  HA_COORD_OUTCOME_UNKNOWN: 'coordinator write outcome unknown',
  HA_COORD_COMPACTED: 'watch revision no longer available',
  HA_LEASE_LOST: 'session lease lost',
  HA_AGENT_TIMEOUT: 'agent did not answer in time',
  HA_OPERATION_TIMEOUT: 'operation did not finish in time',
  HA_RESOURCE_START_FAILED: 'resource failed to start',
  HA_RESOURCE_STOP_FAILED: 'resource failed to stop',
  HA_PERMISSION: 'insufficient privileges',
  HA_UNAUTHENTICATED: 'no valid credential',
  HA_RATE_LIMITED: 'too many failed attempts; try again later',
  HA_MIRROR_STALE_EPOCH: 'mirror change refused: its epoch is older than one this replica has accepted',
  HA_MIRROR_PROTOCOL: 'mirror peer sent an invalid frame',
  HA_MIRROR_UNAVAILABLE: 'mirror peer could not be reached or closed the connection',
  HA_INTERNAL: 'internal error',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'HA_COORD_UNAVAILABLE',
  'HA_COORD_OUTCOME_UNKNOWN',
  'HA_CONFLICT',
  'HA_AGENT_TIMEOUT',
  'HA_MIRROR_UNAVAILABLE',
]);

export class ClusterError extends Error {
  override readonly name = 'ClusterError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** Optional structured detail safe to show to a user (e.g. validation issues). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.retryable = RETRYABLE.has(code);
    this.details = opts.details ?? [];
  }
}

export function isClusterError(e: unknown, code?: ErrorCode): e is ClusterError {
  return e instanceof ClusterError && (code === undefined || e.code === code);
}

export function assertNever(x: never): never {
  throw new ClusterError('HA_INTERNAL', `unexpected value: ${JSON.stringify(x)}`);
}
