// start_job {job_id}: dispatch() moved the job to `starting` and enqueued this in the same
// transaction. Build the provider request from the job row alone, create the RunningHub task, then
// mark_running. Never decide who runs next; never retry a create that may have reached the provider.
// What a refusal means comes from the code table (runninghub/codes.ts), never from a list here.
import { FilaError } from '../../db/errors.ts';
import { isTerminalStatus, type Job } from '../../db/fila.ts';
import { webhookUrl } from '../../common/webhook-token.ts';
import { errorFields, type WorkerDeps } from '../deps.ts';
import { buildProviderRequest, ToolInputError, type ProviderRequest } from '../../common/tools/index.ts';
import { InputFileError, uploadInputFile } from '../input-files.ts';
import { NoKeyForAccountError } from '../runninghub/accounts.ts';
import {
  createFailure, failureMessage, RunningHubError, RunningHubUnreachableError, type CreatedTask, type NodeInfo,
} from '../runninghub/client.ts';
import { classifyCode, codeName, codeRow } from '../runninghub/codes.ts';

export type StartOutcome =
  | 'not-starting' | 'running' | 'finished-meanwhile' | 'orphan-canceled' | 'failed' | 'requeued' | 'tool-disabled'
  | 'left-to-deadline';


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

  // every call about this job goes out with the key of the account dispatch chose
  let runninghub;
  try {
    runninghub = deps.runninghub.for(job.account);
  } catch (err) {
    // an account enabled after this worker started: trouble of that account, not of the job
    if (err instanceof NoKeyForAccountError) return requeue(deps, job, err.message, log);
    throw err;
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
        fieldValue = await uploadInputFile(runninghub, node.fieldValue, node.upload, deps.inputFiles);
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

  // 3. create. Noted first (a throw here is retried: nothing is sent yet), so that the job holds its
  // slot even if this process dies before the answer: the task may exist. A job canceled meanwhile
  // gets no task at all.
  if (!(await deps.db.noteCreateSent(job.id))) {
    log.info('job is no longer starting: its create is not sent');
    return 'not-starting';
  }
  // from here on nothing may throw, or graphile-worker would retry and create twice
  const hook = webhookUrl(deps.publicUrl, job.id, deps.webhookSecret);
  let created: CreatedTask;
  try {
    created = await runninghub.create({
      workflowId: request.workflowId, nodeInfoList, webhookUrl: hook, addMetadata: request.addMetadata ?? false,
    });
  } catch (err) {
    if (err instanceof RunningHubError) {
      await createAnswered(deps, job, log);
      return refused(deps, job, err, log);
    }
    if (err instanceof RunningHubUnreachableError && !uncertain(err)) {
      // refused connection, a gateway's 5xx, a malformed answer: provider trouble, not the user's
      await createAnswered(deps, job, log);
      return requeue(deps, job, `RunningHub unreachable (${err.reason}): ${err.message}`, log);
    }
    // The provider may have created (and will bill) a task we cannot name. Creating again could
    // run it twice; requeueing would too. The job keeps its slot: a webhook the provider confirms
    // for it is adopted (worker/poller.ts), else the starting deadline fails and refunds it, and a
    // task that turns up later is canceled as an orphan.
    log.error({ ...errorFields(err) }, 'create got no answer and may have reached RunningHub: not retrying; the job waits for its webhook or its starting deadline');
    try {
      await deps.db.noteUncertainCreate(job.id, err instanceof Error ? err.message : String(err));
    } catch (noteErr) {
      log.error({ ...errorFields(noteErr) }, 'could not note the uncertain create: the starting deadline still ends this job');
    }
    return 'left-to-deadline';
  }
  const taskId = created.taskId;
  const createdFailed = createFailure(created);
  log.info({ provider_task_id: taskId, workflow_id: request.workflowId, task_status: created.taskStatus }, 'RunningHub task created');

  // 4. report back. A create answered code 0 whose task already failed (taskStatus FAILED, node
  // errors) fails the job now with the node's own words; mark_running then only records the task id.
  if (createdFailed !== null) {
    const failed = await deps.db.finishJob(job.id, 'failed', null, createdFailed);
    log.warn({ provider_task_id: taskId, error: createdFailed, status: failed.status }, 'RunningHub refused the task at create');
  }
  let after: Job;
  try {
    after = await markRunning(deps, job.id, taskId);
  } catch (err) {
    log.error({ ...errorFields(err), provider_task_id: taskId },
      'mark_running failed after retries: the task runs; the starting deadline ends this job and its webhook then cancels the task');
    return 'left-to-deadline';
  }
  if (createdFailed !== null) return 'failed';
  if (after.status === 'running' && after.provider_task_id === taskId) {
    // webhooks that arrived before the task id was known waited in the inbox: apply them now
    const pending = await deps.db.reapplyPendingWebhooks(job.id);
    if (pending) log.info({ pending }, 'webhooks that beat mark_running re-applied');
    return 'running';
  }
  if (isTerminalStatus(after.status) && after.status !== 'completed') {
    const recorded = await deps.db.recordOrphanTask(job.id, taskId, `the create answered after the job was ${after.status}`);
    log.warn({ status: after.status, provider_task_id: taskId, recorded }, 'job ended while its task was being created: the orphaned task is canceled');
    return 'orphan-canceled';
  }
  log.warn({ status: after.status }, 'mark_running returned an unexpected status');
  return 'finished-meanwhile';
}

/** The provider refused the create: no task exists, the job's slot is not held for one. Cannot
 *  throw (we are past the create): when the note fails the slot stays held until the tool's hard
 *  deadline, which costs throughput, not correctness. */
async function createAnswered(deps: WorkerDeps, job: Job, log: WorkerDeps['logger']): Promise<void> {
  try {
    await deps.db.noteCreateAnswered(job.id);
  } catch (err) {
    log.error({ ...errorFields(err) }, 'could not note the refused create: the job holds its slot until its tool\'s hard deadline');
  }
}

/** No answer that proves the request did not reach the provider: the task may exist. */
function uncertain(err: RunningHubUnreachableError): boolean {
  return err.reason === 'timeout' || err.reason === 'network';
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

/** The provider said no (create or upload): the code table says whose problem it is. */
async function refused(deps: WorkerDeps, job: Job, err: RunningHubError, log: WorkerDeps['logger']): Promise<StartOutcome> {
  const row = codeRow(err.code);
  const said = `RunningHub ${err.code} ${err.msg || codeName(err.code)}`;
  switch (classifyCode(err.code)) {
    case 'capacity':
    case 'transient':
    case 'task-state':
      return requeue(deps, job, `${said}: ${row?.meaning ?? 'provider trouble'}`, log);
    case 'account':
      log.error({ ...errorFields(err), meaning: row?.meaning }, 'RunningHub refused the account: an operator must act');
      return requeue(deps, job, `conta RunningHub: ${said}: ${row?.meaning ?? ''}`, log);
    case 'unknown':
      log.error({ ...errorFields(err), payload: err.data }, 'RunningHub answered a code fila does not know: treated as provider trouble');
      return requeue(deps, job, `${said} (código desconhecido, tratado como falha passageira)`, log);
    case 'tool-config': {
      const detail = nodeErrorsOf(err.data);
      const reason = `O RunningHub recusou o workflow desta ferramenta (${said}${detail ? `: ${detail}` : ''}): ${row?.meaning ?? ''}.`;
      await deps.db.disableTool(job.tool, reason);
      log.error({ ...errorFields(err), tool: job.tool, reason }, 'tool disabled for new submits: its workflow is refused by RunningHub');
      await requeue(deps, job, `ferramenta ${job.tool} indisponível: ${said}`, log);
      return 'tool-disabled';
    }
    case 'job':
      return fail(deps, job, failureMessage(err.code, err.msg, null), log);
  }
}

/** The node errors RunningHub sends with a validation refusal (433), as text. */
function nodeErrorsOf(data: unknown): string | null {
  const tips = (data && typeof data === 'object' ? (data as { promptTips?: unknown }).promptTips : null);
  if (typeof tips !== 'string') return null;
  return createFailure({ taskId: '-', promptTips: tips });
}

async function fail(deps: WorkerDeps, job: Job, message: string, log: WorkerDeps['logger']): Promise<StartOutcome> {
  const after = await deps.db.finishJob(job.id, 'failed', null, message);
  log.warn({ error: message, status: after.status }, 'job refused: failed with the provider\'s message');
  return 'failed';
}

async function requeue(deps: WorkerDeps, job: Job, reason: string, log: WorkerDeps['logger']): Promise<StartOutcome> {
  const after = await deps.db.requeueJob(job.id, reason);
  log.warn({ reason, account: job.account, status: after.status }, 'provider-wide trouble: job back at its place in the queue, its account paused');
  return 'requeued';
}
