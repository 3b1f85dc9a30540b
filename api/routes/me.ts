// /v1/me: the caller's own active job, jobs and credits.
import { createRoute } from '@hono/zod-openapi';
import * as s from '../schemas.ts';
import { authErrors, bearer, err, json, serverErrors, type RouteContext } from './openapi.ts';

export function meRoutes({ app, deps, auth }: RouteContext): void {
  const { fila } = deps;

  app.openapi(createRoute({
    method: 'get', path: '/v1/me/active-job', tags: ['me'], security: bearer, middleware: [auth],
    summary: "The caller's active job", description: 'Queued, starting or running; 204 when there is none. A reloaded page resumes with it.',
    responses: { 200: { description: 'The active job', content: json(s.JobSchema) }, 204: { description: 'No active job' }, ...authErrors, ...serverErrors },
  }), async (c) => {
    const active = await fila.activeJob(c.var.caller.userId);
    return active ? c.json(active.json, 200) : c.body(null, 204);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/me/jobs', tags: ['me'], security: bearer, middleware: [auth],
    summary: "The caller's jobs, newest first",
    description: 'A page of the caller\'s own jobs (never anyone else\'s, operators included), optionally of one tool and one status, each as the job JSON plus the credits refunded for it. Pass `next_cursor` as `cursor` for older ones.',
    request: { query: s.MyJobsQuery },
    responses: { 200: { description: 'A page of jobs', content: json(s.MyJobsPage) }, 400: err('Malformed query (details say where)'), ...authErrors, ...serverErrors },
  }), async (c) => {
    const q = c.req.valid('query');
    const page = await fila.userJobs(c.var.caller.userId, {
      tool: q.tool ?? null, status: q.status ?? null, before: q.cursor ?? null, limit: q.limit ?? 20,
    });
    return c.json(page, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/me/credits', tags: ['me'], security: bearer, middleware: [auth],
    summary: "The caller's balance and recent ledger",
    responses: { 200: { description: 'Balance and the newest 20 ledger entries', content: json(s.CreditsSchema) }, ...authErrors, ...serverErrors },
  }), async (c) => c.json(await fila.userCredits(c.var.caller.userId), 200));
}
