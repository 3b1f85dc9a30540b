// Operators: the queue overview and credit grants.
import { createRoute } from '@hono/zod-openapi';
import * as s from '../schemas.ts';
import { authErrors, bearer, bodyErrors, err, json, serverErrors, type RouteContext } from './openapi.ts';

export function adminRoutes({ app, deps, auth, operator }: RouteContext): void {
  const { fila } = deps;

  app.openapi(createRoute({
    method: 'get', path: '/v1/queue', tags: ['operators'], security: bearer, middleware: [auth, operator],
    summary: 'Queue overview (operators)', description: 'Slots, depth, dispatch pause and the head of the queue (100 jobs).',
    responses: { 200: { description: 'The queue', content: json(s.QueueSchema) }, ...authErrors, 403: err('forbidden: not an operator'), ...serverErrors },
  }), async (c) => c.json(await fila.queueSnapshot(100), 200));

  app.openapi(createRoute({
    method: 'post', path: '/v1/admin/credits', tags: ['operators'], security: bearer, middleware: [auth, operator],
    summary: 'Grant or adjust credits (operators)',
    request: { headers: s.RequiredIdempotencyHeaders, body: { content: json(s.GrantBody), required: true } },
    responses: {
      200: { description: 'The new balance', content: json(s.GrantResult) }, 400: err('Malformed body or no Idempotency-Key'),
      ...authErrors, 402: err('insufficient_credits: the adjustment would go below zero'), 403: err('forbidden: not an operator'),
      409: err('idempotency_key_reused'), ...bodyErrors, ...serverErrors,
    },
  }), async (c) => {
    const body = c.req.valid('json');
    // recorded with the operator's id: the API's role holds no other way to move credits
    const balance = await fila.grantCreditsByOperator(c.var.caller.userId, body.user_id, body.amount, body.reason, c.req.valid('header')['idempotency-key']);
    c.var.log.info({ grant_to: body.user_id, amount: body.amount }, 'credits granted');
    return c.json({ user_id: body.user_id, balance }, 200);
  });
}
