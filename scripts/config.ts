// Configuration shared by `npm start`, the CLI, the demo, `npm run api` and `npm run worker`.
// In production nothing falls back to a default secret; in development the defaults below let a
// fresh clone run with no setup at all.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccountsConfigError, parseAccountKeys } from '../worker/runninghub/accounts.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A problem the operator can fix: printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export function isDevelopment(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.NODE_ENV !== 'production';
}

/** Development-only secrets: every process kind falls back to these, and only outside production. */
export const developmentSecrets = { jwtSecret: 'fila-dev-jwt-secret', webhookSecret: 'fila-dev-webhook-secret' } as const;
export const defaultPort = 8787;
export const defaultRunningHubBaseUrl = 'https://www.runninghub.ai';

export interface Secrets { jwtSecret: string; webhookSecret: string }

export function secrets(env: NodeJS.ProcessEnv = process.env): Secrets {
  const jwtSecret = env.FILA_JWT_SECRET ?? '';
  const webhookSecret = env.FILA_WEBHOOK_SECRET ?? '';
  if (!isDevelopment(env)) {
    const missing = [!jwtSecret && 'FILA_JWT_SECRET', !webhookSecret && 'FILA_WEBHOOK_SECRET'].filter(Boolean);
    if (missing.length) throw new CliError(`production mode: ${missing.join(' and ')} must be set`);
  }
  return { jwtSecret: jwtSecret || developmentSecrets.jwtSecret, webhookSecret: webhookSecret || developmentSecrets.webhookSecret };
}

/** Where `npm start` keeps its embedded PostgreSQL, uploads and state file. */
export function dataDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.FILA_DATA_DIR || path.join(repoRoot, '.data'));
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

export function stateFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(dataDir(env), 'system.json');
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
export function readLocalSystem(env: NodeJS.ProcessEnv = process.env): LocalSystemState | null {
  const file = stateFile(env);
  if (!existsSync(file)) return null;
  const state = JSON.parse(readFileSync(file, 'utf8')) as LocalSystemState;
  return processAlive(state.pid) ? state : null;
}

/** DATABASE_URL, or the database of a local `npm start` that is running. */
export function databaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DATABASE_URL) return env.DATABASE_URL;
  const local = isDevelopment(env) ? readLocalSystem(env) : null;
  if (local) return local.databaseUrl;
  throw new CliError('DATABASE_URL is not set (and no local `npm start` is running to borrow it from)');
}

export function port(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PORT ?? String(defaultPort);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`PORT must be a port number, not "${raw}"`);
  return n;
}

/** The real provider: one key per account (RUNNINGHUB_ACCOUNTS, or RUNNINGHUB_API_KEY = `default`); null = none configured. */
export function runningHubFromEnv(env: NodeJS.ProcessEnv = process.env): { baseUrl: string; accounts: Record<string, string> } | null {
  let accounts;
  try {
    accounts = parseAccountKeys(env.RUNNINGHUB_ACCOUNTS, env.RUNNINGHUB_API_KEY);
  } catch (err) {
    if (err instanceof AccountsConfigError) throw new CliError(err.message);
    throw err;
  }
  if (!accounts) return null;
  return { accounts, baseUrl: env.RUNNINGHUB_BASE_URL || defaultRunningHubBaseUrl };
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function requireUuid(what: string, value: string | undefined): string {
  if (!value) throw new CliError(`missing ${what}`, 2);
  if (!uuidPattern.test(value)) throw new CliError(`${what} must be a UUID, not "${value}"`, 2);
  return value.toLowerCase();
}
