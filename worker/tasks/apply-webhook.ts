// apply_webhook {inbox_id}: the API stored a RunningHub webhook (token checked) and enqueued this.
// Webhooks are unsigned and repeat: the result is confirmed with /task/openapi/outputs before it is
// applied, and finish_job makes a repeat a no-op. A webhook that beats mark_running is applied
// (finish_job accepts `starting`).
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
  if (isTerminalStatus(job.status)) {
    return done(`duplicate: job already ${job.status}`);
  }
  if (job.status === 'queued') return done(`ignored: job is queued, task ${taskId} is not its task`);
  if (job.provider_task_id !== null && job.provider_task_id !== taskId) {
    return done(`ignored: task ${taskId} is not the job's task ${job.provider_task_id}`);
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
  const outcome = await applyTaskResult(deps.db, job.id, result, log);
  return done(outcome.applied ? `applied: ${outcome.job.status}` : `duplicate: ${outcome.why}`);
}
