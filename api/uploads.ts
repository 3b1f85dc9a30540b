// Input files, streamed: the multipart body is parsed as it arrives (busboy), the declared type,
// the file signature and the size are checked on the way, and a pluggable UploadStore writes the
// bytes out; a 200 MB video never sits in memory. In development the local store writes under a
// directory and the API serves the files back at /uploads/<name>, a URL the worker (and the
// provider) can fetch. Production plugs its own store (S3, Supabase Storage…) or points the local
// one at a persistent volume behind FILA_PUBLIC_URL.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type pino from 'pino';
import type { FilaDb } from '../db/fila.ts';
import { ApiError, invalidInput } from './errors.ts';
import { fileHeadBytes, fileTypes, type FileStore, type StoredFile } from '../common/file-store.ts';

// The store is common/file-store.ts: the worker writes copies of results into the same one.
export { LocalFileStore as LocalUploadStore, servedFileHeaders, fileTypes as uploadTypes } from '../common/file-store.ts';
export type UploadStore = FileStore;
export type StoredUpload = StoredFile;

/** Per-user quota and retention of uploads (configuration). */
export interface UploadLimits {
  maxFiles: number;
  maxBytes: number;
  /** a file is deleted this long after it was stored… */
  retentionSeconds: number;
  /** …or this long after a job that used it finished, whichever comes first */
  graceSeconds: number;
}
export const defaultUploadLimits: UploadLimits = {
  maxFiles: 20, maxBytes: 512 * 1024 * 1024, retentionSeconds: 24 * 3600, graceSeconds: 3600,
};

const MB = 1024 * 1024;

/** Formats people send that RunningHub does not take: refused with what to send instead. */
const providerRefusedTypes: Record<string, string> = {
  'video/webm': 'Vídeos .webm não são aceitos pelo RunningHub: envie o vídeo em .mp4 ou .mov.',
};
/** The largest accepted file, plus room for the multipart envelope: the uploads route's body limit. */
export const maxUploadBody = 200 * MB + 64 * 1024;
const headBytes = fileHeadBytes;

function acceptedType(declared: string): { contentType: string; spec: (typeof fileTypes)[string] } {
  const contentType = declared.split(';')[0]?.trim().toLowerCase() ?? '';
  const spec = fileTypes[contentType];
  const refusedByProvider = providerRefusedTypes[contentType];
  if (refusedByProvider) {
    throw new ApiError(415, 'unsupported_media_type', refusedByProvider, { content_type: contentType, accepted: Object.keys(fileTypes) });
  }
  if (!spec) {
    throw new ApiError(415, 'unsupported_media_type',
      `Tipo de arquivo não aceito: ${contentType || 'desconhecido'}. Aceitos: ${Object.keys(fileTypes).join(', ')}.`,
      { content_type: contentType, accepted: Object.keys(fileTypes) });
  }
  return { contentType, spec };
}

/** Passes a file through while checking it: its signature once the first bytes are in, its size
 *  on every chunk, and that it is not empty at the end. A failed check errors the stream. */
class UploadCheck extends Transform {
  private head: Buffer | null = Buffer.alloc(0); // null once the signature is checked
  private size = 0;

  constructor(private readonly contentType: string, private readonly spec: (typeof fileTypes)[string]) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.spec.maxBytes) { done(this.tooLarge()); return; }
    if (this.head === null) { done(null, chunk); return; }
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < headBytes) { done(); return; }
    this.release(done);
  }

  override _flush(done: TransformCallback): void {
    if (this.size === 0) { done(new ApiError(400, 'invalid_input', 'O arquivo está vazio.')); return; }
    if (this.head === null) { done(); return; }
    this.release(done);
  }

  private release(done: TransformCallback): void {
    const head = this.head!;
    this.head = null;
    if (!this.spec.sniff(head)) {
      done(new ApiError(415, 'unsupported_media_type', `O conteúdo do arquivo não é ${this.contentType}.`, { content_type: this.contentType }));
      return;
    }
    done(null, head);
  }

  private tooLarge(): ApiError {
    const { kind, maxBytes } = this.spec;
    return new ApiError(413, 'file_too_large',
      `Arquivo grande demais: mais de ${maxBytes / MB} MB (limite para ${kind === 'image' ? 'imagens' : 'vídeos'}).`,
      { max_bytes: maxBytes });
  }
}

function bodyTooLarge(): ApiError {
  return new ApiError(413, 'file_too_large', 'Arquivo grande demais (limite: imagens 30 MB, vídeos 200 MB).', { max_bytes: maxUploadBody });
}

/** Reads a multipart/form-data request whose `file` field is the file, and stores it as it arrives.
 *  Other fields are skipped. A refused file is read to its end (to nowhere) before the answer, so
 *  that the client, still sending, gets to read it. */
export async function receiveUpload(req: Request, store: UploadStore): Promise<StoredUpload> {
  const type = req.headers.get('content-type') ?? '';
  if (!/^multipart\/form-data\b/i.test(type) || !req.body) {
    throw invalidInput([{ path: 'file', message: 'a file field is required' }], 'Envie multipart/form-data com um campo file.');
  }
  const declared = Number(req.headers.get('content-length') ?? Number.NaN);
  if (declared > maxUploadBody) throw bodyTooLarge();
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: { 'content-type': type }, limits: { files: 1, fields: 20 } });
  } catch (err) {
    // "Multipart: Boundary not found" and the like: the client's request, not our failure
    throw invalidInput([{ path: 'content-type', message: (err as Error).message }], 'Cabeçalho multipart/form-data inválido (sem boundary?).');
  }
  // settled, not rejected: a refusal is known while the rest of the body is still being read
  type Outcome = { stored: StoredUpload } | { refused: unknown };
  let outcome = null as Promise<Outcome> | null; // set by the parser's callback
  let saved: Readable | null = null; // the file part being stored
  parser.on('file', (field, file, info) => {
    if (field !== 'file' || outcome) { file.resume(); return; }
    saved = file;
    let saving: Promise<StoredUpload>;
    try {
      const { contentType, spec } = acceptedType(info.mimeType);
      const check = new UploadCheck(contentType, spec);
      file.on('error', (err) => check.destroy(err)); // the request broke off: the store must not keep half a file
      // a refused file: read the rest to nowhere (destroying it would stall the parser). The error
      // itself reaches the store's pipeline (even one attached later) and so `saving`.
      check.once('error', () => { file.unpipe(check); file.resume(); });
      saving = store.save({ content: file.pipe(check), contentType, extension: spec.extension });
    } catch (err) {
      file.resume();
      saving = Promise.reject(err as Error);
    }
    outcome = saving.then((stored) => ({ stored }), (refused: unknown) => ({ refused }));
  });
  let received = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _enc, done) {
      received += chunk.length;
      done(received > maxUploadBody ? bodyTooLarge() : null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(req.body as import('node:stream/web').ReadableStream<Uint8Array>), limit, parser);
  } catch (err) {
    // the body broke off: the store must drop its half file before anyone is answered
    if (saved && outcome) {
      (saved as Readable).destroy(err as Error);
      const settled: Outcome = await outcome;
      // the part itself had ended before the body broke off: refused all the same, not kept
      if ('stored' in settled) await store.delete(settled.stored.name);
    }
    if (err instanceof ApiError) throw err;
    // "Unexpected end of form", a malformed part header, a body cut off: nothing was kept
    throw invalidInput([{ path: 'file', message: (err as Error).message }], 'Corpo multipart/form-data inválido ou incompleto.');
  }
  if (!outcome) throw invalidInput([{ path: 'file', message: 'a file field is required' }], 'Envie um arquivo no campo file.');
  const result: Outcome = await outcome;
  if ('refused' in result) throw result.refused;
  return result.stored;
}

/** Deletes expired uploads every `everyMs`: past retention, or past their finished job's grace
 *  (fila.expired_uploads decides); only then are they no longer counted (uploads_deleted). */
export function startUploadSweeper(
  fila: Pick<FilaDb, 'expiredUploads' | 'uploadsDeleted'>, store: UploadStore, limits: UploadLimits,
  log: pino.Logger, everyMs = 60_000,
): { sweep(): Promise<number>; stop(): void } {
  let running: Promise<number> | null = null;
  const sweep = (): Promise<number> => (running ??= (async () => {
    try {
      const names = await fila.expiredUploads(limits.retentionSeconds, limits.graceSeconds);
      for (const name of names) await store.delete(name);
      const n = names.length ? await fila.uploadsDeleted(names) : 0;
      if (n) log.info({ deleted: n }, 'expired uploads deleted');
      return n;
    } finally {
      running = null;
    }
  })());
  const timer = setInterval(() => {
    sweep().catch((err: unknown) => log.error({ err }, 'deleting expired uploads failed; retrying at the next sweep'));
  }, everyMs);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
