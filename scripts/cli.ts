// `npx fila <command>`: the operator CLI. Every command talks to PostgreSQL through FilaDb (or runs
// a process kind); every failure is one line on stderr and a non-zero exit.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createPool, type DbRole } from '../db/pool.ts';
import { FilaDb } from '../db/fila.ts';
import { FilaError } from '../db/errors.ts';
import { migrate, pendingMigrations } from '../db/migrate.ts';
import { ConfigError, loadConfig, type Config } from '../common/config.ts';
import { CliError, databaseUrl, readLocalSystem, requireUuid, runningHubFromEnv, secrets } from './config.ts';
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

async function queueText(db: FilaDb, limit: number): Promise<string> {
  const [overview, active, queue] = await Promise.all([db.queueOverview(), db.activeJobs(), db.queue(limit)]);
  const holders = active.filter((j) => j.status !== 'queued');
  const lines = [bold(`slots ${overview.slots_used}/${overview.slots_total}   queued ${overview.queued}` +
    (overview.oldest_queued_at ? `   oldest waiting ${since(overview.oldest_queued_at)}` : ''))];
  if (overview.dispatch_paused_until) {
    lines.push(`dispatch PAUSED until ${overview.dispatch_paused_until.toISOString()} (step ${overview.backoff_step}): ${overview.pause_reason ?? ''}`);
  }
  lines.push('\nslot holders', holders.length ? table(holders.map((j) => ({ ...j, held: since(j.started_at) })),
    ['job_id', 'tool', 'status', 'account', 'user_id', 'held', 'deadline_at']) : dim('  (none)'));
  lines.push('\nqueue (head first)', queue.length ? table(queue.map((q) => ({ ...q, waiting: since(q.queued_at) })),
    ['position', 'job_id', 'tool', 'user_id', 'waiting', 'presence']) : dim('  (empty)'));
  return lines.join('\n');
}

/** Redraw `frame()` in place (cursor home, clear to the end) until SIGINT/SIGTERM. */
async function watch(frame: () => Promise<string>, everyMs: number): Promise<void> {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => { stop = r; });
  let running = true;
  const onSignal = () => { running = false; stop(); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (running) {
      const text = await frame();
      if (!running) break;
      process.stdout.write(`\x1b[H\x1b[2J${text}\n`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise((r) => { timer = setTimeout(r, everyMs); })]);
      clearTimeout(timer); // Ctrl-C must not wait for the next redraw
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const commands: Record<string, Command> = {
  start: {
    summary: 'the whole system in one process (same as `npm start`)',
    usage: 'fila start',
    help: `PostgreSQL (embedded in FILA_DATA_DIR, default .data/, unless DATABASE_URL), migrations,
the fake RunningHub (unless RUNNINGHUB_ACCOUNTS or RUNNINGHUB_API_KEY), the worker and the API on PORT (default 8787).
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
      const applied = (await migrate(url, log, config.FILA_WORKFLOWS_FILE ? { workflowsFile: config.FILA_WORKFLOWS_FILE } : {})).filter((f) => /^\d{5}_/.test(f));
      out(applied.length ? `fila: applied ${applied.join(', ')}; graphile-worker's schema is up to date` : 'fila: already up to date');
    },
  },
  worker: {
    summary: 'one worker process (same as `npm run worker`)',
    usage: 'fila worker',
    help: `Runs the Graphile Worker tasks (start_job, apply_webhook, cancel_provider_task) and the
reaper's crontab. Needs DATABASE_URL, FILA_WEBHOOK_SECRET and RUNNINGHUB_ACCOUNTS or RUNNINGHUB_API_KEY
whatever NODE_ENV says, and FILA_PUBLIC_URL unless NODE_ENV=development. Stops on SIGINT/SIGTERM after the running tasks finish.`,
    async run() {
      await import('../worker/main.ts');
      return 'process';
    },
  },
  api: {
    summary: 'one API process (same as `npm run api`)',
    usage: 'fila api',
    help: `Serves the HTTP API and the operator dashboard on PORT (default 8787). Needs DATABASE_URL,
FILA_JWT_SECRET and FILA_WEBHOOK_SECRET, whatever NODE_ENV says.`,
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
(RUNNINGHUB_ACCOUNTS or RUNNINGHUB_API_KEY, RUNNINGHUB_BASE_URL; without a key only the SQL part runs).`,
    options: { json: { type: 'boolean' } },
    async run({ values , config }) {
      const { reap } = await import('./reap.ts');
      const result = await reap(databaseUrl(config), config);
      if (json(values)) out(JSON.stringify(result));
      else out(result.summary);
    },
  },
  doctor: {
    summary: 'checks the RunningHub key and account, each tool\'s workflows, the base URL and the webhook URL',
    usage: 'fila doctor [--json]',
    help: `Reads RunningHub's /uc/openapi/accountStatus with RUNNINGHUB_API_KEY (is the key accepted, what
does the account hold and run), lists each tool's configured workflow ids (RunningHub can only verify a
workflow by running it), warns about a RUNNINGHUB_BASE_URL that is not a documented www. host, and posts a
forged webhook to FILA_PUBLIC_URL (a live fila API answers 401), warning when that address is not one
RunningHub can reach from the internet. Exit code 1 when a check fails.`,
    options: { json: { type: 'boolean' } },
    async run({ values, config }) {
      const provider = runningHubFromEnv(config);
      if (!provider) throw new CliError('fila doctor needs RUNNINGHUB_API_KEY or RUNNINGHUB_ACCOUNTS (and RUNNINGHUB_BASE_URL for another host)', 2);
      const { runDoctor } = await import('../worker/doctor.ts');
      const { RunningHubClient } = await import('../worker/runninghub/client.ts');
      const { loadToolsConfig } = await import('../common/tools/index.ts');
      // every account's key is checked; each account's checks say which account they speak for
      const checks = [];
      const accounts = Object.entries(provider.accounts);
      for (const [account, apiKey] of accounts) {
        const found = await runDoctor({ runninghub: new RunningHubClient({ baseUrl: provider.baseUrl, apiKey }),
          tools: loadToolsConfig(config.FILA_WORKFLOWS_FILE), publicUrl: config.FILA_PUBLIC_URL ?? null });
        checks.push(...found.map((c) => (accounts.length > 1 ? { ...c, check: `${account}: ${c.check}` } : c)));
      }
      if (json(values)) out(JSON.stringify(checks));
      else for (const c of checks) out(`${c.status === 'ok' ? 'ok  ' : c.status === 'warn' ? 'WARN' : 'FAIL'}  ${bold(c.check)}: ${c.detail}`);
      if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
    },
  },
  queue: {
    summary: 'the slots, the queue with positions, and whether dispatch is paused',
    usage: 'fila queue [--limit N] [--json] [--watch [--interval S]]',
    help: `Shows fila.queue_overview, the slot holders and the global FIFO (head first).
  --limit N      queued jobs to list (default 50)
  --json         machine-readable output
  --watch        redraw in place every --interval seconds (default 1) until Ctrl-C
  --interval S   seconds between redraws with --watch (0.2 to 3600)`,
    options: { limit: { type: 'string' }, json: { type: 'boolean' }, watch: { type: 'boolean' }, interval: { type: 'string' } },
    async run({ values, config }) {
      const limit = values.limit === undefined ? 50 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit must be a positive integer, not "${String(values.limit)}"`, 2);
      const interval = values.interval === undefined ? 1 : Number(values.interval);
      if (!Number.isFinite(interval) || interval < 0.2 || interval > 3600) {
        throw new CliError(`--interval must be a number of seconds from 0.2 to 3600, not "${String(values.interval)}"`, 2);
      }
      if (values.watch && json(values)) throw new CliError('--watch draws for a person; use --json without it', 2);
      await withDb(config, async (db) => {
        if (json(values)) {
          const [overview, active, queue] = await Promise.all([db.queueOverview(), db.activeJobs(), db.queue(limit)]);
          out(JSON.stringify({ overview, slots: active.filter((j) => j.status !== 'queued'), queue }, null, 2));
          return;
        }
        if (!values.watch) {
          out(await queueText(db, limit));
          return;
        }
        await watch(async () => `${await queueText(db, limit)}\n\n${dim(`every ${interval} s · ${new Date().toLocaleTimeString()} · Ctrl-C stops`)}`, interval * 1000);
      });
    },
  },
  accounts: {
    summary: 'the provider accounts: slots, use, pauses; `accounts set` adds or changes one',
    usage: 'fila accounts [--json]   |   fila accounts set <name> [--slots N] [--disable]',
    help: `Lists fila.provider_account_overview: each RunningHub account's slots and how many are used,
whether it is enabled, paused (until when, why) and how often it was paused or refused jobs.
The worker needs a key for every enabled account (RUNNINGHUB_ACCOUNTS=name=key,...).
  set <name> --slots N   add the account, or change its slots (fila.set_provider_account);
                         more room starts queued jobs at once, less preempts nothing
  set <name> --disable   nothing new starts on it; its jobs finish (--slots may be left out for
                         an existing account); \`set <name>\` without --disable enables it again
  --json                 machine-readable output`,
    options: { slots: { type: 'string' }, disable: { type: 'boolean' }, json: { type: 'boolean' } },
    async run({ positionals, values, config }) {
      const [sub, name, ...extra] = positionals;
      if (sub === undefined) {
        if (values.slots !== undefined || values.disable) throw new CliError('--slots and --disable go with `fila accounts set <name>`', 2);
        await withDb(config, async (db) => {
          const accounts = await db.providerAccounts();
          if (json(values)) {
            out(JSON.stringify(accounts, null, 2));
            return;
          }
          out(table(accounts.map((a) => ({
            ...a, slots: `${a.slots_used}/${a.slots_total}`, state: !a.enabled ? 'disabled' : a.paused_until ? 'PAUSED' : 'ok',
            paused_until: a.paused_until, pause_reason: a.pause_reason,
          })), ['account', 'state', 'slots', 'paused_until', 'pause_reason', 'backoff_step', 'pauses', 'refusals']));
        });
        return;
      }
      if (sub !== 'set') throw new CliError(`accounts: unknown subcommand "${sub}" (fila accounts set <name> --slots N [--disable])`, 2);
      if (!name) throw new CliError('accounts set: missing account name', 2);
      if (extra.length) throw new CliError(`accounts set: unexpected "${extra.join(' ')}"`, 2);
      let slots: number | null = null;
      if (values.slots !== undefined) {
        slots = Number(values.slots);
        if (!Number.isInteger(slots) || slots < 1) throw new CliError(`--slots must be a positive integer, not "${String(values.slots).replace(negative, '-')}"`, 2);
      }
      const enabled = values.disable !== true;
      await withDb(config, async (db) => {
        if (slots === null) {
          const current = (await db.providerAccounts()).find((a) => a.account === name);
          if (!current) throw new CliError(`accounts set: account "${name}" does not exist yet: give it --slots N`, 2);
          slots = current.slots_total;
        }
        const a = await db.setProviderAccount(name, slots, enabled);
        out(`account ${a.account}: ${a.max_slots} slot(s), ${a.enabled ? 'enabled' : 'disabled (its jobs finish, nothing new starts on it)'}`);
      }, null); // set_provider_account is the DBA's: DATABASE_URL's own login (no process role may call it)
    },
  },
  job: {
    summary: 'one job and its timeline, by its id or the first characters of it',
    usage: 'fila job <job-id or prefix> [--json]',
    help: `Shows the job (status, price, real error, outputs), every transition from fila.job_timeline,
its ledger lines and the webhooks received for it. The id may be cut short (e.g. the 8 characters a
screen shows) as long as one job starts with it; when several do, they are listed.
  --json   machine-readable output`,
    options: { json: { type: 'boolean' } },
    async run({ positionals, values, config }) {
      const given = positionals[0];
      if (!given) throw new CliError('missing job id (or the first characters of one)', 2);
      await withDb(config, async (db) => {
        const matches = await db.jobsByPrefix(given, 21);
        if (matches.length === 0) throw new CliError(`no job id starts with "${given}"`, 1);
        if (matches.length > 1) {
          out(table(matches.slice(0, 20).map((j) => ({ ...j, created_at: j.created_at.toISOString() })),
            ['id', 'tool', 'status', 'user_id', 'created_at']));
          throw new CliError(`${matches.length > 20 ? 'more than 20' : matches.length} jobs start with "${given}": give more of the id`, 1);
        }
        const detail = await db.jobDetail(matches[0]!.id);
        const { job, timeline } = detail;
        if (json(values)) {
          out(JSON.stringify(detail, null, 2));
          return;
        }
        out(bold(`${job.id}  ${job.tool}  ${job.status}`) + (job.position ? `  position ${job.position}` : ''));
        out(`user ${job.user_id}   price ${job.credit_cost} credits   provider task ${job.provider_task_id ?? '-'}   account ${job.account ?? '-'}`);
        if (job.error) out(`error: ${job.error}`);
        if (job.outputs) for (const o of job.outputs) out(`output: ${o.url} (${o.type})`);
        out('');
        const t0 = timeline[0] ? Date.parse(timeline[0].at) : 0;
        out(table(timeline.map((e) => ({
          at: new Date(e.at).toISOString(), '+': seconds((Date.parse(e.at) - t0) / 1000),
          from: e.from_status ?? '(submit)', to: e.to_status, reason: e.reason,
        })), ['at', '+', 'from', 'to', 'reason']));
        out('\ncredits');
        out(table(detail.ledger.map((l) => ({ ...l, created_at: new Date(l.created_at).toISOString() })), ['kind', 'amount', 'created_at']));
        out(`\nwebhooks received: ${detail.webhooks.length}`);
        for (const w of detail.webhooks) out(`  #${w.id} ${new Date(w.received_at).toISOString()}  ${w.outcome ?? 'not processed yet'}`);
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
secret of the running \`npm start\`, or the data folder's own development secret).
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
