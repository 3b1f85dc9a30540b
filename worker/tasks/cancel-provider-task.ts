// cancel_provider_task {job_id, provider_task_id}: a job ended (canceled, or failed by the reaper)
// while it had a RunningHub task. Best effort: a refusal (the task already ended) is logged and done;
// no answer at all is retried by graphile-worker (max_attempts 3). Either answer frees the slot the
// ended job held while its task might still run (fila.provider_task_ended).
import { errorFields, type WorkerDeps } from '../deps.ts';
import { RunningHubError } from '../runninghub/client.ts';
import { NoKeyForAccountError } from '../runninghub/accounts.ts';

export async function cancelProviderTask(deps: WorkerDeps, jobId: string, taskId: string): Promise<'canceled' | 'refused' | 'no-key'> {
  const log = deps.logger.child({ task: 'cancel_provider_task', job_id: jobId, provider_task_id: taskId });
  // the task belongs to the account the job started on: only that key may cancel it
  const { job } = await deps.db.job(jobId);
  try {
    await deps.runninghub.for(job.account).cancel(taskId);
    log.info('RunningHub task canceled');
    await deps.db.providerTaskEnded(jobId);
    return 'canceled';
  } catch (err) {
    if (err instanceof NoKeyForAccountError) {
      // no other key may cancel it: an operator has to, in RunningHub's console
      log.error({ ...errorFields(err), account: job.account }, 'cannot cancel the RunningHub task: this worker has no key for its account');
      return 'no-key';
    }
    if (err instanceof RunningHubError) {
      log.warn({ ...errorFields(err) }, 'RunningHub refused to cancel the task (it has probably ended already)');
      await deps.db.providerTaskEnded(jobId);
      return 'refused';
    }
    throw err;
  }
}
