// The worker: graphile-worker run() over a pool connected as fila_worker, fila's four tasks plus
// the dispatch wake-up, and (unless crontab:false) the reaper every minute.
import type pino from 'pino';
import { createLogger } from '../common/logger.ts';
import { Logger as GraphileLogger, parseCronItems, run, type Task, type TaskList } from 'graphile-worker';
import { z } from 'zod';
import { createPool } from '../db/pool.ts';
import { FilaDb } from '../db/fila.ts';
import { checkAccountKeys, RunningHubAccounts } from './runninghub/accounts.ts';
import { baseUrlWarning } from './runninghub/client.ts';
import { loadToolsConfig, type ToolsConfig } from '../common/tools/index.ts';
import type { WorkerDeps } from './deps.ts';
import { startJob } from './tasks/start-job.ts';
import { applyWebhook } from './tasks/apply-webhook.ts';
import { cancelProviderTask } from './tasks/cancel-provider-task.ts';
import { reapOnce } from './reaper.ts';
import { startPoller, type PollOptions } from './poller.ts';
import { copyOutput, type OutputCopyOptions } from './output-copies.ts';
import { LocalFileStore, type FileStore } from '../common/file-store.ts';

export interface StartWorkerOptions {
  databaseUrl: string;
  /** the provider, and one API key per account (name -> key); checked against fila.provider_accounts at start */
  runninghub: {
    baseUrl: string;
    /** account name -> API key (common/config.ts providerKeys) */
    accounts: Record<string, string>;
    timeoutMs?: number;
  };
  publicUrl: string;
  webhookSecret: string;
  concurrency?: number;
  crontab?: boolean;
  logger?: pino.Logger;
  /** the tools configuration; default loadToolsConfig() (common/tools/workflows.json) */
  tools?: ToolsConfig;
  /** graphile-worker's poll interval for future jobs (run_at), default 2000 ms */
  pollInterval?: number;
  /** asking the provider about late webhooks and uncertain creates (poller.ts); false: off */
  providerPoll?: PollOptions | false;
  /** the API's local upload folder, when this worker shares it (FILA_UPLOAD_DIR): fila's own upload
   *  URLs are read from it; without it they are fetched like any public URL */
  uploadDir?: string;
  /** a file store of your own (S3, Supabase Storage…) for copies of results; wins over uploadDir,
   *  whose local store (the one the API serves) is the default */
  fileStore?: FileStore;
  /** the copies' download limits and (tests, the local fake provider) address rule */
  outputCopies?: Omit<OutputCopyOptions, 'store'>;
}

const jobPayload = z.object({ job_id: z.uuid() });
const webhookPayload = z.object({ inbox_id: z.number().int().positive() });
const cancelPayload = z.object({ job_id: z.uuid(), provider_task_id: z.string().min(1) });
const copyPayload = z.object({ job_id: z.uuid(), output_index: z.number().int().nonnegative() });

export function taskList(deps: WorkerDeps): TaskList {
  const start_job: Task = async (payload) => {
    await startJob(deps, jobPayload.parse(payload).job_id);
  };
  const apply_webhook: Task = async (payload) => {
    await applyWebhook(deps, webhookPayload.parse(payload).inbox_id);
  };
  const cancel_provider_task: Task = async (payload) => {
    const p = cancelPayload.parse(payload);
    await cancelProviderTask(deps, p.job_id, p.provider_task_id);
  };
  // the back-off wake-up requeue_job scheduled: dispatch is paused until then
  const dispatch: Task = async () => {
    const started = await deps.db.dispatch();
    deps.logger.info({ task: 'dispatch', started: started.length }, 'dispatch wake-up');
  };
  const reap: Task = async () => {
    await reapOnce(deps);
  };
  // a completed job's output into fila's store (enqueued with the completion, retried with back-off)
  const copy_output: Task = async (payload, helpers) => {
    const p = copyPayload.parse(payload);
    await copyOutput(deps, p.job_id, p.output_index, { attempts: helpers.job.attempts, maxAttempts: helpers.job.max_attempts });
  };
  return { start_job, apply_webhook, cancel_provider_task, dispatch, reap, copy_output };
}

function graphileLogger(log: pino.Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const fields = { graphile: scope, ...(meta ?? {}) };
    switch (level) {
      case 'error': log.error(fields, message); break;
      case 'warning': log.warn(fields, message); break;
      case 'info': log.info(fields, message); break;
      default: log.debug(fields, message);
    }
  });
}

export async function startWorker(opts: StartWorkerOptions): Promise<{ stop(): Promise<void> }> {
  const logger = opts.logger ?? createLogger({ name: 'fila-worker' });
  const tools = opts.tools ?? loadToolsConfig();
  const concurrency = opts.concurrency ?? 8;
  const pool = createPool(opts.databaseUrl, 'fila_worker', concurrency + 4,
    (err, idle) => { logger.warn({ err: err.message, idle }, 'PostgreSQL client error'); });
  const db = new FilaDb(pool);
  const keys = opts.runninghub.accounts;
  try {
    // a key missing for an enabled account would leave its jobs unstartable: refuse to start instead
    checkAccountKeys(keys, await db.providerAccounts());
  } catch (err) {
    await pool.end();
    throw err;
  }
  const deps: WorkerDeps = {
    db,
    runninghub: RunningHubAccounts.fromKeys(keys, { baseUrl: opts.runninghub.baseUrl, timeoutMs: opts.runninghub.timeoutMs }),
    tools,
    publicUrl: opts.publicUrl,
    webhookSecret: opts.webhookSecret,
    logger,
    inputFiles: { ownUploads: opts.uploadDir ? { publicBaseUrl: opts.publicUrl, dir: opts.uploadDir } : null },
    outputCopies: {
      ...opts.outputCopies,
      store: opts.fileStore ?? (opts.uploadDir ? new LocalFileStore(opts.uploadDir, () => opts.publicUrl) : null),
    },
  };
  const parsedCronItems = parseCronItems(opts.crontab === false ? [] : [{
    task: 'reap',
    match: '* * * * *',
    identifier: 'fila_reap',
    // no backfill after downtime: one pass now is as good as many
    options: { backfillPeriod: 0, maxAttempts: 1, jobKey: 'fila_reap', jobKeyMode: 'preserve_run_at' },
  }]);
  let runner;
  try {
    runner = await run({
      pgPool: pool,
      concurrency,
      noHandleSignals: true,
      pollInterval: opts.pollInterval ?? 2000,
      taskList: taskList(deps),
      parsedCronItems,
      logger: graphileLogger(logger.child({ component: 'graphile-worker' })),
    });
  } catch (err) {
    await pool.end();
    throw err;
  }
  // the provider as plain fields: under the logger's key redaction (runninghub.accounts.*) the
  // accounts object itself could not be serialised
  const provider = { runninghub_accounts: deps.runninghub.names, runninghub_base_url: opts.runninghub.baseUrl };
  const hostWarning = baseUrlWarning(opts.runninghub.baseUrl);
  if (hostWarning) logger.warn(provider, hostWarning);
  const poller = opts.providerPoll === false ? null : startPoller(deps, opts.providerPoll ?? {});
  logger.info({ concurrency, crontab: opts.crontab !== false, ...provider, public_url: opts.publicUrl, tools_config: tools.file }, 'worker started');
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        try {
          await poller?.stop();
          await runner.stop();
        } finally {
          await pool.end();
          logger.info('worker stopped');
        }
      })();
      return stopping;
    },
  };
}
