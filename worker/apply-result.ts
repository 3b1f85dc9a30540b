// Apply what the provider confirmed about a task (from /task/openapi/outputs): the one place where a
// provider result becomes finish_job, used by apply_webhook, the poller and the reaper.
import type pino from 'pino';
import type { FilaDb, Job } from '../db/fila.ts';
import { taskCost, type TaskResult } from './runninghub/client.ts';
import { outputUrlsRefusal } from '../common/output-urls.ts';

export type ApplyOutcome =
  | { applied: true; job: Job }
  | { applied: false; job: Job | null; why: string };

/** `recoveredBy`: the result came from asking the provider (webhook late or lost), not from a webhook. */
export async function applyTaskResult(
  db: FilaDb, jobId: string, result: TaskResult, log: pino.Logger, recoveredBy: 'poll' | 'reaper' | null,
): Promise<ApplyOutcome> {
  if (result.kind === 'not-finished') {
    return { applied: false, job: null, why: `provider says the task is not finished (${result.code} ${result.msg})` };
  }
  // links users will click: a result with a non-http(s) URL fails the job, saying so
  const badOutput = result.kind === 'success' ? outputUrlsRefusal(result.files.map((f) => f.fileUrl)) : null;
  const cost = result.kind === 'success' ? taskCost(result.files) : {};
  // one transaction: the job is never seen finished (by a client, an event stream, the poller's
  // own caller) without its cost and recovered_by, and a crash between the two loses neither
  const { applied, job } = await db.transaction(async (tx) => {
    const before = (await tx.job(jobId)).job;
    const job = result.kind === 'failed' ? await tx.finishJob(jobId, 'failed', null, result.message)
      : badOutput ? await tx.finishJob(jobId, 'failed', null, badOutput)
        : await tx.finishJob(jobId, 'completed', result.files.map((f) => ({ url: f.fileUrl, type: f.fileType })), null);
    const applied = before.status !== job.status;
    if (applied) await tx.recordProviderResult(jobId, Object.keys(cost).length ? cost : null, recoveredBy);
    return { applied, job };
  });
  if (!applied) return { applied, job, why: `job already ${job.status}` };
  log.info({ job_id: jobId, status: job.status, error: job.error, cost, recovered_by: recoveredBy }, 'job finished with the provider\'s result');
  return { applied, job };
}
