// What the CLI, `npm start` and the demo need beyond the parsed environment (common/config.ts):
// the one-line operator error, the running `npm start`'s state file, and defaults in development.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { providerKeys, repoRoot, type Config } from '../common/config.ts';

export { repoRoot };

/** A problem the operator can fix: printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface Secrets { jwtSecret: string; webhookSecret: string }

const secretsFileSchema = z.object({ jwtSecret: z.string().min(32), webhookSecret: z.string().min(32) });

/**
 * The development secrets of a data folder: random, made the first time and kept in it (0600), so
 * that each checkout (and each FILA_DATA_DIR) has its own and tokens survive a restart. Nothing in
 * the source is a secret anyone could reuse against another system.
 */
export function developmentSecrets(dir: string): Secrets {
  const file = path.join(dir, 'secrets.json');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const fresh: Secrets = { jwtSecret: randomBytes(32).toString('base64url'), webhookSecret: randomBytes(32).toString('base64url') };
    try {
      writeFileSync(file, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // another process made it first: theirs is the folder's secret
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const parsed = secretsFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new CliError(`${file} is not a development secrets file (delete it to make a new one)`);
  return parsed.data;
}

/**
 * The secrets for `npm start` and the CLI: the variables when set; in development, the data
 * folder's own random ones for what is unset; in production, a missing one is an error naming it.
 */
export function secrets(config: Config): Secrets {
  const jwtSecret = config.FILA_JWT_SECRET;
  const webhookSecret = config.FILA_WEBHOOK_SECRET;
  if (jwtSecret && webhookSecret) return { jwtSecret, webhookSecret };
  if (!config.development) {
    const missing = [!jwtSecret && 'FILA_JWT_SECRET', !webhookSecret && 'FILA_WEBHOOK_SECRET'].filter(Boolean);
    throw new CliError(`production mode: ${missing.join(' and ')} must be set`);
  }
  const local = developmentSecrets(dataDir(config));
  return { jwtSecret: jwtSecret ?? local.jwtSecret, webhookSecret: webhookSecret ?? local.webhookSecret };
}

/** Where `npm start` keeps its embedded PostgreSQL, uploads and state file. */
export function dataDir(config: Config): string {
  return path.resolve(config.FILA_DATA_DIR ?? path.join(repoRoot, '.data'));
}

/** What a running `npm start` tells the CLI and the demo (written in development only). */
export interface LocalSystemState {
  pid: number;
  apiUrl: string;
  databaseUrl: string;
  jwtSecret: string;
  operatorToken: string;
  /** the fake RunningHub's URL, when it is the provider (so `fila reap` can ask it) */
  fakeRunningHubUrl: string | null;
  users: { id: string; token: string }[];
}

export function stateFile(config: Config): string {
  return path.join(dataDir(config), 'system.json');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** The local `npm start` that is running now, if any. */
export function readLocalSystem(config: Config): LocalSystemState | null {
  const file = stateFile(config);
  if (!existsSync(file)) return null;
  const state = JSON.parse(readFileSync(file, 'utf8')) as LocalSystemState;
  return processAlive(state.pid) ? state : null;
}

/** DATABASE_URL, or the database of a local `npm start` that is running. */
export function databaseUrl(config: Config): string {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const local = config.development ? readLocalSystem(config) : null;
  if (local) return local.databaseUrl;
  throw new CliError('DATABASE_URL is not set (and no local `npm start` is running to borrow it from)');
}

/** The real provider: one key per account (RUNNINGHUB_ACCOUNTS, or RUNNINGHUB_API_KEY = `default`); null = none configured. */
export function runningHubFromEnv(config: Config): { baseUrl: string; accounts: Record<string, string> } | null {
  const accounts = providerKeys(config); // a malformed list: ConfigError, one line naming the entry
  if (!accounts) return null;
  return { accounts, baseUrl: config.RUNNINGHUB_BASE_URL };
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function requireUuid(what: string, value: string | undefined): string {
  if (!value) throw new CliError(`missing ${what}`, 2);
  if (!uuidPattern.test(value)) throw new CliError(`${what} must be a UUID, not "${value}"`, 2);
  return value.toLowerCase();
}
