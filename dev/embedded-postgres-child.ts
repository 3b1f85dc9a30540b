// A child process for db/test/embedded.test.ts: starts an embedded cluster in argv[2], then
// `exit-code`: stops it and ends naturally with exit code 3; `hold`: prints "ready" and waits
// (the test SIGKILLs it, orphaning PostgreSQL as a crash would).
import { startEmbedded } from './embedded-postgres.ts';

const [dataDir, mode] = process.argv.slice(2);
const pg = await startEmbedded({ dataDir: dataDir!, persistent: true });
if (mode === 'exit-code') {
  await pg.stop();
  process.exitCode = 3;
} else {
  process.stdout.write(`ready ${pg.port}\n`);
  setInterval(() => undefined, 1000);
}
