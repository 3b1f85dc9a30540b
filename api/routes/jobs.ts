// /v1/jobs: submit, read, follow (the event stream), cancel, heartbeat.
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { FilaError } from '../../db/errors.ts';
import { isToolName, toolNames } from '../../common/tools/index.ts';
import { ApiError, invalidInput, zodDetails } from '../errors.ts';
import { jobEventStream } from '../event-stream.ts';
import type { AppEnv } from '../context.ts';
import { checkInputFiles } from '../input-check.ts';
import * as s from '../schemas.ts';
import { authErrors, bearer, bodyErrors, err, json, serverErrors, type RouteContext } from './openapi.ts';

export function jobRoutes({ app, deps, auth, scope }: RouteContext): void {
  const { fila, metrics } = deps;
  const submitBody = s.submitBody(deps.inputSchemas);
  // Before the body's validator (one branch per tool, as the document shows it): the envelope first
  // (400), then the tool (422) whatever the input, then the tool's own input (400), each counted.
  const submitEnvelope: MiddlewareHandler<AppEnv> = async (c, next) => {
    if (/^application\/(.+\+)?json\b/i.test(c.req.header('content-type') ?? '')) {
      // parsed once: the validator reads the same value; malformed JSON is left to it (400)
      const raw: unknown = await c.req.json().then((b: unknown) => b, () => undefined);
      if (raw !== undefined) {
        const envelope = s.SubmitEnvelope.safeParse(raw);
        if (!envelope.success) throw invalidInput(zodDetails(envelope.error));
        const tool = envelope.data.tool;
        if (!isToolName(tool)) {
          metrics.submits.inc({ tool: 'unknown', outcome: 'unknown_tool' });
          throw new ApiError(422, 'unknown_tool', `Ferramenta desconhecida: ${tool}.`, { tool, known: toolNames });
        }
        const input = deps.inputSchemas[tool].safeParse(envelope.data.input);
        if (!input.success) {
          metrics.submits.inc({ tool, outcome: 'invalid_input' });
          throw invalidInput(zodDetails(input.error, ['input']));
        }
      }
    }
    await next();
  };

  app.openapi(createRoute({
    method: 'post', path: '/v1/jobs', tags: ['jobs'], security: bearer, middleware: [auth, submitEnvelope],
    summary: 'Submit a job',
    description: 'Prices and debits on the server, queues, and starts it when a slot is free. One active job per user.',
    request: { headers: s.IdempotencyHeaders, body: { content: json(submitBody), required: true } },
    responses: {
      201: { description: 'Created', content: json(s.JobSchema) },
      200: { description: 'The same Idempotency-Key again: the same job, not debited twice', content: json(s.JobSchema) },
      400: err('Malformed body (details say where), or an input URL that is not a public http(s) address'),
      ...authErrors,
      402: err('insufficient_credits'),
      409: err('user_has_active_job, or idempotency_key_reused'),
      ...bodyErrors,
      422: err('unknown_tool, or input_unreadable: an input file did not answer (details: path, url, status or reason)'),
      ...serverErrors,
    },
  }), async (c) => {
    const body = c.req.valid('json');
    const key = c.req.valid('header')['idempotency-key'];
    try {
      // before the job exists: no slot, no debit for a file that cannot be read
      if (deps.inputCheck) await checkInputFiles(body.input, deps.inputCheck);
      const r = await fila.submitJob({
        userId: c.var.caller.userId, tool: body.tool, input: body.input,
        idempotencyKey: key ?? null, presence: body.presence ?? false,
      });
      metrics.submits.inc({ tool: body.tool, outcome: r.created ? 'created' : 'replayed' });
      c.var.log.info({ job_id: r.job.id, status: r.job.status, created: r.created }, 'submitted');
      return c.json(r.json, r.created ? 201 : 200);
    } catch (e) {
      const outcome = e instanceof FilaError || e instanceof ApiError ? e.code : 'error';
      metrics.submits.inc({ tool: body.tool, outcome });
      throw e;
    }
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/jobs/{id}', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'One job', description: 'Status, queue position and eta while queued, outputs, the real error. Another user\'s job is 404.',
    request: { params: s.JobIdParams },
    responses: { 200: { description: 'The job', content: json(s.JobSchema) }, 400: err('Malformed id'), ...authErrors, 404: err('job_not_found'), ...serverErrors },
  }), async (c) => {
    const { json: job } = await fila.job(c.req.valid('param').id, scope(c.var.caller));
    return c.json(job, 200);
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/jobs/{id}/events', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'Live updates (Server-Sent Events)',
    description: 'Event `job` with the job JSON as data: the current state first, then every change of status or queue position; comment heartbeats; ends after a terminal state. While open, a queued job with presence counts as seen.',
    request: { params: s.JobIdParams },
    responses: {
      200: { description: 'text/event-stream of `job` events', content: { 'text/event-stream': { schema: z.string() } } },
      400: err('Malformed id'), ...authErrors, 404: err('job_not_found'),
      429: err('too_many_event_streams: past the per-process or per-user cap'), ...serverErrors,
    },
  }), async (c) => {
    return jobEventStream(c, deps, c.req.valid('param').id, scope(c.var.caller));
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/jobs/{id}/cancel', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'Cancel a job', description: 'Refunded in full. Users cancel their own jobs; operators any job.',
    request: { params: s.JobIdParams },
    responses: {
      200: { description: 'The canceled job', content: json(s.JobSchema) }, 400: err('Malformed id'), ...authErrors,
      404: err('job_not_found'), 409: err('invalid_transition (it already completed or failed)'), 413: bodyErrors[413], ...serverErrors,
    },
  }), async (c) => {
    const { json: job } = await fila.cancelJob(c.req.valid('param').id, scope(c.var.caller));
    return c.json(job, 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/jobs/{id}/heartbeat', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'Presence for clients that poll', description: 'The page of this queued job is still open.',
    request: { params: s.JobIdParams },
    responses: {
      204: { description: 'Seen' }, 400: err('Malformed id'), ...authErrors, 404: err('job_not_found'),
      413: bodyErrors[413], ...serverErrors,
    },
  }), async (c) => {
    await fila.touchJob(c.req.valid('param').id, c.var.caller.userId);
    return c.body(null, 204);
  });
}
