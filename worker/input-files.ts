// Input files that a workflow node takes as an upload (tools config `"upload": true`): read the
// URL's content, refusing at once past RunningHub's 30 MB limit, then /task/openapi/upload.
import path from 'node:path';
import { uploadLimitBytes, type RunningHubClient } from './runninghub/client.ts';

/** The input file itself is the problem (missing, too large): a failure of that job alone. */
export class InputFileError extends Error {
  override readonly name = 'InputFileError';
}

/** Our side could not read the file for now (storage down): worth another attempt. */
export class InputFileUnavailableError extends Error {
  override readonly name = 'InputFileUnavailableError';
}

const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`;

export async function readInputFile(url: string, limitBytes = uploadLimitBytes, timeoutMs = 60_000): Promise<{ blob: Blob; fileName: string }> {
  const clean = url.split('#')[0]!;
  let res: Response;
  try {
    res = await fetch(clean, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new InputFileUnavailableError(`could not read input file ${clean}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (res.status >= 400 && res.status < 500) {
    await res.body?.cancel();
    throw new InputFileError(`Arquivo de entrada indisponível (HTTP ${res.status}): ${clean}`);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new InputFileUnavailableError(`could not read input file ${clean}: HTTP ${res.status}`);
  }
  const tooLarge = (size: number) => new InputFileError(
    `Arquivo de entrada maior que o limite de ${mb(limitBytes)} do RunningHub (${mb(size)}): ${clean}`);
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limitBytes) {
    await res.body.cancel();
    throw tooLarge(declared);
  }
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limitBytes) {
      await reader.cancel();
      throw tooLarge(size);
    }
    chunks.push(new Uint8Array(value));
  }
  const type = res.headers.get('content-type') ?? 'application/octet-stream';
  const fileName = path.posix.basename(new URL(clean).pathname) || 'input';
  return { blob: new Blob(chunks, { type }), fileName };
}

/** Upload one input file; returns the provider's fileName. RunningHubError and RunningHubUnreachableError pass through. */
export async function uploadInputFile(rh: RunningHubClient, url: string, kind: 'image' | 'video'): Promise<string> {
  const { blob, fileName } = await readInputFile(url);
  return rh.upload(blob, fileName, kind);
}

