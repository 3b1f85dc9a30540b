// `npm run schema`: migrate a throwaway embedded PostgreSQL and write db/schema.sql and db/types.ts
// from its catalog.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { repoRoot } from '../common/config.ts';
import { migrate } from '../db/migrate.ts';
import { generateTypes } from '../db/generate-types.ts';
import { dumpSchema } from '../db/schema-dump.ts';
import { startEmbedded } from '../dev/embedded-postgres.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'fila-schema-'));
const server = await startEmbedded({ dataDir: path.join(dir, 'pg'), persistent: false });
try {
  await migrate(server.url);
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    const file = path.join(repoRoot, 'db', 'schema.sql');
    writeFileSync(file, await dumpSchema(client));
    process.stdout.write(`schema: wrote ${path.relative(repoRoot, file)}\n`);
  } finally {
    await client.end();
  }
  const pool = new pg.Pool({ connectionString: server.url, max: 1 });
  try {
    const file = path.join(repoRoot, 'db', 'types.ts');
    writeFileSync(file, await generateTypes(pool));
    process.stdout.write(`schema: wrote ${path.relative(repoRoot, file)}\n`);
  } finally {
    await pool.end();
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
