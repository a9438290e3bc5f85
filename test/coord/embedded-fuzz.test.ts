import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { EmbeddedCoordinator, startCoordinatorServer, type CoordinatorServer } from '../../src/coord/embedded/index.js';
import { Paths } from '../../src/coord/embedded/protocol.js';
import { MAX_HEADER_BYTES } from '../../src/coord/embedded/server.js';

/**
 * Hostile input against the embedded coordinator: random methods, paths, bodies (malformed JSON,
 * oversized, deeply nested, wrong types, odd unicode, prototype keys) and headers (huge, odd
 * content types), with no credential, a wrong one or the right one. Every answer must be a 4xx
 * JSON error or a success (never a 5xx, never a crash, never a hang), the server keeps serving, and
 * without the right credential nothing in the store changes.
 *
 * HALO_FUZZ_COORD_RUNS sets the number of requests (default 300, a few seconds).
 */

const RUNS = Number(process.env['HALO_FUZZ_COORD_RUNS'] ?? '300');
const SECRET = 'fuzz-test-secret-0123456789abcdefghijklmn';
const BODY_LIMIT = 64 * 1024;

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

interface Shot {
  readonly method: string;
  readonly path: string;
  readonly auth: 'none' | 'wrong' | 'valid';
  readonly contentType: string | undefined;
  readonly body: string | undefined;
  readonly extraHeaders: Readonly<Record<string, string>>;
}

/** One request on its own connection; resolves with the answer, or with the connection error if there was none. */
function send(url: string, s: Shot): Promise<Answer | { readonly error: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...s.extraHeaders };
    if (s.contentType !== undefined) headers['content-type'] = s.contentType;
    if (s.auth === 'valid') headers['authorization'] = `Bearer ${SECRET}`;
    if (s.auth === 'wrong') headers['authorization'] = `Bearer ${SECRET.slice(1)}`;
    const body = s.body === undefined ? undefined : Buffer.from(s.body, 'utf8');
    if (body !== undefined) headers['content-length'] = String(body.length);
    let answered = false;
    const req = request({ host: hostname, port: Number(port), method: s.method, path: s.path, headers, agent: false, timeout: 10_000 }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ error: `response: ${e.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (!answered) resolve({ error: e.code ?? e.message });
    });
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---------------------------------------------------------------- arbitraries

/** Every UTF-8 byte of `t` percent-encoded (lone surrogates too, as U+FFFD). */
function percentEncode(t: string): string {
  return [...Buffer.from(t, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

const paths = Object.values(Paths);
const oddText = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.constantFrom('\u0000', '\ud800', '\u202e', '\ufeff', '𝕳𝖆𝖑𝖔', '../../etc/passwd'));

const pathArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...paths) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...paths), fc.constantFrom('/', '?x=1', '/../..', '%00', '%', '#a', '?__proto__=1')).map(([p, s]) => p + s) },
  { weight: 2, arbitrary: oddText.map((t) => `/${percentEncode(t)}`) },
  { weight: 1, arbitrary: fc.constantFrom('/', '//', '/v1', '/v1/', '/%zz', '/%2e%2e/', '*', `/${'a'.repeat(5000)}`) },
);

const methodArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('POST') },
  { weight: 3, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') },
  { weight: 1, arbitrary: fc.constantFrom('FOO', 'PROPFIND', 'M-SEARCH', 'PURGE') },
);

/** Values of the wrong type for any field. */
const wrongValue = fc.oneof(fc.constant(null), fc.boolean(), fc.double(), fc.integer(), oddText, fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.integer(), { maxKeys: 3 }));
const fieldValue = fc.oneof(wrongValue, oddText, fc.integer({ min: -1, max: 5 }), fc.constantFrom(0, 1, 2, '0', '1', 'absent', -1, 1e308, Number.MAX_SAFE_INTEGER + 2));

/** Bodies shaped like the protocol's, with fields of any type (some of them valid requests). */
const shapedBody = fc
  .record(
    {
      key: fieldValue,
      prefix: fieldValue,
      value: fieldValue,
      lease: fieldValue,
      id: fieldValue,
      ttlMs: fieldValue,
      afterRevision: fieldValue,
      // A valid long-poll must not hold the run up.
      waitMs: fc.oneof(fc.constantFrom(0, 1, -1, 1e9, '5'), wrongValue),
      compares: fc.oneof(wrongValue, fc.array(fc.record({ key: fieldValue, modRevision: fieldValue }, { requiredKeys: [] }), { maxLength: 3 })),
      ops: fc.oneof(wrongValue, fc.array(fc.record({ kind: fc.constantFrom('put', 'delete', 'move', 1), key: fieldValue, value: fieldValue }, { requiredKeys: [] }), { maxLength: 3 })),
      extra: fieldValue,
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

const bodyArb: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 5, arbitrary: shapedBody },
  { weight: 3, arbitrary: fc.json({ maxDepth: 6 }) },
  { weight: 2, arbitrary: oddText },
  { weight: 2, arbitrary: fc.constantFrom('{', '{"key":', '[1,]', '{"key":"a",}', 'nul', '"', '{"a":1}{"b":2}', '\ufeff{}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '') },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 10_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 }).map((n) => `{"key":"/k","value":"${'x'.repeat(n)}"}`) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const contentTypeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constantFrom(undefined, 'text/plain', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json\u00e9', '') },
);

const headersArb: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_HEADER_BYTES, max: MAX_HEADER_BYTES * 4 }).map((n) => ({ 'x-filler': 'a'.repeat(n) })) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 200 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v'.repeat(50)]))) },
  { weight: 1, arbitrary: fc.constantFrom({ 'transfer-encoding': 'chunked' }, { expect: '100-continue' }, { 'content-encoding': 'gzip' }, { 'x-forwarded-for': '10.0.0.1' }) },
);

const shotArb: fc.Arbitrary<Shot> = fc.record({
  method: methodArb,
  path: pathArb,
  auth: fc.constantFrom('none', 'wrong', 'valid'),
  contentType: contentTypeArb,
  body: bodyArb,
  extraHeaders: headersArb,
});

// ---------------------------------------------------------------- the property

async function dump(coord: EmbeddedCoordinator, server: CoordinatorServer): Promise<string> {
  const all = await coord.list('');
  const res = await fetch(`${server.url}${Paths.status}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` }, body: '{}' });
  return JSON.stringify({ all, status: await res.json() });
}

test(`embedded coordinator survives ${RUNS} hostile requests: 4xx JSON errors only, nothing written without the credential`, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'halo-coord-fuzz-'));
  const server = await startCoordinatorServer({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    secret: SECRET,
    bodyLimitBytes: BODY_LIMIT,
    // Count every failure but never reach 429, so the credential check itself is exercised each time.
    authLimits: { maxFailures: 1_000_000 },
  });
  const coord = new EmbeddedCoordinator({ url: server.url, secret: SECRET });
  const tally = new Map<number | string, number>();
  try {
    await coord.put('/seed/a', '1');
    const lease = await coord.grantLease(600_000);
    await coord.put('/seed/leased', '2', { lease: lease.id });

    await fc.assert(
      fc.asyncProperty(shotArb, async (shot) => {
        const before = shot.auth === 'valid' ? undefined : await dump(coord, server);
        const answer = await send(server.url, shot);
        const what = `${shot.method} ${shot.path.slice(0, 80)} auth=${shot.auth}`;
        if ('error' in answer) {
          tally.set(answer.error, (tally.get(answer.error) ?? 0) + 1);
          // The only acceptable way to get no answer: we were still sending a body the server
          // had already refused (it answers and closes without reading it).
          assert.ok(shot.body !== undefined && shot.body.length > BODY_LIMIT && ['EPIPE', 'ECONNRESET'].includes(answer.error), `${what}: no answer (${answer.error})`);
        } else {
          tally.set(`${shot.auth}:${answer.status}`, (tally.get(`${shot.auth}:${answer.status}`) ?? 0) + 1);
          assert.ok(answer.status >= 200 && answer.status < 500, `${what}: status ${answer.status} ${answer.body.slice(0, 200)}`);
          if (shot.auth !== 'valid') {
            // Refused by the credential check, or earlier by the HTTP parser or the router (bad request line or URL, head too large): never routed.
            assert.ok([400, 401, 408, 429, 431].includes(answer.status), `${what}: answered ${answer.status} without the credential`);
            if (answer.status === 400 && shot.method !== 'HEAD') assert.match(answer.body, /malformed (HTTP request|request URL)/, `${what}: a 400 past the HTTP parser without the credential`);
          }
          if (answer.status >= 400 && shot.method !== 'HEAD') {
            assert.match(answer.contentType, /^application\/json/, `${what}: ${answer.status} is not JSON`);
            const err: unknown = JSON.parse(answer.body);
            assert.ok(typeof err === 'object' && err !== null && 'code' in err && 'message' in err && typeof err.code === 'string', `${what}: error body ${answer.body.slice(0, 200)}`);
          }
        }
        if (before !== undefined) assert.equal(await dump(coord, server), before, `${what}: the store changed without the credential`);
      }),
      { numRuns: RUNS },
    );

    // Still serving, with the seeded state intact (valid fuzz requests may have added to it).
    await coord.put('/after', 'fuzz');
    assert.equal((await coord.get('/after'))?.value, 'fuzz');
    assert.equal((await coord.renewLease(lease.id)).ok, true);
  } finally {
    await coord.close();
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
    process.stdout.write(`# statuses: ${JSON.stringify(Object.fromEntries([...tally].sort((a, b) => String(a[0]).localeCompare(String(b[0])))))}\n`);
  }
});
