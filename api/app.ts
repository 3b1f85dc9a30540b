// The HTTP API: every handler validates (zod), calls one FilaDb method and maps the result.
// The rules themselves live in PostgreSQL; refusals come back as FilaError and leave through
// onError with the database's own code, message and status.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { randomUUID } from 'node:crypto';
import type pino from 'pino';
import { FilaError } from '../db/errors.ts';
import { isTerminalStatus, type FilaDb, type JobJson } from '../db/fila.ts';
import { isToolName, toolInputSchemas, toolNames, type ToolName } from '../worker/tools/index.ts';
import { verifyWebhookToken } from '../worker/webhook-token.ts';
import { mountDashboard } from './dashboard/index.ts';
import { requireAuth, requireOperator, type TokenAudience } from './auth.ts';
import { checkInputFiles, type InputCheckOptions } from './input-check.ts';
import { storableJson } from './json-text.ts';
import type { AppEnv } from './context.ts';
import { renderDocsPage } from './docs-page.ts';
import { ApiError, errorBody, invalidInput, toErrorResponse, zodDetails } from './errors.ts';
import type { JobEventsHub } from './job-events.ts';
import type { ApiMetrics } from './metrics.ts';
import * as s from './schemas.ts';
import { defaultUploadLimits, LocalUploadStore, receiveUpload, servedFileHeaders, type UploadLimits, type UploadStore } from './uploads.ts';

export interface AppDeps {
  fila: FilaDb;
  hub: JobEventsHub;
  metrics: ApiMetrics;
  logger: pino.Logger;
  jwtSecret: string;
  /** the `aud` (and optional `iss`) tokens must carry (default `authenticated`, no issuer check) */
  tokenAudience?: TokenAudience;
  webhookSecret: string;
  /** input files are checked at submit (public addresses, readable); null: not checked */
  inputCheck: InputCheckOptions | null;
  /** per-user quota of kept uploads */
  uploadLimits?: UploadLimits;
  development: boolean;
  /** null: uploads are refused (501) until a store is configured */
  uploads: UploadStore | null;
  /** the event stream's comment heartbeat (default 15 s) */
  sseHeartbeatMs?: number;
  /** how often an open stream marks its queued job as seen (default 10 s) */
  presenceTouchMs?: number;
  /** JSON request body limit (default 256 KiB) */
  maxJsonBytes?: number;
  /** the upscaler's categories, from the tools configuration */
  upscalerCategories: readonly string[];
  /** createApp adds what must run when the server closes (the dashboard's feed) */
  onClose?: Array<() => void>;
}

const json = <T extends z.ZodType>(schema: T) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json(s.ErrorSchema) });
const authErrors = { 401: err('Missing, invalid or expired bearer token') };
const bearer = [{ bearer: [] }];

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { fila, hub, metrics, logger } = deps;
  const heartbeatMs = deps.sseHeartbeatMs ?? 15_000;
  const touchMs = deps.presenceTouchMs ?? 10_000;
  const schemas = toolInputSchemas({ upscalerCategories: deps.upscalerCategories });

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      // a body's paths are the body's own; headers, params and queries say where they were
      if (!result.success) throw invalidInput(zodDetails(result.error, result.target === 'json' || result.target === 'form' ? [] : [result.target]));
    },
  });
  const auth = requireAuth(deps.jwtSecret, deps.tokenAudience);
  const uploadLimits = deps.uploadLimits ?? defaultUploadLimits;
  const quota = { maxFiles: uploadLimits.maxFiles, maxBytes: uploadLimits.maxBytes };
  const operator = requireOperator();

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  const toolSchemaNames: Record<ToolName, string> = {
    upscaler: 'UpscalerInput', pose_changer: 'PoseChangerInput', veste_ai: 'VesteAiInput', video_upscaler: 'VideoUpscalerInput',
  };
  for (const tool of toolNames) app.openAPIRegistry.register(toolSchemaNames[tool], schemas[tool]);

  // request id, one log line per request, the request counter
  app.use('*', async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w.:-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('log', logger.child({ req_id: requestId }));
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    c.header('x-request-id', requestId);
    metrics.httpRequests.inc({ method: c.req.method, status: String(c.res.status) });
    // the path only: a webhook's token travels in the query string
    c.var.log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, 'request');
  });

  const jsonLimit = bodyLimit({
    maxSize: deps.maxJsonBytes ?? 256 * 1024,
    onError: () => { throw new ApiError(413, 'payload_too_large', 'Corpo da requisição grande demais.'); },
  });
  app.use('*', async (c, next) => (c.req.path === '/v1/uploads' ? next() : jsonLimit(c, next)));
  app.use('*', storableJson());

  app.onError((e, c) => {
    const { status, body, unexpected } = toErrorResponse(e);
    const log = c.get('log') ?? logger;
    if (unexpected) log.error({ err: e }, 'request failed');
    // malformed or hostile input is worth a look, without a stack; business refusals are routine
    else if (status === 400 || status === 413 || status === 415) log.warn({ code: body.error.code, status, details: body.error.details }, 'bad request');
    else log.info({ code: body.error.code }, 'refused');
    // an unread body is dropped with its connection: tell the client not to reuse it
    if (status === 413) c.header('connection', 'close');
    return c.json(body, status);
  });
  app.notFound((c) => c.json(errorBody('not_found', 'Rota não encontrada.'), 404));

  const scope = (caller: { userId: string; operator: boolean }) => (caller.operator ? null : caller.userId);

  // Jobs ------------------------------------------------------------------------------------------

  app.openapi(createRoute({
    method: 'post', path: '/v1/jobs', tags: ['jobs'], security: bearer, middleware: [auth],
    summary: 'Submit a job',
    description: 'Prices and debits on the server, queues, and starts it when a slot is free. One active job per user.',
    request: { headers: s.IdempotencyHeaders, body: { content: json(s.SubmitBody), required: true } },
    responses: {
      201: { description: 'Created', content: json(s.JobSchema) },
      200: { description: 'The same Idempotency-Key again: the same job, not debited twice', content: json(s.JobSchema) },
      400: err('Malformed body (details say where)'),
      ...authErrors,
      402: err('insufficient_credits'),
      409: err('user_has_active_job, or idempotency_key_reused'),
      422: err('unknown_tool'),
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
    const jobId = c.req.valid('param').id;
    const caller = c.var.caller;
    const log = c.var.log.child({ job_id: jobId });
    const { json: initial } = await fila.job(jobId, scope(caller));
    const own = initial.user_id === caller.userId;
    c.header('cache-control', 'no-cache');
    c.header('x-accel-buffering', 'no'); // nginx: do not buffer the stream
    return streamSSE(c, async (stream) => {
      metrics.sseStreams.inc();
      let last: JobJson | null = null;
      let writing: Promise<unknown> = Promise.resolve();
      let finish!: () => void;
      const done = new Promise<void>((r) => { finish = r; });
      let ended = false;
      const end = () => { ended = true; finish(); };
      const enqueue = (write: () => Promise<unknown>) => {
        writing = writing.then(write).catch((e: unknown) => { log.debug({ err: e }, 'event stream write failed'); end(); });
      };
      const push = (job: JobJson) => {
        if (ended || (last && last.status === job.status && last.position === job.position)) return;
        const first = last === null;
        last = job;
        enqueue(async () => {
          await stream.writeSSE({ event: 'job', data: JSON.stringify(job), ...(first ? { retry: 3000 } : {}) });
          if (isTerminalStatus(job.status)) end();
        });
      };
      const recheck = () => {
        fila.jobsJson([jobId]).then(([j]) => { if (j) push(j); })
          .catch((e: unknown) => log.warn({ err: e }, 'event stream re-read failed'));
      };
      const touch = () => {
        if (!own || ended || last?.status !== 'queued' || !last.presence) return;
        fila.touchJob(jobId, caller.userId).catch((e: unknown) => log.warn({ err: e }, 'presence touch failed'));
      };
      const unwatch = hub.watch(jobId, { onJob: push, onClose: end });
      stream.onAbort(end);
      push(initial);
      touch();
      recheck(); // a transition between the first read and watch() is not missed
      const heartbeat = setInterval(() => {
        enqueue(() => stream.write(': ping\n\n'));
        recheck(); // a safety net should a notification be lost
      }, heartbeatMs);
      const toucher = setInterval(touch, touchMs);
      try {
        await done;
      } finally {
        clearInterval(heartbeat);
        clearInterval(toucher);
        unwatch();
        await writing;
        metrics.sseStreams.dec();
      }
    }, async (e) => { log.error({ err: e }, 'event stream failed'); });
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

  // The caller ------------------------------------------------------------------------------------

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

  // Uploads ---------------------------------------------------------------------------------------

  app.openapi(createRoute({
    method: 'post', path: '/v1/uploads', tags: ['uploads'], security: bearer,
    middleware: [auth], // no bodyLimit here: it buffers a chunked body; receiveUpload counts as it reads
    summary: 'Store an input file', description: 'multipart/form-data with a `file` field; answers the URL to put in a job input.',
    request: { body: { content: { 'multipart/form-data': { schema: s.UploadBody } }, required: true } },
    responses: {
      201: { description: 'Stored', content: json(s.UploadResult) }, 400: err('No file, or a malformed multipart body'), ...authErrors,
      402: err('insufficient_credits: uploads need a balance'), 413: err('file_too_large'), 415: err('unsupported_media_type'),
      429: err('upload_quota_exceeded: too many files or bytes kept'), 501: err('uploads_not_configured'),
    },
  }), async (c) => {
    const store = deps.uploads;
    if (!store) throw new ApiError(501, 'uploads_not_configured', 'Uploads não estão configurados neste servidor.');
    const userId = c.var.caller.userId;
    const declared = Number(c.req.header('content-length') ?? 0);
    try {
      await fila.checkUploadQuota(userId, Number.isSafeInteger(declared) && declared > 0 ? declared : 0, quota);
    } catch (e) {
      c.header('connection', 'close'); // refused before its body was read
      throw e;
    }
    const stored = await receiveUpload(c.req.raw, store); // streamed, never buffered whole
    try {
      await fila.recordUpload(userId, stored.name, stored.size, quota);
    } catch (e) {
      await store.delete(stored.name); // over the quota after all (a concurrent upload): not kept
      throw e;
    }
    c.var.log.info({ upload: stored.name, size: stored.size }, 'stored upload');
    return c.json(stored, 201);
  });

  if (deps.uploads instanceof LocalUploadStore) {
    const store = deps.uploads;
    app.openapi(createRoute({
      method: 'get', path: '/uploads/{name}', tags: ['uploads'],
      summary: 'A stored input file (development store)', description: 'Public: the worker and the provider fetch it.',
      request: { params: s.UploadNameParams },
      responses: { 200: { description: 'The file', content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } }, 404: err('not_found') },
    }), async (c) => {
      const file = await store.open(c.req.valid('param').name);
      if (!file) throw new ApiError(404, 'not_found', 'Arquivo não encontrado.');
      return c.body(file.body, 200, { 'content-type': file.contentType, 'content-length': String(file.size), ...servedFileHeaders });
    });
  }

  // Provider webhook ------------------------------------------------------------------------------

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
      401: err('invalid_webhook_token'), 404: err('job_not_found'),
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

  // Operators -------------------------------------------------------------------------------------

  app.openapi(createRoute({
    method: 'get', path: '/v1/queue', tags: ['operators'], security: bearer, middleware: [auth, operator],
    summary: 'Queue overview (operators)', description: 'Slots, depth, dispatch pause and the head of the queue (100 jobs).',
    responses: { 200: { description: 'The queue', content: json(s.QueueSchema) }, ...authErrors, 403: err('forbidden: not an operator') },
  }), async (c) => c.json(await fila.queueSnapshot(100), 200));

  app.openapi(createRoute({
    method: 'post', path: '/v1/admin/credits', tags: ['operators'], security: bearer, middleware: [auth, operator],
    summary: 'Grant or adjust credits (operators)',
    request: { headers: s.RequiredIdempotencyHeaders, body: { content: json(s.GrantBody), required: true } },
    responses: {
      200: { description: 'The new balance', content: json(s.GrantResult) }, 400: err('Malformed body or no Idempotency-Key'),
      ...authErrors, 402: err('insufficient_credits: the adjustment would go below zero'), 403: err('forbidden: not an operator'),
      409: err('idempotency_key_reused'),
    },
  }), async (c) => {
    const body = c.req.valid('json');
    const balance = await fila.grantCreditsByOperator(c.var.caller.userId, body.user_id, body.amount, body.reason, c.req.valid('header')['idempotency-key']);
    c.var.log.info({ grant_to: body.user_id, amount: body.amount }, 'credits granted');
    return c.json({ user_id: body.user_id, balance }, 200);
  });

  // Operations ------------------------------------------------------------------------------------

  app.openapi(createRoute({
    method: 'get', path: '/healthz', tags: ['operations'], summary: 'Liveness and readiness',
    description: 'Checks the database; reports the LISTEN connection (live updates) too.',
    responses: { 200: { description: 'Ready', content: json(s.HealthSchema) }, 503: { description: 'The database is unreachable', content: json(s.HealthSchema) } },
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
    responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
  }), async (c) => {
    metrics.setQueue(await fila.queueOverview());
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
    responses: { 200: { description: 'OpenAPI 3.1', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
  }), (c) => c.json(openApiDocument() as unknown as Record<string, unknown>, 200));

  app.openapi(createRoute({
    method: 'get', path: '/docs', tags: ['operations'], summary: 'This reference, as a page (works offline)',
    responses: { 200: { description: 'HTML', content: { 'text/html': { schema: z.string() } } } },
  }), (c) => c.html(renderDocsPage(openApiDocument())));

  const dashboard = mountDashboard(app, { development: deps.development, jwtSecret: deps.jwtSecret, tokenAudience: deps.tokenAudience, db: fila, logger });
  deps.onClose?.push(() => dashboard.close());
  return app;
}
