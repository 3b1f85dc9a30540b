// RunningHub's task API, typed. Every answer is validated with zod; errors keep the provider's own
// code and message (RunningHubError) so that a job fails with the real reason. A request that got no
// answer (connection refused, timeout, reset, a gateway page instead of JSON) is a
// RunningHubUnreachableError: the caller decides whether that is provider-wide trouble or, for a
// create that may have reached the provider, a reason never to retry blindly.
import { z } from 'zod';
import { runningHubCodes, taskNotFinishedCodes } from './codes.ts';

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

export { runningHubCodes, taskNotFinishedCodes, taskNotFoundCodes } from './codes.ts';

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
// RunningHub's own sample calls /status unmaintained, and its documented example answers `data: ""`:
// an empty status is "unknown", not a bad answer. Recovery asks /outputs; status is only a hint.
const statusData = z.union([taskStatus, z.literal('').transform(() => null), z.null()]);

const promptTips = z.object({
  error: z.object({ message: z.string().nullish(), type: z.string().nullish() }).loose().nullish(),
  node_errors: z.record(z.string(), z.object({
    errors: z.array(z.object({ message: z.string().nullish(), details: z.string().nullish(), type: z.string().nullish() }).loose()).nullish(),
    class_type: z.string().nullish(),
  }).loose()).nullish(),
}).loose();

/**
 * A create answered code 0 can still be a failed task: `taskStatus: "FAILED"`, or `promptTips`
 * carrying `node_errors` (RunningHub's sample treats that as a node error). The node's own text,
 * or null when the task was really accepted.
 */
export function createFailure(created: CreatedTask): string | null {
  let tips: z.infer<typeof promptTips> | null = null;
  if (created.promptTips) {
    let raw: unknown;
    try {
      raw = JSON.parse(created.promptTips);
    } catch (err) {
      // promptTips is informational; an unreadable one says nothing about the task
      raw = { error: { message: `unreadable promptTips: ${err instanceof Error ? err.message : String(err)}` } };
    }
    const parsed = promptTips.safeParse(raw);
    tips = parsed.success ? parsed.data : null;
  }
  const nodeMessages = Object.entries(tips?.node_errors ?? {}).flatMap(([nodeId, n]) =>
    (n.errors?.length ? n.errors : [{ message: 'node error', details: null }]).map((e) => {
      const text = [e.message, e.details].filter((x) => x && x.trim()).join(': ') || 'node error';
      return `${text} (node ${nodeId}${n.class_type ? ` ${n.class_type}` : ''})`;
    }));
  if (nodeMessages.length) return nodeMessages.join('; ');
  if (created.taskStatus?.toUpperCase() === 'FAILED') {
    return tips?.error?.message?.trim() || 'RunningHub answered the create with taskStatus FAILED';
  }
  return null;
}

export const outputFile = z.object({
  fileUrl: z.string().min(1),
  fileType: z.string().nullish().transform((v) => v ?? ''),
  taskCostTime: z.union([z.string(), z.number()]).nullish(),
  nodeId: z.union([z.string(), z.number()]).nullish(),
  consumeMoney: z.union([z.string(), z.number()]).nullish(),
  consumeCoins: z.union([z.string(), z.number()]).nullish(),
  thirdPartyConsumeMoney: z.union([z.string(), z.number()]).nullish(),
}).loose();
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

/** What a task cost, from its output entries (cost reports): the first value each field has. */
export function taskCost(files: readonly OutputFile[]): Record<string, string> {
  const cost: Record<string, string> = {};
  for (const key of ['taskCostTime', 'consumeMoney', 'consumeCoins', 'thirdPartyConsumeMoney'] as const) {
    const v = files.map((f) => f[key]).find((x) => x !== null && x !== undefined && String(x) !== '');
    if (v !== undefined && v !== null) cost[key] = String(v);
  }
  return cost;
}

/** The failure text a job keeps: the provider's exception message verbatim, else its code and msg. */
export function failureMessage(code: number, msg: string, reason: FailedReason | null): string {
  const m = reason?.exception_message?.trim();
  if (m) return reason?.node_name ? `${m} (${reason.node_name})` : m;
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

/** The hosts RunningHub documents for its API (international and mainland China). */
export const documentedHosts: readonly string[] = ['www.runninghub.ai', 'www.runninghub.cn'];

/**
 * Why a RUNNINGHUB_BASE_URL deserves a warning at start-up, or null. The bare domain answers with a
 * redirect that turns a POST into a GET on some clients; a loopback host is the local fake.
 */
export function baseUrlWarning(baseUrl: string): string | null {
  let host: string;
  try {
    host = new URL(baseUrl).hostname;
  } catch (err) {
    return `RUNNINGHUB_BASE_URL is not a URL (${err instanceof Error ? err.message : String(err)})`;
  }
  if (documentedHosts.includes(host) || host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.')) return null;
  return `RUNNINGHUB_BASE_URL host ${host} is not a documented RunningHub API host (${documentedHosts.join(', ')})`;
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

  /** `addMetadata` false keeps the workflow and prompt out of the output images (RunningHub's default is true). */
  async create(req: { workflowId: string; nodeInfoList: NodeInfo[]; webhookUrl: string; addMetadata?: boolean }, signal?: AbortSignal): Promise<CreatedTask> {
    const data = await this.#call('create', { apiKey: this.#apiKey, ...req }, signal);
    return this.#validated('create', () => createData.parse(data));
  }

  /** A hint only (null: RunningHub did not say); /outputs is what recovery believes. */
  async status(taskIdValue: string, signal?: AbortSignal): Promise<TaskStatus | null> {
    const data = await this.#call('status', { apiKey: this.#apiKey, taskId: taskIdValue }, signal);
    return this.#validated('status', () => statusData.parse(data));
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
