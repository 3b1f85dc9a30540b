// `npm run api`: one API process. Configuration comes from the environment (see README).
import pino from 'pino';
import { startApiServer } from './server.ts';
import { defaultUploadLimits } from './uploads.ts';
import { onShutdown } from '../scripts/lib/on-shutdown.ts';
import { defaultPort, developmentSecrets } from '../scripts/config.ts';

const logger = pino({ name: 'fila-api' });
const development = process.env.NODE_ENV !== 'production';

function secret(name: string, devDefault: string): string {
  const value = process.env[name];
  if (value) return value;
  if (development) return devDefault;
  logger.fatal(`${name} is not set: in production fila refuses to start without its secrets.`);
  process.exit(1);
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  logger.fatal('DATABASE_URL is not set: `npm run api` needs the PostgreSQL that `npm run migrate` prepared (`npm start` starts one for you).');
  process.exit(1);
}
const jwtSecret = secret('FILA_JWT_SECRET', developmentSecrets.jwtSecret);
const webhookSecret = secret('FILA_WEBHOOK_SECRET', developmentSecrets.webhookSecret);
const port = Number.parseInt(process.env.PORT ?? String(defaultPort), 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  logger.fatal(`PORT must be a port number, not ${process.env.PORT}`);
  process.exit(1);
}

function positiveNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    logger.fatal(`${name} must be a positive number, not ${raw}`);
    process.exit(1);
  }
  return n;
}

const server = await startApiServer({
  databaseUrl, port, jwtSecret, webhookSecret, development, logger,
  tokenAudience: { audience: process.env.FILA_JWT_AUDIENCE || 'authenticated', issuer: process.env.FILA_JWT_ISSUER || null },
  // without a RunningHub key a development API pairs with the fake provider
  fakeProvider: development && !process.env.RUNNINGHUB_API_KEY,
  uploadLimits: {
    maxFiles: Math.floor(positiveNumber('FILA_UPLOAD_MAX_FILES', defaultUploadLimits.maxFiles)),
    maxBytes: Math.floor(positiveNumber('FILA_UPLOAD_MAX_MB', defaultUploadLimits.maxBytes / 1024 / 1024) * 1024 * 1024),
    retentionSeconds: positiveNumber('FILA_UPLOAD_RETENTION_HOURS', defaultUploadLimits.retentionSeconds / 3600) * 3600,
    graceSeconds: positiveNumber('FILA_UPLOAD_GRACE_MINUTES', defaultUploadLimits.graceSeconds / 60) * 60,
  },
  host: process.env.HOST ?? (development ? '127.0.0.1' : '0.0.0.0'),
  ...(process.env.FILA_PUBLIC_URL ? { publicUrl: process.env.FILA_PUBLIC_URL } : {}),
  ...(process.env.FILA_LISTEN_DATABASE_URL ? { listenDatabaseUrl: process.env.FILA_LISTEN_DATABASE_URL } : {}),
  ...(process.env.FILA_UPLOAD_DIR ? { uploadDir: process.env.FILA_UPLOAD_DIR } : {}),
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
