// /v1/me: the caller's own active job and credits.
import { createRoute } from '@hono/zod-openapi';
import * as s from '../schemas.ts';
import { authErrors, bearer, json, type RouteContext } from './openapi.ts';

export function meRoutes({ app, deps, auth }: RouteContext): void {
  const { fila } = deps;

  app.openapi(createRoute({
    method: 'get', path: '/v1/me/active-job', tags: ['me'], security: bearer, middleware: [auth],
    summary: "The caller's active job", description: 'Queued, starting or running; 204 when there is none. A reloaded page resumes with it.',
    responses: { 200: { description: 'The active job', content: json(s.JobSchema) }, 204: { description: 'No active job' }, ...authErrors },
  }), async (c) => {
    const active = await fila.activeJob(c.var.caller.userId);
    return active ? c.json(active.json, 200) : c.body(null, 204);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/me/credits', tags: ['me'], security: bearer, middleware: [auth],
    summary: "The caller's balance and recent ledger",
    responses: { 200: { description: 'Balance and the newest 20 ledger entries', content: json(s.CreditsSchema) }, ...authErrors },
  }), async (c) => c.json(await fila.userCredits(c.var.caller.userId), 200));
}
