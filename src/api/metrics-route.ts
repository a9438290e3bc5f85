import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { ClusterError } from '../domain/errors.js';

/**
 * GET /metrics: the Prometheus text exposition of this process's registry (see
 * observability/metrics.ts). Without a registry the route answers 404 HA_NOT_FOUND, so a scraper
 * sees a clear error rather than an empty page.
 */
export function registerMetricsRoute(app: FastifyInstance, metrics: { readonly registry: Registry } | undefined): void {
  app.get('/metrics', async (_req, reply) => {
    if (metrics === undefined) throw new ClusterError('HA_NOT_FOUND', 'metrics are not enabled on this node');
    const text = await metrics.registry.metrics();
    void reply.type(metrics.registry.contentType);
    return text;
  });
}
