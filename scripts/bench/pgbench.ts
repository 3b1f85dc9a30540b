// pgbench: found on PATH or in Debian's PostgreSQL folders, installed with apt-get when missing
// and possible (it ships in the postgresql-15 package), and run with per-transaction logs so that
// fila's submits and pgbench's own transactions get the same p50/p99.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PgbenchTool { path: string; version: string; how: string }

function versionOf(bin: string): string | null {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Find pgbench, or install it; null with the reason when neither works. */
export function findPgbench(log: (line: string) => void): PgbenchTool | { missing: string } {
  const candidates = [
    ...(process.env.PGBENCH ? [process.env.PGBENCH] : []),
    ...((process.env.PATH ?? '').split(':').map((d) => path.join(d, 'pgbench'))),
    ...['17', '16', '15', '14'].map((v) => `/usr/lib/postgresql/${v}/bin/pgbench`),
  ];
  for (const c of candidates) {
    if (!existsSync(c)) continue;
    const version = versionOf(c);
    if (version) return { path: c, version, how: `found at ${c}` };
  }
  if (process.getuid?.() !== 0) return { missing: 'pgbench is not installed and installing it needs root (apt-get install postgresql-15)' };
  log('pgbench not found: installing Debian\'s postgresql-15 package (it carries pgbench)');
  const apt = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql-15'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  const installed = '/usr/lib/postgresql/15/bin/pgbench';
  const version = existsSync(installed) ? versionOf(installed) : null;
  if (apt.status !== 0 || !version) return { missing: `apt-get install postgresql-15 failed: ${(apt.stderr || apt.stdout).trim().split('\n').slice(-2).join(' ')}` };
  return { path: installed, version, how: 'installed with apt-get (postgresql-15)' };
}

export interface PgbenchResult {
  clients: number;
  seconds: number;
  transactions: number;
  failed: number;
  tps: number;
  p50_ms: number;
  p99_ms: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** One pgbench run; `mode` is a builtin ('tpcb-like', 'simple-update') or a script's text. */
export async function pgbench(tool: PgbenchTool, url: string, opts: {
  mode: { builtin: 'tpcb-like' | 'simple-update' } | { script: string };
  clients: number;
  seconds?: number;
  transactions?: number;
}): Promise<PgbenchResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'fila-pgbench-'));
  try {
    const args = ['-n', '-c', String(opts.clients), '-j', String(Math.min(opts.clients, 2)), '-l', '--log-prefix', path.join(dir, 'tx')];
    if (opts.seconds) args.push('-T', String(opts.seconds));
    else args.push('-t', String(Math.max(1, Math.ceil((opts.transactions ?? 1) / opts.clients))));
    if ('builtin' in opts.mode) args.push('-b', opts.mode.builtin);
    else {
      const file = path.join(dir, 'script.sql');
      writeFileSync(file, opts.mode.script);
      args.push('-f', file);
    }
    args.push(url);
    const { stdout } = await run(tool.path, args, { maxBuffer: 16 * 1024 * 1024, timeout: ((opts.seconds ?? 600) + 120) * 1000 });
    const num = (re: RegExp) => Number(re.exec(stdout)?.[1] ?? NaN);
    const latencies: number[] = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('tx'))) {
      for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (line && Number.isFinite(us)) latencies.push(us / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    const transactions = num(/number of transactions actually processed: (\d+)/);
    const seconds = opts.seconds ?? transactions / num(/tps = ([\d.]+)/);
    return {
      clients: opts.clients, seconds, transactions,
      failed: num(/number of failed transactions: (\d+)/) || 0,
      tps: num(/tps = ([\d.]+) \(without initial connection time\)/),
      p50_ms: percentile(latencies, 0.5), p99_ms: percentile(latencies, 0.99),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function pgbenchInit(tool: PgbenchTool, url: string, scale: number): Promise<void> {
  await run(tool.path, ['-i', '-q', '-s', String(scale), url], { maxBuffer: 16 * 1024 * 1024 });
}
