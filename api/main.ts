// `npm run api`: one API process. Configuration comes from the environment (common/config.ts).
import { ConfigError, developmentSecrets, loadConfig, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { startApiServer } from './server.ts';
import { defaultUploadLimits } from './uploads.ts';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  createLogger({ name: 'fila-api' }).fatal(err.message);
  process.exit(1);
}
const logger = createLogger({ name: 'fila-api', level: config.LOG_LEVEL });
const { development } = config;

function secret(name: 'FILA_JWT_SECRET' | 'FILA_WEBHOOK_SECRET', devDefault: string): string {
  const value = config[name];
  if (value) return value;
  if (development) return devDefault;
  logger.fatal(`${name} is not set: in production fila refuses to start without its secrets.`);
  process.exit(1);
}

const databaseUrl = config.DATABASE_URL;
if (!databaseUrl) {
  logger.fatal('DATABASE_URL is not set: `npm run api` needs the PostgreSQL that `npm run migrate` prepared (`npm start` starts one for you).');
  process.exit(1);
}
const jwtSecret = secret('FILA_JWT_SECRET', developmentSecrets.jwtSecret);
const webhookSecret = secret('FILA_WEBHOOK_SECRET', developmentSecrets.webhookSecret);

const server = await startApiServer({
  databaseUrl, port: config.PORT, jwtSecret, webhookSecret, development, logger,
  host: config.HOST ?? (development ? '127.0.0.1' : '0.0.0.0'),
  tokenAudience: { audience: config.FILA_JWT_AUDIENCE, issuer: config.FILA_JWT_ISSUER ?? null },
  // without a RunningHub key a development API pairs with the fake provider
  fakeProvider: development && !config.RUNNINGHUB_API_KEY,
  uploadLimits: {
    maxFiles: config.FILA_UPLOAD_MAX_FILES ?? defaultUploadLimits.maxFiles,
    maxBytes: config.FILA_UPLOAD_MAX_MB ? config.FILA_UPLOAD_MAX_MB * 1024 * 1024 : defaultUploadLimits.maxBytes,
    retentionSeconds: config.FILA_UPLOAD_RETENTION_HOURS ? config.FILA_UPLOAD_RETENTION_HOURS * 3600 : defaultUploadLimits.retentionSeconds,
    graceSeconds: config.FILA_UPLOAD_GRACE_MINUTES ? config.FILA_UPLOAD_GRACE_MINUTES * 60 : defaultUploadLimits.graceSeconds,
  },
  ...(config.FILA_INPUT_CHECK_TIMEOUT_MS ? { inputCheckTimeoutMs: config.FILA_INPUT_CHECK_TIMEOUT_MS } : {}),
  ...(config.FILA_WORKFLOWS_FILE ? { workflowsFile: config.FILA_WORKFLOWS_FILE } : {}),
  ...(config.FILA_PUBLIC_URL ? { publicUrl: config.FILA_PUBLIC_URL } : {}),
  ...(config.FILA_LISTEN_DATABASE_URL ? { listenDatabaseUrl: config.FILA_LISTEN_DATABASE_URL } : {}),
  ...(config.FILA_UPLOAD_DIR ? { uploadDir: config.FILA_UPLOAD_DIR } : {}),
});

onShutdown(async (signal) => {
  logger.info({ signal }, 'shutting down');
  try {
    await server.close();
  } catch (err) {
    logger.error({ err }, 'shutdown failed');
    throw err;
  }
});
