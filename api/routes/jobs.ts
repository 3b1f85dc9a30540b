// /v1/jobs: submit, read, follow (the event stream), cancel, heartbeat.
import { createRoute, z } from '@hono/zod-openapi';
import { FilaError } from '../../db/errors.ts';
import { isToolName, toolNames } from '../../common/tools/index.ts';
import { ApiError, invalidInput, zodDetails } from '../errors.ts';
import { jobEventStream } from '../event-stream.ts';
import { checkInputFiles } from '../input-check.ts';
import * as s from '../schemas.ts';
import { authErrors, bearer, err, json, type RouteContext } from './openapi.ts';

export function jobRoutes({ app, deps, auth, scope }: RouteContext): void {
  const { fila, metrics, inputSchemas: schemas } = deps;

  app.openapi(createRoute({
    method: 'post', path: '/v1/jobs', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'Submit a job',
    description: 'Prices and debits on the server, queues, and starts it when a slot is free. One active job per user.',
    request: { headers: s.IdempotencyHeaders, body: { content: json(s.SubmitBody), required: true } },
    responses: {
      201: { description: 'Created', content: json(s.JobSchema) },
      200: { description: 'The same Idempotency-Key again: the same job, not debited twice', content: json(s.JobSchema) },
      400: err('Malformed body (details say where), or an input URL that is not a public http(s) address'),
      ...authErrors,
      402: err('insufficient_credits'),
      409: err('user_has_active_job, or idempotency_key_reused'),
      422: err('unknown_tool, or input_unreadable: an input file did not answer (details: path, url, status or reason)'),
    },
  }), async (c) => {
    const body = c.req.valid('json');
    const key = c.req.valid('header')['idempotency-key'];
    const toolLabel = isToolName(body.tool) ? body.tool : 'unknown';
    try {
      if (!isToolName(body.tool)) {
        throw new ApiError(422, 'unknown_tool', `Ferramenta desconhecida: ${body.tool}.`, { tool: body.tool, known: toolNames });
      }
      const parsed = schemas[body.tool].safeParse(body.input);
      if (!parsed.success) throw invalidInput(zodDetails(parsed.error, ['input']));
      // before the job exists: no slot, no debit for a file that cannot be read
      if (deps.inputCheck) await checkInputFiles(parsed.data, deps.inputCheck);
      const r = await fila.submitJob({
        userId: c.var.caller.userId, tool: body.tool, input: parsed.data,
        idempotencyKey: key ?? null, presence: body.presence ?? false,
      });
      metrics.submits.inc({ tool: toolLabel, outcome: r.created ? 'created' : 'replayed' });
      c.var.log.info({ job_id: r.job.id, status: r.job.status, created: r.created }, 'submitted');
      return c.json(r.json, r.created ? 201 : 200);
    } catch (e) {
      const outcome = e instanceof FilaError || e instanceof ApiError ? e.code : 'error';
      metrics.submits.inc({ tool: toolLabel, outcome });
      throw e;
    }
  });

  app.openapi(createRoute({
    method: 'get', path: '/v1/jobs/{id}', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'One job', description: 'Status, queue position and eta while queued, outputs, the real error. Another user\'s job is 404.',
    request: { params: s.JobIdParams },
    responses: { 200: { description: 'The job', content: json(s.JobSchema) }, 400: err('Malformed id'), ...authErrors, 404: err('job_not_found') },
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
      404: err('job_not_found'), 409: err('invalid_transition (it already completed or failed)'),
    },
  }), async (c) => {
    const { json: job } = await fila.cancelJob(c.req.valid('param').id, scope(c.var.caller));
    return c.json(job, 200);
  });

  app.openapi(createRoute({
    method: 'post', path: '/v1/jobs/{id}/heartbeat', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'Presence for clients that poll', description: 'The page of this queued job is still open.',
    request: { params: s.JobIdParams },
    responses: { 204: { description: 'Seen' }, 400: err('Malformed id'), ...authErrors, 404: err('job_not_found') },
  }), async (c) => {
    await fila.touchJob(c.req.valid('param').id, c.var.caller.userId);
    return c.body(null, 204);
  });
}
