// `fila reap`: one reaper pass from outside the worker (system cron). The same code the worker's
// crontab runs (worker/reaper.ts): soft-deadline jobs are checked with the provider, then
// fila.reap_stale_jobs() ends hard-deadline and abandoned jobs.
import { createPool } from '../db/pool.ts';
import { FilaDb } from '../db/fila.ts';
import { reapOnce } from '../worker/reaper.ts';
import { RunningHubClient } from '../worker/runninghub/client.ts';
import { fakeRunningHubApiKey, type Config } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { readLocalSystem, runningHubFromEnv } from './config.ts';
import pino from 'pino';

export interface ReapSummary {
  provider: 'checked' | 'skipped';
  checked: number;
  recovered: number;
  still_running: number;
  unknown: number;
  reaped: { job_id: string; status: string; error: string | null }[];
  summary: string;
}

function providerForReap(config: Config): { baseUrl: string; apiKey: string } | null {
  const real = runningHubFromEnv(config);
  if (real) return real;
  // development: the fake provider of a running `npm start`
  const local = config.development ? readLocalSystem(config) : null;
  return local?.fakeRunningHubUrl ? { baseUrl: local.fakeRunningHubUrl, apiKey: fakeRunningHubApiKey } : null;
}

export async function reap(databaseUrl: string, config: Config): Promise<ReapSummary> {
  const pool = createPool(databaseUrl, 'fila_worker', 2);
  const logger = createLogger({ level: config.LOG_LEVEL ?? 'warn' }, pino.destination(2));
  try {
    const db = new FilaDb(pool);
    const provider = providerForReap(config);
    // no provider configured: only the SQL part (hard deadlines, abandoned queued jobs)
    const r = await reapOnce({ db, runninghub: provider ? new RunningHubClient(provider) : null, logger });
    const reaped = r.reaped.map((j) => ({ job_id: j.id, status: j.status, error: j.error }));
    const summary = [
      provider ? `checked with the provider: ${r.checked} (recovered ${r.recovered.length}, still running ${r.stillRunning.length}, unreachable ${r.unknown.length})`
        : 'provider not configured (RUNNINGHUB_API_KEY unset): soft-deadline checks skipped',
      `reaped: ${reaped.length}${reaped.length ? ` — ${reaped.map((j) => `${j.job_id} ${j.status}`).join(', ')}` : ''}`,
    ].join('\n');
    return {
      provider: provider ? 'checked' : 'skipped', checked: r.checked, recovered: r.recovered.length,
      still_running: r.stillRunning.length, unknown: r.unknown.length, reaped, summary,
    };
  } finally {
    await pool.end();
  }
}
