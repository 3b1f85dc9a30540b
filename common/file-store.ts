// fila's file store: input files users upload (api/uploads.ts) and the copies of results the
// worker makes (worker/output-copies.ts) go to one pluggable store, under one naming scheme, one
// set of accepted types and one retention (fila.uploads, swept by the API). The local store writes
// under a directory that the API serves back at /uploads/<name> — the API and the worker share it
// (FILA_UPLOAD_DIR) — and production may plug its own (S3, Supabase Storage…).
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { storedUploadName } from './own-uploads.ts';

export interface StoredFile {
  url: string;
  name: string;
  content_type: string;
  size: number;
}

export interface FileStore {
  /** Keep what `content` yields and return the URL it can be fetched at. `content` errors when the
   *  file turns out too large, not what it claims, or the client goes away: then nothing is kept. */
  save(file: { content: Readable; contentType: string; extension: string }): Promise<StoredFile>;
  /** Remove a stored file (a refused upload, an expired one); a missing file is not an error. */
  delete(name: string): Promise<void>;
}

/** Headers of a served file (upload or copied result): the browser must take it for what it is, and run nothing in it. */
export const servedFileHeaders = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; sandbox",
  'cross-origin-resource-policy': 'cross-origin',
} as const;

const MB = 1024 * 1024;

/** Accepted types: what each is, its limit and its file signature. */
export const fileTypes: Record<string, { kind: 'image' | 'video'; extension: string; maxBytes: number; sniff(b: Uint8Array): boolean }> = {
  'image/png': { kind: 'image', extension: 'png', maxBytes: 30 * MB, sniff: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  'image/jpeg': { kind: 'image', extension: 'jpg', maxBytes: 30 * MB, sniff: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  'image/webp': { kind: 'image', extension: 'webp', maxBytes: 30 * MB, sniff: (b) => ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP') },
  'video/mp4': { kind: 'video', extension: 'mp4', maxBytes: 200 * MB, sniff: (b) => ascii(b, 4, 'ftyp') },
  'video/quicktime': { kind: 'video', extension: 'mov', maxBytes: 200 * MB, sniff: (b) => ascii(b, 4, 'ftyp') || ascii(b, 4, 'moov') || ascii(b, 4, 'wide') },
};
/** Enough of a file's start for every signature above. */
export const fileHeadBytes = 16;

function startsWith(b: Uint8Array, sig: number[]): boolean {
  return sig.every((v, i) => b[i] === v);
}
function ascii(b: Uint8Array, at: number, s: string): boolean {
  return [...s].every((ch, i) => b[at + i] === ch.charCodeAt(0));
}

const contentTypeOf: Record<string, string> = Object.fromEntries(
  Object.entries(fileTypes).map(([type, s]) => [s.extension, type]));

/** Files on local disk, served back by the API at `<publicBaseUrl>/uploads/<name>`. */
export class LocalFileStore implements FileStore {
  constructor(readonly dir: string, private readonly publicBaseUrl: () => string) {}

  async save(file: { content: Readable; contentType: string; extension: string }): Promise<StoredFile> {
    await mkdir(this.dir, { recursive: true });
    const name = `${randomUUID()}.${file.extension}`;
    const target = path.join(this.dir, name);
    try {
      await pipeline(file.content, createWriteStream(target, { flags: 'wx' }));
    } catch (err) {
      await rm(target, { force: true });
      throw err;
    }
    return {
      url: `${this.publicBaseUrl().replace(/\/+$/, '')}/uploads/${name}`,
      name, content_type: file.contentType, size: (await stat(target)).size,
    };
  }

  async exists(name: string): Promise<boolean> {
    if (!storedUploadName.test(name)) return false;
    try {
      return (await stat(path.join(this.dir, name))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async delete(name: string): Promise<void> {
    if (!storedUploadName.test(name)) throw new Error(`not a stored upload's name: ${name}`);
    await rm(path.join(this.dir, name), { force: true });
  }

  /** A stored file as a stream, or null when there is no such file. */
  async open(name: string): Promise<{ body: ReadableStream; contentType: string; size: number } | null> {
    if (!storedUploadName.test(name)) return null;
    const file = path.join(this.dir, name);
    try {
      const s = await stat(file);
      const ext = name.slice(name.lastIndexOf('.') + 1);
      return {
        body: Readable.toWeb(createReadStream(file)) as ReadableStream,
        contentType: contentTypeOf[ext] ?? 'application/octet-stream',
        size: s.size,
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }
}

