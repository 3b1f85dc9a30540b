// The provider's webhook: checked with the per-job token, stored raw in the inbox for the worker.
import { createRoute } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { verifyWebhookToken } from '../../common/webhook-token.ts';
import { FilaError } from '../../db/errors.ts';
import type { AppEnv } from '../context.ts';
import { ApiError, invalidInput, zodDetails } from '../errors.ts';
import * as s from '../schemas.ts';
import { bodyErrors, err, json, serverErrors, type RouteContext } from './openapi.ts';

export function webhookRoutes({ app, deps }: RouteContext): void {
  const { fila, metrics } = deps;

  const webhookToken: MiddlewareHandler<AppEnv> = async (c, next) => {
    // before anything is parsed or stored: a forgery gets 401 and leaves no trace
    const jobId = c.req.param('jobId') ?? '';
    const token = c.req.query('token') ?? '';
    if (!verifyWebhookToken(jobId, token, deps.webhookSecret)) {
      metrics.webhooks.inc({ outcome: 'bad_token' });
      throw new ApiError(401, 'invalid_webhook_token', 'Token de webhook inválido.');
    }
    await next();
  };
  app.openapi(createRoute({
    method: 'post', path: '/v1/webhooks/runninghub/{jobId}', tags: ['webhooks'], middleware: [webhookToken],
    summary: 'RunningHub webhook',
    description: 'Checked with the per-job token, stored raw in the inbox and queued for the worker (which confirms it with the provider) in one transaction; answered at once. Replays are stored and applied at most once.',
    request: { params: s.WebhookParams, query: s.WebhookQuery, body: { content: json(s.WebhookBody), required: true } },
    responses: {
      200: { description: 'Stored', content: json(s.WebhookResult) }, 400: err('Not JSON'),
      401: err('invalid_webhook_token'), 404: err('job_not_found'), ...bodyErrors, ...serverErrors,
    },
  }), async (c) => {
    try {
      const inboxId = await fila.receiveWebhook(c.req.valid('param').jobId, 'runninghub', c.req.valid('json'));
      metrics.webhooks.inc({ outcome: 'accepted' });
      return c.json({ received: true as const, inbox_id: inboxId }, 200);
    } catch (e) {
      metrics.webhooks.inc({ outcome: e instanceof FilaError && e.code === 'job_not_found' ? 'unknown_job' : 'error' });
      throw e;
    }
  }, (result) => {
    if (!result.success) {
      metrics.webhooks.inc({ outcome: 'invalid_body' });
      throw invalidInput(zodDetails(result.error));
    }
    return undefined;
  });
}
