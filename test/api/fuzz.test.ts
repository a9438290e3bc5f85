import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { API_TIMEOUTS, BODY_DEPTH_LIMIT, BODY_LIMIT_BYTES, HEADER_LIMIT_BYTES, URL_LIMIT_BYTES, type ApiTimeouts } from '../../src/api/server.js';
import { describeValue } from '../../src/api/errors.js';
import { openApiDocument } from '../../src/api/openapi.js';
import { MemoryCoordinator } from '../../src/coord/memory/index.js';
import { ErrorCodes } from '../../src/domain/errors.js';
import { ManualClock } from '../../src/platform/clock.js';
import { makeToken } from '../support/auth.js';
import { CLUSTER, CONFIG_YAML, keys, seededCluster } from './fixtures.js';

/**
 * Hostile input against every route of the OpenAPI document (a new route is fuzzed without
 * touching this file): hostile path parameters, query values of the wrong type, bodies that are
 * malformed, of the wrong type, nested thousands of levels deep, larger than the body limit or
 * sent with the wrong content type, YAML bombs for the configuration routes, huge headers and
 * URLs, as an admin (so validation is reached) and without or with a bad credential.
 * Every answer must be a 4xx in the API's error shape, the API must keep serving, and nothing but
 * audit records may be written to the coordinator.
 *
 * HALO_FUZZ_API_RUNS sets the number of requests per property (default 400, a few seconds).
 */
const RUNS = Number(process.env['HALO_FUZZ_API_RUNS'] ?? '400');
const SEED = process.env['HALO_FUZZ_API_SEED'];
const fcOpts = (numRuns: number): fc.Parameters<unknown> => ({ numRuns, ...(SEED === undefined ? {} : { seed: Number(SEED) }) });

type Method = 'GET' | 'POST' | 'DELETE';
interface Param {
  readonly name: string;
  readonly in: string;
  readonly schema?: { readonly type?: string };
}
interface DocRoute {
  readonly method: Method;
  readonly path: string;
  readonly pathParams: readonly string[];
  readonly query: readonly { readonly name: string; readonly type: string }[];
  readonly hasBody: boolean;
  readonly isPublic: boolean;
}

/** Every operation of the OpenAPI document, with what it takes. */
function documentedRoutes(): DocRoute[] {
  const doc = openApiDocument() as { paths: Record<string, Record<string, { parameters?: Param[]; requestBody?: unknown; security?: unknown[] }>> };
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([m, op]): DocRoute => {
      const params = op.parameters ?? [];
      return {
        method: m.toUpperCase() as Method,
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        query: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, type: p.schema?.type ?? 'string' })),
        hasBody: op.requestBody !== undefined,
        isPublic: Array.isArray(op.security) && op.security.length === 0,
      };
    }),
  );
}

const ROUTES = documentedRoutes();
const PUBLIC = new Set(['GET /healthz', 'POST /v1/session', 'GET /openapi.json']);
const isPublic = (r: DocRoute): boolean => r.isPublic || PUBLIC.has(`${r.method} ${r.path}`);
const isConfigRoute = (r: DocRoute): boolean => r.method === 'POST' && (r.path === '/v1/config' || r.path === '/v1/config/validate');

// ------------------------------------------------------------------ generators

/** Text no route accepts as a name: every value holds at least one character names may not have. */
const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('..', '.', '%2e%2e', '..%2f..%2fetc%2fpasswd', '%00', 'a%00b', '%2F', '%25', '%E2%80%AE', '%F0%9F%92%A9', '%EF%BF%BF', '%C0%AE', 'web%0Aevil', '%20', 'x%09y'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((s) => `${encodeURIComponent(s)}%00`),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((s) => `${encodeURIComponent(`\u202e${s}`)}`),
  fc.integer({ min: 201, max: 3000 }).map((n) => 'a'.repeat(n)),
  fc.integer({ min: 1, max: 500 }).map((n) => encodeURIComponent('\u00e9').repeat(n)),
);

/** A query value that an integer parameter never accepts. */
const badInt: fc.Arbitrary<string[]> = fc.oneof(
  fc.constantFrom('abc', '-1', '1.5', '1e400', '0x10', 'NaN', 'Infinity', '%00', '9'.repeat(400), '%E0%A4%A'.slice(0, 6), ' 1', '١٢'),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter((s) => !/^\s*\d+\s*$/.test(s)).map((s) => encodeURIComponent(`${s}x`)),
).chain((v) => fc.constantFrom([v], [v, '1'], ['1', v]));

/** A query value that a string parameter never accepts: the parameter given twice (an array). */
const badString: fc.Arbitrary<string[]> = fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map(([a, b]) => [encodeURIComponent(a), encodeURIComponent(b)]);

/** A JSON value of any shape (used inside bodies that are invalid for another reason). */
const anyJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 4 });

type Body =
  | { readonly kind: 'malformed'; readonly text: string }
  | { readonly kind: 'wrong-type'; readonly text: string }
  | { readonly kind: 'unknown-field'; readonly text: string }
  | { readonly kind: 'deep'; readonly text: string }
  | { readonly kind: 'oversized'; readonly text: string }
  | { readonly kind: 'content-type'; readonly text: string; readonly type: string }
  | { readonly kind: 'yaml'; readonly text: string };

const deepText = (n: number, open: string, close: string, inner = ''): string => open.repeat(n) + inner + close.repeat(n);

const malformed: fc.Arbitrary<Body> = fc
  .oneof(
    fc.constantFrom('{', '{"a":', '{"a":1,}', "{'a':1}", '[1,2', 'nul', '{"a":1}}', '\u0000', '{"\\ud800":1', '{"a":"\\x"}', '\ufeff{}x', '{"a":1e99999999}', ')]}\'', '{"a":NaN}'),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => `{${s}`),
    fc.string({ maxLength: 200 }).map((s) => `${s}}{`),
  )
  .map((text) => ({ kind: 'malformed' as const, text }));

const wrongType: fc.Arbitrary<Body> = fc
  .oneof(fc.constant(null), fc.boolean(), fc.double(), fc.string({ unit: 'grapheme', maxLength: 50 }), fc.array(anyJson, { maxLength: 5 }))
  .map((v) => ({ kind: 'wrong-type' as const, text: JSON.stringify(v) ?? 'null' }));

/** Objects with a field no request has (the request schemas are strict), next to fields of any type. */
const unknownField: fc.Arbitrary<Body> = fc
  .tuple(fc.dictionary(fc.constantFrom('to', 'on', 'group', 'node', 'source', 'file', 'name', 'role', 'token', 'tenants', 'groups', 'expiresAt'), anyJson), fc.string({ unit: 'grapheme', maxLength: 30 }), anyJson)
  .map(([known, extra, v]) => ({ kind: 'unknown-field' as const, text: JSON.stringify({ ...known, [`\u0000${extra}`]: v }) }));

const deep: fc.Arbitrary<Body> = fc
  .tuple(fc.integer({ min: BODY_DEPTH_LIMIT + 1, max: 100_000 }), fc.constantFrom<[string, string]>(['[', ']'], ['{"a":', '}'], ['[{"x":', '}]']), fc.constantFrom('to', 'source', 'on', 'name'))
  .map(([n, [open, close], field]) => ({ kind: 'deep' as const, text: `{"${field}":${deepText(n, open, close, '1')}}` }));

const oversized: fc.Arbitrary<Body> = fc
  .tuple(fc.integer({ min: 1, max: 64 * 1024 }), fc.constantFrom('a', '\u00e9', '[', ' '))
  .map(([extra, ch]) => ({ kind: 'oversized' as const, text: `{"source":"${ch.repeat(Math.ceil((BODY_LIMIT_BYTES + extra) / Buffer.byteLength(ch)))}"}` }));

const contentType: fc.Arbitrary<Body> = fc
  .tuple(fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/yaml', 'application/jsonx', 'text/json', 'application/json\u0000', '*/*', 'application/xml'), fc.string({ maxLength: 50 }))
  .map(([type, text]) => ({ kind: 'content-type' as const, text, type }));

/** Billion laughs: each level an alias list of the one before. */
function laughs(levels: number, width: number): string {
  const lines = [`a0: &a0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
  return `cluster: demo\n${lines.join('\n')}\n`;
}

/** YAML configuration bodies the loader must refuse with a precise issue (as a 400), never hang on. */
const yamlBomb: fc.Arbitrary<Body> = fc
  .oneof(
    fc.tuple(fc.integer({ min: 4, max: 12 }), fc.integer({ min: 5, max: 12 })).map(([l, w]) => laughs(l, w)),
    fc.integer({ min: 65, max: 200_000 }).map((n) => `cluster: ${deepText(n, '[', ']')}\n`),
    fc.integer({ min: 65, max: 200_000 }).map((n) => `cluster: ${deepText(n, '{a: ', '}', '1')}\n`),
    fc.integer({ min: 65, max: 1000 }).map((n) => `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`),
    fc.integer({ min: 65, max: 100_000 }).map((n) => `nodes:\n${'- '.repeat(n)}x\n`),
    fc.constantFrom('? [a, b]\n: 1\ncluster: demo\n', '{[a]: 1, cluster: demo}\n', 'x: &k {a: 1}\n*k : 2\n', '? {a: 1}\n: x\n', 'cluster: demo\nnodes:\n  - ? [n]\n    : 1\n'),
    fc.string({ unit: 'binary', maxLength: 300 }),
  )
  .map((text) => ({ kind: 'yaml' as const, text: JSON.stringify({ source: text }) }));

function bodyFor(r: DocRoute): fc.Arbitrary<Body> {
  const common = [malformed, wrongType, unknownField, deep, oversized, contentType];
  return isConfigRoute(r) ? fc.oneof(...common, yamlBomb, yamlBomb) : fc.oneof(...common);
}

interface Hostile {
  readonly method: Method;
  readonly url: string;
  readonly body?: Body;
  readonly headers: Record<string, string>;
  /** What the request gets wrong, for the expected status. */
  readonly why: 'param' | 'query' | 'body' | 'url' | 'headers';
}

const oddHeader: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.constant({}),
  fc.record({ 'x-halo-odd': fc.string({ unit: 'grapheme-ascii', maxLength: 2000 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')) }),
  fc.record({ 'last-event-id': fc.string({ maxLength: 50 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')) }),
  fc.record({ accept: fc.constantFrom('text/html', '*/*', 'application/xml', 'text/event-stream') }),
);

/** A request to `r` that is wrong in at least one way the route (or the server) checks. */
function hostileFor(r: DocRoute): fc.Arbitrary<Hostile> {
  const choices: fc.Arbitrary<Hostile>[] = [];
  const plainUrl = r.path.replace(/\{(\w+)\}/g, 'web');
  if (r.pathParams.length > 0) {
    choices.push(
      fc.tuple(fc.array(hostileSegment, { minLength: r.pathParams.length, maxLength: r.pathParams.length }), oddHeader).map(([segs, headers]): Hostile => {
        let i = 0;
        const url = r.path.replace(/\{(\w+)\}/g, () => segs[i++] ?? '..');
        return { method: r.method, url, headers, why: 'param', ...(r.hasBody ? { body: { kind: 'wrong-type', text: '[]' } } : {}) };
      }),
    );
  }
  if (r.query.length > 0) {
    choices.push(
      fc.tuple(fc.constantFrom(...r.query), oddHeader).chain(([q, headers]) =>
        (q.type === 'integer' ? badInt : badString).map((values): Hostile => ({ method: r.method, url: `${plainUrl}?${values.map((v) => `${q.name}=${v}`).join('&')}`, headers, why: 'query' })),
      ),
    );
  }
  if (r.hasBody) {
    choices.push(fc.tuple(bodyFor(r), oddHeader).map(([body, headers]): Hostile => ({ method: r.method, url: plainUrl, body, headers, why: 'body' })));
  }
  // Every route: a URL longer than the limit, or one that is not valid percent-encoding.
  choices.push(
    fc
      .oneof(
        fc.integer({ min: URL_LIMIT_BYTES + 1, max: HEADER_LIMIT_BYTES - 1024 }).map((n) => `${plainUrl}?pad=${'x'.repeat(n)}`),
        fc.constantFrom('%E0%A4%A', '%', '%zz', '%C0', '%ED%A0%80').map((bad) => (r.pathParams.length > 0 ? r.path.replace(/\{(\w+)\}/g, bad) : `${plainUrl}/${bad}`)),
      )
      .map((url): Hostile => ({ method: r.method, url, headers: {}, why: 'url' })),
  );
  return fc.oneof(...choices);
}

type Caller = { readonly kind: 'admin' } | { readonly kind: 'none'; readonly from: string } | { readonly kind: 'bad-token'; readonly from: string; readonly header: string };

const callerArb: fc.Arbitrary<Caller> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Caller>({ kind: 'admin' }) },
  fc.integer({ min: 1, max: 2000 }).map((i): Caller => ({ kind: 'none', from: `10.1.${i >> 8}.${i & 255}` })),
  fc
    .tuple(
      fc.integer({ min: 1, max: 2000 }),
      fc.oneof(
        fc.constantFrom('Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', `Bearer halo_${'0'.repeat(16)}_${'A'.repeat(43)}`, 'Bearer ../../etc/passwd', `Bearer ${'x'.repeat(5000)}`),
        fc.string({ unit: 'grapheme-ascii', maxLength: 300 }).map((s) => `Bearer ${s.replace(/[^\x21-\x7e]/g, 'x')}`),
      ),
    )
    .map(([i, header]): Caller => ({ kind: 'bad-token', from: `10.2.${i >> 8}.${i & 255}`, header })),
);

// ------------------------------------------------------------------ checks

const CODES = new Set(Object.keys(ErrorCodes));

/** A refusal in the API's error shape: a 4xx, JSON, a registered code and a message. */
function assertRefusal(status: number, contentType: string | undefined, body: string, what: string): { code: string; message: string } {
  assert.ok(status >= 400 && status < 500, `${what}: expected a 4xx, got ${status} ${body.slice(0, 300)}`);
  assert.match(contentType ?? '', /^application\/json/, `${what}: content-type ${contentType ?? '(none)'}`);
  const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
  assert.ok(typeof parsed.code === 'string' && CODES.has(parsed.code), `${what}: code ${String(parsed.code)} is not in the registry: ${body.slice(0, 300)}`);
  assert.ok(typeof parsed.message === 'string' && parsed.message.length > 0 && parsed.message.length < 2000, `${what}: message ${body.slice(0, 300)}`);
  return { code: parsed.code, message: parsed.message };
}

/** Status codes each kind of hostility may be answered with, as admin (auth failures aside). */
function expectedStatuses(h: Hostile): readonly number[] {
  switch (h.why) {
    case 'url':
      return [400, 404, 414];
    case 'param':
      return [400, 404, 414];
    case 'query':
      return [400];
    case 'headers':
      return [431];
    case 'body':
      switch (h.body?.kind) {
        case 'oversized':
          return [413];
        case 'content-type':
          // A control character in the header is refused by the HTTP parser itself.
          return /[\u0000-\u001f]/.test(h.body.type) ? [400, 415] : [415];
        case 'yaml':
          return [400];
        default:
          return [400];
      }
  }
}

interface Snapshot {
  readonly entries: ReadonlyMap<string, string>;
}

/** Every key of the cluster but the audit log (refused requests are audited, on purpose). */
async function snapshot(coord: MemoryCoordinator): Promise<Snapshot> {
  const { items } = await coord.list('');
  return { entries: new Map(items.filter((kv) => !kv.key.startsWith(keys.auditPrefix)).map((kv) => [kv.key, `${String(kv.modRevision)} ${kv.value}`])) };
}

function assertUnchanged(before: Snapshot, after: Snapshot, what: string): void {
  const changed = [...new Set([...before.entries.keys(), ...after.entries.keys()])].filter((k) => before.entries.get(k) !== after.entries.get(k));
  assert.deepEqual(changed, [], `${what}: keys written by hostile requests`);
}

// ------------------------------------------------------------------ harness

interface Fixture {
  readonly app: FastifyInstance;
  readonly coord: MemoryCoordinator;
  readonly clock: ManualClock;
  readonly admin: string;
}

async function fixture(timeouts: Partial<ApiTimeouts> = {}): Promise<Fixture> {
  const h = await seededCluster(CONFIG_YAML, { timeouts });
  await makeToken(h.coord, CLUSTER, 'viewer');
  return { app: h.app, coord: h.coord, clock: h.clock, admin: h.token };
}

function headersOf(caller: Caller, admin: string, h: Hostile): Record<string, string> {
  const out: Record<string, string> = { ...h.headers };
  if (caller.kind === 'admin') out['authorization'] = `Bearer ${admin}`;
  if (caller.kind === 'bad-token') out['authorization'] = caller.header;
  if (h.body !== undefined) out['content-type'] = h.body.kind === 'content-type' ? h.body.type : 'application/json';
  return out;
}

function checkAnswer(caller: Caller, h: Hostile, status: number, type: string | undefined, body: string): void {
  const what = `${caller.kind} ${h.method} ${h.url.slice(0, 120)} (${h.why}${h.body ? ` ${h.body.kind}` : ''})`;
  if (caller.kind === 'admin' && h.body?.kind === 'yaml' && h.url === '/v1/config/validate' && status === 200) {
    // Validation answers 200 with the problems it found (the CLI prints them); it must find some.
    const v = JSON.parse(body) as { ok?: unknown; issues?: { message?: unknown }[] };
    assert.equal(v.ok, false, `${what}: ${body.slice(0, 300)}`);
    assert.ok(Array.isArray(v.issues) && v.issues.length > 0 && v.issues.every((i) => typeof i.message === 'string' && i.message.length > 0), `${what}: ${body.slice(0, 300)}`);
    return;
  }
  const { code, message } = assertRefusal(status, type, body, what);
  const route = ROUTES.find((r) => h.url.split('?')[0] === r.path.replace(/\{(\w+)\}/g, 'web'));
  const publicRoute = route !== undefined && isPublic(route);
  // Limits the server checks before authentication: URL size and encoding, headers size.
  const early = [400, 404, 414, 431];
  if (caller.kind !== 'admin' && !publicRoute) {
    assert.ok([401, 429, ...early].includes(status), `${what}: ${status} ${body.slice(0, 200)}`);
    if (status === 401) assert.equal(code, 'HA_UNAUTHENTICATED', what);
    if (status === 429) assert.equal(code, 'HA_RATE_LIMITED', what);
    return;
  }
  if (caller.kind !== 'admin' && status === 429) return;
  assert.ok(expectedStatuses(h).includes(status), `${what}: expected ${expectedStatuses(h).join('/')}, got ${status} ${body.slice(0, 300)}`);
  if (h.why === 'body' && h.body?.kind === 'deep') assert.match(message, new RegExp(`nested more than ${BODY_DEPTH_LIMIT} levels`), what);
  if (h.body?.kind === 'yaml') assert.equal(code, 'HA_CONFIG_INVALID', what);
  if (status === 414) assert.match(message, /longer than/, what);
}

// ------------------------------------------------------------------ raw HTTP

interface RawAnswer {
  readonly status: number;
  readonly type: string | undefined;
  readonly body: string;
}

/** Sends raw bytes and reads the answer to the end (the request asks for Connection: close). */
function rawRequest(port: number, bytes: Buffer | string, opts: { readonly localAddress?: string; readonly timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer in time'));
    }, opts.timeoutMs ?? 10_000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    // The server may answer and close before the whole request is written (a 431 or 413): the
    // answer counts, not the reset that follows.
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (!m) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      const head = m[2] ?? '';
      const type = /^content-type:\s*(.*)$/im.exec(head)?.[1]?.trim();
      let body = m[3] ?? '';
      if (/^transfer-encoding:\s*chunked/im.test(head)) body = dechunk(body);
      resolve({ status: Number(m[1]), type, body });
    });
    sock.end(bytes);
  });
}

function dechunk(s: string): string {
  let out = '';
  let rest = s;
  for (;;) {
    const i = rest.indexOf('\r\n');
    if (i < 0) return out;
    const n = parseInt(rest.slice(0, i), 16);
    if (!(n > 0)) return out;
    out += rest.slice(i + 2, i + 2 + n);
    rest = rest.slice(i + 2 + n + 2);
  }
}

function rawBytes(h: Hostile, headers: Record<string, string>): Buffer {
  const body = h.body === undefined ? undefined : Buffer.from(h.body.text, 'utf8');
  const lines = [`${h.method} ${h.url} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== undefined) lines.push(`content-length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return body === undefined ? head : Buffer.concat([head, body]);
}

/** Requests Node's HTTP parser refuses before fastify sees them. */
const transportHostile: fc.Arbitrary<{ readonly bytes: string; readonly statuses: readonly number[] }> = fc.oneof(
  fc.integer({ min: HEADER_LIMIT_BYTES, max: 4 * HEADER_LIMIT_BYTES }).map((n) => ({ bytes: `GET /v1/status HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(n)}\r\n\r\n`, statuses: [431] })),
  fc.integer({ min: 400, max: 2000 }).map((n) => ({ bytes: `GET /v1/status HTTP/1.1\r\nhost: x\r\n${Array.from({ length: n }, (_, i) => `x-h${i}: ${'v'.repeat(40)}`).join('\r\n')}\r\n\r\n`, statuses: [431] })),
  fc.integer({ min: HEADER_LIMIT_BYTES, max: 3 * HEADER_LIMIT_BYTES }).map((n) => ({ bytes: `GET /v1/status?${'q'.repeat(n)} HTTP/1.1\r\nhost: x\r\n\r\n`, statuses: [431] })),
  fc
    .constantFrom(
      'GET /v1/st\u0000atus HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nhost: x\r\nx-bad\u0000: 1\r\n\r\n',
      'GET /v1/status HTTP/1.1\r\nhost: x\r\nx-a: 1\r\n x-folded\r\n\r\n',
      'GET /v1/status HTTP/9.9\r\nhost: x\r\n\r\n',
      'G\u00e9T /v1/status HTTP/1.1\r\nhost: x\r\n\r\n',
      'GET  HTTP/1.1\r\n\r\n',
      'POST /v1/config HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /v1/config HTTP/1.1\r\nhost: x\r\ncontent-length: -1\r\n\r\n',
      'POST /v1/config HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
      'GET /v1/status HTTP/1.1\r\nhost: x\nx: y\r\n\r\n',
      '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003',
    )
    .map((bytes) => ({ bytes, statuses: [400] })),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }).map((s) => ({ bytes: `GET /${s.replace(/[\s]/g, '\u0001')}x HTTP/1.1\r\nhost: x\r\n\r\n`, statuses: [400, 401, 404, 414] })),
);

// ------------------------------------------------------------------ properties

describe('API fuzz: hostile input on every documented route', () => {
  let f: Fixture;
  let initial: Snapshot;
  before(async () => {
    f = await fixture();
    initial = await snapshot(f.coord);
  });
  after(async () => {
    await f.app.close();
    await f.coord.close();
  });

  test('the OpenAPI document lists routes to fuzz, each with something hostile to send', () => {
    assert.ok(ROUTES.length >= 25, `${ROUTES.length} routes`);
    for (const r of ROUTES) assert.ok(fc.sample(hostileFor(r), 3).length === 3, `${r.method} ${r.path}`);
  });

  test(`inject(): every route, admin and anonymous, ${RUNS} hostile requests: always a 4xx in the error shape, nothing written`, async () => {
    const routeArb = fc.constantFrom(...ROUTES).chain((r) => fc.tuple(fc.constant(r), hostileFor(r), callerArb));
    let n = 0;
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(routeArb, async ([r, h, caller]) => {
        seen.add(`${r.method} ${r.path}`);
        const headers = headersOf(caller, f.admin, h);
        const res = await f.app.inject({
          method: h.method,
          url: h.url,
          headers,
          ...(caller.kind === 'admin' ? {} : { remoteAddress: caller.from }),
          ...(h.body === undefined ? {} : { payload: h.body.text }),
        });
        const type = res.headers['content-type'];
        checkAnswer(caller, h, res.statusCode, typeof type === 'string' ? type : undefined, res.body);
        if (++n % 100 === 0) {
          const ok = await f.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${f.admin}` } });
          assert.equal(ok.statusCode, 200, `the API still serves after ${n} hostile requests: ${ok.body}`);
        }
      }),
      fcOpts(RUNS),
    );
    const ok = await f.app.inject({ method: 'GET', url: '/v1/status', headers: { authorization: `Bearer ${f.admin}` } });
    assert.equal(ok.statusCode, 200, ok.body);
    assertUnchanged(initial, await snapshot(f.coord), 'inject');
    if (RUNS >= 400) assert.deepEqual(ROUTES.map((r) => `${r.method} ${r.path}`).filter((k) => !seen.has(k)), [], 'routes never fuzzed');
  });

  test(`real HTTP: ${Math.max(20, Math.ceil(RUNS / 4))} hostile requests per property over a socket (parser limits, 414, 431, bad URLs): 4xx in the error shape, nothing written`, async () => {
    await f.app.listen({ host: '127.0.0.1', port: 0 });
    const port = (f.app.server.address() as AddressInfo).port;
    const runs = Math.max(20, Math.ceil(RUNS / 4));
    // Anonymous requests come from another loopback address, so their failed attempts do not
    // rate-limit the admin's (which come from 127.0.0.1).
    const anonFrom = '127.0.0.2';
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES).chain((r) => fc.tuple(hostileFor(r), fc.boolean())),
        async ([h, asAdmin]) => {
          const caller: Caller = asAdmin ? { kind: 'admin' } : { kind: 'none', from: anonFrom };
          const ans = await rawRequest(port, rawBytes(h, headersOf(caller, f.admin, h)), asAdmin ? {} : { localAddress: anonFrom });
          checkAnswer(caller, h, ans.status, ans.type, ans.body);
        },
      ),
      fcOpts(runs),
    );
    await fc.assert(
      fc.asyncProperty(transportHostile, fc.boolean(), async (t, asAdmin) => {
        const bytes = asAdmin ? t.bytes.replace('host: x\r\n', `host: x\r\nauthorization: Bearer ${f.admin}\r\n`) : t.bytes;
        const ans = await rawRequest(port, Buffer.from(bytes, 'latin1'), asAdmin ? {} : { localAddress: anonFrom });
        const statuses = asAdmin ? t.statuses : [...t.statuses, 401, 429];
        const what = `raw ${JSON.stringify(bytes.slice(0, 80))}`;
        assertRefusal(ans.status, ans.type, ans.body, what);
        assert.ok(statuses.includes(ans.status), `${what}: expected ${statuses.join('/')}, got ${ans.status} ${ans.body}`);
      }),
      fcOpts(runs),
    );
    const ok = await rawRequest(port, `GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ${f.admin}\r\n\r\n`);
    assert.equal(ok.status, 200, ok.body);
    assertUnchanged(initial, await snapshot(f.coord), 'HTTP');
  });
});

// ------------------------------------------------------------------ regressions found by the fuzzing

describe('API fuzz: regressions', () => {
  test('a JSON body nested 100 000 levels deep is a 400 naming the nesting limit, not a 500 (on every body route)', async () => {
    const f = await fixture();
    try {
      for (const r of ROUTES.filter((x) => x.hasBody)) {
        const url = r.path.replace(/\{(\w+)\}/g, 'web');
        for (const text of [`{"to":${deepText(100_000, '[', ']')}}`, deepText(5000, '{"a":', '}', '1'), `{"source":${deepText(70, '[', ']')}}`]) {
          const res = await f.app.inject({ method: r.method, url, payload: text, headers: { authorization: `Bearer ${f.admin}`, 'content-type': 'application/json' } });
          const { code, message } = assertRefusal(res.statusCode, res.headers['content-type'] as string | undefined, res.body, `${r.method} ${url}`);
          assert.equal(res.statusCode, 400);
          assert.equal(code, 'HA_BAD_REQUEST');
          assert.equal(message, `body: nested more than ${BODY_DEPTH_LIMIT} levels deep; expected at most ${BODY_DEPTH_LIMIT} levels of lists and objects`);
        }
        // Just within the limit: refused by the schema, with the value shortened.
        const res = await f.app.inject({ method: r.method, url, payload: `{"name":${deepText(BODY_DEPTH_LIMIT - 1, '[', ']')}}`, headers: { authorization: `Bearer ${f.admin}`, 'content-type': 'application/json' } });
        assert.equal(res.statusCode, 400, res.body);
      }
    } finally {
      await f.app.close();
      await f.coord.close();
    }
  });

  test('describeValue is bounded in depth and length and never throws', () => {
    let v: unknown = 1;
    for (let i = 0; i < 200_000; i++) v = [v];
    assert.equal(describeValue(v), '[[[[...]]]]');
    assert.equal(describeValue({ a: 1, b: 'x'.repeat(1_000_000) }), `{"a":1,"b":"${'x'.repeat(45)}...`);
    assert.equal(describeValue([1, 2, 3, 4, 5, 6]), '[1,2,3,4,...]');
    assert.equal(describeValue('abc'), '"abc"');
    assert.equal(describeValue(undefined), 'nothing');
  });

  test('an undecodable URL, an overlong URL or path parameter: 400/414 in the error shape', async () => {
    const f = await fixture();
    try {
      const auth = { authorization: `Bearer ${f.admin}` };
      const bad = await f.app.inject({ method: 'GET', url: '/v1/groups/%E0%A4%A', headers: auth });
      assert.equal(bad.statusCode, 400);
      assert.deepEqual(JSON.parse(bad.body), { code: 'HA_BAD_REQUEST', message: 'the URL path is not valid percent-encoding: "/v1/groups/%E0%A4%A"' });
      const long = await f.app.inject({ method: 'GET', url: `/v1/events?x=${'a'.repeat(URL_LIMIT_BYTES)}`, headers: auth });
      assert.equal(long.statusCode, 414);
      assert.deepEqual(JSON.parse(long.body), { code: 'HA_BAD_REQUEST', message: `the URL is longer than ${URL_LIMIT_BYTES} bytes` });
      const param = await f.app.inject({ method: 'GET', url: `/v1/groups/${'g'.repeat(201)}`, headers: auth });
      assert.equal(param.statusCode, 414);
      assert.deepEqual(JSON.parse(param.body), { code: 'HA_BAD_REQUEST', message: 'a path parameter is longer than 200 characters' });
    } finally {
      await f.app.close();
      await f.coord.close();
    }
  });

  test('headers larger than the limit and a malformed request line: 431/400 in the error shape over a real socket', async () => {
    const f = await fixture();
    try {
      await f.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (f.app.server.address() as AddressInfo).port;
      const big = await rawRequest(port, `GET /v1/status HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(HEADER_LIMIT_BYTES)}\r\n\r\n`);
      assert.equal(big.status, 431);
      assert.deepEqual(JSON.parse(big.body), { code: 'HA_BAD_REQUEST', message: `request line and headers are larger than ${HEADER_LIMIT_BYTES} bytes` });
      const line = await rawRequest(port, 'GET /v1/st\u0000atus HTTP/1.1\r\nhost: x\r\n\r\n');
      assert.equal(line.status, 400);
      assert.equal(JSON.parse(line.body).code, 'HA_BAD_REQUEST');
      const ok = await rawRequest(port, `GET /v1/status HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ${f.admin}\r\n\r\n`);
      assert.equal(ok.status, 200);
    } finally {
      await f.app.close();
      await f.coord.close();
    }
  });

  test('a client that sends its headers one byte at a time, forever, is answered 408 and disconnected (slowloris)', async () => {
    assert.ok(API_TIMEOUTS.headersMs <= 30_000 && API_TIMEOUTS.headersMs < API_TIMEOUTS.requestMs, 'the default timeouts are set and ordered');
    const f = await fixture({ headersMs: 300, requestMs: 600, checkIntervalMs: 50 });
    try {
      await f.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (f.app.server.address() as AddressInfo).port;
      const started = Date.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = connect({ host: '127.0.0.1', port });
        const chunks: Buffer[] = [];
        const text = `GET /v1/status HTTP/1.1\r\nhost: x\r\nx-slow: ${'a'.repeat(100_000)}`;
        let i = 0;
        const drip = setInterval(() => {
          if (!sock.destroyed) sock.write(text[i++ % text.length] ?? 'a');
        }, 20);
        const giveUp = setTimeout(() => {
          clearInterval(drip);
          sock.destroy();
          reject(new Error('the slow client was never disconnected'));
        }, 10_000);
        sock.on('data', (c: Buffer) => chunks.push(c));
        sock.on('error', () => undefined);
        sock.on('close', () => {
          clearInterval(drip);
          clearTimeout(giveUp);
          resolve(Buffer.concat(chunks).toString('utf8'));
        });
      });
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 250 && elapsed < 5_000, `disconnected after ${elapsed} ms`);
      assert.match(answer, /^HTTP\/1\.1 408 /);
      assert.deepEqual(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { code: 'HA_BAD_REQUEST', message: 'the request did not arrive in time' });
    } finally {
      await f.app.close();
      await f.coord.close();
    }
  });
});
