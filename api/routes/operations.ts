// Operations: health, Prometheus metrics, the OpenAPI document and its page.
import { createRoute, z } from '@hono/zod-openapi';
import { renderDocsPage } from '../docs-page.ts';
import * as s from '../schemas.ts';
import { json, serverErrors, type RouteContext } from './openapi.ts';

export function operationsRoutes({ app, deps }: RouteContext): void {
  const { fila, hub, metrics } = deps;

  app.openapi(createRoute({
    method: 'get', path: '/healthz', tags: ['operations'], summary: 'Liveness and readiness',
    description: 'Checks the database; reports the LISTEN connection (live updates) too.',
    responses: { 200: { description: 'Ready', content: json(s.HealthSchema) }, 503: { description: 'The database is unreachable', content: json(s.HealthSchema) }, ...serverErrors },
  }), async (c) => {
    const listener = hub.listening ? 'listening' as const : 'reconnecting' as const;
    try {
      await fila.queueOverview();
      return c.json({ status: 'ok' as const, database: 'ok' as const, listener }, 200);
    } catch (e) {
      c.var.log.error({ err: e }, 'health check: database unreachable');
      return c.json({ status: 'unavailable' as const, database: 'unavailable' as const, listener }, 503);
    }
  });

  app.openapi(createRoute({
    method: 'get', path: '/metrics', tags: ['operations'], summary: 'Prometheus metrics',
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } }, ...serverErrors },
  }), async (c) => {
    const [overview, accounts, recovery, tools, checks, copies] = await Promise.all([
      fila.queueOverview(), fila.providerAccounts(), fila.providerRecovery(), fila.toolAvailability(), fila.providerAccountChecks(),
      fila.outputCopyOverview(),
    ]);
    metrics.setQueue(overview);
    metrics.setAccounts(accounts);
    metrics.setProvider(recovery, tools, checks);
    metrics.setOutputCopies(copies);
    return c.text(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType });
  });

  let openApiCache: ReturnType<typeof app.getOpenAPI31Document> | null = null;
  const openApiDocument = () => (openApiCache ??= app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'fila API', version: '1',
      description: 'Paid AI-generation jobs on a rate-limited GPU provider. Errors: `{ "error": { "code", "message", "details"? } }`.',
    },
    tags: [
      { name: 'jobs' }, { name: 'me' }, { name: 'uploads' }, { name: 'webhooks' }, { name: 'operators' }, { name: 'operations' },
    ],
  }));

  app.openapi(createRoute({
    method: 'get', path: '/openapi.json', tags: ['operations'], summary: 'This OpenAPI document',
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } }, ...serverErrors },
  }), (c) => c.json(openApiDocument() as unknown as Record<string, unknown>, 200));

  app.openapi(createRoute({
    method: 'get', path: '/docs', tags: ['operations'], summary: 'This reference, as a page (works offline)',
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } }, ...serverErrors },
  }), (c) => c.html(renderDocsPage(openApiDocument())));
}
