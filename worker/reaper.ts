// One reaper pass (graphile-worker's crontab runs it every minute; `npx fila reap` runs it from
// system cron). Webhooks get lost: a running job past its soft deadline is first checked with the
// provider through /task/openapi/outputs (what RunningHub's own plugin and sample poll; /status is
// unmaintained and may answer an empty string) — finished: the real result is applied; failed: the
// real reason; still running (804) or queued (813): left alone until its hard deadline. Then
// fila.reap_stale_jobs() fails hard-deadline jobs (refund, provider cancel enqueued), cancels
// abandoned queued jobs and dispatches. The poller (poller.ts) asks sooner, every few seconds.
import type pino from 'pino';
import type { FilaDb, Job, StaleJob } from '../db/fila.ts';
import { applyTaskResult } from './apply-result.ts';
import { errorFields } from './deps.ts';
import { RunningHubError, RunningHubUnreachableError, taskNotFoundCodes } from './runninghub/client.ts';
import { NoKeyForAccountError, type RunningHubAccounts } from './runninghub/accounts.ts';

export interface ReaperDeps {
  db: FilaDb;
  /** null: no provider to ask (`fila reap` without provider keys): only the SQL part runs */
  runninghub: RunningHubAccounts | null;
  logger: pino.Logger;
}

export interface ReapResult {
  /** running jobs past their soft (or hard) deadline that were checked with the provider */
  checked: number;
  /** finished at the provider and applied here (a lost webhook recovered) */
  recovered: Array<{ job_id: string; status: string }>;
  /** still queued or running at the provider: left until the hard deadline */
  stillRunning: string[];
  /** the provider could not be asked this time */
  unknown: string[];
  /** what reap_stale_jobs ended: hard deadlines and abandoned queued jobs */
  reaped: Job[];
}

export async function reapOnce(deps: ReaperDeps): Promise<ReapResult> {
  const log = deps.logger.child({ task: 'reap' });
  const result: ReapResult = { checked: 0, recovered: [], stillRunning: [], unknown: [], reaped: [] };
  const { runninghub } = deps;
  if (runninghub) {
    for (const s of await deps.db.staleJobs()) {
      if (s.status !== 'running' || !s.provider_task_id) continue;
      result.checked++;
      await checkWithProvider({ ...deps, runninghub }, s, s.provider_task_id, result, log);
    }
  }
  result.reaped = await deps.db.reapStaleJobs();
  for (const job of result.reaped) {
    log.warn({ job_id: job.id, status: job.status, error: job.error }, 'reaped');
  }
  if (result.checked || result.reaped.length) {
    log.info({ checked: result.checked, recovered: result.recovered.length, still_running: result.stillRunning.length,
      unknown: result.unknown.length, reaped: result.reaped.length }, 'reaper pass');
  }
  return result;
}

async function checkWithProvider(deps: ReaperDeps & { runninghub: RunningHubAccounts }, s: StaleJob, taskId: string, result: ReapResult, log: pino.Logger): Promise<void> {
  const jlog = log.child({ job_id: s.job_id, provider_task_id: taskId, past: s.past, account: s.account });
  try {
    // the task is known only to the account that created it: ask with that account's key
    const outputs = await deps.runninghub.for(s.account).outputs(taskId);
    if (outputs.kind === 'not-finished') {
      result.stillRunning.push(s.job_id);
      jlog.info({ provider_code: outputs.code }, 'past its soft deadline but still queued or running at the provider: left until the hard deadline');
      return;
    }
    const applied = await applyTaskResult(deps.db, s.job_id, outputs, jlog, 'reaper');
    if (applied.applied) {
      result.recovered.push({ job_id: s.job_id, status: applied.job.status });
      jlog.warn({ status: applied.job.status }, 'webhook never applied: result recovered from the provider');
    } else {
      result.stillRunning.push(s.job_id);
      jlog.info({ why: applied.why }, 'nothing applied');
    }
  } catch (err) {
    if (err instanceof RunningHubError && taskNotFoundCodes.has(err.code)) {
      // the provider has no such task: the job cannot finish; fail it with the provider's own answer
      const job = await deps.db.finishJob(s.job_id, 'failed', null, `${err.msg} (RunningHub ${err.code}): task ${taskId}`);
      result.recovered.push({ job_id: s.job_id, status: job.status });
      jlog.warn({ ...errorFields(err) }, 'the provider does not know the task: failed');
      return;
    }
    if (err instanceof RunningHubError || err instanceof RunningHubUnreachableError || err instanceof NoKeyForAccountError) {
      result.unknown.push(s.job_id);
      jlog.warn({ ...errorFields(err) }, 'could not ask the provider about a stale job; its hard deadline still applies');
      return;
    }
    throw err;
  }
}
