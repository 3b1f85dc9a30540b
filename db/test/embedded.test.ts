// The embedded PostgreSQL that `npm start` and `npm test` use when DATABASE_URL is unset.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { resolveDataDir, startEmbedded } from '../../dev/embedded-postgres.ts';

const tsx = path.resolve('node_modules/.bin/tsx');
const child = path.resolve('dev/embedded-postgres-child.ts');

function run(dataDir: string, mode: string) {
  const p = spawn(tsx, [child, dataDir, mode], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  return { p, exited, output: () => out };
}

describe('embedded PostgreSQL', () => {
  it('leaves the exit code of the process that loaded it alone (a failing test run must not exit 0)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fila-embedded-'));
    const realDir = resolveDataDir(path.join(dir, 'pg')).dataDir;
    try {
      const c = run(path.join(dir, 'pg'), 'exit-code');
      expect(await c.exited, c.output()).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(realDir, { recursive: true, force: true });
    }
  });

  it('starts again after a crash left its PostgreSQL orphaned with a postmaster.pid', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'fila-embedded-'));
    const dataDir = path.join(dir, 'pg');
    const realDir = resolveDataDir(dataDir).dataDir; // mkdtemp's 0700 folder is out of the postgres user's reach
    try {
      const c = run(dataDir, 'hold');
      for (let i = 0; i < 300 && !c.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(c.output()).toContain('ready');
      const orphan = Number.parseInt(readFileSync(path.join(realDir, 'postmaster.pid'), 'utf8'), 10);
      process.kill(-c.p.pid!, 'SIGKILL'); // tsx and its node child: PostgreSQL survives, orphaned
      await c.exited;
      for (let i = 0; i < 50; i++) {
        try { process.kill(orphan, 0); } catch (err) { throw new Error('PostgreSQL died with its parent: nothing to test', { cause: err }); }
        const ppid = readFileSync(`/proc/${orphan}/stat`, 'utf8').split(') ')[1]!.split(' ')[1];
        if (ppid === '1') break;
        await new Promise((r) => setTimeout(r, 100));
      }

      const again = await startEmbedded({ dataDir, persistent: true });
      try {
        const client = new pg.Client({ connectionString: again.url });
        await client.connect();
        expect((await client.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
        await client.end();
      } finally {
        await again.stop();
      }
      // the orphan was stopped, not left behind (at most a zombie waiting for init to reap it)
      const cmdline = existsSync(`/proc/${orphan}`) ? readFileSync(`/proc/${orphan}/cmdline`, 'utf8') : '';
      expect(cmdline).not.toContain('postgres');
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(realDir, { recursive: true, force: true });
    }
  });
});
