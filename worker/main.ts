// `npm run worker`: one worker process. Reads its configuration from the environment, logs JSON
// (pino; the API key is redacted), stops gracefully on SIGINT/SIGTERM.
import pino from 'pino';
import { apiKeyRedaction, startWorker } from './runner.ts';
import { onShutdown } from '../scripts/lib/on-shutdown.ts';
import { defaultPort, defaultRunningHubBaseUrl, developmentSecrets } from '../scripts/config.ts';
import { loadToolsConfig } from './tools/index.ts';
import { startFakeRunningHub } from './runninghub/fake-server.ts';

const logger = pino({ name: 'fila-worker', level: process.env.LOG_LEVEL ?? 'info', redact: apiKeyRedaction });

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

async function main(): Promise<void> {
  const production = process.env.NODE_ENV === 'production';
  const missing: string[] = [];
  const databaseUrl = env('DATABASE_URL');
  if (!databaseUrl) missing.push('DATABASE_URL (the PostgreSQL to work on)');
  let webhookSecret = env('FILA_WEBHOOK_SECRET');
  let apiKey = env('RUNNINGHUB_API_KEY');
  let publicUrl = env('FILA_PUBLIC_URL');
  if (production) {
    if (!webhookSecret) missing.push('FILA_WEBHOOK_SECRET (the key of the per-job webhook token; the API must use the same)');
    if (!apiKey) missing.push('RUNNINGHUB_API_KEY (the RunningHub account\'s API key)');
    // a loopback default would send every webhook nowhere
    if (!publicUrl) missing.push('FILA_PUBLIC_URL (the base URL RunningHub calls back, e.g. https://fila.example)');
  }
  if (missing.length) {
    throw new StartupError(`cannot start the worker${production ? ' in production' : ''}: missing ${missing.join('; ')}`);
  }
  webhookSecret ??= developmentSecrets.webhookSecret;
  publicUrl ??= `http://127.0.0.1:${defaultPort}`;
  let baseUrl = env('RUNNINGHUB_BASE_URL');
  const tools = loadToolsConfig(); // a bad configuration stops start-up, naming the key
  let stopFake: (() => Promise<void>) | null = null;
  if (!apiKey) {
    apiKey = 'fake-runninghub-key';
    if (!baseUrl) {
      // development without a provider: a local fake RunningHub, like `npm start`
      const fake = await startFakeRunningHub();
      stopFake = () => fake.stop();
      baseUrl = fake.url;
      logger.warn({ fake_runninghub: fake.url }, 'RUNNINGHUB_API_KEY is not set: using a local fake RunningHub');
    }
  }
  baseUrl ??= defaultRunningHubBaseUrl;
  const concurrency = env('FILA_WORKER_CONCURRENCY') ? Number(env('FILA_WORKER_CONCURRENCY')) : undefined;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
    throw new StartupError(`FILA_WORKER_CONCURRENCY must be a positive integer, not ${env('FILA_WORKER_CONCURRENCY')}`);
  }
  const timeoutMs = env('RUNNINGHUB_TIMEOUT_MS') ? Number(env('RUNNINGHUB_TIMEOUT_MS')) : undefined;

  const worker = await startWorker({
    databaseUrl: databaseUrl!, runninghub: { baseUrl, apiKey, timeoutMs }, publicUrl, webhookSecret,
    concurrency, crontab: env('FILA_WORKER_CRONTAB') !== 'off', logger, tools,
    ...(env('FILA_UPLOAD_DIR') ? { uploadDir: env('FILA_UPLOAD_DIR') } : {}),
  });
  onShutdown(async (signal) => {
    logger.info({ signal }, 'stopping gracefully');
    try {
      await worker.stop();
      await stopFake?.();
    } catch (err) {
      logger.error({ err }, 'error while stopping');
      throw err;
    }
  });
}

main().catch((err: unknown) => {
  logger.fatal({ err }, err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
