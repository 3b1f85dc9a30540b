// JobManager: the one path the tool pages (and Node callers) use to run fila jobs. ESM with no
// Node imports: it runs in browsers and in Node 20 alike.
//
// - createJob uploads File/Blob inputs first and submits only when every upload succeeded (a
//   failed upload leaves no job); a double click makes one job (an in-flight guard, plus an
//   idempotency key per call that network retries reuse).
// - subscribe reads the job's event stream with fetch (so the bearer header is sent) and falls
//   back to polling, at a bounded rate and for a bounded number of failures, when the stream breaks;
//   it tries the stream again every few polls.
// - Errors reach the caller as FilaApiError with the server's code and message unchanged.
import { FilaApiError } from './errors.ts';
import { readEventStream } from './sse.ts';
import { isSettled, type Credits, type Job, type JobPage, type JobStatus, type Upload } from './types.ts';

/** How far one file's upload got (bytes). */
export interface UploadProgress { field: string; loaded: number; total: number }

/** Stores one input file somewhere the provider can fetch it and answers its URL. */
export type Uploader = (file: Blob, context: { tool: string; field: string; onProgress?: (p: { loaded: number; total: number }) => void }) => Promise<string>;

export interface JobManagerOptions {
  /** the API's origin, e.g. https://api.example.com */
  baseUrl: string;
  /** the user's bearer token (a Supabase access token); called before every request */
  getToken: () => string | Promise<string>;
  fetch?: typeof fetch;
  /** store files yourself (e.g. the app's own storage); default: POST /v1/uploads */
  uploader?: Uploader;
  /** ask the server to cancel a queued job whose page is gone (default: true in browsers) */
  presence?: boolean;
  /** polling interval when the event stream is unavailable (default 2000 ms) */
  pollIntervalMs?: number;
  /** the polling interval grows on errors up to this (default 30 000 ms) */
  maxPollIntervalMs?: number;
  /** consecutive failed polls before subscribe gives up and reports (default 10) */
  maxPollErrors?: number;
  /** polls between two attempts to reopen the stream (default 5) */
  pollsPerStreamRetry?: number;
  /** no byte (not even a heartbeat) for this long: the stream is dead (default 45 000 ms) */
  streamStallMs?: number;
}

export interface CreateJobOptions {
  /** reuse a key to make a retry of the same request safe; default: a fresh key per call */
  idempotencyKey?: string;
  /** each file's upload progress (in browsers, as the bytes leave; elsewhere once it is stored) */
  onUploadProgress?: (p: UploadProgress) => void;
}

/** Which of the caller's jobs listJobs reads (newest first). */
export interface ListJobsQuery {
  tool?: string;
  status?: JobStatus;
  /** the previous page's next_cursor */
  cursor?: string;
  /** 1 to 100 (default 20) */
  limit?: number;
}

export interface SubscribeOptions {
  /** the subscription stopped for good: the job is not there (404), or the API stayed unreachable */
  onError?: (err: FilaApiError) => void;
  /** how updates currently arrive (for status indicators and tests) */
  onTransport?: (mode: 'stream' | 'polling') => void;
}

type Body = { json: unknown } | { form: FormData } | null;

function newKey(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof Blob !== 'undefined' && (a instanceof Blob || b instanceof Blob)) return false; // files: by identity
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function isAbort(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

export class JobManager {
  private readonly baseUrl: string;
  private readonly getToken: () => string | Promise<string>;
  private readonly fetchFn: typeof fetch;
  private readonly uploader: Uploader | undefined;
  readonly presence: boolean;
  private readonly pollIntervalMs: number;
  private readonly maxPollIntervalMs: number;
  private readonly maxPollErrors: number;
  private readonly pollsPerStreamRetry: number;
  private readonly streamStallMs: number;
  private inFlight: { tool: string; input: Record<string, unknown>; promise: Promise<Job> } | null = null;

  constructor(opts: JobManagerOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.getToken = opts.getToken;
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.uploader = opts.uploader;
    this.presence = opts.presence ?? (typeof window !== 'undefined' && typeof document !== 'undefined');
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.maxPollIntervalMs = Math.max(opts.maxPollIntervalMs ?? 30_000, this.pollIntervalMs);
    this.maxPollErrors = opts.maxPollErrors ?? 10;
    this.pollsPerStreamRetry = opts.pollsPerStreamRetry ?? 5;
    this.streamStallMs = opts.streamStallMs ?? 45_000;
  }

  private async request(path: string, init: { method?: string; body?: Body; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${await this.getToken()}`, ...init.headers };
    let body: BodyInit | undefined;
    if (init.body && 'json' in init.body) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body.json);
    } else if (init.body && 'form' in init.body) {
      body = init.body.form; // fetch sets the multipart boundary
    }
    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}${path}`, {
        method: init.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}), ...(init.signal ? { signal: init.signal } : {}),
      });
    } catch (err) {
      if (isAbort(err)) throw err;
      throw FilaApiError.network(err);
    }
    if (!res.ok) throw await FilaApiError.fromResponse(res);
    return res;
  }

  /**
   * Submit a job. File/Blob values in `input` are uploaded first (through the uploader, or
   * /v1/uploads) and replaced by their URLs; if any upload fails, no job is created. While a call
   * is in flight, the same call again returns the same promise (a double click makes one job).
   */
  createJob(tool: string, input: Record<string, unknown>, opts: CreateJobOptions = {}): Promise<Job> {
    if (this.inFlight) {
      if (this.inFlight.tool === tool && sameValue(this.inFlight.input, input)) return this.inFlight.promise;
      return Promise.reject(new FilaApiError(0, 'request_in_flight', 'Aguarde: o pedido anterior ainda está sendo enviado.'));
    }
    const promise = this.submit(tool, input, opts.idempotencyKey ?? newKey(), opts.onUploadProgress).finally(() => { this.inFlight = null; });
    this.inFlight = { tool, input, promise };
    return promise;
  }

  private async submit(tool: string, input: Record<string, unknown>, key: string, progress?: (p: UploadProgress) => void): Promise<Job> {
    const files = Object.entries(input).filter((e): e is [string, Blob] => typeof Blob !== 'undefined' && e[1] instanceof Blob);
    const urls = await Promise.all(files.map(async ([field, file]) => {
      const onProgress = progress ? (p: { loaded: number; total: number }) => progress({ field, loaded: p.loaded, total: p.total }) : undefined;
      const opts = onProgress ? { onProgress } : {};
      const url = this.uploader ? await this.uploader(file, { tool, field, ...opts }) : (await this.upload(file, opts)).url;
      return [field, url] as const;
    }));
    const body = {
      tool,
      input: { ...input, ...Object.fromEntries(urls) },
      ...(this.presence ? { presence: true } : {}),
    };
    // a lost connection may hide a job that was created: retry with the same key, which
    // answers that same job instead of a second one
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.request('/v1/jobs', { method: 'POST', body: { json: body }, headers: { 'idempotency-key': key } });
        return (await res.json()) as Job;
      } catch (err) {
        if (!(err instanceof FilaApiError) || err.code !== 'network_error' || attempt >= 2) throw err;
        await new Promise((r) => setTimeout(r, 300 * 3 ** attempt));
      }
    }
  }

  /**
   * Store one file through /v1/uploads (type and size are checked by the server). With
   * `onProgress` in a browser the bytes are sent with XMLHttpRequest, the one browser API that
   * reports upload progress; fetch reports nothing until the answer.
   */
  async upload(file: Blob, opts: { onProgress?: (p: { loaded: number; total: number }) => void } = {}): Promise<Upload> {
    const form = new FormData();
    form.append('file', file, typeof File !== 'undefined' && file instanceof File ? file.name : 'upload');
    const { onProgress } = opts;
    if (onProgress && typeof XMLHttpRequest !== 'undefined') {
      const token = await this.getToken();
      return new Promise<Upload>((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open('POST', `${this.baseUrl}/v1/uploads`);
        xhr.setRequestHeader('authorization', `Bearer ${token}`);
        xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
        xhr.onerror = () => reject(FilaApiError.network(new Error('the upload was interrupted')));
        xhr.onload = () => {
          if (xhr.status >= 200 && xhr.status < 300) {
            onProgress({ loaded: file.size, total: file.size });
            resolve(JSON.parse(xhr.responseText) as Upload);
          } else {
            reject(FilaApiError.fromBody(xhr.status, xhr.responseText, xhr.statusText));
          }
        };
        xhr.send(form);
      });
    }
    const res = await this.request('/v1/uploads', { method: 'POST', body: { form } });
    const stored = (await res.json()) as Upload;
    onProgress?.({ loaded: file.size, total: file.size });
    return stored;
  }

  /** The caller's own jobs, newest first, a page at a time (`next_cursor` asks for the next). */
  async listJobs(q: ListJobsQuery = {}): Promise<JobPage> {
    const params = new URLSearchParams();
    if (q.tool) params.set('tool', q.tool);
    if (q.status) params.set('status', q.status);
    if (q.cursor) params.set('cursor', q.cursor);
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    const qs = params.toString();
    const res = await this.request(`/v1/me/jobs${qs ? `?${qs}` : ''}`);
    return (await res.json()) as JobPage;
  }

  async getJob(jobId: string, signal?: AbortSignal): Promise<Job> {
    const res = await this.request(`/v1/jobs/${encodeURIComponent(jobId)}`, signal ? { signal } : {});
    return (await res.json()) as Job;
  }

  /** The caller's job in queued, starting or running, or null: a reloaded page resumes with it. */
  async getActiveJob(): Promise<Job | null> {
    const res = await this.request('/v1/me/active-job');
    return res.status === 204 ? null : ((await res.json()) as Job);
  }

  /** Cancel (refunded in full). */
  async cancel(jobId: string): Promise<Job> {
    const res = await this.request(`/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { method: 'POST' });
    return (await res.json()) as Job;
  }

  /** Presence for callers that poll on their own (subscribe does this by itself). */
  async heartbeat(jobId: string, signal?: AbortSignal): Promise<void> {
    await this.request(`/v1/jobs/${encodeURIComponent(jobId)}/heartbeat`, { method: 'POST', ...(signal ? { signal } : {}) });
  }

  async getCredits(): Promise<Credits> {
    const res = await this.request('/v1/me/credits');
    return (await res.json()) as Credits;
  }

  /** After a reload: find the active job, if any, and subscribe to it. */
  async resume(onUpdate: (job: Job) => void, opts: SubscribeOptions = {}): Promise<{ job: Job; unsubscribe: () => void } | null> {
    const job = await this.getActiveJob();
    return job ? { job, unsubscribe: this.subscribe(job.id, onUpdate, opts) } : null;
  }

  /**
   * Updates of one job: `onUpdate` gets the current state first, then each change of status,
   * queue position, ETA or outputs (streamed or polled), until the job is settled: terminal, and
   * no output still being copied into fila's store (a completed job's output URLs become fila's
   * copies after it completed). Returns the function that stops it.
   */
  subscribe(jobId: string, onUpdate: (job: Job) => void, opts: SubscribeOptions = {}): () => void {
    const stop = new AbortController();
    let last: Job | null = null;
    /** true once the job is settled */
    const deliver = (job: Job): boolean => {
      if (stop.signal.aborted) return true;
      if (!last || last.status !== job.status || last.position !== job.position || last.eta !== job.eta
        || JSON.stringify(last.outputs) !== JSON.stringify(job.outputs)) {
        last = job;
        onUpdate(job);
      }
      return isSettled(job);
    };
    const giveUp = (err: unknown) => {
      if (stop.signal.aborted) return;
      stop.abort();
      opts.onError?.(err instanceof FilaApiError ? err : FilaApiError.network(err));
    };
    const fatal = (err: unknown) => err instanceof FilaApiError && (err.status === 403 || err.status === 404);

    const run = async () => {
      let failures = 0;
      let interval = this.pollIntervalMs;
      while (!stop.signal.aborted) {
        try {
          opts.onTransport?.('stream');
          if (await this.streamOnce(jobId, deliver, stop.signal)) return;
        } catch (err) {
          if (stop.signal.aborted) return;
          if (fatal(err)) return giveUp(err);
        }
        // the stream broke or ended early: poll for a while, then try the stream again
        opts.onTransport?.('polling');
        for (let i = 0; i < this.pollsPerStreamRetry && !stop.signal.aborted; i++) {
          await sleep(interval, stop.signal);
          if (stop.signal.aborted) return;
          try {
            const job = await this.getJob(jobId, stop.signal);
            failures = 0;
            interval = this.pollIntervalMs;
            if (deliver(job)) return;
            if (job.presence && job.status === 'queued') await this.heartbeat(jobId, stop.signal);
          } catch (err) {
            if (stop.signal.aborted) return;
            if (fatal(err) || ++failures >= this.maxPollErrors) return giveUp(err);
            interval = Math.min(interval * 2, this.maxPollIntervalMs);
          }
        }
      }
    };
    run().catch(giveUp);
    return () => stop.abort();
  }

  /** One event stream; true when it delivered a settled state. */
  private async streamOnce(jobId: string, deliver: (job: Job) => boolean, signal: AbortSignal): Promise<boolean> {
    const ctl = new AbortController();
    const forward = () => ctl.abort();
    signal.addEventListener('abort', forward, { once: true });
    let lastActivity = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - lastActivity > this.streamStallMs) ctl.abort();
    }, Math.max(50, Math.floor(this.streamStallMs / 3)));
    try {
      const res = await this.request(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers: { accept: 'text/event-stream' }, signal: ctl.signal,
      });
      if (!res.body) return false;
      const outcome = await readEventStream(res.body, (e) => {
        if (e.event !== 'job') return false;
        return deliver(JSON.parse(e.data) as Job);
      }, () => { lastActivity = Date.now(); });
      return outcome === 'stopped';
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener('abort', forward);
    }
  }
}
