// A fake RunningHub: a real HTTP server on 127.0.0.1 that speaks the task API with the shapes of
// its fixtures/ folder (errors as HTTP 200 with a non-zero code), runs tasks on timers and calls
// each task's webhookUrl back, retrying on non-2xx like the real one. Each task does what the
// `#fake=<outcome>` fragment on any of its input URLs (nodeInfoList fieldValues) says: one of the
// directives in `fakeDirectives` below.
// Without a directive a task succeeds after defaultMs (FAKE_RUNNINGHUB_MS, 1500 ms).
// With the `faults` option (chaos runs) each job without a directive gets one of them instead,
// drawn at the configured rates from a seeded hash of its job id (the same job always draws the
// same directive, so a requeued job's second create sees what its first one did).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { runningHubCodes, uploadLimitBytes } from '../../worker/runninghub/client.ts';
import { fakeRunningHubApiKey } from '../../common/config.ts';

export type FakeScript =
  | { kind: 'ok'; ms: number }
  | { kind: 'fail'; ms: number; message: string }
  | { kind: 'lose-webhook'; ms: number }
  | { kind: 'duplicate-webhook'; ms: number }
  | { kind: 'queue-maxed'; ms: number; n: number }
  | { kind: 'hang' }
  | { kind: 'refuse'; code: number }
  | { kind: 'create-timeout'; ms: number }
  | { kind: 'slow-create'; ms: number; answerAfterMs: number }
  | { kind: 'http-error'; status: number }
  | { kind: 'malformed' }
  | { kind: 'create-failed' };

/** How the task's output file answers a download (`#fake-output=` on an input URL). */
export type FakeOutputScript =
  | { kind: 'fail'; n: number }
  | { kind: 'big'; bytes: number }
  | { kind: 'type'; contentType: string }
  | { kind: 'url'; url: string };

export type FakeTaskStatus = 'QUEUED' | 'RUNNING' | 'SUCCESS' | 'FAILED';

export interface FakeTask {
  taskId: string;
  apiKey: string;
  workflowId: string;
  nodeInfoList: Array<{ nodeId: string; fieldName: string; fieldValue: string }>;
  webhookUrl: string | null;
  jobId: string | null;
  script: FakeScript;
  /** how its output file answers downloads (null: the file, at once) */
  output: FakeOutputScript | null;
  /** downloads of its output file so far */
  outputGets: number;
  /** the directive drawn by the `faults` option (null: the input's own directive or the default) */
  drawn: string | null;
  status: FakeTaskStatus;
  canceled: boolean;
  createdAt: number;
  finishedAt: number | null;
}

/** The node the fake names in every failure it reports (`failedReason.node_name`). */
export const fakeFailNode = 'FakeNode';

/** Does fila's error show the failure this fake reported, word for word? fila may add the node the
 *  provider named, as "message (node)"; nothing else. */
export function showsFakeFailure(error: string | null, message: string | null): boolean {
  if (message === null || error === null) return false;
  return error === message || error === `${message} (${fakeFailNode})`;
}

export interface FakeRequest { path: string; body: unknown; at: number }
export interface FakeRefusal { jobId: string | null; code: number; at: number }
/** `sentAt`: when the request left; `at`: when its answer was read (the record is pushed then). */
export interface FakeWebhookDelivery { taskId: string; url: string; attempt: number; status: number | string; sentAt: number; at: number }

export interface FakeRunningHub {
  url: string;
  port: number;
  /** every request received, in order: path + parsed body (uploads: their form fields and size) */
  requests: FakeRequest[];
  tasks: Map<string, FakeTask>;
  /** every webhook delivery attempt and its HTTP status (or the network error) */
  webhookDeliveries: FakeWebhookDelivery[];
  /** every create answered with an error code (421 and the like), in order */
  refusals: FakeRefusal[];
  /** tasks QUEUED or RUNNING right now, over every API key */
  activeCount(): number;
  /** the highest activeCount() ever reached (it can only grow when a task is created) */
  readonly peakActive: number;
  /** the same, for each API key's own tasks (an account's concurrency) */
  readonly peakActiveByKey: ReadonlyMap<string, number>;
  requestsTo(endpoint: 'upload' | 'create' | 'status' | 'outputs' | 'cancel' | 'accountStatus'): FakeRequest[];
  /** every download of an output file (`/files/…`) and what it was answered */
  fileDownloads: Array<{ path: string; status: number; at: number }>;
  /** Stop answering: close the listening socket and every open connection (clients get refused). */
  pause(): Promise<void>;
  /** Listen again on the same port. */
  resume(): Promise<void>;
  /**
   * Make one key (one account) fail until told otherwise: 802 APIKEY_UNAUTHORIZED (a revoked key:
   * every endpoint refuses it) or 812 CORPAPIKEY_INSUFFICIENT_FUNDS (out of balance: create
   * refuses, the rest works). null: the key works again.
   */
  failKey(apiKey: string, code: 802 | 812 | null): void;
  /** End a task now, when the test says, as its run would have: a `hang` task succeeds (and calls
   *  back). For tests whose assertions need a task running until some step is done. */
  finishTask(taskId: string): void;
  readonly listening: boolean;
  stop(): Promise<void>;
}

export interface FakeRunningHubOptions {
  port?: number;
  /** a task's duration without `ok:<ms>` (FAKE_RUNNINGHUB_MS; default 1500) */
  defaultMs?: number;
  /** tasks queued or running per API key beyond which create answers 421 (default 3) */
  maxConcurrentPerKey?: number;
  /** the same limit for particular keys (an account's tier), overriding maxConcurrentPerKey */
  maxConcurrentByKey?: Readonly<Record<string, number>>;
  /** pause between webhook delivery attempts (default 1000) */
  webhookRetryMs?: number;
  /** delivery attempts per webhook (default 5) */
  webhookAttempts?: number;
  /** gap between the two deliveries of duplicate-webhook (default 1000) */
  duplicateGapMs?: number;
  /** answer create only after this long (the task exists from the moment the request arrived) */
  createDelayMs?: number;
  /** when set, only these API keys are accepted (others: 802) */
  apiKeys?: readonly string[];
  /** how long create takes to answer for create-timeout (default 30 000) */
  createTimeoutMs?: number;
  /** a cancel takes this long at the provider: the task stops and the answer comes after it (default 0) */
  cancelDelayMs?: number;
  /** fault injection at set rates for jobs whose input carries no directive (chaos runs) */
  faults?: FakeFaults;
}

/** Share of jobs (0..1) drawing each directive; the rest succeed. */
export interface FakeFaultRates {
  fail?: number;
  loseWebhook?: number;
  duplicateWebhook?: number;
  queueMaxed?: number;
  hang?: number;
  createTimeout?: number;
}

export interface FakeFaults {
  rates: FakeFaultRates;
  seed: number;
  /** a successful task's duration is drawn from [min, max] ms (default: defaultMs) */
  okMs?: readonly [number, number];
  /** the messages a failing task of this workflow reports (default: 'fake failure') */
  failMessages?: (workflowId: string) => readonly string[];
}

/** A number in [0, 1) from a seed and a string (FNV-1a, then a 32-bit mix): reproducible draws. */
export function seededUnit(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 2 ** 32;
}

/** The directive the faults option draws for one job. */
export function drawDirective(faults: FakeFaults, jobKey: string, workflowId: string, defaultMs: number): string {
  const u = seededUnit(faults.seed, jobKey);
  const r = faults.rates;
  const pick = (n: number): number => Math.floor(seededUnit(faults.seed + n, jobKey) * 1e9);
  const steps: Array<[number | undefined, () => string]> = [
    [r.fail, () => {
      const messages = faults.failMessages?.(workflowId) ?? [];
      const message = messages.length ? messages[pick(1) % messages.length]! : 'fake failure';
      return `fail:${encodeURIComponent(message)}`;
    }],
    [r.loseWebhook, () => 'lose-webhook'],
    [r.duplicateWebhook, () => 'duplicate-webhook'],
    [r.queueMaxed, () => 'queue-maxed:1'],
    [r.hang, () => 'hang'],
    [r.createTimeout, () => 'create-timeout'],
  ];
  let edge = 0;
  for (const [rate, directive] of steps) {
    edge += rate ?? 0;
    if (u < edge) return directive();
  }
  const [lo, hi] = faults.okMs ?? [defaultMs, defaultMs];
  return `ok:${lo + (pick(2) % (hi - lo + 1))}`;
}

// the documented codes, by number: the same table the client reads them with
const codeNames: Record<number, string> = Object.fromEntries(Object.entries(runningHubCodes).map(([name, code]) => [code, name]));

/**
 * Keys to call the fake with (it accepts any): one per provider account in the table, each
 * different, so its per-key limit applies per account as RunningHub's does. `default` keeps the
 * plain development key.
 */
export function fakeAccountKeys(rows: ReadonlyArray<{ account: string }>): Record<string, string> {
  return Object.fromEntries(rows.map((r) => [r.account, r.account === 'default' ? fakeRunningHubApiKey : `${fakeRunningHubApiKey}-${r.account}`]));
}

const videoExt = /\.(mp4|mov|webm|mkv|avi)$/i;

const int = (directive: string, s: string, what: string): number => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new Error(`#fake=${directive}: ${what} must be a non-negative integer`);
  return n;
};

/**
 * Every `#fake=` directive, in one table: what it does and how its argument reads. The chaos run
 * picks among these names; the README lists them from here.
 */
export const fakeDirectives: Record<string, { doc: string; parse(arg: string, defaultMs: number, directive: string): FakeScript }> = {
  ok: { doc: 'succeed after FAKE_RUNNINGHUB_MS, or `ok:<ms>` after ms',
    parse: (arg, d, dir) => ({ kind: 'ok', ms: arg === '' ? d : int(dir, arg, 'ms') }) },
  fail: { doc: '`fail:<message>`: the task fails (805 with that exception_message)',
    parse: (arg, d) => ({ kind: 'fail', ms: d, message: arg || 'fake failure' }) },
  'lose-webhook': { doc: 'the task succeeds but never calls back',
    parse: (_a, d) => ({ kind: 'lose-webhook', ms: d }) },
  'duplicate-webhook': { doc: 'the webhook is delivered twice',
    parse: (_a, d) => ({ kind: 'duplicate-webhook', ms: d }) },
  'queue-maxed': { doc: '`queue-maxed:<n>`: the first n creates for the job answer 421',
    parse: (arg, d, dir) => ({ kind: 'queue-maxed', ms: d, n: int(dir, arg, 'n') }) },
  hang: { doc: 'the task never finishes',
    parse: () => ({ kind: 'hang' }) },
  refuse: { doc: '`refuse:<code>`: create answers that code (433 with node_errors), nothing is created',
    parse: (arg, _d, dir) => ({ kind: 'refuse', code: int(dir, arg, 'code') }) },
  'slow-create': { doc: '`slow-create:<ms>`: the task is created at once but the create answer comes ms later (past the client timeout: a create that timed out after the task was created); the task runs FAKE_RUNNINGHUB_MS past the answer',
    parse: (arg, d, dir) => {
      const answerAfterMs = int(dir, arg, 'ms');
      return { kind: 'slow-create', ms: answerAfterMs + d, answerAfterMs };
    } },
  'http-error': { doc: '`http-error:<status>`: create answers that HTTP status (default 502), nothing is created',
    parse: (arg, _d, dir) => ({ kind: 'http-error', status: arg === '' ? 502 : int(dir, arg, 'status') }) },
  malformed: { doc: 'create answers HTTP 200 with a body that is not RunningHub JSON, nothing is created',
    parse: () => ({ kind: 'malformed' }) },
  'create-timeout': { doc: 'the task is created and runs, but create answers only after createTimeoutMs (30 s by default), later than a client waits',
    parse: (_a, d) => ({ kind: 'create-timeout', ms: d }) },
  'create-failed': { doc: 'create answers code 0 with taskStatus FAILED and node_errors (fixtures create.failed-node-errors.json)',
    parse: () => ({ kind: 'create-failed' }) },
};

/**
 * Output downloads, scripted apart from the task's outcome with `#fake-output=<directive>` on an
 * input URL (beside `#fake=…`, joined by `&`): the file the task's outputs name then answers so.
 */
export const fakeOutputDirectives: Record<string, { doc: string; parse(arg: string, directive: string): FakeOutputScript }> = {
  fail: { doc: '`fail:<n>`: the first n downloads of the output answer HTTP 503 (default 1)',
    parse: (arg, dir) => ({ kind: 'fail', n: arg === '' ? 1 : int(dir, arg, 'n') }) },
  big: { doc: '`big:<bytes>`: the output is that many bytes (a real file, then zeros), sent chunked without a content-length',
    parse: (arg, dir) => ({ kind: 'big', bytes: int(dir, arg, 'bytes') }) },
  type: { doc: '`type:<content-type>`: the output is served with that content type (percent-encoded)',
    parse: (arg) => ({ kind: 'type', contentType: arg }) },
  url: { doc: '`url:<url>`: the outputs name this URL (percent-encoded) instead of the fake\'s own file',
    parse: (arg) => ({ kind: 'url', url: arg }) },
};

/** The `#fake-output=` directive of one URL, or null. */
export function parseFakeOutputDirective(value: string): FakeOutputScript | null {
  const hash = value.indexOf('#');
  if (hash < 0) return null;
  const part = value.slice(hash + 1).split('&').find((p) => p.startsWith('fake-output='));
  if (part === undefined) return null;
  const directive = part.slice('fake-output='.length);
  const colon = directive.indexOf(':');
  const kind = colon < 0 ? directive : directive.slice(0, colon);
  const arg = colon < 0 ? '' : decodeURIComponent(directive.slice(colon + 1));
  const entry = Object.hasOwn(fakeOutputDirectives, kind) ? fakeOutputDirectives[kind] : undefined;
  if (!entry) throw new Error(`unknown #fake-output= directive: ${directive}`);
  return entry.parse(arg, directive);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** A task's output file: a real 8x8 PNG (or a small MP4 with its ftyp box) whose pixels follow
 *  from the task id, so a copy can be compared byte for byte and tasks' files differ. */
export function fakeOutputBytes(taskId: string, ext: 'png' | 'mp4'): Buffer {
  const seed = createHash('sha256').update(taskId).digest();
  if (ext === 'mp4') {
    const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom', 'ascii'), Buffer.from([0, 0, 2, 0]), Buffer.from('isommp41', 'ascii')]);
    const mdat = Buffer.concat([Buffer.from([0, 0, 0, 8 + seed.length]), Buffer.from('mdat', 'ascii'), seed]);
    return Buffer.concat([ftyp, mdat]);
  }
  const size = 8;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc(size * (1 + size * 3));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size * 3; x++) rows[y * (1 + size * 3) + 1 + x] = seed[(y * size * 3 + x) % seed.length]!;
  }
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(rows)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** The `#fake=` directive of one URL, or null. */
export function parseFakeDirective(value: string, defaultMs: number): FakeScript | null {
  const hash = value.indexOf('#');
  if (hash < 0) return null;
  const part = value.slice(hash + 1).split('&').find((p) => p.startsWith('fake='));
  if (part === undefined) return null;
  const directive = part.slice('fake='.length);
  const colon = directive.indexOf(':');
  const kind = colon < 0 ? directive : directive.slice(0, colon);
  const arg = colon < 0 ? '' : decodeURIComponent(directive.slice(colon + 1));
  const entry = Object.hasOwn(fakeDirectives, kind) ? fakeDirectives[kind] : undefined;
  if (!entry) throw new Error(`unknown #fake= directive: ${directive}`);
  return entry.parse(arg, defaultMs, directive);
}

function jobIdOf(webhookUrl: string | null): string | null {
  if (!webhookUrl) return null;
  return /\/webhooks\/runninghub\/([^/?#]+)/.exec(webhookUrl)?.[1] ?? webhookUrl;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeRunningHub(opts: FakeRunningHubOptions = {}): Promise<FakeRunningHub> {
  const defaultMs = opts.defaultMs ?? (Number(process.env.FAKE_RUNNINGHUB_MS) || 1500);
  const maxPerKey = opts.maxConcurrentPerKey ?? 3;
  const retryMs = opts.webhookRetryMs ?? 1000;
  const attempts = opts.webhookAttempts ?? 5;
  const duplicateGapMs = opts.duplicateGapMs ?? 1000;
  const requests: FakeRequest[] = [];
  const tasks = new Map<string, FakeTask>();
  const webhookDeliveries: FakeWebhookDelivery[] = [];
  const fileDownloads: FakeRunningHub['fileDownloads'] = [];
  const refusals: FakeRefusal[] = [];
  let peakActive = 0;
  const peakActiveByKey = new Map<string, number>();
  const createCallsPerJob = new Map<string, number>();
  const failingKeys = new Map<string, 802 | 812>();
  const timers = new Set<NodeJS.Timeout>();
  const inflight = new Set<Promise<void>>();
  let stopped = false;
  let nextTaskId = BigInt(1910246754753896450n) + BigInt(randomBytes(2).readUInt16BE(0)) * 100000n;

  const later = (ms: number, fn: () => void): void => {
    if (stopped) return;
    const timer = setTimeout(() => { timers.delete(timer); if (!stopped) fn(); }, ms);
    timers.add(timer);
  };

  const ok = (data: unknown) => ({ code: 0, msg: 'success', data });
  const err = (code: number, data: unknown = null) => ({ code, msg: codeNames[code] ?? 'UNKNOWN_ERROR', data });

  const outputsBody = (task: FakeTask): unknown => {
    if (task.status === 'QUEUED') return err(813);
    if (task.status === 'RUNNING') return err(804);
    if (task.status === 'FAILED') {
      const message = task.canceled ? 'Task canceled through the API'
        : task.script.kind === 'fail' ? task.script.message : 'fake failure';
      return err(805, { failedReason: {
        exception_type: task.canceled ? 'TaskCanceled' : 'fake.ScriptedFailure', exception_message: message,
        node_name: fakeFailNode, node_id: '33', traceback: '…', current_inputs: {}, current_outputs: {} } });
    }
    const video = task.nodeInfoList.some((n) => videoExt.test(n.fieldValue.split('#')[0]!.split('?')[0]!));
    const ext = video ? 'mp4' : 'png';
    const secs = String(Math.max(1, Math.round(((task.finishedAt ?? Date.now()) - task.createdAt) / 1000)));
    const fileUrl = task.output?.kind === 'url' ? task.output.url : `${fake.url}/files/${task.taskId}/ComfyUI_00001_.${ext}`;
    return ok([{ fileUrl, fileType: ext, taskCostTime: secs, nodeId: '9',
      consumeMoney: null, consumeCoins: String(Number(secs) * 2), thirdPartyConsumeMoney: null }]);
  };

  const deliver = (task: FakeTask, attempt: number): void => {
    if (stopped || !task.webhookUrl) return;
    const url = task.webhookUrl;
    const body = JSON.stringify({ event: 'TASK_END', taskId: task.taskId, eventData: JSON.stringify(outputsBody(task)) });
    const p = (async () => {
      const sentAt = Date.now();
      let status: number | string;
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        status = res.status;
      } catch (e) {
        status = `error: ${e instanceof Error ? e.message : String(e)}`;
      }
      webhookDeliveries.push({ taskId: task.taskId, url, attempt, status, sentAt, at: Date.now() });
      const delivered = typeof status === 'number' && status >= 200 && status < 300;
      if (!delivered && attempt < attempts) later(retryMs, () => deliver(task, attempt + 1));
    })();
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };

  const finish = (task: FakeTask, status: 'SUCCESS' | 'FAILED'): void => {
    if (task.status === 'SUCCESS' || task.status === 'FAILED') return;
    task.status = status;
    task.finishedAt = Date.now();
    if (task.canceled) return; // a canceled task does not call back
    const s = task.script;
    if (s.kind === 'lose-webhook') return;
    deliver(task, 1);
    if (s.kind === 'duplicate-webhook') later(duplicateGapMs, () => deliver(task, 1));
  };

  const run = (task: FakeTask): void => {
    const s = task.script;
    if (s.kind === 'refuse' || s.kind === 'http-error' || s.kind === 'malformed' || s.kind === 'create-failed') return;
    const ms = s.kind === 'hang' ? 0 : s.ms;
    later(Math.min(50, ms / 3), () => { if (task.status === 'QUEUED') task.status = 'RUNNING'; });
    if (s.kind === 'hang') return;
    later(ms, () => finish(task, s.kind === 'fail' ? 'FAILED' : 'SUCCESS'));
  };

  const isActive = (t: FakeTask): boolean => t.status === 'QUEUED' || t.status === 'RUNNING';
  const active = (apiKey: string): number => [...tasks.values()].filter((t) => t.apiKey === apiKey && isActive(t)).length;
  const activeCount = (): number => [...tasks.values()].filter(isActive).length;

  const keyRefused = (apiKey: unknown): boolean =>
    typeof apiKey !== 'string' || apiKey === '' || (opts.apiKeys !== undefined && !opts.apiKeys.includes(apiKey))
    || failingKeys.get(apiKey) === 802;
  const limitOf = (apiKey: string): number =>
    (opts.maxConcurrentByKey && Object.hasOwn(opts.maxConcurrentByKey, apiKey) ? opts.maxConcurrentByKey[apiKey] : undefined) ?? maxPerKey;

  /** A create answered outside the JSON envelope: an HTTP status, or a body that is not JSON. */
  class RawAnswer { constructor(readonly status: number, readonly text: string) {} }

  const create = async (body: Record<string, unknown>): Promise<unknown> => {
    const answer = await createTask(body);
    if (answer instanceof RawAnswer) return answer;
    const code = (answer as { code: number }).code;
    if (code !== 0) {
      refusals.push({ jobId: jobIdOf(typeof body.webhookUrl === 'string' ? body.webhookUrl : null), code, at: Date.now() });
    }
    return answer;
  };

  const createTask = async (body: Record<string, unknown>): Promise<unknown> => {
    if (keyRefused(body.apiKey)) return err(802);
    if (failingKeys.get(body.apiKey as string) === 812) return err(812);
    const nodeInfoList = body.nodeInfoList;
    if (typeof body.workflowId !== 'string' || !/^\d+$/.test(body.workflowId) || !Array.isArray(nodeInfoList)
      || !nodeInfoList.every((n: unknown) => n && typeof n === 'object'
        && typeof (n as Record<string, unknown>).nodeId === 'string' && typeof (n as Record<string, unknown>).fieldName === 'string')) {
      return err(301);
    }
    const nodes = (nodeInfoList as Array<Record<string, unknown>>).map((n) => ({
      nodeId: String(n.nodeId), fieldName: String(n.fieldName), fieldValue: String(n.fieldValue ?? '') }));
    let script: FakeScript | null = null;
    let output: FakeOutputScript | null = null;
    for (const n of nodes) {
      try {
        output ??= parseFakeOutputDirective(n.fieldValue);
      } catch (e) {
        return { code: 803, msg: `APIKEY_INVALID_NODE_INFO: ${e instanceof Error ? e.message : String(e)}`, data: null };
      }
    }
    for (const n of nodes) {
      let parsed: FakeScript | null;
      try {
        parsed = parseFakeDirective(n.fieldValue, defaultMs);
      } catch (e) {
        return { code: 803, msg: `APIKEY_INVALID_NODE_INFO: ${e instanceof Error ? e.message : String(e)}`, data: null };
      }
      if (parsed) { script = parsed; break; }
    }
    const webhookUrl = typeof body.webhookUrl === 'string' && body.webhookUrl ? body.webhookUrl : null;
    const jobId = jobIdOf(webhookUrl);
    let drawn: string | null = null;
    if (!script && opts.faults) {
      drawn = drawDirective(opts.faults, jobId ?? randomBytes(8).toString('hex'), body.workflowId, defaultMs);
      script = parseFakeDirective(`#fake=${drawn}`, defaultMs);
    }
    script ??= { kind: 'ok', ms: defaultMs };
    if (script.kind === 'refuse') {
      return err(script.code, script.code === 433
        ? { promptTips: JSON.stringify({ node_errors: { [nodes[0]?.nodeId ?? '1']: { errors: [{ message: 'scripted refusal' }] } } }) }
        : null);
    }
    if (script.kind === 'http-error') return new RawAnswer(script.status, `<html><body>${script.status} Bad Gateway</body></html>`);
    if (script.kind === 'malformed') return new RawAnswer(200, '<html><body>maintenance</body></html>');
    if (script.kind === 'queue-maxed' && jobId) {
      const calls = (createCallsPerJob.get(jobId) ?? 0) + 1;
      createCallsPerJob.set(jobId, calls);
      if (calls <= script.n) return err(421);
    }
    if (active(body.apiKey as string) >= limitOf(body.apiKey as string)) return err(421);
    const task: FakeTask = {
      taskId: String(nextTaskId++), apiKey: body.apiKey as string, workflowId: body.workflowId, nodeInfoList: nodes,
      webhookUrl, jobId, script, output, outputGets: 0, drawn, status: 'QUEUED', canceled: false, createdAt: Date.now(), finishedAt: null,
    };
    tasks.set(task.taskId, task);
    peakActive = Math.max(peakActive, activeCount());
    peakActiveByKey.set(task.apiKey, Math.max(peakActiveByKey.get(task.apiKey) ?? 0, active(task.apiKey)));
    if (script.kind === 'create-failed') {
      // as RunningHub documents it: code 0, the task exists, it failed validation at once
      task.status = 'FAILED';
      task.finishedAt = Date.now();
      const nodeId = nodes[0]?.nodeId ?? '1';
      return ok({ netWssUrl: null, taskId: task.taskId, clientId: randomBytes(16).toString('hex'), taskStatus: 'FAILED',
        promptTips: JSON.stringify({ result: false, error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation' },
          node_errors: { [nodeId]: { errors: [{ type: 'value_not_in_list', message: 'Value not in list', details: `image: '${nodes[0]?.fieldValue.split('#')[0] ?? ''}' not in []` }],
            class_type: 'LoadImage' } } }) });
    }
    run(task);
    const delay = script.kind === 'slow-create' ? script.answerAfterMs
      : script.kind === 'create-timeout' ? (opts.createTimeoutMs ?? 30_000) : opts.createDelayMs;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    return ok({ netWssUrl: 'wss://fake.invalid/ws', taskId: task.taskId, clientId: randomBytes(16).toString('hex'),
      taskStatus: 'QUEUED', promptTips: '{"node_errors": {}}' });
  };

  const byTask = (body: Record<string, unknown>, fn: (task: FakeTask) => unknown): unknown => {
    if (keyRefused(body.apiKey)) return err(802);
    const task = tasks.get(String(body.taskId ?? ''));
    if (!task || task.apiKey !== body.apiKey) return err(807);
    return fn(task);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (req.method === 'GET' && path.startsWith('/files/')) {
      const answer = (status: number, headers: Record<string, string | number>, body: Buffer | string): void => {
        fileDownloads.push({ path, status, at: Date.now() });
        res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      const task = tasks.get(path.split('/')[2] ?? '');
      if (!task || task.status !== 'SUCCESS') { answer(404, { 'content-type': 'text/plain' }, 'no such file'); return; }
      task.outputGets++;
      const out = task.output;
      if (out?.kind === 'fail' && task.outputGets <= out.n) { answer(503, { 'content-type': 'text/plain' }, 'scripted output failure'); return; }
      const ext = path.endsWith('.mp4') ? 'mp4' : 'png';
      let bytes = fakeOutputBytes(task.taskId, ext);
      if (out?.kind === 'big') {
        // chunked, no content-length: the downloader can only find out by counting
        bytes = Buffer.concat([bytes, Buffer.alloc(Math.max(0, out.bytes - bytes.length))]);
        fileDownloads.push({ path, status: 200, at: Date.now() });
        res.writeHead(200, { 'content-type': ext === 'mp4' ? 'video/mp4' : 'image/png' });
        for (let at = 0; at < bytes.length; at += 16_384) res.write(bytes.subarray(at, at + 16_384));
        res.end();
        return;
      }
      const contentType = out?.kind === 'type' ? out.contentType : ext === 'mp4' ? 'video/mp4' : 'image/png';
      answer(200, { 'content-type': contentType }, bytes);
      return;
    }
    if (req.method !== 'POST') { send(404, { error: 'not found' }); return; }
    const raw = await readBody(req);
    if (path === '/task/openapi/upload') {
      const form = await new Request('http://fake/upload', {
        method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body: new Uint8Array(raw) }).formData()
        .catch((e: unknown) => e instanceof Error ? e : new Error(String(e)));
      if (form instanceof Error) {
        requests.push({ path, body: { error: form.message }, at: Date.now() });
        send(200, err(301));
        return;
      }
      const file = form.get('file');
      const size = typeof file === 'object' && file ? file.size : 0;
      const fileName = typeof file === 'object' && file ? file.name : '';
      const body = { apiKey: form.get('apiKey'), fileType: form.get('fileType'), fileName, size };
      requests.push({ path, body, at: Date.now() });
      if (keyRefused(body.apiKey)) { send(200, err(802)); return; }
      if (!file || typeof file === 'string') { send(200, err(301)); return; }
      if (size > uploadLimitBytes) { send(200, err(809)); return; }
      const ext = /\.[a-z0-9]+$/i.exec(fileName)?.[0] ?? '';
      send(200, ok({ fileName: `api/${randomBytes(16).toString('hex')}${ext}`, fileType: 'input' }));
      return;
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      body = parsed && typeof parsed === 'object' ? parsed as Record<string, unknown> : {};
    } catch (e) {
      requests.push({ path, body: { error: e instanceof Error ? e.message : String(e) }, at: Date.now() });
      send(200, err(301));
      return;
    }
    requests.push({ path, body, at: Date.now() });
    switch (path) {
      case '/task/openapi/create': {
        const answer = await create(body);
        if (answer instanceof RawAnswer) {
          res.writeHead(answer.status, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(answer.text) });
          res.end(answer.text);
        } else {
          send(200, answer);
        }
        return;
      }
      // RunningHub's own sample calls /status unmaintained and its documented example answers
      // data "": the fake says QUEUED/RUNNING while the task runs and "" once it has ended
      case '/task/openapi/status': send(200, byTask(body, (t) => ok(t.status === 'QUEUED' || t.status === 'RUNNING' ? t.status : ''))); return;
      case '/task/openapi/outputs': send(200, byTask(body, (t) => outputsBody(t))); return;
      case '/task/openapi/cancel':
        if (opts.cancelDelayMs) await new Promise((r) => setTimeout(r, opts.cancelDelayMs));
        send(200, byTask(body, (t) => {
          if (t.status === 'QUEUED' || t.status === 'RUNNING') {
            t.canceled = true;
            finish(t, 'FAILED');
          }
          return ok(null);
        }));
        return;
      case '/uc/openapi/accountStatus': {
        const key = body.apikey;
        send(200, keyRefused(key) ? err(802) : ok({ remainCoins: '99879', currentTaskCounts: String(active(key as string)),
          remainMoney: null, currency: null, apiType: 'NORMAL' }));
        return;
      }
      default: send(404, { error: 'not found' });
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`fake RunningHub error: ${e instanceof Error ? e.stack : String(e)}`);
    });
  });

  const listen = (port: number): Promise<number> => new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  const close = (): Promise<void> => new Promise((resolve, reject) => {
    if (!server.listening) { resolve(); return; }
    server.close((e) => (e ? reject(e) : resolve()));
    server.closeAllConnections();
  });

  const port = await listen(opts.port ?? 0);
  const fake: FakeRunningHub = {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    tasks,
    webhookDeliveries,
    fileDownloads,
    refusals,
    activeCount,
    get peakActive() { return peakActive; },
    peakActiveByKey,
    requestsTo: (endpoint) => requests.filter((r) =>
      r.path === (endpoint === 'accountStatus' ? '/uc/openapi/accountStatus' : `/task/openapi/${endpoint}`)),
    pause: close,
    async resume() {
      if (!server.listening) await listen(port);
    },
    get listening() { return server.listening; },
    failKey(apiKey, code) {
      if (code === null) failingKeys.delete(apiKey);
      else failingKeys.set(apiKey, code);
    },
    finishTask(taskId) {
      const task = tasks.get(taskId);
      if (!task) throw new Error(`the fake has no task ${taskId}`);
      finish(task, task.script.kind === 'fail' ? 'FAILED' : 'SUCCESS');
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await close();
      await Promise.allSettled([...inflight]);
    },
  };
  return fake;
}
