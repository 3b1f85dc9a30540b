// `npm run api`: one API process. Configuration comes from the environment (common/config.ts).
// Its secrets are always required, whatever NODE_ENV says: a development secret is something
// `npm start` makes for its data folder, never what a missing variable falls back to.
import { ConfigError, loadConfig, requireVars, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { startApiServer } from './server.ts';
import { defaultUploadLimits } from './uploads.ts';

let config: Config;
let required: { DATABASE_URL: string; FILA_JWT_SECRET: string; FILA_WEBHOOK_SECRET: string };
try {
  config = loadConfig();
  required = requireVars(config, ['DATABASE_URL', 'FILA_JWT_SECRET', 'FILA_WEBHOOK_SECRET'], 'fila api');
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
const logger = createLogger({ name: 'fila-api', level: config.LOG_LEVEL });
// development features (the dashboard's "try a tool" form, loopback, a local upload folder) are
// asked for, never what an unset NODE_ENV means
const development = config.NODE_ENV === 'development';

const server = await startApiServer({
  databaseUrl: required.DATABASE_URL, port: config.PORT, jwtSecret: required.FILA_JWT_SECRET,
  webhookSecret: required.FILA_WEBHOOK_SECRET, development, logger,
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
  ...(config.FILA_MAX_EVENT_STREAMS ? { maxEventStreams: config.FILA_MAX_EVENT_STREAMS } : {}),
  ...(config.FILA_MAX_EVENT_STREAMS_PER_USER ? { maxEventStreamsPerUser: config.FILA_MAX_EVENT_STREAMS_PER_USER } : {}),
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
