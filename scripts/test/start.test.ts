// `npm start` from a fresh clone: no DATABASE_URL, a data dir of its own. It becomes ready, serves
// /healthz, and after a stop (SIGTERM) and a new start the jobs are still there.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../config.ts';
import { waitForLine } from '../../dev/test-support/processes.ts';

const dataDir = mkdtempSync(path.join(tmpdir(), 'fila-start-'));
const children: ChildProcess[] = [];
const cleanupDirs = [dataDir];

function npmStart(): { child: ChildProcess; log: string[] } {
  const log: string[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env, FILA_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'warn', FAKE_RUNNINGHUB_MS: '200', NO_COLOR: '1' };
  delete env.DATABASE_URL;
  delete env.RUNNINGHUB_API_KEY;
  delete env.NODE_ENV; // vitest sets "test": still development
  // its own process group: a signal reaches npm and fila together, as Ctrl-C in a terminal does
  const child = spawn('npm', ['start', '--silent'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  children.push(child);
  return { child, log };
}

/** SIGTERM to the group (npm, fila); resolves once every process of the group is gone and its
 *  output has been read to the end (the last lines may still be in the pipe when the group is gone). */
async function stop(child: ChildProcess): Promise<void> {
  const closed = child.exitCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('close', () => resolve()));
  process.kill(-child.pid!, 'SIGTERM');
  await groupGone(child);
  await closed;
}

async function groupGone(child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(-child.pid!, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('npm start did not stop within 30 s of SIGTERM');
}

afterAll(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  for (const d of cleanupDirs) rmSync(d, { recursive: true, force: true });
});

describe('npm start', () => {
  it('starts from nothing, serves /healthz, stops cleanly and keeps the jobs across a restart', async () => {
    const t0 = performance.now();
    const first = npmStart();
    const [, apiUrl] = await waitForLine(first.child, /^FILA_READY (\S+)$/, 60_000, first.log);
    const readyMs = performance.now() - t0;
    const banner = first.log.join('');
    expect(banner).toContain('dashboard  http://');
    const pgDir = /embedded PostgreSQL, data in (\S+)/.exec(banner)?.[1];
    expect(pgDir && existsSync(path.join(pgDir, 'PG_VERSION')), banner).toBe(true);
    cleanupDirs.push(pgDir!);
    const health = await fetch(`${apiUrl}/healthz`);
    expect(health.status).toBe(200);

    // the printed user token works and has credits
    const token = /user 1 {4}\S+ {2}\((\d+) credits\)\n {4}(\S+)/.exec(banner);
    expect(token, banner).not.toBeNull();
    expect(Number(token![1])).toBeGreaterThan(0);
    const created = await fetch(`${apiUrl}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token![2]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tool: 'upscaler', input: { image_url: 'https://example.com/a.png#fake=ok:100', category: 'pessoas' } }),
    });
    expect(created.status).toBe(201);
    const job = (await created.json()) as { id: string };
    // wait for it to finish before stopping
    for (let i = 0; i < 100; i++) {
      const j = (await (await fetch(`${apiUrl}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${token![2]}` } })).json()) as { status: string };
      if (j.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await stop(first.child);
    // a clean stop: fila said so (API, worker, provider, then PostgreSQL)
    expect(first.log.join('')).toContain('fila: stopped');

    const second = npmStart();
    const [, apiUrl2] = await waitForLine(second.child, /^FILA_READY (\S+)$/, 60_000, second.log);
    const banner2 = second.log.join('');
    // grants are idempotent: a restart does not pile up credits (100 granted, 2 spent)
    expect(banner2).toMatch(/user 1 {4}\S+ {2}\(98 credits\)/);
    const token2 = /user 1 {4}\S+ {2}\(\d+ credits\)\n {4}(\S+)/.exec(banner2)![1]!;
    const again = await fetch(`${apiUrl2}/v1/jobs/${job.id}`, { headers: { authorization: `Bearer ${token2}` } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { status: string }).status).toBe('completed');
    await stop(second.child);
    expect(second.log.join('')).toContain('fila: stopped');
    console.log(`npm start: ready in ${(readyMs / 1000).toFixed(1)} s from an empty data dir`);
  }, 150_000);
});
