// `npm run migrate`: fila's migrations, then graphile-worker's, on DATABASE_URL.
import { main } from './cli.ts';

if (!process.env.DATABASE_URL) {
  process.stderr.write('migrate: DATABASE_URL must be set (the database to migrate)\n');
  process.exitCode = 1;
} else {
  await main(['migrate', ...process.argv.slice(2)]);
}
