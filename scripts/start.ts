// `npm start`: the whole system in one command (see startSystem), with a banner that lets a person
// try it with curl at once. Ctrl-C (or SIGTERM) stops everything cleanly, PostgreSQL last.
import { onShutdown } from '../common/shutdown.ts';
import { rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { ConfigError, loadConfig, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { CliError, dataDir, runningHubFromEnv, secrets, stateFile, type LocalSystemState } from './config.ts';
import { developmentAccess, startSystem } from './system.ts';
import { bold, cyan, dim } from './format.ts';

export async function main(config: Config = loadConfig()): Promise<void> {
  const started = performance.now();
  const { development } = config;
  const { jwtSecret, webhookSecret } = secrets(config);
  const runninghub = runningHubFromEnv(config);
  if (!development && !runninghub) throw new CliError('production mode: RUNNINGHUB_API_KEY must be set (the fake provider is for development only)');
  const logger = createLogger({ level: config.LOG_LEVEL, base: { pid: process.pid } });
  const dir = dataDir(config);

  const system = await startSystem({
    databaseUrl: config.DATABASE_URL,
    dataDir: dir,
    persistent: true,
    port: config.PORT,
    host: config.HOST ?? '127.0.0.1',
    development,
    jwtSecret,
    webhookSecret,
    runninghub,
    fakeDefaultMs: config.FAKE_RUNNINGHUB_MS,
    publicUrl: config.FILA_PUBLIC_URL,
    concurrency: config.FILA_WORKER_CONCURRENCY,
    logger,
  });

  onShutdown(async (signal) => {
    process.stderr.write(`fila: ${signal}: stopping (API, worker, provider, PostgreSQL)…\n`);
    rmSync(stateFile(config), { force: true });
    try {
      await system.stop();
      process.stderr.write('fila: stopped\n');
    } catch (err) {
      process.stderr.write(`fila: stop failed: ${(err as Error).message}\n`);
      throw err;
    }
  }, { onForced: (signal) => process.stderr.write(`fila: ${signal} again, exiting without a clean stop\n`) });

  const lines = [
    '',
    bold('fila is running') + dim(`  (ready in ${((performance.now() - started) / 1000).toFixed(1)} s)`),
    `  API        ${cyan(system.apiUrl)}`,
    `  dashboard  ${cyan(system.dashboardUrl)}`,
    `  database   ${system.postgresDataDir ? `embedded PostgreSQL, data in ${system.postgresDataDir}` : 'DATABASE_URL'}`,
    `  provider   ${system.fakeRunningHubUrl ? `fake RunningHub at ${system.fakeRunningHubUrl} (script outcomes with #fake=… on input URLs)` : 'RunningHub'}`,
  ];
  if (development) {
    const access = await developmentAccess(system);
    const state: LocalSystemState = {
      pid: process.pid, apiUrl: system.apiUrl, databaseUrl: system.databaseUrl, jwtSecret,
      operatorToken: access.operator.token, fakeRunningHubUrl: system.fakeRunningHubUrl, users: access.users.map(({ id, token }) => ({ id, token })),
    };
    writeFileSync(stateFile(config), JSON.stringify(state, null, 2), { mode: 0o600 });
    const [user] = access.users;
    lines.push(
      '',
      bold('development tokens') + dim(' (signed with the development secret; never valid in production)'),
      `  operator  ${access.operator.id}`,
      `    ${access.operator.token}`,
      ...access.users.flatMap((u, i) => [`  user ${i + 1}    ${u.id}  (${u.balance} credits)`, `    ${u.token}`]),
      '',
      bold('try it'),
      `  TOKEN=${user!.token}`,
      `  curl -s -X POST ${system.apiUrl}/v1/jobs -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
      `    -d '{"tool":"upscaler","input":{"image_url":"https://example.com/a.png#fake=ok:3000","category":"pessoas"}}'`,
      `  curl -s ${system.apiUrl}/v1/me/active-job -H "authorization: Bearer $TOKEN"`,
      `  open ${system.dashboardUrl} and paste the operator token;  npx fila queue;  npm run demo`,
    );
  }
  lines.push('', dim('Ctrl-C stops everything.'), '');
  process.stdout.write(`${lines.join('\n')}\n`);
  // a line that scripts (and the tests) wait for
  process.stdout.write(`FILA_READY ${system.apiUrl}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`fila: ${err instanceof CliError || err instanceof ConfigError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
