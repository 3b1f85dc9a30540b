// The HTTP API: createApp composes the route modules (api/routes/) behind the shared middleware.
// Every handler validates (zod), calls one FilaDb method and maps the result. The rules themselves
// live in PostgreSQL; refusals come back as FilaError and leave through onError with the
// database's own code, message and status.
import { OpenAPIHono } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import { randomUUID } from 'node:crypto';
import type pino from 'pino';
import { toolInputSchemas, toolNames, tools } from '../common/tools/index.ts';
import type { FilaDb } from '../db/fila.ts';
import { mountDashboard } from './dashboard/index.ts';
import { mountToolPages } from './tool-pages/index.ts';
import { requireAuth, requireOperator, type TokenAudience } from './auth.ts';
import type { InputCheckOptions } from './input-check.ts';
import { storableJson } from './json-text.ts';
import { nodeResponse, type AppEnv } from './context.ts';
import { ApiError, errorBody, invalidInput, toErrorResponse, zodDetails } from './errors.ts';
import type { JobEventsHub } from './job-events.ts';
import type { ApiMetrics } from './metrics.ts';
import { adminRoutes } from './routes/admin.ts';
import { jobRoutes } from './routes/jobs.ts';
import { meRoutes } from './routes/me.ts';
import type { RouteContext } from './routes/openapi.ts';
import { operationsRoutes } from './routes/operations.ts';
import { uploadRoutes } from './routes/uploads.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import type { UploadLimits, UploadStore } from './uploads.ts';

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
  /** per-user quota of kept uploads (default defaultUploadLimits) */
  uploadLimits?: UploadLimits;
  development: boolean;
  /** null: uploads are refused (501) until a store is configured */
  uploads: UploadStore | null;
  /** JSON request body limit (default 256 KiB) */
  maxJsonBytes?: number;
  /** the upscaler's categories, from the tools configuration */
  upscalerCategories: readonly string[];
  /** createApp adds what must run when the server closes (the dashboard's feed) */
  onClose?: Array<() => void>;
}

export function createApp(deps: AppDeps): OpenAPIHono<AppEnv> {
  const { fila, metrics, logger } = deps;
  const inputSchemas = toolInputSchemas({ upscalerCategories: deps.upscalerCategories });

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      // a body's paths are the body's own; headers, params and queries say where they were
      if (!result.success) throw invalidInput(zodDetails(result.error, result.target === 'json' || result.target === 'form' ? [] : [result.target]));
    },
  });
  const auth = requireAuth(deps.jwtSecret, deps.tokenAudience);
  const operator = requireOperator();

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  for (const tool of toolNames) app.openAPIRegistry.register(tools[tool].openApiName, inputSchemas[tool]);

  // request id, one log line per request, the request counter
  app.use('*', async (c, next) => {
    const incoming = c.req.header('x-request-id');
    const requestId = incoming && /^[\w.:-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    c.set('requestId', requestId);
    c.set('log', logger.child({ req_id: requestId }));
    c.header('x-request-id', requestId);
    const started = performance.now();
    await next();
    // a response the route wrote to Node itself (an event stream) has its headers sent, this one among them
    if (!nodeResponse(c)?.headersSent) c.header('x-request-id', requestId);
    metrics.httpRequests.inc({ method: c.req.method, status: String(c.res.status) });
    // the path only: a webhook's token travels in the query string
    c.var.log.info({ method: c.req.method, path: c.req.path, status: c.res.status, ms: Math.round(performance.now() - started) }, 'request');
  });

  const jsonLimit = bodyLimit({
    maxSize: deps.maxJsonBytes ?? 256 * 1024,
    onError: () => { throw new ApiError(413, 'payload_too_large', 'Corpo da requisição grande demais.'); },
  });
  // GET and HEAD carry no body; bodyLimit would build the whole fetch Request to find that out (kept
  // for as long as the connection lasts: an event stream's whole life)
  const noBody = (method: string) => method === 'GET' || method === 'HEAD';
  app.use('*', async (c, next) => (c.req.path === '/v1/uploads' || noBody(c.req.method) ? next() : jsonLimit(c, next)));
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

  const routes: RouteContext = {
    app, auth, operator, deps: { ...deps, inputSchemas },
    scope: (caller) => (caller.operator ? null : caller.userId),
  };
  jobRoutes(routes);
  meRoutes(routes);
  uploadRoutes(routes);
  webhookRoutes(routes);
  adminRoutes(routes);
  operationsRoutes(routes);

  // the reference tool pages: development only (the app's own pages are the real ones)
  if (deps.development) {
    mountToolPages(app, {
      inputSchemas, development: true, logger,
      titles: Object.fromEntries(toolNames.map((t) => [t, (tools[t] as { title?: string }).title])),
    });
  }

  const dashboard = mountDashboard(app, { development: deps.development, jwtSecret: deps.jwtSecret, tokenAudience: deps.tokenAudience, db: fila, logger });
  deps.onClose?.push(() => dashboard.close());
  return app;
}
