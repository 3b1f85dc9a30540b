// Every RunningHub code fila knows, in one table: what it means for the job at hand, and where the
// code and its meaning come from. The client, start_job, the reaper, the fake RunningHub and
// worker/README.md all read this table; nothing else lists codes.
//
// Classes (what fila does when a create or an upload is answered with the code):
//   capacity     the provider or the account is full right now: requeue at its place, pause dispatch
//   account      the account cannot run tasks (key, funds, membership): requeue, pause, an operator must act
//   transient    the provider had trouble (or said something fila does not know): requeue with back-off
//   tool-config  the tool's workflow cannot run as configured: disable the tool for new submits, requeue
//   job          about this job's own input or run: fail it with the provider's words, refund
//   task-state   an answer about an existing task (outputs/status): running, queued, failed, not found
export type CodeClass = 'capacity' | 'account' | 'transient' | 'tool-config' | 'job' | 'task-state';

export interface CodeRow {
  code: number;
  name: string;
  class: CodeClass;
  /** what an operator reads (pause reason, disabled tool's reason) */
  meaning: string;
  /** where the code and its meaning are documented or were observed */
  source: string;
}

// Sources, named once.
const docsList = 'RunningHub API docs, error-code list (dev/fake-runninghub/fixtures/error-codes.json)';
const docsOutputs = 'RunningHub API docs, "Check Task Output" (/task/openapi/outputs); RunningHub ComfyUI plugin and integration sample poll it';
const docsUpload = 'RunningHub API docs, "Upload Resource" (30 MB limit)';

export const codeTable = [
  { code: 301, name: 'PARAMS_INVALID', class: 'job', source: docsList,
    meaning: 'the request parameters are invalid for this job' },
  { code: 380, name: 'WORKFLOW_NOT_EXISTS', class: 'tool-config', source: docsList,
    meaning: 'the configured workflow id does not exist at RunningHub' },
  { code: 412, name: 'TOKEN_INVALID', class: 'account', source: docsList,
    meaning: 'the account token is invalid: check RUNNINGHUB_API_KEY' },
  { code: 415, name: 'TASK_INSTANCE_MAXED', class: 'capacity', source: docsList,
    meaning: 'every machine instance of the account is busy' },
  { code: 416, name: 'TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET', class: 'account', source: docsList,
    meaning: 'the account wallet has no funds: top it up at RunningHub' },
  { code: 421, name: 'TASK_QUEUE_MAXED', class: 'capacity', source: `${docsList}; fixtures error.queue-maxed.json`,
    meaning: 'the account task queue is full' },
  { code: 423, name: 'TASK_NOT_FOUNED', class: 'task-state', source: docsList,
    meaning: 'RunningHub does not know the task' },
  { code: 433, name: 'VALIDATE_PROMPT_FAILED', class: 'tool-config', source: docsList,
    meaning: 'the workflow failed RunningHub validation (nodes or values the workflow does not accept)' },
  { code: 435, name: 'EXCLUSIVE_INSTANCE_NOT_FOUND', class: 'tool-config', source: docsList,
    meaning: 'the workflow asks for an exclusive instance the account does not have' },
  { code: 436, name: 'TASK_USER_EXCLAPI_REQUIRED', class: 'account', source: docsList,
    meaning: 'the account exclusive-API membership is required or has expired: renew it at RunningHub' },
  { code: 500, name: 'UNKNOWN_ERROR', class: 'transient', source: docsList,
    meaning: 'RunningHub reported an internal error' },
  { code: 801, name: 'APIKEY_UNSUPPORTED_FREE_USER', class: 'account', source: docsList,
    meaning: 'the account is a free account, which the API does not serve: upgrade it at RunningHub' },
  { code: 802, name: 'APIKEY_UNAUTHORIZED', class: 'account', source: docsList,
    meaning: 'the API key is not authorized: check RUNNINGHUB_API_KEY' },
  { code: 803, name: 'APIKEY_INVALID_NODE_INFO', class: 'tool-config', source: docsList,
    meaning: 'the configured node ids or field names do not match the workflow' },
  { code: 804, name: 'APIKEY_TASK_IS_RUNNING', class: 'task-state', source: docsOutputs,
    meaning: 'the task is running' },
  { code: 805, name: 'APIKEY_TASK_STATUS_ERROR', class: 'task-state', source: `${docsOutputs}; fixtures outputs.failed.json`,
    meaning: 'the task failed (failedReason says why)' },
  { code: 806, name: 'APIKEY_USER_NOT_FOUND', class: 'account', source: docsList,
    meaning: 'RunningHub does not know the account of this API key' },
  { code: 807, name: 'APIKEY_TASK_NOT_FOUND', class: 'task-state', source: docsList,
    meaning: 'RunningHub does not know the task for this API key' },
  { code: 808, name: 'APIKEY_UPLOAD_FAILED', class: 'transient', source: docsList,
    meaning: 'RunningHub storage or network failed' },
  { code: 809, name: 'APIKEY_FILE_SIZE_EXCEEDED', class: 'job', source: `${docsList}; ${docsUpload}`,
    meaning: 'the input file is larger than RunningHub accepts' },
  { code: 810, name: 'WORKFLOW_NOT_SAVED_OR_NOT_RUNNING', class: 'tool-config', source: docsList,
    meaning: 'the workflow was never saved or never run successfully at RunningHub' },
  { code: 811, name: 'CORPAPIKEY_INVALID', class: 'account', source: docsList,
    meaning: 'the enterprise API key is invalid: check RUNNINGHUB_API_KEY' },
  { code: 812, name: 'CORPAPIKEY_INSUFFICIENT_FUNDS', class: 'account', source: docsList,
    meaning: 'the enterprise account has no funds: top it up at RunningHub' },
  { code: 813, name: 'APIKEY_TASK_IS_QUEUED', class: 'task-state', source: docsOutputs,
    meaning: 'the task is queued' },
  { code: 814, name: 'PERSONAL_QUEUE_COUNT_LIMIT', class: 'capacity', source: docsList,
    meaning: 'the account personal queue limit is reached' },
  { code: 901, name: 'WEBAPP_NOT_EXISTS', class: 'tool-config', source: docsList,
    meaning: 'the configured AI app does not exist at RunningHub' },
] as const satisfies readonly CodeRow[];

export type CodeName = (typeof codeTable)[number]['name'];

/** Code by name: `runningHubCodes.TASK_QUEUE_MAXED === 421`. */
export const runningHubCodes = Object.fromEntries(codeTable.map((r) => [r.name, r.code])) as { [K in CodeName]: number };

const byCode = new Map<number, CodeRow>(codeTable.map((r) => [r.code, r]));

/** The row of a code, or null for a code RunningHub never documented (treated as transient). */
export function codeRow(code: number): CodeRow | null {
  return byCode.get(code) ?? null;
}

/** What fila does with a refusal: unknown codes count as provider trouble, never as the user's fault. */
export function classifyCode(code: number): CodeClass | 'unknown' {
  return byCode.get(code)?.class ?? 'unknown';
}

/** The documented name of a code ('UNKNOWN_ERROR' for one that is not documented). */
export function codeName(code: number): string {
  return byCode.get(code)?.name ?? 'UNKNOWN_ERROR';
}

/** The task does not exist at the provider (for this API key). */
export const taskNotFoundCodes: ReadonlySet<number> = new Set([runningHubCodes.TASK_NOT_FOUNED, runningHubCodes.APIKEY_TASK_NOT_FOUND]);

/** The task has not finished yet (outputs asked too early). */
export const taskNotFinishedCodes: ReadonlySet<number> = new Set([runningHubCodes.APIKEY_TASK_IS_RUNNING, runningHubCodes.APIKEY_TASK_IS_QUEUED]);

/** Code table as markdown rows (worker/README.md holds the same table; a test keeps them equal). */
export function codeTableMarkdown(): string {
  const action: Record<CodeClass, string> = {
    capacity: 'requeue at its place, pause dispatch',
    account: 'requeue at its place, pause dispatch; operator must act',
    transient: 'requeue at its place with back-off',
    'tool-config': 'tool disabled for new submits (reason shown), job requeued',
    job: 'job failed with the provider\'s message, refunded',
    'task-state': 'answer about an existing task (see below)',
  };
  const lines = ['| code | name | class | fila does | meaning | source |', '|---|---|---|---|---|---|'];
  for (const r of codeTable) {
    lines.push(`| ${r.code} | \`${r.name}\` | ${r.class} | ${action[r.class]} | ${r.meaning} | ${r.source} |`);
  }
  return lines.join('\n');
}
