// Input files that a workflow node takes as an upload (tools config `"upload": true`): read the
// file, refusing at once past RunningHub's 30 MB limit, then /task/openapi/upload. fila's own
// uploads are read from the store; any other URL is fetched only from public addresses, checked
// on every resolved address and after every redirect (common/public-fetch.ts). A file that cannot
// be read fails its job at once with the reason (the URL was already checked at submit: a failure
// now is the file's, and retrying would hold a provider slot for nothing).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { uploadLimitBytes, type RunningHubClient } from './runninghub/client.ts';
import { ownUploadName } from '../common/own-uploads.ts';
import { BodyTooLargeError, FetchFailedError, fetchPublic, UrlRefusedError, type PublicFetchOptions } from '../common/public-fetch.ts';

/** The input file itself is the problem (refused, missing, too large, unreachable): a failure of that job alone. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
}

/** Our side could not read the file for now (our own store failed): worth another attempt. */
export class InputFileUnavailableError extends Error {
  override readonly name = 'InputFileUnavailableError';
}

export interface InputFileSource {
  /** fila's own uploads (local store): URLs under `publicBaseUrl/uploads/` are read from `dir` */
  ownUploads?: { publicBaseUrl: string; dir: string } | null;
  /** one deadline for the whole download (default 60 s) */
  timeoutMs?: number;
  /** the address rule and resolver (tests only: a loopback file server) */
  network?: Pick<PublicFetchOptions, 'allowAddress' | 'resolve'>;
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

export async function readInputFile(url: string, limitBytes = uploadLimitBytes, source: InputFileSource = {}): Promise<{ blob: Blob; fileName: string }> {
  const clean = url.split('#')[0]!;
  const tooLarge = (size: number) => new InputFileError(
    `Arquivo de entrada maior que o limite de ${mb(limitBytes)} do RunningHub (${mb(size)}): ${clean}`);
  const own = source.ownUploads ? ownUploadName(clean, source.ownUploads.publicBaseUrl) : null;
  if (own) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path.join(source.ownUploads!.dir, own));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new InputFileError(`Arquivo enviado não encontrado (expirado ou apagado): ${clean}`);
      throw new InputFileUnavailableError(`could not read uploaded file ${own}: ${(err as Error).message}`, { cause: err });
    }
    if (bytes.length > limitBytes) throw tooLarge(bytes.length);
    return { blob: new Blob([new Uint8Array(bytes)]), fileName: own };
  }

  let res;
  try {
    res = await fetchPublic(clean, { timeoutMs: source.timeoutMs ?? 60_000, maxBytes: limitBytes, ...source.network });
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw tooLarge(err.size);
    if (err instanceof UrlRefusedError) throw new InputFileError(`Arquivo de entrada recusado: ${err.reason}: ${clean}`);
    if (err instanceof FetchFailedError) throw new InputFileError(`Arquivo de entrada inacessível (${err.reason}): ${clean}`);
    throw err;
  }
  if (res.status < 200 || res.status >= 300 || !res.body) {
    throw new InputFileError(`Arquivo de entrada indisponível (HTTP ${res.status}): ${clean}`);
  }
  const type = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : 'application/octet-stream';
  const fileName = path.posix.basename(new URL(res.url).pathname) || 'input';
  return { blob: new Blob([new Uint8Array(res.body)], { type }), fileName };
}

/** Upload one input file; returns the provider's fileName. RunningHubError and RunningHubUnreachableError pass through. */
export async function uploadInputFile(rh: RunningHubClient, url: string, kind: 'image' | 'video', source: InputFileSource = {}): Promise<string> {
  const { blob, fileName } = await readInputFile(url, uploadLimitBytes, source);
  return rh.upload(blob, fileName, kind);
}
