import type { z } from 'zod';
import { ClusterError, type ErrorCode } from '../domain/errors.js';
import type { ConfigIssueBody } from './schemas.js';

/** HTTP status of each error code. Anything not listed is a 500. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'HA_NOT_FOUND':
      return 404;
    case 'HA_BAD_REQUEST':
    case 'HA_CONFIG_INVALID':
      return 400;
    case 'HA_CONFLICT':
      return 409;
    case 'HA_PERMISSION':
      return 403;
    case 'HA_UNAUTHENTICATED':
      return 401;
    case 'HA_RATE_LIMITED':
      return 429;
    case 'HA_COORD_UNAVAILABLE':
    case 'HA_MIRROR_UNAVAILABLE':
      return 503;
    case 'HA_MIRROR_STALE_EPOCH':
      return 409;
    case 'HA_COORD_OUTCOME_UNKNOWN':
    case 'HA_COORD_COMPACTED':
    case 'HA_LEASE_LOST':
    case 'HA_AGENT_TIMEOUT':
    case 'HA_OPERATION_TIMEOUT':
    case 'HA_RESOURCE_START_FAILED':
    case 'HA_RESOURCE_STOP_FAILED':
    case 'HA_MIRROR_PROTOCOL':
    case 'HA_INTERNAL':
      return 500;
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/**
 * Parse untrusted request input. A failure is HA_BAD_REQUEST whose message names the field
 * (`body.to`), the value received and what was expected.
 */
export function parseRequest<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'params' | 'query'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    if (i.code === 'unrecognized_keys') {
      return `${[where, ...i.path.map(String)].join('.')}: unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    const field = [where, ...i.path.map(String)].join('.');
    return `${field}: ${i.message} (got ${describeValue(valueAt(input, i.path))})`;
  });
  const first = lines[0] ?? `${where}: invalid`;
  return fail('HA_BAD_REQUEST', lines.length > 1 ? `${first} (and ${lines.length - 1} more)` : first, lines);
}

function fail(code: ErrorCode, message: string, details: readonly string[]): never {
  throw new ClusterError(code, message, { details });
}

/** HA_CONFIG_INVALID that carries the structured issues into the error body. */
export class ConfigRejectedError extends ClusterError {
  readonly issues: ConfigIssueBody[];
  constructor(message: string, details: readonly string[], issues: readonly ConfigIssueBody[]) {
    super('HA_CONFIG_INVALID', message, { details });
    this.issues = [...issues];
  }
}
