// Input files: type and size checked here, stored by a pluggable UploadStore. In development the
// local store writes under a directory and the API serves the files back at /uploads/<name>, a URL
// the worker (and the provider) can fetch. Production plugs its own store (S3, Supabase Storage…)
// or points the local one at a persistent volume behind FILA_PUBLIC_URL.
import { createReadStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { ApiError } from './errors.ts';

export interface StoredUpload {
  url: string;
  name: string;
  content_type: string;
  size: number;
}

export interface UploadStore {
  /** Keep `bytes` and return the URL it can be fetched at. */
  save(file: { bytes: Uint8Array; contentType: string; extension: string }): Promise<StoredUpload>;
}

const MB = 1024 * 1024;

/** Accepted types: what each is, its limit and its file signature. */
export const uploadTypes: Record<string, { kind: 'image' | 'video'; extension: string; maxBytes: number; sniff(b: Uint8Array): boolean }> = {
  'image/png': { kind: 'image', extension: 'png', maxBytes: 30 * MB, sniff: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  'image/jpeg': { kind: 'image', extension: 'jpg', maxBytes: 30 * MB, sniff: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  'image/webp': { kind: 'image', extension: 'webp', maxBytes: 30 * MB, sniff: (b) => ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP') },
  'video/mp4': { kind: 'video', extension: 'mp4', maxBytes: 200 * MB, sniff: (b) => ascii(b, 4, 'ftyp') },
  'video/quicktime': { kind: 'video', extension: 'mov', maxBytes: 200 * MB, sniff: (b) => ascii(b, 4, 'ftyp') || ascii(b, 4, 'moov') || ascii(b, 4, 'wide') },
  'video/webm': { kind: 'video', extension: 'webm', maxBytes: 200 * MB, sniff: (b) => startsWith(b, [0x1a, 0x45, 0xdf, 0xa3]) },
};
/** The largest accepted file, plus room for the multipart envelope: the uploads route's body limit. */
export const maxUploadBody = 200 * MB + 64 * 1024;

function startsWith(b: Uint8Array, sig: number[]): boolean {
  return sig.every((v, i) => b[i] === v);
}
function ascii(b: Uint8Array, at: number, s: string): boolean {
  return [...s].every((ch, i) => b[at + i] === ch.charCodeAt(0));
}

/** Check a received file; returns its normalised type and extension, or throws the refusal. */
export function checkUpload(file: { type: string; size: number }, head: Uint8Array): { contentType: string; extension: string } {
  const contentType = file.type.split(';')[0]?.trim().toLowerCase() ?? '';
  const spec = uploadTypes[contentType];
  if (!spec) {
    throw new ApiError(415, 'unsupported_media_type',
      `Tipo de arquivo não aceito: ${contentType || 'desconhecido'}. Aceitos: ${Object.keys(uploadTypes).join(', ')}.`,
      { content_type: contentType, accepted: Object.keys(uploadTypes) });
  }
  if (file.size === 0) throw new ApiError(400, 'invalid_input', 'O arquivo está vazio.');
  if (file.size > spec.maxBytes) {
    throw new ApiError(413, 'file_too_large',
      `Arquivo grande demais: ${(file.size / MB).toFixed(1)} MB (limite para ${spec.kind === 'image' ? 'imagens' : 'vídeos'}: ${spec.maxBytes / MB} MB).`,
      { size: file.size, max_bytes: spec.maxBytes });
  }
  if (!spec.sniff(head)) {
    throw new ApiError(415, 'unsupported_media_type', `O conteúdo do arquivo não é ${contentType}.`, { content_type: contentType });
  }
  return { contentType, extension: spec.extension };
}

const storedName = /^[0-9a-f-]{36}\.(png|jpg|webp|mp4|mov|webm)$/;
const contentTypeOf: Record<string, string> = Object.fromEntries(
  Object.entries(uploadTypes).map(([type, s]) => [s.extension, type]));

/** Files on local disk, served back by the API at `<publicBaseUrl>/uploads/<name>`. */
export class LocalUploadStore implements UploadStore {
  constructor(readonly dir: string, private readonly publicBaseUrl: () => string) {}

  async save(file: { bytes: Uint8Array; contentType: string; extension: string }): Promise<StoredUpload> {
    await mkdir(this.dir, { recursive: true });
    const name = `${randomUUID()}.${file.extension}`;
    await writeFile(path.join(this.dir, name), file.bytes, { flag: 'wx' });
    return {
      url: `${this.publicBaseUrl().replace(/\/+$/, '')}/uploads/${name}`,
      name, content_type: file.contentType, size: file.bytes.byteLength,
    };
  }

  /** A stored file as a stream, or null when there is no such file. */
  async open(name: string): Promise<{ body: ReadableStream; contentType: string; size: number } | null> {
    if (!storedName.test(name)) return null;
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
