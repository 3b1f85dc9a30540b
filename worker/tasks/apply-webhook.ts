// apply_webhook {inbox_id}: the API stored a RunningHub webhook (token checked) and enqueued this.
// Webhooks are unsigned and repeat, and whoever holds a job's webhook URL can post any taskId to
// it. So a result applies only to the task fila itself recorded for the job, confirmed with
// /task/openapi/outputs for THAT task; finish_job makes a repeat a no-op. A webhook that beats
// mark_running waits in the inbox (start_job re-applies it once the task id is recorded). A task
// no job owns, named for a job that cannot own it, is canceled at the provider (an orphan).
import { z } from 'zod';
import { FilaError } from '../../db/errors.ts';
import { isTerminalStatus, type Job } from '../../db/fila.ts';
import { errorFields, type WorkerDeps } from '../deps.ts';
import { applyTaskResult } from '../apply-result.ts';
import { interpretOutputs, RunningHubError, taskNotFoundCodes, type TaskResult } from '../runninghub/client.ts';

const webhookBody = z.object({
  event: z.string().optional(),
  taskId: z.union([z.string().min(1), z.number().int()]).transform(String),
  eventData: z.string().optional(),
}).loose();

/** Thrown to have graphile-worker try again later (the provider has not confirmed yet). */
export class WebhookNotConfirmedYet extends Error {
  override readonly name = 'WebhookNotConfirmedYet';
}

export async function applyWebhook(deps: WorkerDeps, inboxId: number): Promise<string> {
  const log = deps.logger.child({ task: 'apply_webhook', inbox_id: inboxId });
  const hook = await deps.db.webhook(inboxId);
  if (!hook) {
    log.warn('stored webhook not found: nothing to do');
    return 'missing';
  }
  const done = async (outcome: string): Promise<string> => {
    await deps.db.markWebhookProcessed(inboxId, outcome);
    log.info({ job_id: hook.job_id, outcome }, 'webhook processed');
    return outcome;
  };
  if (hook.processed_at) return hook.outcome ?? 'already processed';

  const parsed = webhookBody.safeParse(hook.payload);
  if (!parsed.success) return done(`ignored: not a RunningHub webhook: ${z.prettifyError(parsed.error)}`);
  const { taskId, event } = parsed.data;
  if (event !== undefined && event !== 'TASK_END') return done(`ignored: event ${event}`);

  let claimed: string = 'unknown';
  if (parsed.data.eventData !== undefined) {
    try {
      claimed = interpretOutputs(JSON.parse(parsed.data.eventData)).kind;
    } catch (err) {
      log.warn({ ...errorFields(err) }, 'webhook eventData is not an outputs answer; confirming with the provider anyway');
    }
  }

  let job: Job;
  try {
    job = (await deps.db.job(hook.job_id)).job;
  } catch (err) {
    if (err instanceof FilaError && err.sqlstate === 'FL004') return done('ignored: job not found');
    throw err;
  }
  // Which task may this webhook speak for? Decided in SQL, under the job's row lock.
  const verdict = await deps.db.webhookTaskVerdict(job.id, taskId);
  switch (verdict) {
    case 'wait':
      // processed_at stays null: reapply_pending_webhooks runs it again after mark_running, or the
      // poller adopts the task after an uncertain create; the starting deadline bounds both
      log.info({ job_id: job.id, task_id: taskId }, 'webhook before the job\'s task id is known: waiting in the inbox');
      return 'waiting';
    case 'foreign':
      log.warn({ job_id: job.id, task_id: taskId }, 'webhook names another job\'s task: refused');
      return done(`rejected: task ${taskId} belongs to another job`);
    case 'orphan':
      log.warn({ job_id: job.id, task_id: taskId, status: job.status }, 'webhook names a task no job owns: canceled at the provider');
      return done(`orphan: task ${taskId} is not the task of this ${job.status} job; canceled at the provider`);
    case 'own':
      break;
  }
  if (isTerminalStatus(job.status)) {
    return done(`duplicate: job already ${job.status}`);
  }

  let result: TaskResult;
  try {
    result = await deps.runninghub.for(job.account).outputs(taskId);
  } catch (err) {
    if (err instanceof RunningHubError && taskNotFoundCodes.has(err.code)) {
      return done(`rejected: RunningHub does not know task ${taskId} (${err.code} ${err.msg})`);
    }
    throw err; // unreachable or unexpected: graphile-worker tries again (max_attempts 10); the reaper is the backstop
  }
  if (result.kind === 'not-finished') {
    throw new WebhookNotConfirmedYet(`webhook says task ${taskId} ended (${claimed}) but RunningHub answers ${result.code} ${result.msg}`);
  }
  if (claimed !== 'unknown' && claimed !== result.kind) {
    log.warn({ claimed, confirmed: result.kind, task_id: taskId }, 'webhook disagrees with the provider: applying what the provider confirms');
  }
  const outcome = await applyTaskResult(deps.db, job.id, result, log, null);
  return done(outcome.applied ? `applied: ${outcome.job.status}` : `duplicate: ${outcome.why}`);
}
