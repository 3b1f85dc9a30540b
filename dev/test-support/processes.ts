// Helpers for the scripts' tests: run the real `fila` bin and `npm start` as child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrl } from './urls.ts';
import { repoRoot } from '../../common/config.ts';

export interface RunResult { code: number | null; stdout: string; stderr: string }

/** `node scripts/fila.mjs ...args` with exactly the given environment (plus PATH/HOME). */
export function fila(args: string[], env: Record<string, string | undefined>): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'fila.mjs'), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A database with nothing in it (for `migrate --plan` on a fresh database). Test setup only. */
export async function createEmptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = inject('filaServerUrl');
  const name = `fila_empty_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const run = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await run(`create database ${name}`);
  return { url: databaseUrl(serverUrl, name), drop: () => run(`drop database if exists ${name} with (force)`) };
}

/** Resolves with the first stdout line matching `pattern`; rejects if the process exits first. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number, log: string[]): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${log.join('').slice(-3000)}`)); }, timeoutMs);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const m = pattern.exec(line);
        if (m) { cleanup(); resolve(m); return; }
      }
    };
    const onExit = (code: number | null) => { cleanup(); reject(new Error(`exited (${code}) before ${pattern}:\n${log.join('').slice(-3000)}`)); };
    const cleanup = () => { clearTimeout(timer); child.stdout?.off('data', onData); child.off('exit', onExit); };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}
