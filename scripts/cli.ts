// `npx fila <command>`: the operator CLI. Every command talks to PostgreSQL through FilaDb (or runs
// a process kind); every failure is one line on stderr and a non-zero exit.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createPool, type DbRole } from '../db/pool.ts';
import { FilaDb } from '../db/fila.ts';
import { FilaError } from '../db/errors.ts';
import { migrate, pendingMigrations } from '../db/migrate.ts';
import { ConfigError, loadConfig, type Config } from '../common/config.ts';
import { CliError, databaseUrl, readLocalSystem, requireUuid, secrets } from './config.ts';
import { bold, dim, seconds, since, table } from './format.ts';

interface Command {
  summary: string;
  usage: string;
  help: string;
  options?: ParseArgsConfig['options'];
  /** `'process'`: the command runs a long-lived process that sets its own exit code */
  run(args: { positionals: string[]; values: Record<string, string | boolean | undefined>; config: Config }): Promise<void | 'process'>;
}

const out = (s = ''): void => { process.stdout.write(`${s}\n`); };

async function withDb<T>(config: Config, fn: (db: FilaDb) => Promise<T>, role: DbRole = 'fila_app'): Promise<T> {
  const pool = createPool(databaseUrl(config), role, 2);
  try {
    return await fn(new FilaDb(pool));
  } finally {
    await pool.end();
  }
}

function json(values: Record<string, unknown>): boolean {
  return values.json === true;
}

const commands: Record<string, Command> = {
  start: {
    summary: 'the whole system in one process (same as `npm start`)',
    usage: 'fila start',
    help: `PostgreSQL (embedded in FILA_DATA_DIR, default .data/, unless DATABASE_URL), migrations,
the fake RunningHub (unless RUNNINGHUB_API_KEY), the worker and the API on PORT (default 8787).
In development it prints an operator token and two demo users' tokens. Stops cleanly on Ctrl-C.`,
    async run({ config }) {
      const { main } = await import('./start.ts');
      await main(config);
      return 'process';
    },
  },
  migrate: {
    summary: 'apply fila\'s migrations, then graphile-worker\'s (DATABASE_URL)',
    usage: 'fila migrate [--plan]',
    help: `Applies the pending migrations of db/migrations in order, each in its own transaction, then
graphile-worker's. Idempotent.
  --plan      print the SQL of the pending migrations without applying anything (for a DBA to review)
  --verbose   log each step of the migration runner`,
    options: { plan: { type: 'boolean' }, verbose: { type: 'boolean' } },
    async run({ values , config }) {
      const url = databaseUrl(config);
      if (values.plan) {
        const pending = await pendingMigrations(url);
        if (pending.length === 0) {
          out('-- fila: no pending migrations (graphile-worker\'s own are applied by `fila migrate` too)');
          return;
        }
        out(`-- fila: ${pending.length} pending migration(s): ${pending.map((m) => m.file).join(', ')}`);
        out('-- (graphile-worker\'s migrations run after these when `fila migrate` applies them)');
        for (const m of pending) {
          out(`\n-- ===== ${m.file} =====`);
          out(m.sql.trimEnd());
        }
        return;
      }
      const log = values.verbose ? (line: string) => process.stderr.write(`${dim(line)}\n`) : undefined;
      const applied = (await migrate(url, log)).filter((f) => /^\d{5}_/.test(f));
      out(applied.length ? `fila: applied ${applied.join(', ')}; graphile-worker's schema is up to date` : 'fila: already up to date');
    },
  },
  worker: {
    summary: 'one worker process (same as `npm run worker`)',
    usage: 'fila worker',
    help: `Runs the Graphile Worker tasks (start_job, apply_webhook, cancel_provider_task) and the
reaper's crontab. Needs DATABASE_URL, FILA_PUBLIC_URL, FILA_WEBHOOK_SECRET and RUNNINGHUB_API_KEY
(production). Stops on SIGINT/SIGTERM after the running tasks finish.`,
    async run() {
      await import('../worker/main.ts');
      return 'process';
    },
  },
  api: {
    summary: 'one API process (same as `npm run api`)',
    usage: 'fila api',
    help: `Serves the HTTP API and the operator dashboard on PORT (default 8787). Needs DATABASE_URL,
FILA_JWT_SECRET and FILA_WEBHOOK_SECRET (production).`,
    async run() {
      await import('../api/main.ts');
      return 'process';
    },
  },
  reap: {
    summary: 'one reaper pass, for operators who run it from system cron',
    usage: 'fila reap',
    help: `Checks slot holders past their soft deadline with the provider (a lost webhook is recovered,
a failure recorded with its real reason), then fila.reap_stale_jobs(): jobs past their hard deadline
are failed and refunded, abandoned queued jobs canceled and refunded. Safe to run from several hosts
(everything goes through the SQL functions). Needs DATABASE_URL and the provider settings
(RUNNINGHUB_API_KEY, RUNNINGHUB_BASE_URL; without a key only the SQL part runs).`,
    options: { json: { type: 'boolean' } },
    async run({ values , config }) {
      const { reap } = await import('./reap.ts');
      const result = await reap(databaseUrl(config), config);
      if (json(values)) out(JSON.stringify(result));
      else out(result.summary);
    },
  },
  queue: {
    summary: 'the slots, the queue with positions, and whether dispatch is paused',
    usage: 'fila queue [--limit N] [--json]',
    help: `Shows fila.queue_overview, the slot holders and the global FIFO (head first).
  --limit N   queued jobs to list (default 50)
  --json      machine-readable output`,
    options: { limit: { type: 'string' }, json: { type: 'boolean' } },
    async run({ values , config }) {
      const limit = values.limit === undefined ? 50 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit must be a positive integer, not "${String(values.limit)}"`, 2);
      await withDb(config, async (db) => {
        const [overview, active, queue] = await Promise.all([db.queueOverview(), db.activeJobs(), db.queue(limit)]);
        const holders = active.filter((j) => j.status !== 'queued');
        if (json(values)) {
          out(JSON.stringify({ overview, slots: holders, queue }, null, 2));
          return;
        }
        out(bold(`slots ${overview.slots_used}/${overview.slots_total}   queued ${overview.queued}` +
          (overview.oldest_queued_at ? `   oldest waiting ${since(overview.oldest_queued_at)}` : '')));
        if (overview.dispatch_paused_until) {
          out(`dispatch PAUSED until ${overview.dispatch_paused_until.toISOString()} (step ${overview.backoff_step}): ${overview.pause_reason ?? ''}`);
        }
        out('\nslot holders');
        out(holders.length ? table(holders.map((j) => ({ ...j, held: since(j.started_at) })),
          ['job_id', 'tool', 'status', 'user_id', 'held', 'deadline_at']) : dim('  (none)'));
        out('\nqueue (head first)');
        out(queue.length ? table(queue.map((q) => ({ ...q, waiting: since(q.queued_at) })),
          ['position', 'job_id', 'tool', 'user_id', 'waiting', 'presence']) : dim('  (empty)'));
      });
    },
  },
  job: {
    summary: 'one job and its timeline',
    usage: 'fila job <job-id> [--json]',
    help: `Shows the job (status, price, real error, outputs) and every transition from fila.job_timeline.
  --json   machine-readable output`,
    options: { json: { type: 'boolean' } },
    async run({ positionals, values , config }) {
      const id = requireUuid('job id', positionals[0]);
      await withDb(config, async (db) => {
        const { json: job } = await db.job(id);
        const timeline = await db.jobTimeline(id);
        if (json(values)) {
          out(JSON.stringify({ job, timeline }, null, 2));
          return;
        }
        out(bold(`${job.id}  ${job.tool}  ${job.status}`) + (job.position ? `  position ${job.position}` : ''));
        out(`user ${job.user_id}   price ${job.credit_cost} credits   provider task ${job.provider_task_id ?? '-'}`);
        if (job.error) out(`error: ${job.error}`);
        if (job.outputs) for (const o of job.outputs) out(`output: ${o.url} (${o.type})`);
        out('');
        const t0 = timeline[0]?.at.getTime() ?? 0;
        out(table(timeline.map((e) => ({
          at: e.at.toISOString(), '+': seconds((e.at.getTime() - t0) / 1000),
          from: e.from_status ?? '(submit)', to: e.to_status, reason: e.reason,
        })), ['at', '+', 'from', 'to', 'reason']));
      });
    },
  },
  grant: {
    summary: 'grant (or, with a negative amount, take back) credits',
    usage: 'fila grant <user-id> <amount> [--reason TEXT] [--key IDEMPOTENCY_KEY]',
    help: `Adds a ledger entry and changes the balance in one transaction (fila.grant_credits).
  --reason TEXT   why (kept in the ledger; default "granted with the fila CLI")
  --key KEY       idempotency key: the same key for the same user grants once, however often it runs`,
    options: { reason: { type: 'string' }, key: { type: 'string' } },
    async run({ positionals, values , config }) {
      const user = requireUuid('user id', positionals[0]);
      const rawAmount = positionals[1];
      const amount = Number(rawAmount);
      if (rawAmount === undefined) throw new CliError('missing amount', 2);
      if (!Number.isInteger(amount) || amount === 0) throw new CliError(`amount must be a non-zero integer, not "${rawAmount}"`, 2);
      const reason = typeof values.reason === 'string' ? values.reason : 'granted with the fila CLI';
      const key = typeof values.key === 'string' ? values.key : null;
      // grant_credits is the DBA's: it runs as DATABASE_URL's own login (the API's role cannot grant)
      await withDb(config, async (db) => {
        const balance = await db.grantCredits(user, amount, reason, key);
        out(`user ${user}: balance ${balance} credits`);
      }, null);
    },
  },
  token: {
    summary: 'sign a bearer token for a user (or an operator)',
    usage: 'fila token <user-id> [--operator] [--expires 12h]',
    help: `Prints an HS256 JWT with sub = the user id, signed with FILA_JWT_SECRET (in development, the
secret of the running \`npm start\` or the development default).
  --operator      add the claim fila_role: "operator" (queue, cancel any job, grant credits)
  --expires DUR   lifetime, e.g. 30m, 12h, 7d (default 12h)`,
    options: { operator: { type: 'boolean' }, expires: { type: 'string' } },
    async run({ positionals, values , config }) {
      const user = requireUuid('user id', positionals[0]);
      const expires = typeof values.expires === 'string' ? values.expires : '12h';
      if (!/^\d+[smhd]$/.test(expires)) throw new CliError(`--expires must look like 30m, 12h or 7d, not "${expires}"`, 2);
      const local = !config.FILA_JWT_SECRET && config.development ? readLocalSystem(config) : null;
      const secret = local?.jwtSecret ?? secrets(config).jwtSecret;
      const { signToken } = await import('../api/auth.ts');
      out(await signToken(secret, user, { operator: values.operator === true, expiresIn: expires }));
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    'fila — the operator CLI',
    '',
    'usage: fila <command> [options]     fila <command> --help',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Database: DATABASE_URL (in development, a running `npm start` is found through FILA_DATA_DIR).',
  ].join('\n');
}

const negative = '\u0000neg:';

/** The exit code, or null when a long-lived process (start, worker, api) owns it. */
export async function runCli(argv: string[], config: Config): Promise<number | null> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    out(usage());
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) throw new CliError(`unknown command "${name}" (try: fila --help)`, 2);
  let parsed;
  try {
    parsed = parseArgs({
      // a negative number (`fila grant <user> -5`) is a value, not an option
      args: rest.map((a) => (/^-\d+$/.test(a) ? `${negative}${a.slice(1)}` : a)), allowPositionals: true, strict: true,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new CliError(`${name}: ${(err as Error).message.split('\n')[0]!.split('. ')[0]}`, 2);
  }
  if (parsed.values.help) {
    out(`usage: ${command.usage}\n\n${command.summary}.\n\n${command.help}`);
    return 0;
  }
  const positionals = parsed.positionals.map((p) => (p.startsWith(negative) ? `-${p.slice(negative.length)}` : p));
  const kind = await command.run({ positionals, values: parsed.values as Record<string, string | boolean | undefined>, config });
  return kind === 'process' ? null : 0;
}

function oneLine(err: unknown): string {
  if (err instanceof FilaError) return `${err.code}: ${err.message}`;
  if (err instanceof CliError || err instanceof ConfigError) return err.message;
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ECONNREFUSED') return `cannot reach PostgreSQL (${e.message ?? 'connection refused'}): is DATABASE_URL right?`;
  if (e?.code === '3D000' || e?.code === '28P01' || e?.code === '28000') return `PostgreSQL refused the connection: ${e.message}`;
  if (e?.code === '42P01' || e?.code === '3F000') return `${e.message ?? 'relation missing'}: has \`fila migrate\` run on this database?`;
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let debug = false;
  try {
    const config = loadConfig();
    debug = config.FILA_DEBUG !== undefined;
    const code = await runCli(argv, config);
    if (code !== null) process.exitCode = code;
  } catch (err) {
    process.stderr.write(`fila: ${oneLine(err)}\n`);
    if (debug && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  }
}
