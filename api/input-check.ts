// Input files are checked at submit, before the job exists: nobody holds a provider slot, or
// credits, for a file that cannot be read. Every URL in a validated input must be a public http(s)
// address (400 invalid_input otherwise: the server never fetches inside our network) and must
// answer a HEAD (or a one-byte ranged GET) within a few seconds (422 input_unreadable otherwise,
// naming the field, the URL and the HTTP status or the network's reason). fila's own uploads are
// looked up in the store. With the fake provider, the reserved example names (`files.example`,
// `x.test`…) stand for files it pretends to read, unless `#fake=unreadable:<status>` or
// `#fake=unreadable:timeout` says otherwise.
import { isExampleHost, publicUrlRefusal } from '../common/public-address.ts';
import { FetchFailedError, fetchPublic, UrlRefusedError, type PublicFetchOptions } from '../common/public-fetch.ts';
import { ownUploadName } from '../common/own-uploads.ts';
import { ApiError, invalidInput } from './errors.ts';

export interface InputCheckOptions {
  /** the fake provider: example host names count as readable unless a directive says otherwise */
  fakeProvider: boolean;
  /** the bound on the whole check (all files at once) */
  timeoutMs: number;
  /** fila's own upload store, when it can answer whether a name exists */
  ownUploads: { publicBaseUrl: () => string; exists(name: string): Promise<boolean> } | null;
  /** tests only: the address rule and resolver */
  network?: Pick<PublicFetchOptions, 'allowAddress' | 'resolve'>;
}

interface InputUrl { path: string; url: string }

/** Every http(s) URL among the input's values (top level and nested), with where it is. */
export function inputUrls(input: unknown, at: string[] = ['input']): InputUrl[] {
  if (typeof input === 'string') return /^https?:\/\//i.test(input) ? [{ path: at.join('.'), url: input }] : [];
  if (Array.isArray(input)) return input.flatMap((v, i) => inputUrls(v, [...at, String(i)]));
  if (input && typeof input === 'object') return Object.entries(input).flatMap(([k, v]) => inputUrls(v, [...at, k]));
  return [];
}

function unreadable(f: InputUrl, why: string, status: number | null): ApiError {
  return new ApiError(422, 'input_unreadable', `Arquivo de entrada ilegível (${why}): ${f.url.split('#')[0]}`,
    { path: f.path, url: f.url, ...(status !== null ? { status } : { reason: why }) });
}

/** The fake's directive for an example URL: `unreadable:<status>` / `unreadable:timeout`, or null = readable. */
function fakeUnreadable(url: URL): { status: number | null; why: string } | null {
  const m = /(?:^|[#&])fake=unreadable:(\d{3}|timeout)\b/.exec(url.hash);
  if (!m) return null;
  return m[1] === 'timeout' ? { status: null, why: 'sem resposta' } : { status: Number(m[1]), why: `HTTP ${m[1]}` };
}

async function checkOne(f: InputUrl, opts: InputCheckOptions, deadline: number): Promise<void> {
  const own = opts.ownUploads ? ownUploadName(f.url.split('#')[0]!, opts.ownUploads.publicBaseUrl()) : null;
  if (own) {
    if (!(await opts.ownUploads!.exists(own))) throw unreadable(f, 'arquivo enviado não encontrado ou expirado', 404);
    return;
  }
  const refusal = publicUrlRefusal(f.url, opts.network?.allowAddress);
  if (refusal) throw invalidInput([{ path: f.path, message: refusal, code: 'url_not_public' }], `URL de entrada recusada: ${refusal}.`);
  const url = new URL(f.url);
  if (opts.fakeProvider && isExampleHost(url.hostname)) {
    const fake = fakeUnreadable(url);
    if (fake) throw unreadable(f, fake.why, fake.status);
    return;
  }
  const clean = f.url.split('#')[0]!;
  const attempt = (method: 'HEAD' | 'GET') => fetchPublic(clean, {
    method, timeoutMs: Math.max(1, deadline - Date.now()), maxBytes: 0,
    ...(method === 'GET' ? { headers: { range: 'bytes=0-0' } } : {}), ...opts.network,
  });
  try {
    let res = await attempt('HEAD');
    // servers that do not do HEAD (or sign URLs for GET only) get a one-byte GET
    if (res.status === 405 || res.status === 501 || res.status === 403) res = await attempt('GET');
    if (res.status < 200 || res.status >= 300) throw unreadable(f, `HTTP ${res.status}`, res.status);
  } catch (err) {
    if (err instanceof UrlRefusedError) {
      throw invalidInput([{ path: f.path, message: err.reason, code: 'url_not_public' }], `URL de entrada recusada: ${err.reason}.`);
    }
    // one deadline covers every file and hop: say the bound, not what was left of it
    if (err instanceof FetchFailedError) throw unreadable(f, err.timedOut ? `no answer within ${opts.timeoutMs} ms` : err.reason, null);
    throw err;
  }
}

/** Throws the first refusal (400 invalid_input or 422 input_unreadable); all files are checked at once. */
export async function checkInputFiles(input: unknown, opts: InputCheckOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const results = await Promise.allSettled(inputUrls(input).map((f) => checkOne(f, opts, deadline)));
  // a URL into our network is reported before an unreadable one, whatever finished first
  const refusals = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  const first = refusals.find((e) => e instanceof ApiError && e.status === 400) ?? refusals[0];
  if (first !== undefined) throw first;
}
