// The API process's moving parts: a fila_app pool, the one LISTEN connection, the Hono app on
// @hono/node-server. `npm run api` (main.ts), `npm start` and the tests all start it through here.
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { FilaDb, isTerminalStatus } from '../db/fila.ts';
import { createPool } from '../db/pool.ts';
import { createApp, type AppDeps } from './app.ts';
import { JobEventsHub } from './job-events.ts';
import { loadToolsConfig, upscalerCategories } from '../common/tools/index.ts';
import { ApiMetrics } from './metrics.ts';
import { defaultUploadLimits, LocalUploadStore, startUploadSweeper, type UploadLimits, type UploadStore } from './uploads.ts';
import type { TokenAudience } from './auth.ts';
import type { InputCheckOptions } from './input-check.ts';

export { createApp, type AppDeps };

export interface ApiServerOptions {
  databaseUrl: string;
  /** where the one LISTEN connection goes (default: databaseUrl). LISTEN needs a session: when
   *  databaseUrl goes through a transaction-mode pooler, point this at PostgreSQL directly. */
  listenDatabaseUrl?: string;
  /** 0 = any free port */
  port: number;
  host?: string;
  jwtSecret: string;
  /** `aud` (default `authenticated`) and optional `iss` that tokens must carry */
  tokenAudience?: TokenAudience;
  webhookSecret: string;
  development: boolean;
  /** the provider is the fake: example host names (files.example, x.test) count as readable
   *  input files unless `#fake=unreadable:…` (default: development) */
  fakeProvider?: boolean;
  /** the bound on checking a submit's input files (default 4000 ms) */
  inputCheckTimeoutMs?: number;
  /** tests only: the address rule and resolver of the input check */
  inputCheckNetwork?: InputCheckOptions['network'];
  /** per-user upload quota and retention (default: defaultUploadLimits) */
  uploadLimits?: UploadLimits;
  /** how often expired uploads are deleted (default 60 s) */
  uploadSweepMs?: number;
  /** local upload directory (default in development: .data/uploads) */
  uploadDir?: string;
  /** a store of your own (S3, Supabase Storage…); wins over uploadDir */
  uploadStore?: UploadStore;
  /** the base URL the provider and the worker reach this API at (default: the listening URL) */
  publicUrl?: string;
  logger?: pino.Logger;
  /** pool size for the fila_app role (default 10) */
  poolSize?: number;
  sseHeartbeatMs?: number;
  presenceTouchMs?: number;
  /** how often queued jobs' ETA is re-read for the event streams (default 2 s) */
  etaRefreshMs?: number;
  /** open event streams per user (default 3) and per process (default 20 000): 429 past either */
  maxEventStreamsPerUser?: number;
  maxEventStreams?: number;
  /** default: the categories of the tools configuration in workflowsFile */
  upscalerCategories?: readonly string[];
  /** the tools configuration the worker maps with (FILA_WORKFLOWS_FILE; default common/tools/workflows.json) */
  workflowsFile?: string;
}

export interface ApiServer {
  url: string;
  close(): Promise<void>;
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const logger = opts.logger ?? pino({ name: 'fila-api' });
  // the API accepts exactly the upscaler categories the worker has workflows for (a bad
  // configuration stops start-up here too, naming the key)
  const categories = opts.upscalerCategories ?? upscalerCategories(loadToolsConfig(opts.workflowsFile));
  const pool = createPool(opts.databaseUrl, 'fila_app', opts.poolSize ?? 10,
    (err, idle) => { logger.warn({ err: err.message, idle }, 'PostgreSQL client error'); });
  const fila = new FilaDb(pool);
  const metrics = new ApiMetrics({ processMetrics: true });
  const hub = new JobEventsHub({
    databaseUrl: opts.listenDatabaseUrl ?? opts.databaseUrl, fila, logger: logger.child({ component: 'listen' }),
    ...(opts.sseHeartbeatMs !== undefined ? { heartbeatMs: opts.sseHeartbeatMs } : {}),
    ...(opts.presenceTouchMs !== undefined ? { presenceTouchMs: opts.presenceTouchMs } : {}),
    ...(opts.etaRefreshMs !== undefined ? { etaRefreshMs: opts.etaRefreshMs } : {}),
    ...(opts.maxEventStreamsPerUser !== undefined ? { maxStreamsPerUser: opts.maxEventStreamsPerUser } : {}),
    ...(opts.maxEventStreams !== undefined ? { maxStreams: opts.maxEventStreams } : {}),
    onRefresh: () => metrics.streamRefreshes.inc(),
    onRefused: (per) => metrics.streamsRefused.inc({ per }),
    onTransition: (t) => {
      if (!isTerminalStatus(t.status)) return;
      fila.job(t.job_id).then(({ job }) => metrics.observeFinished(job))
        .catch((err: unknown) => logger.warn({ err, job_id: t.job_id }, 'metrics: reading a finished job failed'));
    },
  });
  try {
    await hub.start();
  } catch (err) {
    await pool.end();
    throw err;
  }

  let url = '';
  const publicUrl = () => opts.publicUrl ?? url;
  const uploadDir = opts.uploadDir ?? (opts.development ? path.resolve('.data/uploads') : undefined);
  const uploads = opts.uploadStore ?? (uploadDir ? new LocalUploadStore(uploadDir, publicUrl) : null);

  const onClose: Array<() => void> = [];
  const uploadLimits = opts.uploadLimits ?? defaultUploadLimits;
  if (uploads) {
    const sweeper = startUploadSweeper(fila, uploads, uploadLimits, logger.child({ component: 'uploads' }), opts.uploadSweepMs);
    onClose.push(() => sweeper.stop());
  }
  const local = uploads instanceof LocalUploadStore ? uploads : null;
  const deps: AppDeps = {
    fila, hub, metrics, logger, uploads, onClose, uploadLimits,
    jwtSecret: opts.jwtSecret, webhookSecret: opts.webhookSecret, development: opts.development,
    ...(opts.tokenAudience ? { tokenAudience: opts.tokenAudience } : {}),
    inputCheck: {
      fakeProvider: opts.fakeProvider ?? opts.development,
      timeoutMs: opts.inputCheckTimeoutMs ?? 4000,
      ownUploads: local ? { publicBaseUrl: publicUrl, exists: (name) => local.exists(name) } : null,
      ...(opts.inputCheckNetwork ? { network: opts.inputCheckNetwork } : {}),
    },
    ...(opts.sseHeartbeatMs !== undefined ? { sseHeartbeatMs: opts.sseHeartbeatMs } : {}),
    ...(opts.presenceTouchMs !== undefined ? { presenceTouchMs: opts.presenceTouchMs } : {}),
    upscalerCategories: categories,
  };
  const app = createApp(deps);

  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host ?? '127.0.0.1' }, () => resolve(s as Server));
      s.once('error', reject);
    });
  } catch (err) {
    await hub.stop();
    await pool.end();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url, public_url: publicUrl(), development: opts.development, uploads: uploads ? (uploadDir ?? 'custom store') : 'off' }, 'fila API listening');

  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= (async () => {
        // end the event streams first: an open stream would hold server.close() forever
        for (const fn of onClose) fn();
        await hub.stop();
        await new Promise<void>((resolve, reject) => {
          const force = setTimeout(() => server.closeAllConnections(), 2000);
          force.unref();
          server.close((err) => {
            clearTimeout(force);
            if (err) reject(err);
            else resolve();
          });
          server.closeIdleConnections();
        });
        await pool.end();
        logger.info('fila API closed');
      })();
      return closing;
    },
  };
}
