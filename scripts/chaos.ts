// `npm run chaos`: fila under faults, judged by an independent checker. Exit 1 on any break.
//   npm run chaos                  the long run: 10,000 jobs, 300 users, two workers, every fault
//   npm run chaos -- --short       a few hundred jobs in under three minutes (npm test runs it)
//   npm run chaos -- --jobs 2000   any size in between
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../common/config.ts';
import { CliError } from './config.ts';
import { bold, green, red } from './format.ts';
import { longRun, runChaos, shortRun, type ChaosResult } from './chaos/run.ts';
import { closingTable } from './chaos/view.ts';

const help = `usage: npm run chaos -- [--short] [--jobs N] [--users N] [--seed N] [--no-live]
  --short            ${shortRun.jobs} jobs from ${shortRun.users} users, the faults compressed (under 3 minutes)
  --jobs N           jobs in the run (default ${longRun.jobs})
  --users N          simulated users (default ${longRun.users})
  --minutes N        stop submitting after N minutes (then the run settles and is judged as it is)
  --seed N           the faults and the users' choices are drawn from this seed (default ${longRun.seed})
  --no-live          print a progress line every few seconds instead of redrawing the view
  --logs DIR         keep the API's and the workers' logs (JSON lines) in DIR
PostgreSQL: embedded (started, restarted and removed by the run) unless DATABASE_URL is set; then
the run creates and drops a database of its own there and does not restart that server.`;

export function printResult(out: NodeJS.WritableStream, r: ChaosResult, color = true): void {
  const broken = r.check.rows.filter((row) => row.breaks > 0).length;
  out.write([
    '',
    bold(`fila chaos — ${r.postgres} PostgreSQL, ${r.settings.users} users, ${r.settings.workers} workers, max_slots ${r.settings.maxSlots}, seed ${r.settings.seed}`),
    '',
    closingTable(r, color),
    '',
    broken === 0 ? green(bold('0 breaks: every rule held')) : red(bold(`${broken} rule(s) broke`)),
    '',
  ].join('\n'));
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      short: { type: 'boolean' }, minutes: { type: 'string' }, jobs: { type: 'string' }, users: { type: 'string' }, seed: { type: 'string' },
      'no-live': { type: 'boolean' }, logs: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${help}\n`); return 0; }
  const base = values.short ? shortRun : longRun;
  const int = (v: string | undefined, name: string, lo: number, hi: number, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < lo || n > hi) throw new CliError(`--${name} must be an integer from ${lo} to ${hi}, not "${v}"`, 2);
    return n;
  };
  const jobs = int(values.jobs, 'jobs', 10, 1_000_000, base.jobs);
  const users = int(values.users, 'users', 2, 5000, base.users);
  const seed = int(values.seed, 'seed', 0, 2 ** 31 - 1, base.seed);
  const timeoutMs = int(values.minutes, 'minutes', 1, 24 * 60, base.timeoutMs / 60_000) * 60_000;
  if (values.logs) mkdirSync(values.logs, { recursive: true });
  const live = !values['no-live'] && process.stdout.isTTY === true;
  const databaseUrl = loadConfig().DATABASE_URL;
  process.stdout.write(`fila chaos: ${jobs} jobs, ${users} users, ${databaseUrl ? 'a fresh database on DATABASE_URL (no PostgreSQL restart: not our server)' : 'embedded PostgreSQL'}…\n`);
  // Ctrl-C: stop submitting, let the run settle and be judged, and stop everything it started
  const stop = new AbortController();
  process.once('SIGINT', () => { process.stdout.write('\nchaos: stopping (the run settles and is judged; Ctrl-C again to abandon it)\n'); stop.abort(); });
  process.once('SIGTERM', () => stop.abort());
  const result = await runChaos({ ...base, jobs, users, seed, timeoutMs, live, out: process.stdout, stop: stop.signal,
    ...(databaseUrl ? { databaseUrl } : {}), ...(values.logs ? { logsDir: path.resolve(values.logs) } : {}) });
  printResult(process.stdout, result);
  return result.check.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`chaos: ${err instanceof CliError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  });
}
