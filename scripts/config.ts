// What the CLI, `npm start` and the demo need beyond the parsed environment (common/config.ts):
// the one-line operator error, the running `npm start`'s state file, and defaults in development.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { developmentSecrets, repoRoot, type Config } from '../common/config.ts';

export { repoRoot };

/** A problem the operator can fix: printed as one line, exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface Secrets { jwtSecret: string; webhookSecret: string }

export function secrets(config: Config): Secrets {
  const jwtSecret = config.FILA_JWT_SECRET ?? '';
  const webhookSecret = config.FILA_WEBHOOK_SECRET ?? '';
  if (!config.development) {
    const missing = [!jwtSecret && 'FILA_JWT_SECRET', !webhookSecret && 'FILA_WEBHOOK_SECRET'].filter(Boolean);
    if (missing.length) throw new CliError(`production mode: ${missing.join(' and ')} must be set`);
  }
  return { jwtSecret: jwtSecret || developmentSecrets.jwtSecret, webhookSecret: webhookSecret || developmentSecrets.webhookSecret };
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

export function runningHubFromEnv(config: Config): { baseUrl: string; apiKey: string } | null {
  const apiKey = config.RUNNINGHUB_API_KEY;
  if (!apiKey) return null;
  return { apiKey, baseUrl: config.RUNNINGHUB_BASE_URL };
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function requireUuid(what: string, value: string | undefined): string {
  if (!value) throw new CliError(`missing ${what}`, 2);
  if (!uuidPattern.test(value)) throw new CliError(`${what} must be a UUID, not "${value}"`, 2);
  return value.toLowerCase();
}
