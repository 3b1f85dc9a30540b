// copy_output {job_id, output_index}: a job completed (fila.tg__jobs_copy_outputs recorded one
// pending copy per output and enqueued this), so its result is copied from the provider's URL into
// fila's own file store (common/file-store.ts, the store uploads use) and users are shown the copy
// from then on. The provider's answer is hostile input like any user-given URL: the download goes
// only to public addresses (common/public-fetch.ts, every hop and resolved address checked), within
// one deadline, cut at a size cap, and is kept only when its content type is one the store accepts
// and its bytes carry that type's signature. A refusal of that kind is final (status refused,
// logged with the reason); a network failure or a non-2xx answer is thrown, and graphile-worker
// retries with its exponential back-off until max_attempts (then status failed). Until a copy
// lands, and when none ever does, users keep the provider's URL: nothing of the job changes.
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { fileHeadBytes, fileTypes, type FileStore, type StoredFile } from '../common/file-store.ts';
import { BodyTooLargeError, openPublic, UrlRefusedError, type PublicFetchOptions } from '../common/public-fetch.ts';
import { outputUrlProblem } from '../common/output-urls.ts';
import { errorFields, type WorkerDeps } from './deps.ts';

export interface OutputCopyOptions {
  /** where copies go; null: this worker keeps no copies (users keep the provider's URLs) */
  store: FileStore | null;
  /** one deadline for the whole download (default 120 s) */
  timeoutMs?: number;
  /** the largest copy kept, per kind (default: images 64 MB, videos 512 MB) */
  maxBytes?: { image: number; video: number };
  /** the address rule and resolver (tests and the local fake provider only) */
  network?: Pick<PublicFetchOptions, 'allowAddress' | 'resolve'>;
}

const MB = 1024 * 1024;
export const defaultOutputMaxBytes = { image: 64 * MB, video: 512 * MB } as const;

/** The download is not something fila keeps (address, size, type): final, never retried. */
export class OutputCopyRefused extends Error {
  override readonly name = 'OutputCopyRefused';
}

/** Checks the copy on its way to the store: the declared type's signature and the size cap. */
class CopyCheck extends Transform {
  private head: Buffer | null = Buffer.alloc(0); // null once the signature is checked
  private size = 0;

  constructor(private readonly contentType: string, private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.limit) { done(new OutputCopyRefused(`larger than ${this.limit} bytes (the cap for ${this.contentType})`)); return; }
    if (this.head === null) { done(null, chunk); return; }
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < fileHeadBytes) { done(); return; }
    this.release(done);
  }

  override _flush(done: TransformCallback): void {
    if (this.size === 0) { done(new OutputCopyRefused('empty body')); return; }
    if (this.head === null) { done(); return; }
    this.release(done);
  }

  private release(done: TransformCallback): void {
    const head = this.head!;
    this.head = null;
    if (!fileTypes[this.contentType]!.sniff(head)) { done(new OutputCopyRefused(`the bytes are not ${this.contentType}`)); return; }
    done(null, head);
  }
}

/** Download `url` into the store, or throw: OutputCopyRefused (final) or anything else (retry). */
export async function downloadOutput(url: string, opts: OutputCopyOptions & { store: FileStore }): Promise<StoredFile> {
  const problem = outputUrlProblem(url);
  if (problem) throw new OutputCopyRefused(problem);
  const caps = opts.maxBytes ?? defaultOutputMaxBytes;
  let res;
  try {
    res = await openPublic(url, { timeoutMs: opts.timeoutMs ?? 120_000, maxBytes: Math.max(caps.image, caps.video), ...opts.network });
  } catch (err) {
    if (err instanceof UrlRefusedError) throw new OutputCopyRefused(err.reason, { cause: err });
    if (err instanceof BodyTooLargeError) throw new OutputCopyRefused(`larger than ${err.limit} bytes (${err.size})`, { cause: err });
    throw err; // unreachable, timed out: worth another attempt
  }
  const body = res.body;
  if (!body) throw new Error(`the provider answered HTTP ${res.status} for the output`);
  const contentType = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const spec = Object.hasOwn(fileTypes, contentType) ? fileTypes[contentType]! : null;
  if (!spec) {
    body.destroy();
    throw new OutputCopyRefused(`content type ${contentType || '(none)'} is not one fila keeps (${Object.keys(fileTypes).join(', ')})`);
  }
  const declared = Number(res.headers['content-length']);
  if (Number.isFinite(declared) && declared > caps[spec.kind]) {
    body.destroy(); // refused on its declared length: the body is never read
    throw new OutputCopyRefused(`larger than ${caps[spec.kind]} bytes (the cap for ${contentType}; ${declared} declared)`);
  }
  const check = new CopyCheck(contentType, caps[spec.kind]);
  // pipeline, not pipe: a download that broke off (or passed the cap) even before this line still
  // errors `check`, so the store drops its half file; a refused file ends the download
  const content = pipeline(body, check, (err) => { if (err && !check.destroyed) check.destroy(err); });
  try {
    return await opts.store.save({ content, contentType, extension: spec.extension });
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new OutputCopyRefused(`larger than ${err.limit} bytes`, { cause: err });
    throw err;
  }
}

export type CopyOutcome = 'copied' | 'refused' | 'failed' | 'skipped';

/** One attempt of copy_output. Throws (for graphile-worker to retry) only when another attempt may succeed. */
export async function copyOutput(
  deps: Pick<WorkerDeps, 'db' | 'logger' | 'outputCopies'>, jobId: string, outputIndex: number,
  attempt: { attempts: number; maxAttempts: number },
): Promise<CopyOutcome> {
  const log = deps.logger.child({ task: 'copy_output', job_id: jobId, output_index: outputIndex, attempt: attempt.attempts });
  const copy = await deps.db.outputCopy(jobId, outputIndex);
  if (!copy || copy.status !== 'pending') {
    log.info({ status: copy?.status ?? null }, 'nothing to copy');
    return 'skipped';
  }
  const store = deps.outputCopies?.store ?? null;
  if (!store) {
    await deps.db.recordOutputCopyFailure(jobId, outputIndex, 'this worker has no file store (FILA_UPLOAD_DIR or a store of its own)', 'failed');
    log.warn('output not copied: this worker has no file store; users keep the provider\'s URL');
    return 'failed';
  }
  let stored: StoredFile;
  try {
    stored = await downloadOutput(copy.provider_url, { ...deps.outputCopies!, store });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (err instanceof OutputCopyRefused) {
      await deps.db.recordOutputCopyFailure(jobId, outputIndex, `refused: ${reason}`, 'refused');
      log.warn({ provider_url: copy.provider_url, reason }, 'output not copied (refused): users keep the provider\'s URL');
      return 'refused';
    }
    const last = attempt.attempts >= attempt.maxAttempts;
    await deps.db.recordOutputCopyFailure(jobId, outputIndex, reason, last ? 'failed' : 'pending');
    if (last) {
      log.error({ provider_url: copy.provider_url, ...errorFields(err) }, 'output not copied: retries spent; users keep the provider\'s URL');
      return 'failed';
    }
    log.warn({ provider_url: copy.provider_url, ...errorFields(err) }, 'copying an output failed; retrying with back-off');
    throw err;
  }
  let recorded;
  try {
    recorded = await deps.db.recordOutputCopy(jobId, outputIndex, { name: stored.name, size: stored.size, contentType: stored.content_type, url: stored.url });
  } catch (err) {
    await store.delete(stored.name); // not recorded, so no sweeper would ever find it
    throw err;
  }
  if (recorded.upload_name !== stored.name) {
    await store.delete(stored.name); // an earlier attempt's copy landed first: it stays
    return 'skipped';
  }
  log.info({ copy: stored.name, size: stored.size, content_type: stored.content_type }, 'output copied into fila\'s store');
  return 'copied';
}
