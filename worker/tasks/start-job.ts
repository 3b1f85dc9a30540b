// start_job {job_id}: dispatch() moved the job to `starting` and enqueued this in the same
// transaction. Build the provider request from the job row alone, create the RunningHub task, then
// mark_running. Never decide who runs next; never retry a create that may have reached the provider.
import { FilaError } from '../../db/errors.ts';
import { isTerminalStatus, type Job } from '../../db/fila.ts';
import { webhookUrl } from '../../common/webhook-token.ts';
import { errorFields, type WorkerDeps } from '../deps.ts';
import { buildProviderRequest, ToolInputError, type ProviderRequest } from '../../common/tools/index.ts';
import { InputFileError, uploadInputFile } from '../input-files.ts';
import {
  failureMessage, providerWideCodes, RunningHubError, RunningHubUnreachableError, type NodeInfo,
} from '../runninghub/client.ts';

export type StartOutcome =
  | 'not-starting' | 'running' | 'finished-meanwhile' | 'orphan-canceled' | 'failed' | 'requeued' | 'left-to-deadline';


export async function startJob(deps: WorkerDeps, jobId: string): Promise<StartOutcome> {
  const log = deps.logger.child({ task: 'start_job', job_id: jobId });
  let job: Job;
  try {
    job = (await deps.db.job(jobId)).job;
  } catch (err) {
    if (err instanceof FilaError && err.sqlstate === 'FL004') {
      log.warn('start_job for a job that does not exist: nothing to do');
      return 'not-starting';
    }
    throw err;
  }
  if (job.status !== 'starting') {
    log.info({ status: job.status }, 'job is no longer starting: nothing to do');
    return 'not-starting';
  }

  // 1. the request, from the row alone
  let request: ProviderRequest;
  try {
    request = buildProviderRequest(job, deps.tools);
  } catch (err) {
    if (err instanceof ToolInputError) return fail(deps, job, err.message, log);
    throw err;
  }

  // 2. uploads the configuration asks for (nothing is paid yet: any trouble here may be retried)
  const nodeInfoList: NodeInfo[] = [];
  for (const node of request.nodeInfoList) {
    let fieldValue = node.fieldValue;
    if (node.upload) {
      try {
        fieldValue = await uploadInputFile(deps.runninghub, node.fieldValue, node.upload, deps.inputFiles);
      } catch (err) {
        if (err instanceof InputFileError) return fail(deps, job, err.message, log);
        if (err instanceof RunningHubError) return refused(deps, job, err, log);
        if (err instanceof RunningHubUnreachableError) return requeue(deps, job, `RunningHub unreachable (upload, ${err.reason}): ${err.message}`, log);
        // InputFileUnavailableError and the unexpected: graphile-worker retries, no task exists yet
        throw err;
      }
    }
    nodeInfoList.push({ nodeId: node.nodeId, fieldName: node.fieldName, fieldValue });
  }

  // 3. create: from here on nothing may throw, or graphile-worker would retry and create twice
  const hook = webhookUrl(deps.publicUrl, job.id, deps.webhookSecret);
  let taskId: string;
  try {
    taskId = (await deps.runninghub.create({ workflowId: request.workflowId, nodeInfoList, webhookUrl: hook })).taskId;
  } catch (err) {
    if (err instanceof RunningHubError) return refused(deps, job, err, log);
    if (err instanceof RunningHubUnreachableError) {
      if (!err.mayHaveReachedProvider) {
        return requeue(deps, job, `RunningHub unreachable (${err.reason}): ${err.message}`, log);
      }
      // The provider may have created (and will bill) a task we cannot name. Creating again could
      // run it twice; requeueing would too. Leave the job in `starting`: if the task exists, its
      // webhook finishes the job (finish_job accepts starting); if not, the reaper fails and refunds
      // it at its starting deadline.
      log.error({ ...errorFields(err) }, 'create got no answer and may have reached RunningHub: not retrying; the webhook or the starting deadline ends this job');
      return 'left-to-deadline';
    }
    log.error({ ...errorFields(err) }, 'create failed unexpectedly: not retrying; the webhook or the starting deadline ends this job');
    return 'left-to-deadline';
  }
  log.info({ provider_task_id: taskId, workflow_id: request.workflowId }, 'RunningHub task created');

  // 4. report back
  let after: Job;
  try {
    after = await markRunning(deps, job.id, taskId);
  } catch (err) {
    log.error({ ...errorFields(err), provider_task_id: taskId },
      'mark_running failed after retries: the task runs; its webhook (finish_job accepts starting) or the reaper ends this job');
    return 'left-to-deadline';
  }
  if (after.status === 'running' && after.provider_task_id === taskId) return 'running';
  if (after.status === 'canceled' || after.status === 'failed') {
    log.warn({ status: after.status, provider_task_id: taskId }, 'job ended while its task was being created: canceling the orphaned task');
    try {
      await deps.runninghub.cancel(taskId);
      return 'orphan-canceled';
    } catch (err) {
      log.error({ ...errorFields(err), provider_task_id: taskId }, 'could not cancel the orphaned RunningHub task');
      return 'orphan-canceled';
    }
  }
  if (isTerminalStatus(after.status)) return 'finished-meanwhile'; // a fast webhook completed it
  log.warn({ status: after.status }, 'mark_running returned an unexpected status');
  return 'finished-meanwhile';
}

async function markRunning(deps: WorkerDeps, jobId: string, taskId: string): Promise<Job> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await deps.db.markRunning(jobId, taskId);
    } catch (err) {
      if (attempt >= 5 || err instanceof FilaError) throw err;
      deps.logger.warn({ ...errorFields(err), job_id: jobId, attempt }, 'mark_running failed: retrying');
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/** The provider said no. About the job: fail it with the provider's words. Provider-wide: requeue. */
async function refused(deps: WorkerDeps, job: Job, err: RunningHubError, log: WorkerDeps['logger']): Promise<StartOutcome> {
  if (providerWideCodes.has(err.code)) {
    return requeue(deps, job, `RunningHub ${err.code} ${err.msg}`, log);
  }
  return fail(deps, job, failureMessage(err.code, err.msg, null), log);
}

async function fail(deps: WorkerDeps, job: Job, message: string, log: WorkerDeps['logger']): Promise<StartOutcome> {
  const after = await deps.db.finishJob(job.id, 'failed', null, message);
  log.warn({ error: message, status: after.status }, 'job refused: failed with the provider\'s message');
  return 'failed';
}

async function requeue(deps: WorkerDeps, job: Job, reason: string, log: WorkerDeps['logger']): Promise<StartOutcome> {
  const after = await deps.db.requeueJob(job.id, reason);
  log.warn({ reason, status: after.status }, 'provider-wide trouble: job back at its place in the queue, dispatch paused');
  return 'requeued';
}
