// The operator dashboard, served by the API at `/`: one HTML page, its script (bundled from
// api/dashboard/client/ with esbuild when the server starts, so the browser gets the same
// JobManager the tool pages use), and two operator-only data routes: a JSON snapshot and a
// Server-Sent Events stream of snapshots. A tiny development-only route hands the page a token for
// a throw-away user, so the "try a tool" form submits as a user, through JobManager, like a page.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type pino from 'pino';
import type { FilaDb } from '../../db/fila.ts';
import { bearerToken, signToken, verifyToken, type Caller, type TokenAudience } from '../auth.ts';
import { ApiError, invalidInput, toErrorResponse } from '../errors.ts';
import { dashboardHtml } from './page.ts';
import { bundleBrowserScript } from '../browser-bundle.ts';
import { SnapshotFeed } from './feed.ts';

export interface DashboardDeps {
  /** development mode: the "try a tool" form may submit as a development user */
  development: boolean;
  /** the HS256 secret the API verifies bearer tokens with (the dashboard requires an operator) */
  jwtSecret: string;
  /** the `aud` / `iss` the API expects of tokens */
  tokenAudience?: TokenAudience | undefined;
  /** FilaDb over the API's fila_app pool */
  db: FilaDb;
  logger?: pino.Logger;
  /** how often the live feed re-reads the views while someone watches (ms, default 500) */
  pollMs?: number;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Credits each "try a tool" user gets (development only). */
const tryCredits = 50;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's app carries its own Env
export function mountDashboard(app: Hono<any>, deps: DashboardDeps): { close(): void } {
  const script = bundleBrowserScript(path.join(path.dirname(fileURLToPath(import.meta.url)), 'client', 'app.ts'));
  // a build error shows up at start in the log, not only when a browser asks for the script
  script.catch((err: unknown) => deps.logger?.error({ err }, 'dashboard: bundling the client failed'));
  const feed = new SnapshotFeed(deps.db, deps.development, deps.pollMs ?? 500, deps.logger);

  const operator = async (c: Context): Promise<Caller> => {
    const token = bearerToken(c.req.header('authorization'));
    if (!token) throw new ApiError(401, 'unauthorized', 'Operator token required (Authorization: Bearer <token>).');
    const caller = await verifyToken(deps.jwtSecret, token, deps.tokenAudience);
    if (!caller.operator) {
      throw new ApiError(403, 'forbidden', 'This is a user token, not an operator token: the dashboard needs a token with fila_role "operator" (npx fila token <id> --operator).');
    }
    return caller;
  };
  const fail = (c: Context, err: unknown) => {
    const { status, body, unexpected } = toErrorResponse(err);
    if (unexpected) deps.logger?.error({ err }, 'dashboard: request failed');
    return c.json(body, status);
  };

  app.get('/', (c) => {
    c.header('cache-control', 'no-store');
    return c.html(dashboardHtml({ development: deps.development }));
  });

  app.get('/dashboard/app.js', async (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    c.header('cache-control', 'no-cache');
    return c.body(await script);
  });

  app.get('/dashboard/state', async (c) => {
    try {
      await operator(c);
    } catch (err) {
      return fail(c, err);
    }
    c.header('cache-control', 'no-store');
    return c.json(await feed.read());
  });

  app.get('/dashboard/events', async (c) => {
    try {
      await operator(c);
    } catch (err) {
      return fail(c, err);
    }
    return streamSSE(c, async (stream) => {
      let closed = false;
      let wake: () => void = () => undefined;
      const unsubscribe = feed.subscribe({
        listener: (snapshot) => {
          stream.writeSSE({ event: 'state', data: JSON.stringify(snapshot) }).then(() => undefined, (err: unknown) => {
            deps.logger?.debug({ err }, 'dashboard: an event stream went away');
            closed = true;
            wake();
          });
        },
        onEnd: () => { closed = true; wake(); },
      });
      stream.onAbort(() => { closed = true; wake(); });
      try {
        while (!closed) {
          // a comment line every 15 s keeps proxies from closing an idle stream
          await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 15_000).unref(); });
          if (!closed) await stream.write(': keep-alive\n\n');
        }
      } finally {
        unsubscribe();
      }
    });
  });

  // the job page: everything about one job (fila.job_detail: its timeline, ledger lines, webhooks)
  app.get('/dashboard/jobs/:id', async (c) => {
    try {
      await operator(c);
      const id = c.req.param('id');
      if (!uuidPattern.test(id)) {
        throw invalidInput([{ path: 'id', message: 'a job id is a UUID', code: 'invalid_format' }], `Not a job id: "${id.slice(0, 60)}" (a UUID).`);
      }
      c.header('cache-control', 'no-store');
      return c.json(await deps.db.jobDetail(id.toLowerCase()));
    } catch (err) {
      return fail(c, err);
    }
  });

  app.post('/dashboard/try-user', async (c) => {
    let caller: Caller;
    try {
      caller = await operator(c);
      if (!deps.development) throw new ApiError(404, 'not_found', 'The "try a tool" form exists only in development mode.');
    } catch (err) {
      return fail(c, err);
    }
    const userId = randomUUID();
    await deps.db.grantCreditsByOperator(caller.userId, userId, tryCredits, 'dashboard "try a tool" user (development)', `dashboard-try:${userId}`);
    const token = await signToken(deps.jwtSecret, userId, { expiresIn: '12h', ...deps.tokenAudience });
    return c.json({ user_id: userId, token, credits: tryCredits });
  });

  return { close: () => feed.close() };
}
