// Every environment variable fila reads, in one zod schema: its type, default, which processes
// read it, whether it exists for development only, and what it means. Each entry point parses the
// environment once (loadConfig) and passes the typed result down; nothing else reads process.env.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Who reads a variable: the README's configuration table says the same. */
export type ProcessKind = 'api' | 'worker' | 'start' | 'cli' | 'reap' | 'demo' | 'chaos' | 'tests';

export interface EnvVar<S extends z.ZodType = z.ZodType> {
  schema: S;
  usedBy: readonly ProcessKind[];
  developmentOnly: boolean;
  /** the default as a person reads it (the schema applies it) */
  default?: string;
  description: string;
}

// A blank value is an unset one: `FOO= npm run api` must not mean "the empty secret".
const unsetIfBlank = (v: unknown) => (typeof v === 'string' ? (v.trim() === '' ? undefined : v.trim()) : v);
const optionalString = z.preprocess(unsetIfBlank, z.string().optional());
const optionalUrl = z.preprocess(unsetIfBlank, z.url({ protocol: /^https?$/ }).optional());
const positiveInt = (what: string) =>
  z.preprocess(unsetIfBlank, z.coerce.number({ error: `${what} must be a positive integer` })
    .int(`${what} must be a positive integer`).positive(`${what} must be a positive integer`).optional());

export const defaultPort = 8787;

const all: readonly ProcessKind[] = ['api', 'worker', 'start', 'cli', 'reap', 'demo'];
const v = <S extends z.ZodType>(spec: EnvVar<S>): EnvVar<S> => spec;

export const envVars = {
  NODE_ENV: v({
    schema: optionalString, usedBy: all, developmentOnly: false,
    description: '`npm run api` / `npm run worker` are development only with `development` (the dashboard\'s "try a tool" form, loopback defaults); `npm start` and the CLI are, unless `production`. Secrets are never defaulted by it',
  }),
  DATABASE_URL: v({
    schema: optionalString, usedBy: ['api', 'worker', 'start', 'cli', 'reap', 'demo', 'chaos'], developmentOnly: false,
    description: 'the PostgreSQL primary; its login role must be a member of `fila_app` / `fila_worker` (`npm start` without it runs an embedded PostgreSQL)',
  }),
  FILA_LISTEN_DATABASE_URL: v({
    schema: optionalString, usedBy: ['api'], developmentOnly: false,
    description: 'where the API\'s one `LISTEN` connection goes (default `DATABASE_URL`): the direct, session-mode address when `DATABASE_URL` is a transaction-mode pooler',
  }),
  PORT: v({
    schema: z.preprocess(unsetIfBlank, z.coerce.number({ error: 'PORT must be a port number' })
      .int('PORT must be a port number').min(0, 'PORT must be a port number').max(65535, 'PORT must be a port number').default(defaultPort)),
    usedBy: ['api', 'start'], developmentOnly: false, default: '8787', description: 'the API\'s listening port',
  }),
  HOST: v({
    schema: optionalString, usedBy: ['api', 'start'], developmentOnly: false, default: '127.0.0.1 (0.0.0.0 for `npm run api` in production)',
    description: 'the API\'s listening address',
  }),
  FILA_JWT_SECRET: v({
    schema: optionalString, usedBy: ['api', 'start', 'cli', 'demo'], developmentOnly: false,
    description: 'HS256 secret of bearer tokens (Supabase\'s JWT secret)',
  }),
  FILA_JWT_AUDIENCE: v({
    schema: z.preprocess(unsetIfBlank, z.string().default('authenticated')), usedBy: ['api', 'start', 'cli'], developmentOnly: false,
    default: 'authenticated', description: 'the `aud` a bearer token must carry (Supabase issues `authenticated`); a token for another audience is 401',
  }),
  FILA_JWT_ISSUER: v({
    schema: optionalString, usedBy: ['api', 'start', 'cli'], developmentOnly: false,
    description: 'when set, the `iss` a bearer token must carry (Supabase: `https://<project>.supabase.co/auth/v1`)',
  }),
  FILA_WEBHOOK_SECRET: v({
    schema: optionalString, usedBy: ['api', 'worker', 'start'], developmentOnly: false,
    description: 'key of the per-job webhook token; the same in every API and worker',
  }),
  FILA_PUBLIC_URL: v({
    schema: optionalUrl, usedBy: ['api', 'worker', 'start'], developmentOnly: false,
    description: 'base URL the provider calls back (and upload URLs start with)',
  }),
  FILA_UPLOAD_DIR: v({
    schema: optionalString, usedBy: ['api', 'worker'], developmentOnly: false, default: '.data/uploads in development',
    description: 'local upload folder; production may plug in another store. A worker that shares it reads fila\'s own upload URLs from it instead of fetching them, and writes the copies of results there (worker/README.md, "Copies of results"; without it users keep RunningHub\'s expiring links)',
  }),
  FILA_UPLOAD_MAX_FILES: v({
    schema: positiveInt('FILA_UPLOAD_MAX_FILES'), usedBy: ['api'], developmentOnly: false, default: '20',
    description: 'uploads one user may keep at once (past it: 429 `upload_quota_exceeded`)',
  }),
  FILA_UPLOAD_MAX_MB: v({
    schema: positiveInt('FILA_UPLOAD_MAX_MB'), usedBy: ['api'], developmentOnly: false, default: '512',
    description: 'megabytes of uploads one user may keep at once',
  }),
  FILA_UPLOAD_RETENTION_HOURS: v({
    schema: positiveInt('FILA_UPLOAD_RETENTION_HOURS'), usedBy: ['api'], developmentOnly: false, default: '24',
    description: 'an upload is deleted this long after it was stored…',
  }),
  FILA_UPLOAD_GRACE_MINUTES: v({
    schema: positiveInt('FILA_UPLOAD_GRACE_MINUTES'), usedBy: ['api'], developmentOnly: false, default: '60',
    description: '…or this long after a job that used it finished, whichever comes first (never while an active job needs it)',
  }),
  FILA_INPUT_CHECK_TIMEOUT_MS: v({
    schema: positiveInt('FILA_INPUT_CHECK_TIMEOUT_MS'), usedBy: ['api'], developmentOnly: false, default: '4000',
    description: 'the bound on checking a submit\'s input files (public address, readable) before the job exists',
  }),
  FILA_MAX_EVENT_STREAMS: v({
    schema: positiveInt('FILA_MAX_EVENT_STREAMS'), usedBy: ['api'], developmentOnly: false, default: '20000',
    description: 'open job event streams one API process accepts; past it, `429 too_many_event_streams`',
  }),
  FILA_MAX_EVENT_STREAMS_PER_USER: v({
    schema: positiveInt('FILA_MAX_EVENT_STREAMS_PER_USER'), usedBy: ['api'], developmentOnly: false, default: '3',
    description: 'open job event streams per user on one API process (a few tabs); past it, `429 too_many_event_streams`',
  }),
  RUNNINGHUB_API_KEY: v({
    schema: optionalString, usedBy: ['worker', 'start', 'reap'], developmentOnly: false,
    description: 'the API key of one RunningHub account, named `default` (the same as `RUNNINGHUB_ACCOUNTS=default=<key>`; `npm start` without a key runs the local fake provider)',
  }),
  RUNNINGHUB_ACCOUNTS: v({
    schema: optionalString, usedBy: ['worker', 'start', 'reap'], developmentOnly: false,
    description: 'one API key per provider account of `fila.provider_accounts`: `name=key,name2=key2` (instead of `RUNNINGHUB_API_KEY`; the worker refuses to start when an enabled account has no key)',
  }),
  RUNNINGHUB_BASE_URL: v({
    schema: z.preprocess(unsetIfBlank, z.url({ protocol: /^https?$/ }).default('https://www.runninghub.ai')),
    usedBy: ['worker', 'start', 'reap'], developmentOnly: false, default: 'https://www.runninghub.ai',
    description: 'the provider\'s base URL',
  }),
  RUNNINGHUB_TIMEOUT_MS: v({
    schema: positiveInt('RUNNINGHUB_TIMEOUT_MS'), usedBy: ['worker'], developmentOnly: false,
    description: 'per-request timeout towards the provider',
  }),
  FILA_WORKFLOWS_FILE: v({
    schema: optionalString, usedBy: ['api', 'worker', 'cli'], developmentOnly: false, default: 'common/tools/workflows.json',
    description: 'workflow and node ids per tool (validated at start-up; the API takes the upscaler categories from it)',
  }),
  FILA_WORKER_CONCURRENCY: v({
    schema: positiveInt('FILA_WORKER_CONCURRENCY'), usedBy: ['worker', 'start'], developmentOnly: false, default: '8',
    description: 'parallel tasks per worker process',
  }),
  FILA_WORKER_CRONTAB: v({
    schema: z.preprocess(unsetIfBlank, z.enum(['on', 'off']).default('on')), usedBy: ['worker'], developmentOnly: false, default: 'on',
    description: '`off` = no reaper cron in this process (then run `fila reap` from system cron)',
  }),
  FILA_PROVIDER_POLL_MS: v({
    schema: positiveInt('FILA_PROVIDER_POLL_MS'), usedBy: ['worker', 'start'], developmentOnly: false, default: '3000',
    description: 'how often the worker asks RunningHub (`/outputs`) about running jobs whose webhook is later than their tool\'s `typical_duration`, at most 5 asks per provider account within 3 s, across all workers',
  }),
  LOG_LEVEL: v({
    schema: z.preprocess(unsetIfBlank, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional()),
    usedBy: all, developmentOnly: false, default: 'info (`fila reap`: warn, the demo: silent)',
    description: 'pino level; logs are JSON lines, the API key is redacted',
  }),
  FILA_DATA_DIR: v({
    schema: optionalString, usedBy: ['start', 'cli', 'demo'], developmentOnly: true, default: '.data/',
    description: 'embedded PostgreSQL, uploads and the running system\'s state file',
  }),
  FAKE_RUNNINGHUB_MS: v({
    schema: z.preprocess(unsetIfBlank, z.coerce.number({ error: 'FAKE_RUNNINGHUB_MS must be a number of milliseconds' })
      .min(0, 'FAKE_RUNNINGHUB_MS must be a number of milliseconds').optional()),
    usedBy: ['start', 'tests'], developmentOnly: true, default: '1500',
    description: 'the fake provider\'s default task time',
  }),
  FILA_DEBUG: v({
    schema: optionalString, usedBy: ['cli'], developmentOnly: false,
    description: 'any value: the CLI prints a stack trace with an error',
  }),
  FILA_TEST_LOG: v({
    schema: z.preprocess(unsetIfBlank, z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('silent')),
    usedBy: ['tests'], developmentOnly: true, default: 'silent',
    description: 'log level of the processes the tests start in-process',
  }),
} as const;

export type EnvVarName = keyof typeof envVars;

export const envSchema = z.object(
  Object.fromEntries(Object.entries(envVars).map(([k, spec]) => [k, spec.schema])) as { [K in EnvVarName]: (typeof envVars)[K]['schema'] },
);
export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  /** anything but NODE_ENV=production: what the commands a person runs to develop (npm start, the
   *  CLI) go by. The API and worker processes ask for NODE_ENV=development explicitly. */
  development: boolean;
}

/** A variable the process cannot start without: one line naming it. */
export function requireVars<K extends EnvVarName>(config: Config, names: readonly K[], who: string): { [P in K]: NonNullable<Config[P]> } {
  const missing = names.filter((n) => config[n] === undefined);
  if (missing.length) {
    throw new ConfigError(`${who} cannot start: ${missing.map((n) => `${n} is not set (${envVars[n].description.split(';')[0]})`).join('; ')}`);
  }
  return Object.fromEntries(names.map((n) => [n, config[n]])) as { [P in K]: NonNullable<Config[P]> };
}

/** A variable has a value fila cannot use: one line per variable, naming it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parse the environment once, at an entry point. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? '');
      const raw = env[name];
      return i.message.startsWith(name) ? `${i.message}, not "${raw}"` : `${name}: ${i.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  return { ...parsed.data, development: parsed.data.NODE_ENV !== 'production' };
}

/**
 * The provider keys, account name -> key: RUNNINGHUB_ACCOUNTS (`name=key,name2=key2`) or
 * RUNNINGHUB_API_KEY alone (the account `default`); null when neither is set. Both set is refused:
 * which one wins would be a guess. Whether the names exist is the database's to say (the worker
 * checks them against fila.provider_accounts). No message ever contains a key.
 */
export function providerKeys(config: Pick<Env, 'RUNNINGHUB_ACCOUNTS' | 'RUNNINGHUB_API_KEY'>): Record<string, string> | null {
  const list = config.RUNNINGHUB_ACCOUNTS;
  const single = config.RUNNINGHUB_API_KEY;
  if (list && single) {
    throw new ConfigError('set RUNNINGHUB_ACCOUNTS or RUNNINGHUB_API_KEY, not both (RUNNINGHUB_API_KEY=k is RUNNINGHUB_ACCOUNTS=default=k)');
  }
  if (single) return { default: single };
  if (!list) return null;
  const keys: Record<string, string> = {};
  for (const [i, entry] of list.split(',').entries()) {
    const eq = entry.indexOf('=');
    const name = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    const key = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (!name) throw new ConfigError(`RUNNINGHUB_ACCOUNTS entry ${i + 1} has no account name (name=key)`);
    if (!key) throw new ConfigError(`RUNNINGHUB_ACCOUNTS entry ${i + 1}: account "${name}" has no key (name=key)`);
    if (Object.hasOwn(keys, name)) throw new ConfigError(`RUNNINGHUB_ACCOUNTS names account "${name}" twice`);
    keys[name] = key;
  }
  return keys;
}

/** The API key the fake RunningHub is called with (it checks that one is present, not its value). */
export const fakeRunningHubApiKey = 'fake-runninghub-key';
