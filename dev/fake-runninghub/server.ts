// A fake RunningHub: a real HTTP server on 127.0.0.1 that speaks the task API with the shapes of
// fixtures/runninghub (errors as HTTP 200 with a non-zero code), runs tasks on timers and calls
// each task's webhookUrl back, retrying on non-2xx like the real one. Each task does what the
// `#fake=<outcome>` fragment on any of its input URLs (nodeInfoList fieldValues) says:
//   ok | ok:<ms> | fail:<message> | lose-webhook | duplicate-webhook | queue-maxed:<n> | hang
// plus one extension for tests of job-specific refusals: refuse:<code> (create answers that code).
// Without a directive a task succeeds after defaultMs (FAKE_RUNNINGHUB_MS, 1500 ms).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { runningHubCodes, uploadLimitBytes } from '../../worker/runninghub/client.ts';

export type FakeScript =
  | { kind: 'ok'; ms: number }
  | { kind: 'fail'; ms: number; message: string }
  | { kind: 'lose-webhook'; ms: number }
  | { kind: 'duplicate-webhook'; ms: number }
  | { kind: 'queue-maxed'; ms: number; n: number }
  | { kind: 'hang' }
  | { kind: 'refuse'; code: number };

export type FakeTaskStatus = 'QUEUED' | 'RUNNING' | 'SUCCESS' | 'FAILED';

export interface FakeTask {
  taskId: string;
  apiKey: string;
  workflowId: string;
  nodeInfoList: Array<{ nodeId: string; fieldName: string; fieldValue: string }>;
  webhookUrl: string | null;
  jobId: string | null;
  script: FakeScript;
  status: FakeTaskStatus;
  canceled: boolean;
  createdAt: number;
  finishedAt: number | null;
}

export interface FakeRequest { path: string; body: unknown; at: number }
export interface FakeWebhookDelivery { taskId: string; url: string; attempt: number; status: number | string; at: number }

export interface FakeRunningHub {
  url: string;
  port: number;
  /** every request received, in order: path + parsed body (uploads: their form fields and size) */
  requests: FakeRequest[];
  tasks: Map<string, FakeTask>;
  /** every webhook delivery attempt and its HTTP status (or the network error) */
  webhookDeliveries: FakeWebhookDelivery[];
  requestsTo(endpoint: 'upload' | 'create' | 'status' | 'outputs' | 'cancel' | 'accountStatus'): FakeRequest[];
  /** Stop answering: close the listening socket and every open connection (clients get refused). */
  pause(): Promise<void>;
  /** Listen again on the same port. */
  resume(): Promise<void>;
  readonly listening: boolean;
  stop(): Promise<void>;
}

export interface FakeRunningHubOptions {
  port?: number;
  /** a task's duration without `ok:<ms>` (FAKE_RUNNINGHUB_MS; default 1500) */
  defaultMs?: number;
  /** tasks queued or running per API key beyond which create answers 421 (default 3) */
  maxConcurrentPerKey?: number;
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
}

// the documented codes, by number: the same table the client reads them with
const codeNames: Record<number, string> = Object.fromEntries(Object.entries(runningHubCodes).map(([name, code]) => [code, name]));

const videoExt = /\.(mp4|mov|webm|mkv|avi)$/i;

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
  const int = (s: string, what: string): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`#fake=${directive}: ${what} must be a non-negative integer`);
    return n;
  };
  switch (kind) {
    case 'ok': return { kind: 'ok', ms: arg === '' ? defaultMs : int(arg, 'ms') };
    case 'fail': return { kind: 'fail', ms: defaultMs, message: arg || 'fake failure' };
    case 'lose-webhook': return { kind: 'lose-webhook', ms: defaultMs };
    case 'duplicate-webhook': return { kind: 'duplicate-webhook', ms: defaultMs };
    case 'queue-maxed': return { kind: 'queue-maxed', ms: defaultMs, n: int(arg, 'n') };
    case 'hang': return { kind: 'hang' };
    case 'refuse': return { kind: 'refuse', code: int(arg, 'code') };
    default: throw new Error(`unknown #fake= directive: ${directive}`);
  }
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
  const createCallsPerJob = new Map<string, number>();
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
        node_name: 'FakeNode', node_id: '33', traceback: '…', current_inputs: {}, current_outputs: {} } });
    }
    const video = task.nodeInfoList.some((n) => videoExt.test(n.fieldValue.split('#')[0]!.split('?')[0]!));
    const ext = video ? 'mp4' : 'png';
    const secs = String(Math.max(1, Math.round(((task.finishedAt ?? Date.now()) - task.createdAt) / 1000)));
    return ok([{ fileUrl: `${fake.url}/files/${task.taskId}/ComfyUI_00001_.${ext}`, fileType: ext, taskCostTime: secs, nodeId: '9' }]);
  };

  const deliver = (task: FakeTask, attempt: number): void => {
    if (stopped || !task.webhookUrl) return;
    const url = task.webhookUrl;
    const body = JSON.stringify({ event: 'TASK_END', taskId: task.taskId, eventData: JSON.stringify(outputsBody(task)) });
    const p = (async () => {
      let status: number | string;
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5000) });
        await res.arrayBuffer();
        status = res.status;
      } catch (e) {
        status = `error: ${e instanceof Error ? e.message : String(e)}`;
      }
      webhookDeliveries.push({ taskId: task.taskId, url, attempt, status, at: Date.now() });
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
    if (s.kind === 'refuse') return;
    const ms = s.kind === 'hang' ? 0 : s.ms;
    later(Math.min(50, ms / 3), () => { if (task.status === 'QUEUED') task.status = 'RUNNING'; });
    if (s.kind === 'hang') return;
    later(ms, () => finish(task, s.kind === 'fail' ? 'FAILED' : 'SUCCESS'));
  };

  const active = (apiKey: string): number =>
    [...tasks.values()].filter((t) => t.apiKey === apiKey && (t.status === 'QUEUED' || t.status === 'RUNNING')).length;

  const keyRefused = (apiKey: unknown): boolean =>
    typeof apiKey !== 'string' || apiKey === '' || (opts.apiKeys !== undefined && !opts.apiKeys.includes(apiKey));

  const create = async (body: Record<string, unknown>): Promise<unknown> => {
    if (keyRefused(body.apiKey)) return err(802);
    const nodeInfoList = body.nodeInfoList;
    if (typeof body.workflowId !== 'string' || !/^\d+$/.test(body.workflowId) || !Array.isArray(nodeInfoList)
      || !nodeInfoList.every((n: unknown) => n && typeof n === 'object'
        && typeof (n as Record<string, unknown>).nodeId === 'string' && typeof (n as Record<string, unknown>).fieldName === 'string')) {
      return err(301);
    }
    const nodes = (nodeInfoList as Array<Record<string, unknown>>).map((n) => ({
      nodeId: String(n.nodeId), fieldName: String(n.fieldName), fieldValue: String(n.fieldValue ?? '') }));
    let script: FakeScript = { kind: 'ok', ms: defaultMs };
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
    if (script.kind === 'refuse') {
      return err(script.code, script.code === 433
        ? { promptTips: JSON.stringify({ node_errors: { [nodes[0]?.nodeId ?? '1']: { errors: [{ message: 'scripted refusal' }] } } }) }
        : null);
    }
    if (script.kind === 'queue-maxed' && jobId) {
      const calls = (createCallsPerJob.get(jobId) ?? 0) + 1;
      createCallsPerJob.set(jobId, calls);
      if (calls <= script.n) return err(421);
    }
    if (active(body.apiKey as string) >= maxPerKey) return err(421);
    const task: FakeTask = {
      taskId: String(nextTaskId++), apiKey: body.apiKey as string, workflowId: body.workflowId, nodeInfoList: nodes,
      webhookUrl, jobId, script, status: 'QUEUED', canceled: false, createdAt: Date.now(), finishedAt: null,
    };
    tasks.set(task.taskId, task);
    run(task);
    if (opts.createDelayMs) await new Promise((r) => setTimeout(r, opts.createDelayMs));
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
      const png = Buffer.from('89504e470d0a1a0a', 'hex');
      res.writeHead(200, { 'content-type': path.endsWith('.mp4') ? 'video/mp4' : 'image/png', 'content-length': png.length });
      res.end(png);
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
      case '/task/openapi/create': send(200, await create(body)); return;
      case '/task/openapi/status': send(200, byTask(body, (t) => ok(t.status))); return;
      case '/task/openapi/outputs': send(200, byTask(body, (t) => outputsBody(t))); return;
      case '/task/openapi/cancel':
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
    requestsTo: (endpoint) => requests.filter((r) =>
      r.path === (endpoint === 'accountStatus' ? '/uc/openapi/accountStatus' : `/task/openapi/${endpoint}`)),
    pause: close,
    async resume() {
      if (!server.listening) await listen(port);
    },
    get listening() { return server.listening; },
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
