// Apply what the provider confirmed about a task (from /task/openapi/outputs): the one place where a
// provider result becomes finish_job, used by apply_webhook and by the reaper.
import type pino from 'pino';
import type { FilaDb, Job } from '../db/fila.ts';
import type { TaskResult } from './runninghub/client.ts';

export type ApplyOutcome =
  | { applied: true; job: Job }
  | { applied: false; job: Job | null; why: string };

export async function applyTaskResult(db: FilaDb, jobId: string, result: TaskResult, log: pino.Logger): Promise<ApplyOutcome> {
  if (result.kind === 'not-finished') {
    return { applied: false, job: null, why: `provider says the task is not finished (${result.code} ${result.msg})` };
  }
  const before = (await db.job(jobId)).job;
  const job = result.kind === 'success'
    ? await db.finishJob(jobId, 'completed', result.files.map((f) => ({ url: f.fileUrl, type: f.fileType })), null)
    : await db.finishJob(jobId, 'failed', null, result.message);
  const applied = before.status !== job.status;
  if (applied) log.info({ job_id: jobId, status: job.status, error: job.error }, 'job finished with the provider\'s result');
  return applied ? { applied, job } : { applied, job, why: `job already ${job.status}` };
}
