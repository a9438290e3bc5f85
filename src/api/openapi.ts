import { z } from 'zod';
import { ErrorCodes } from '../domain/errors.js';
import { requestSchemas, responseSchemas } from './schemas.js';

/**
 * The OpenAPI 3.1 document of the API. Paths are written here; every component schema is
 * generated from the zod schemas in schemas.ts, so the document cannot drift from what the
 * server accepts and the client expects.
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

function components(): Record<string, Json> {
  const uri = (id: string) => `#/components/schemas/${id}`;
  const out: Record<string, Json> = {};
  const add = (schemas: Record<string, z.ZodType>, io: 'input' | 'output') => {
    const reg = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(schemas)) reg.add(schema, { id });
    const generated = z.toJSONSchema(reg, { uri, io, unrepresentable: 'any' });
    for (const [id, schema] of Object.entries(generated.schemas)) {
      const { $schema: _s, $id: _i, ...rest } = schema;
      void _s;
      void _i;
      out[id] = rest;
    }
  };
  add(responseSchemas, 'output');
  add(requestSchemas, 'input');
  return out;
}

const errorResponses = (...statuses: number[]): Json =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      { description: errorDescriptions[s] ?? 'error', content: { 'application/json': { schema: ref('Error') } } },
    ]),
  );

const errorDescriptions: Record<number, string> = {
  401: 'HA_UNAUTHENTICATED: no credential, or one that is unknown, revoked or expired',
  403: 'HA_PERMISSION: the caller\'s role or scope does not allow this',
  429: 'HA_RATE_LIMITED: too many failed authentication attempts from this address',
  400: 'HA_BAD_REQUEST or HA_CONFIG_INVALID: the request names the field that is wrong',
  404: 'HA_NOT_FOUND: unknown group, node or configuration (or metrics not enabled)',
  409: 'HA_CONFLICT: a concurrent change won; re-read and retry',
  503: 'HA_COORD_UNAVAILABLE: this node cannot reach the coordinator; ask another node',
};

const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });
const body = (name: string): Json => ({ required: false, content: { 'application/json': { schema: ref(name) } } });
const groupParam = { name: 'group', in: 'path', required: true, schema: { type: 'string' } };
const nodeParam = { name: 'node', in: 'path', required: true, schema: { type: 'string' } };
const intQuery = (name: string, description: string) => ({ name, in: 'query', required: false, description, schema: { type: 'integer', minimum: 0 } });

const timeQuery = (name: string, description: string) => ({ name, in: 'query', required: false, description, schema: { type: 'string' } });

let cached: Json | undefined;

export function openApiDocument(): Json {
  cached ??= {
    openapi: '3.1.0',
    info: {
      title: 'halo management API',
      version: '1',
      description: `Served by every agent. Errors are {code, message, details?}; codes: ${Object.keys(ErrorCodes).join(', ')}.`,
    },
    security: [{ bearer: [] }, { session: [] }, { clientCert: [] }],
    paths: {
      '/healthz': {
        get: { operationId: 'health', summary: 'Liveness of this agent (no credential needed)', security: [], responses: { '200': json(ref('HealthResponse'), 'alive') } },
      },
      '/v1/session': {
        post: {
          operationId: 'login',
          summary: 'Console login: a token (or the client certificate) becomes an HttpOnly session cookie',
          security: [],
          requestBody: body('SessionRequest'),
          responses: { '200': json(ref('SessionResponse'), 'logged in; Set-Cookie halo_session'), ...errorResponses(400, 401, 429) },
        },
        get: { operationId: 'whoami', summary: 'Who the caller is (and the session\'s CSRF token)', responses: { '200': json(ref('SessionResponse'), 'identity'), ...errorResponses(401) } },
        delete: { operationId: 'logout', summary: 'End the console session', responses: { '204': { description: 'logged out' }, ...errorResponses(401, 403) } },
      },
      '/v1/tokens': {
        get: { operationId: 'listTokens', summary: 'Tokens (without secrets); admin', responses: { '200': json(ref('TokensResponse'), 'tokens'), ...errorResponses(401, 403, 503) } },
        post: {
          operationId: 'createToken',
          summary: 'Create a token; the secret is in this answer only; admin',
          requestBody: { ...body('TokenCreateRequest'), required: true },
          responses: { '201': json(ref('TokenCreated'), 'created'), ...errorResponses(400, 401, 403, 503) },
        },
      },
      '/v1/tokens/{id}': {
        delete: {
          operationId: 'revokeToken',
          summary: 'Revoke a token and end its console sessions; admin',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': json(ref('TokenRevoked'), 'revoked'), ...errorResponses(400, 401, 403, 404, 503) },
        },
      },
      '/v1/audit': {
        get: {
          operationId: 'listAudit',
          summary: 'Audit log: every mutating and every refused request; admin',
          parameters: [intQuery('limit', 'newest N records (default 200)'), intQuery('after', 'only records created after this revision')],
          responses: { '200': json(ref('AuditResponse'), 'audit records'), ...errorResponses(400, 401, 403, 503) },
        },
      },
      '/v1/status': {
        get: { operationId: 'getStatus', summary: 'Cluster, nodes and groups', responses: { '200': json(ref('StatusResponse'), 'cluster status'), ...errorResponses(503) } },
      },
      '/v1/nodes': {
        get: { operationId: 'listNodes', summary: 'Nodes from the configuration and live sessions', responses: { '200': json({ type: 'array', items: ref('NodeView') }, 'nodes'), ...errorResponses(503) } },
      },
      '/v1/groups/{group}': {
        get: { operationId: 'getGroup', summary: 'One group in detail', parameters: [groupParam], responses: { '200': json(ref('GroupView'), 'group'), ...errorResponses(400, 404, 503) } },
      },
      '/v1/groups/{group}/switchover': {
        post: {
          operationId: 'switchover',
          summary: 'Planned move of the active instance (optionally to a given node)',
          parameters: [groupParam],
          requestBody: body('SwitchoverRequest'),
          responses: { '202': json(ref('MoveAccepted'), 'move requested'), ...errorResponses(400, 404, 409, 503) },
        },
      },
      '/v1/groups/{group}/failover': {
        post: {
          operationId: 'failover',
          summary: 'Forced move of the active instance to the best eligible node',
          parameters: [groupParam],
          requestBody: body('FailoverRequest'),
          responses: { '202': json(ref('MoveAccepted'), 'move requested'), ...errorResponses(400, 404, 409, 503) },
        },
      },
      '/v1/groups/{group}/cleanup': {
        post: {
          operationId: 'cleanup',
          summary: 'Clear failure records so nodes become eligible again',
          parameters: [groupParam],
          requestBody: body('CleanupRequest'),
          responses: { '200': json(ref('CleanupResponse'), 'records removed'), ...errorResponses(400, 404, 503) },
        },
      },
      '/v1/groups/{group}/why': {
        get: {
          operationId: 'why',
          summary: 'Decision journal of a group, newest last',
          parameters: [groupParam, intQuery('limit', 'newest N entries (default 50)')],
          responses: { '200': json(ref('WhyResponse'), 'journal'), ...errorResponses(400, 404, 503) },
        },
      },
      '/v1/maintenance': {
        post: {
          operationId: 'maintenance',
          summary: 'Maintenance on/off for the cluster, a group or a node',
          requestBody: { ...body('MaintenanceRequest'), required: true },
          responses: { '200': json(ref('MaintenanceResponse'), 'done'), ...errorResponses(400, 404, 503) },
        },
      },
      '/v1/nodes/{node}/standby': {
        post: { operationId: 'nodeStandby', summary: 'Drain a node: no group may be active there', parameters: [nodeParam], responses: { '200': json(ref('NodeStandbyResponse'), 'done'), ...errorResponses(400, 404, 503) } },
      },
      '/v1/nodes/{node}/online': {
        post: { operationId: 'nodeOnline', summary: 'Undo standby', parameters: [nodeParam], responses: { '200': json(ref('NodeStandbyResponse'), 'done'), ...errorResponses(400, 404, 503) } },
      },
      '/v1/events': {
        get: {
          operationId: 'listEvents',
          summary: 'Event log, oldest first',
          parameters: [intQuery('limit', 'newest N events (default 100)'), intQuery('after', 'only events created after this revision')],
          responses: { '200': json(ref('EventsResponse'), 'events'), ...errorResponses(400, 503) },
        },
      },
      '/v1/mirrors': {
        get: {
          operationId: 'listMirrors',
          summary: 'Mirror resources: state, lag, diff %, pending bytes, resync progress (as published by each active)',
          responses: { '200': json(ref('MirrorsResponse'), 'mirrors'), ...errorResponses(503) },
        },
      },
      '/v1/events/stream': {
        get: {
          operationId: 'streamEvents',
          summary: 'Server-sent events: the tail of the log, then new events as they happen',
          description: 'Each message is `event: event`, `id: <revision>`, `data: <EventItem JSON>`. Honours Last-Event-ID. A failure ends the stream with `event: error`.',
          parameters: [intQuery('limit', 'events of the existing tail (default 100)'), intQuery('after', 'start after this revision')],
          responses: { '200': { description: 'event stream', content: { 'text/event-stream': { schema: ref('EventItem') } } }, ...errorResponses(400, 503) },
        },
      },
      '/v1/report': {
        get: {
          operationId: 'getReport',
          summary: 'Availability report: uptime, nines, MTBF/MTTR and incidents per group, from the event log',
          description: 'Times are epoch milliseconds, ISO 8601, or a duration before now (30m, 24h, 7d). See docs/availability.md for how incidents are accounted.',
          parameters: [
            timeQuery('since', 'window start (default: 24 h before until)'),
            timeQuery('until', 'window end (default and maximum: now)'),
            { name: 'group', in: 'query', required: false, description: 'only this group', schema: { type: 'string' } },
          ],
          responses: { '200': json(ref('ReportResponse'), 'report'), ...errorResponses(400, 404, 503) },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics of this node (text exposition format 0.0.4)',
          responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorResponses(404) },
        },
      },
      '/v1/endpoints': {
        get: { operationId: 'getEndpoints', summary: "This node's endpoints: backend, held and in-flight connections/requests", responses: { '200': json(ref('EndpointsResponse'), 'endpoints') } },
      },
      '/v1/config': {
        get: { operationId: 'getConfig', summary: 'The applied configuration', responses: { '200': json(ref('ConfigResponse'), 'configuration'), ...errorResponses(404, 503) } },
        post: {
          operationId: 'applyConfig',
          summary: 'Validate and apply a configuration as a whole (nothing is applied when anything is wrong)',
          requestBody: { ...body('ConfigSourceRequest'), required: true },
          responses: { '200': json(ref('ConfigApplyResponse'), 'applied'), ...errorResponses(400, 409, 503) },
        },
      },
      '/v1/config/validate': {
        post: {
          operationId: 'validateConfig',
          summary: 'Validate a configuration without applying it',
          requestBody: { ...body('ConfigSourceRequest'), required: true },
          responses: { '200': json(ref('ConfigValidateResponse'), 'validation result'), ...errorResponses(400) },
        },
      },
    },
    components: {
      schemas: components(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'a token from "halo token create"' },
        session: { type: 'apiKey', in: 'cookie', name: 'halo_session', description: 'console session; mutating requests also need the x-halo-csrf header' },
        clientCert: { type: 'mutualTLS', description: 'a client certificate signed by the cluster CA (halo certs)' },
      },
    },
  };
  return cached;
}
