// cancel_provider_task {job_id, provider_task_id}: a job ended (canceled, or failed by the reaper)
// while it had a RunningHub task. Best effort: a refusal (the task already ended) is logged and done;
// no answer at all is retried by graphile-worker (max_attempts 3).
import { errorFields, type WorkerDeps } from '../deps.ts';
import { RunningHubError } from '../runninghub/client.ts';

export async function cancelProviderTask(deps: WorkerDeps, jobId: string, taskId: string): Promise<'canceled' | 'refused'> {
  const log = deps.logger.child({ task: 'cancel_provider_task', job_id: jobId, provider_task_id: taskId });
  try {
    await deps.runninghub.cancel(taskId);
    log.info('RunningHub task canceled');
    return 'canceled';
  } catch (err) {
    if (err instanceof RunningHubError) {
      log.warn({ ...errorFields(err) }, 'RunningHub refused to cancel the task (it has probably ended already)');
      return 'refused';
    }
    throw err;
  }
}
