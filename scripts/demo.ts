// `npm run demo`: ~40 simulated users on all four tools, a live view, and a closing report whose
// verdicts come from the database. Exit code 1 when any rule broke.
//   npm run demo                      its own system (embedded PostgreSQL in a temp dir, fake provider)
//   npm run demo -- --users 12 --fast a quick run
//   npm run demo -- --attach          against the `npm start` that is running (found through FILA_DATA_DIR)
//   npm run demo -- --api URL --database-url URL --jwt-secret S   against any fila
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../common/config.ts';
import { CliError, readLocalSystem } from './config.ts';
import { bold, green, red, seconds } from './format.ts';
import { runDemo, type DemoResult, type DemoTarget } from './demo/run.ts';

const help = `usage: npm run demo -- [--users N] [--fast] [--attach | --api URL --database-url URL --jwt-secret S]
  --users N          simulated users (default 40), at least 10
  --fast             short tasks (for a quick check; the test suite uses it)
  --attach           drive the \`npm start\` running now instead of starting a system of its own
  --api URL          drive this fila API (with --database-url and --jwt-secret, or FILA_JWT_SECRET)
  --database-url URL the PostgreSQL behind it, for the report (default DATABASE_URL)
  --jwt-secret S     signs the simulated users' and the operator's tokens
  --lost-webhook     include the lost-webhook user when attached (the reaper recovers it only after
                     the tool's soft deadline, 3 minutes by default)
  --no-live          print progress lines instead of redrawing the view`;

export function printReport(out: NodeJS.WritableStream, r: DemoResult): void {
  const { report } = r;
  const lines = [
    '',
    bold('fila demo — report') + `  (${r.jobs} jobs in ${seconds(r.durationMs / 1000)}; system ready in ${seconds(r.startupMs / 1000)})`,
    `  states: ${Object.entries(report.counts).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(' · ')}`,
    `  highest occupancy ${report.maxOccupancyReplayed}/${report.slotsTotal} · FIFO inversions ${report.fifoInversions} · refunds ${report.refunds} (${report.refundedCredits} credits)`,
    `  slot time per tool: ${Object.entries(report.perTool).map(([t, v]) => `${t} ${v.avgSlotSeconds === null ? '-' : seconds(v.avgSlotSeconds)}`).join(' · ')}`,
    '',
    ...report.verdicts.map((v) => `  ${v.ok ? green('✓') : red('✗')} ${v.rule}${v.ok ? '' : red(' — BROKEN')}  — ${v.detail}`),
    '',
    report.ok ? green(bold('every rule held')) : red(bold(`${report.verdicts.filter((v) => !v.ok).length} rule(s) broke`)),
    '',
  ];
  out.write(lines.join('\n'));
}

export async function main(argv = process.argv.slice(2), config: Config = loadConfig()): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      users: { type: 'string' }, fast: { type: 'boolean' }, attach: { type: 'boolean' }, api: { type: 'string' },
      'database-url': { type: 'string' }, 'jwt-secret': { type: 'string' }, 'lost-webhook': { type: 'boolean' },
      'no-live': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) { process.stdout.write(`${help}\n`); return 0; }
  const users = values.users === undefined ? 40 : Number(values.users);
  if (!Number.isInteger(users) || users < 10 || users > 2000) throw new CliError(`--users must be an integer from 10 to 2000, not "${values.users}"`, 2);
  let target: DemoTarget | undefined;
  if (values.attach) {
    const local = readLocalSystem(config);
    if (!local) throw new CliError('--attach: no `npm start` is running (no live state file in FILA_DATA_DIR)');
    target = { apiUrl: local.apiUrl, databaseUrl: local.databaseUrl, jwtSecret: local.jwtSecret };
  } else if (values.api) {
    const databaseUrl = values['database-url'] ?? config.DATABASE_URL;
    const jwtSecret = values['jwt-secret'] ?? config.FILA_JWT_SECRET;
    if (!databaseUrl || !jwtSecret) throw new CliError('--api needs --database-url (or DATABASE_URL) and --jwt-secret (or FILA_JWT_SECRET)', 2);
    target = { apiUrl: values.api, databaseUrl, jwtSecret };
  }
  const live = !values['no-live'] && process.stdout.isTTY === true;
  process.stdout.write(target ? `fila demo: driving ${target.apiUrl}\n` : 'fila demo: starting a system of its own (embedded PostgreSQL, fake RunningHub)…\n');
  const result = await runDemo({
    users, fast: values.fast === true, live, out: process.stdout, target,
    ...(config.LOG_LEVEL ? { logLevel: config.LOG_LEVEL } : {}),
    ...(values['lost-webhook'] ? { lostWebhook: true } : {}),
  });
  printReport(process.stdout, result);
  return result.report.ok ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code; }, (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof CliError || err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  });
}
