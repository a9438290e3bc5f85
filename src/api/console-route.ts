import { readFile } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ErrorBody } from './schemas.js';

/**
 * The built web console (console/, built by `npm run build` into dist/console/). This file
 * compiles to dist/src/api/, so the console is two folders up.
 */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const NOT_BUILT =
  'The halo web console was not built on this node (dist/console/index.html is missing).\n' +
  'Run "npm run build" in the halo source tree, or use the REST API under /v1/ and the halo CLI.\n';

function isMissing(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'ENOTDIR');
}

/**
 * GET / and GET /console/: the console's page; GET /console/<file>: its static files (Vite emits
 * them with base /console/, so the page works from both addresses). Files are read per request,
 * so rebuilding the console needs no agent restart. A path outside the console folder or an
 * unknown file is 404 HA_NOT_FOUND; without a built console, the page is a short text saying so.
 */
export function registerConsoleRoute(app: FastifyInstance, opts: { readonly dir?: string } = {}): void {
  const root = resolve(opts.dir ?? CONSOLE_DIR);

  async function sendIndex(reply: FastifyReply): Promise<string | Buffer> {
    try {
      const html = await readFile(resolve(root, 'index.html'));
      void reply.type(CONTENT_TYPES['.html'] ?? 'text/html').header('cache-control', 'no-cache');
      return html;
    } catch (e) {
      if (!isMissing(e)) throw e;
      void reply.status(503).type('text/plain; charset=utf-8');
      return NOT_BUILT;
    }
  }

  app.get('/', async (_req, reply) => sendIndex(reply));
  app.get('/console', async (_req, reply) => reply.redirect('/console/'));
  app.get('/console/', async (_req, reply) => sendIndex(reply));
  app.get('/console/*', async (req, reply) => {
    const rel = (req.params as Record<string, string | undefined>)['*'] ?? '';
    const notFound = (): ErrorBody => {
      void reply.status(404);
      return { code: 'HA_NOT_FOUND', message: `no console file "${rel}"` };
    };
    if (rel === '' || rel === 'index.html') return sendIndex(reply);
    if (rel.split('/').some((seg) => seg === '..' || seg === '.' || seg === '') || rel.includes('\\') || rel.includes('\0')) return notFound();
    const file = resolve(root, rel);
    if (!file.startsWith(root + sep)) return notFound();
    const type = CONTENT_TYPES[extname(file).toLowerCase()];
    if (type === undefined) return notFound();
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch (e) {
      if (isMissing(e)) return notFound();
      throw e;
    }
    // Vite puts a content hash in the names of everything under assets/.
    void reply.type(type).header('cache-control', rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache');
    return body;
  });
}
