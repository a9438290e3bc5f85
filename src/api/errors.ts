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
    case 'HA_UNAUTHENTICATED':
      return 401;
    case 'HA_PERMISSION':
      return 403;
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

const DESCRIBE_MAX = 60;
/** Levels of a list or object shown in a message; deeper ones print as `[...]` or `{...}`. */
const DESCRIBE_DEPTH = 3;
/** Items or fields shown per level. */
const DESCRIBE_ITEMS = 4;

/**
 * Short rendering of a received value for a message (at most 60 characters). Bounded in depth
 * and width, so a hostile body (thousands of nested lists, megabytes of text) costs no stack
 * and little time; never throws.
 */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = preview(v, 0);
  return s.length > DESCRIBE_MAX ? `${s.slice(0, DESCRIBE_MAX - 3)}...` : s;
}

function preview(v: unknown, depth: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > DESCRIBE_MAX ? v.slice(0, DESCRIBE_MAX) : v);
  if (v === null || typeof v !== 'object') return typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v;
  const list = Array.isArray(v);
  if (depth >= DESCRIBE_DEPTH) return list ? '[...]' : '{...}';
  const parts: string[] = [];
  if (Array.isArray(v)) {
    for (const item of v.slice(0, DESCRIBE_ITEMS)) parts.push(preview(item, depth + 1));
    if (v.length > DESCRIBE_ITEMS) parts.push('...');
    return `[${parts.join(',')}]`;
  }
  const keys = Object.keys(v);
  for (const k of keys.slice(0, DESCRIBE_ITEMS)) parts.push(`${preview(k, depth + 1)}:${preview((v as Record<string, unknown>)[k], depth + 1)}`);
  if (keys.length > DESCRIBE_ITEMS) parts.push('...');
  return `{${parts.join(',')}}`;
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

/**
 * The body of a request whose body is optional: no body at all reads as `{}`. A body of JSON
 * `null` is a body of the wrong type, refused by the schema like any other (it once read as `{}`
 * and let `null` through as an empty request).
 */
export function optionalBody(body: unknown): unknown {
  return body === undefined ? {} : body;
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
