// `npm run worker`: one worker process. Reads its configuration from the environment
// (common/config.ts), logs JSON (pino; the API key is redacted), stops gracefully on SIGINT/SIGTERM.
// It always talks to the RunningHub it is given: the fake provider is brought by `npm start`, the
// demo and the tests, never by this process.
import { isIP } from 'node:net';
import { ConfigError, loadConfig, providerKeys } from '../common/config.ts';
import { isPublicAddress } from '../common/public-address.ts';
import { createLogger } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { loadToolsConfig } from '../common/tools/index.ts';
import { startWorker } from './runner.ts';

let logger = createLogger({ name: 'fila-worker' });

export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** In development with a provider on a loopback address (the fake RunningHub of the demo and the
 *  chaos run), copies of results may be fetched from that one address too; every other output URL
 *  must be public, as in production. */
function developmentCopyNetwork(providerUrl: string): { outputCopies?: { network: { allowAddress: (ip: string) => boolean } } } {
  const host = new URL(providerUrl).hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host) || !/^(127\.|::1$)/.test(host)) return {}; // a loopback address, never a public one
  return { outputCopies: { network: { allowAddress: (ip: string) => ip === host || isPublicAddress(ip) } } };
}

async function main(): Promise<void> {
  const config = loadConfig();
  logger = createLogger({ name: 'fila-worker', level: config.LOG_LEVEL });
  // development (a loopback callback URL) is asked for with NODE_ENV=development, never assumed
  const development = config.NODE_ENV === 'development';
  const missing: string[] = [];
  const { DATABASE_URL: databaseUrl, FILA_WEBHOOK_SECRET: webhookSecret } = config;
  const keys = providerKeys(config); // one key per provider account
  let publicUrl = config.FILA_PUBLIC_URL;
  if (!databaseUrl) missing.push('DATABASE_URL (the PostgreSQL to work on)');
  // a secret is never defaulted, whatever NODE_ENV says
  if (!webhookSecret) missing.push('FILA_WEBHOOK_SECRET (the key of the per-job webhook token; the API must use the same)');
  // a loopback default would send every webhook nowhere
  if (!publicUrl && !development) missing.push('FILA_PUBLIC_URL (the base URL RunningHub calls back, e.g. https://fila.example)');
  // without a key there is no provider to run jobs on, in development too
  if (!keys) missing.push('RUNNINGHUB_API_KEY (the key of the one account `default`) or RUNNINGHUB_ACCOUNTS (name=key,name2=key2: one key per account); `npm start` runs a fake provider for development');
  if (missing.length) {
    throw new StartupError(`cannot start the worker: missing ${missing.join('; ')}`);
  }
  publicUrl ??= `http://127.0.0.1:${config.PORT}`;
  const tools = loadToolsConfig(config.FILA_WORKFLOWS_FILE); // a bad configuration stops start-up, naming the key

  const worker = await startWorker({
    databaseUrl: databaseUrl!, runninghub: { baseUrl: config.RUNNINGHUB_BASE_URL, accounts: keys!, timeoutMs: config.RUNNINGHUB_TIMEOUT_MS },
    publicUrl, webhookSecret: webhookSecret!, concurrency: config.FILA_WORKER_CONCURRENCY, crontab: config.FILA_WORKER_CRONTAB !== 'off', logger, tools,
    providerPoll: { intervalMs: config.FILA_PROVIDER_POLL_MS ?? 3000, everySeconds: Math.max(1, (config.FILA_PROVIDER_POLL_MS ?? 3000) / 1000) },
    ...(config.FILA_UPLOAD_DIR ? { uploadDir: config.FILA_UPLOAD_DIR } : {}),
    ...(development ? developmentCopyNetwork(config.RUNNINGHUB_BASE_URL) : {}),
  });
  onShutdown(async (signal) => {
    logger.info({ signal }, 'stopping gracefully');
    try {
      await worker.stop();
    } catch (err) {
      logger.error({ err }, 'error while stopping');
      throw err;
    }
  });
}

main().catch((err: unknown) => {
  // a refusal to start is one line that names what to set; anything else keeps its stack
  if (err instanceof StartupError || err instanceof ConfigError) logger.fatal(err.message);
  else logger.fatal({ err }, err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
