// RunningHub's task API, typed. Every answer is validated with zod; errors keep the provider's own
// code and message (RunningHubError) so that a job fails with the real reason. A request that got no
// answer (connection refused, timeout, reset, a gateway page instead of JSON) is a
// RunningHubUnreachableError: the caller decides whether that is provider-wide trouble or, for a
// create that may have reached the provider, a reason never to retry blindly.
import { z } from 'zod';

/** The provider answered with a non-zero `code` (HTTP 200 with an error body). */
export class RunningHubError extends Error {
  override readonly name = 'RunningHubError';
  constructor(
    readonly endpoint: string,
    readonly code: number,
    readonly msg: string,
    readonly data: unknown,
  ) {
    super(`RunningHub ${endpoint}: ${code} ${msg}`);
  }
}

export type UnreachableReason = 'refused' | 'timeout' | 'network' | 'http-status' | 'bad-response';

/** No usable answer from the provider. */
export class RunningHubUnreachableError extends Error {
  override readonly name = 'RunningHubUnreachableError';
  constructor(
    readonly endpoint: string,
    readonly reason: UnreachableReason,
    message: string,
    /** false only when the request surely never reached the provider (connection refused, DNS). */
    readonly mayHaveReachedProvider: boolean,
    options?: { cause?: unknown },
  ) {
    super(`RunningHub ${endpoint} unreachable (${reason}): ${message}`, options);
  }
}

/** The documented codes (fixtures/runninghub/error-codes.json). */
export const runningHubCodes = {
  PARAMS_INVALID: 301,
  WORKFLOW_NOT_EXISTS: 380,
  TASK_INSTANCE_MAXED: 415,
  TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET: 416,
  TASK_QUEUE_MAXED: 421,
  TASK_NOT_FOUNED: 423,
  VALIDATE_PROMPT_FAILED: 433,
  APIKEY_UNSUPPORTED_FREE_USER: 801,
  APIKEY_UNAUTHORIZED: 802,
  APIKEY_INVALID_NODE_INFO: 803,
  APIKEY_TASK_IS_RUNNING: 804,
  APIKEY_TASK_STATUS_ERROR: 805,
  APIKEY_USER_NOT_FOUND: 806,
  APIKEY_TASK_NOT_FOUND: 807,
  APIKEY_UPLOAD_FAILED: 808,
  APIKEY_FILE_SIZE_EXCEEDED: 809,
  CORPAPIKEY_INVALID: 811,
  CORPAPIKEY_INSUFFICIENT_FUNDS: 812,
  APIKEY_TASK_IS_QUEUED: 813,
  PERSONAL_QUEUE_COUNT_LIMIT: 814,
  WEBAPP_NOT_EXISTS: 901,
  UNKNOWN_ERROR: 500,
} as const;

/**
 * Codes about the provider or the account, never about one job: capacity (415, 421, 814) and the
 * account (416, 801, 802, 806, 811, 812). A job refused with one of these goes back to the queue.
 */
const c = runningHubCodes;
export const providerWideCodes: ReadonlySet<number> = new Set([
  c.TASK_INSTANCE_MAXED, c.TASK_QUEUE_MAXED, c.PERSONAL_QUEUE_COUNT_LIMIT, // capacity
  c.TASK_CREATE_FAILED_BY_NOT_ENOUGH_WALLET, c.APIKEY_UNSUPPORTED_FREE_USER, c.APIKEY_UNAUTHORIZED, // the account
  c.APIKEY_USER_NOT_FOUND, c.CORPAPIKEY_INVALID, c.CORPAPIKEY_INSUFFICIENT_FUNDS,
]);

/** The task does not exist at the provider (for this API key). */
export const taskNotFoundCodes: ReadonlySet<number> = new Set([c.TASK_NOT_FOUNED, c.APIKEY_TASK_NOT_FOUND]);

/** The task has not finished yet (outputs asked too early). */
export const taskNotFinishedCodes: ReadonlySet<number> = new Set([c.APIKEY_TASK_IS_RUNNING, c.APIKEY_TASK_IS_QUEUED]);

/** RunningHub's upload limit. */
export const uploadLimitBytes = 30 * 1024 * 1024;

// Answers ---------------------------------------------------------------------------------------

const envelope = z.object({ code: z.number(), msg: z.string().nullish(), data: z.unknown() });

const taskId = z.union([z.string().min(1), z.number().int()]).transform((v) => String(v));

export const createData = z.object({
  taskId,
  taskStatus: z.string().nullish(),
  clientId: z.string().nullish(),
  netWssUrl: z.string().nullish(),
  promptTips: z.string().nullish(),
});
export type CreatedTask = z.infer<typeof createData>;

export const taskStatus = z.enum(['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED']);
export type TaskStatus = z.infer<typeof taskStatus>;

export const outputFile = z.object({
  fileUrl: z.string().min(1),
  fileType: z.string().nullish().transform((v) => v ?? ''),
  taskCostTime: z.union([z.string(), z.number()]).nullish(),
  nodeId: z.union([z.string(), z.number()]).nullish(),
});
export type OutputFile = z.infer<typeof outputFile>;

export const failedReason = z.object({
  exception_type: z.string().nullish(),
  exception_message: z.string().nullish(),
  node_name: z.string().nullish(),
  node_id: z.union([z.string(), z.number()]).nullish(),
  traceback: z.string().nullish(),
}).loose();
export type FailedReason = z.infer<typeof failedReason>;

export const uploadData = z.object({ fileName: z.string().min(1), fileType: z.string().nullish() });

export const accountStatusData = z.object({
  remainCoins: z.union([z.string(), z.number()]).nullish(),
  currentTaskCounts: z.union([z.string(), z.number()]).nullish(),
  remainMoney: z.union([z.string(), z.number()]).nullish(),
  currency: z.string().nullish(),
  apiType: z.string().nullish(),
}).loose();
export type AccountStatus = z.infer<typeof accountStatusData>;

/** What /task/openapi/outputs (and a webhook's eventData) says about a task. */
export type TaskResult =
  | { kind: 'success'; files: OutputFile[] }
  | { kind: 'failed'; code: number; msg: string; reason: FailedReason | null; message: string }
  | { kind: 'not-finished'; code: number; msg: string };

/** The failure text a job keeps: the provider's exception message verbatim, else its code and msg. */
export function failureMessage(code: number, msg: string, reason: FailedReason | null): string {
  const m = reason?.exception_message?.trim();
  if (m) return m;
  return `${msg || 'RunningHub error'} (RunningHub ${code})`;
}

/** Interpret an outputs-shaped body: the /outputs answer or a webhook's parsed eventData. */
export function interpretOutputs(body: unknown): TaskResult {
  const env = envelope.parse(body);
  const msg = env.msg ?? '';
  if (env.code === 0) {
    return { kind: 'success', files: z.array(outputFile).parse(env.data ?? []) };
  }
  if (taskNotFinishedCodes.has(env.code)) return { kind: 'not-finished', code: env.code, msg };
  if (env.code === runningHubCodes.APIKEY_TASK_STATUS_ERROR) {
    const parsed = z.object({ failedReason: failedReason.nullish() }).loose().safeParse(env.data);
    const reason = parsed.success ? parsed.data.failedReason ?? null : null;
    return { kind: 'failed', code: env.code, msg, reason, message: failureMessage(env.code, msg, reason) };
  }
  throw new RunningHubError('outputs', env.code, msg, env.data);
}

// The client ------------------------------------------------------------------------------------

export interface NodeInfo { nodeId: string; fieldName: string; fieldValue: string }

export interface RunningHubClientOptions {
  baseUrl: string;
  apiKey: string;
  /** per-request timeout; uploads get uploadTimeoutMs */
  timeoutMs?: number;
  uploadTimeoutMs?: number;
}

const refusedCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export class RunningHubClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #timeoutMs: number;
  readonly #uploadTimeoutMs: number;

  constructor(opts: RunningHubClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? 20_000;
    this.#uploadTimeoutMs = opts.uploadTimeoutMs ?? 120_000;
  }

  /** Never print the key: this object may end up in a log line. */
  toJSON(): { baseUrl: string } {
    return { baseUrl: this.baseUrl };
  }

  async create(req: { workflowId: string; nodeInfoList: NodeInfo[]; webhookUrl: string }, signal?: AbortSignal): Promise<CreatedTask> {
    const data = await this.#call('create', { apiKey: this.#apiKey, ...req }, signal);
    return createData.parse(data);
  }

  async status(taskIdValue: string, signal?: AbortSignal): Promise<TaskStatus> {
    return taskStatus.parse(await this.#call('status', { apiKey: this.#apiKey, taskId: taskIdValue }, signal));
  }

  /** The outputs of a task: success files, the failure (code 805 with failedReason), or not finished yet. */
  async outputs(taskIdValue: string, signal?: AbortSignal): Promise<TaskResult> {
    const body = await this.#post('outputs', '/task/openapi/outputs', { apiKey: this.#apiKey, taskId: taskIdValue }, this.#timeoutMs, signal);
    return this.#validated('outputs', () => interpretOutputs(body));
  }

  async cancel(taskIdValue: string, signal?: AbortSignal): Promise<void> {
    await this.#call('cancel', { apiKey: this.#apiKey, taskId: taskIdValue }, signal);
  }

  async accountStatus(signal?: AbortSignal): Promise<AccountStatus> {
    const body = await this.#post('accountStatus', '/uc/openapi/accountStatus', { apikey: this.#apiKey }, this.#timeoutMs, signal);
    return this.#validated('accountStatus', () => accountStatusData.parse(this.#data('accountStatus', body)));
  }

  /** Upload a file's bytes (at most 30 MB); returns the fileName a node takes as its fieldValue. */
  async upload(file: Blob, fileName: string, fileType: 'image' | 'video' | 'audio' | 'input', signal?: AbortSignal): Promise<string> {
    if (file.size > uploadLimitBytes) {
      throw new RunningHubError('upload', runningHubCodes.APIKEY_FILE_SIZE_EXCEEDED, 'APIKEY_FILE_SIZE_EXCEEDED',
        { size: file.size, limit: uploadLimitBytes });
    }
    const form = new FormData();
    form.set('apiKey', this.#apiKey);
    form.set('fileType', fileType);
    form.set('file', file, fileName);
    const body = await this.#post('upload', '/task/openapi/upload', form, this.#uploadTimeoutMs, signal);
    return this.#validated('upload', () => uploadData.parse(this.#data('upload', body)).fileName);
  }

  async #call(endpoint: 'create' | 'status' | 'cancel', payload: unknown, signal?: AbortSignal): Promise<unknown> {
    const body = await this.#post(endpoint, `/task/openapi/${endpoint}`, payload, this.#timeoutMs, signal);
    return this.#validated(endpoint, () => this.#data(endpoint, body));
  }

  #data(endpoint: string, body: unknown): unknown {
    const env = envelope.parse(body);
    if (env.code !== 0) throw new RunningHubError(endpoint, env.code, env.msg ?? '', env.data);
    return env.data;
  }

  /** A body that is not the documented shape is no usable answer. */
  #validated<T>(endpoint: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof z.ZodError) {
        throw new RunningHubUnreachableError(endpoint, 'bad-response',
          `unexpected answer: ${z.prettifyError(err)}`, true, { cause: err });
      }
      throw err;
    }
  }

  async #post(endpoint: string, path: string, payload: unknown, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(this.baseUrl + path, {
        method: 'POST',
        ...(payload instanceof FormData
          ? { body: payload }
          : { body: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }),
        signal: combined,
      });
    } catch (err) {
      throw this.#networkError(endpoint, err, timeout.aborted, timeoutMs);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.#networkError(endpoint, err, timeout.aborted, timeoutMs);
    }
    if (!res.ok) {
      // 429/503: the gateway refused before the application saw the request
      throw new RunningHubUnreachableError(endpoint, 'http-status', `HTTP ${res.status} ${text.slice(0, 200)}`,
        res.status !== 429 && res.status !== 503);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new RunningHubUnreachableError(endpoint, 'bad-response', `not JSON: ${text.slice(0, 200)}`, true, { cause: err });
    }
  }

  #networkError(endpoint: string, err: unknown, timedOut: boolean, timeoutMs: number): Error {
    if (timedOut) {
      return new RunningHubUnreachableError(endpoint, 'timeout', `no answer within ${timeoutMs} ms`, true, { cause: err });
    }
    if (err instanceof Error && err.name === 'AbortError') return err; // the caller's own signal
    const code = causeCode(err);
    const message = `${err instanceof Error ? err.message : String(err)}${code ? ` (${code})` : ''}`;
    if (code && refusedCodes.has(code)) {
      return new RunningHubUnreachableError(endpoint, 'refused', message, false, { cause: err });
    }
    return new RunningHubUnreachableError(endpoint, 'network', message, true, { cause: err });
  }
}
