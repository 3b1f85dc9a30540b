// Fetch a user-given URL without letting it reach inside our network: the literal host and every
// address its name resolves to must pass the address rules (public-address.ts) — checked when the
// name is resolved for this very connection and again on the connected socket, so a name that
// resolved outward at submit and inward now (DNS rebinding) is refused — and every redirect is a
// new URL checked the same way. One deadline covers all hops; a body is cut at maxBytes.
import http from 'node:http';
import https from 'node:https';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import type { Socket } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { isPublicAddress, publicUrlRefusal } from './public-address.ts';

/** The URL (or one it redirected to) points inside our network: refused, never fetched. */
export class UrlRefusedError extends Error {
  override readonly name = 'UrlRefusedError';
  constructor(readonly url: string, readonly reason: string) {
    super(`${url}: ${reason}`);
  }
}

/** The server could not be reached or did not answer in time. */
export class FetchFailedError extends Error {
  override readonly name = 'FetchFailedError';
  constructor(readonly url: string, readonly reason: string, options?: { cause?: unknown; timedOut?: boolean }) {
    super(`${url}: ${reason}`, options);
    this.timedOut = options?.timedOut ?? false;
  }
  /** the deadline passed (rather than a refusal or a broken connection) */
  readonly timedOut: boolean;
}

/** The body is larger than the caller accepts. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly url: string, readonly size: number, readonly limit: number) {
    super(`${url}: more than ${limit} bytes (${size})`);
  }
}

export interface PublicFetchOptions {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  /** one deadline for every hop, headers and body */
  timeoutMs: number;
  /** GET: read the body up to this many bytes (BodyTooLargeError past it); 0 = do not read it */
  maxBytes?: number;
  maxRedirects?: number;
  /** the address rule; default: public addresses only (tests narrow it to one loopback address) */
  allowAddress?: (ip: string) => boolean;
  /** name resolution; default dns.lookup (tests stand in a rebinding resolver) */
  resolve?: (hostname: string) => Promise<LookupAddress[]>;
}

export interface PublicFetchResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** the URL that answered, after redirects */
  url: string;
  body: Buffer | null;
}

/** A streamed answer (openPublic): `body` is null unless the status is 2xx. */
export interface PublicStreamResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  url: string;
  /** errors with BodyTooLargeError past maxBytes, FetchFailedError past the deadline or on a broken
   *  connection (possibly before the caller reads it: consume it with stream.pipeline or an async
   *  iterator, which report an error already there); the caller must read it to its end or destroy it */
  body: Readable | null;
}

const redirects = new Set([301, 302, 303, 307, 308]);

type Answer = PublicFetchResult & { location: string | null; stream: Readable | null };

async function follow(url: string, opts: PublicFetchOptions, stream: boolean): Promise<Answer> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const maxRedirects = opts.maxRedirects ?? 5;
  let current = url;
  for (let hop = 0; ; hop++) {
    const res = await oneRequest(current, opts, signal, stream);
    if (!redirects.has(res.status) || !res.location) return res;
    if (hop >= maxRedirects) throw new FetchFailedError(url, `more than ${maxRedirects} redirects`);
    current = new URL(res.location, current).toString();
  }
}

export async function fetchPublic(url: string, opts: PublicFetchOptions): Promise<PublicFetchResult> {
  const { status, headers, url: answered, body } = await follow(url, opts, false);
  return { status, headers, url: answered, body };
}

/** fetchPublic for a body too large to hold in memory: a GET whose 2xx body is a stream, cut at
 *  `maxBytes` (required) and bound by the same one deadline as the headers. */
export async function openPublic(url: string, opts: Omit<PublicFetchOptions, 'method'> & { maxBytes: number }): Promise<PublicStreamResult> {
  const { status, headers, url: answered, stream } = await follow(url, { ...opts, method: 'GET' }, true);
  return { status, headers, url: answered, body: stream };
}

function oneRequest(url: string, opts: PublicFetchOptions, signal: AbortSignal, stream: boolean): Promise<Answer> {
  const allow = opts.allowAddress ?? isPublicAddress;
  const refusal = publicUrlRefusal(url, allow);
  if (refusal) return Promise.reject(new UrlRefusedError(url, refusal));
  const resolve = opts.resolve ?? ((host: string) => dnsLookup(host, { all: true }));
  const target = new URL(url);
  // the address of this connection is decided here: every answer must pass, or none is used
  const lookup = (hostname: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    resolve(hostname).then((addresses) => {
      const inward = addresses.find((a) => !allow(a.address));
      if (inward) { cb(new UrlRefusedError(url, `${hostname} resolves to ${inward.address}, not a public address`)); return; }
      if (addresses.length === 0) { cb(new FetchFailedError(url, `${hostname} has no address`)); return; }
      if (options.all) cb(null, addresses);
      else cb(null, addresses[0]!.address, addresses[0]!.family);
    }, (err: unknown) => cb(new FetchFailedError(url, `cannot resolve ${hostname}: ${(err as Error).message}`, { cause: err })));
  };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolvePromise, reject) => {
    const req = client.request(target, {
      method: opts.method ?? 'GET',
      headers: { 'user-agent': 'fila-input-check/1', ...opts.headers },
      lookup: lookup as never,
      signal,
      agent: false, // a fresh connection each time: no socket reused across a re-resolution
    });
    req.on('socket', (socket: Socket) => {
      socket.once('connect', () => {
        // whatever path led here (an IP literal needs no lookup), the peer itself must pass
        const peer = socket.remoteAddress ?? '';
        if (!allow(peer)) req.destroy(new UrlRefusedError(url, `connected to ${peer}, not a public address`));
      });
    });
    req.on('error', (err) => {
      if (err instanceof UrlRefusedError || err instanceof FetchFailedError || err instanceof BodyTooLargeError) reject(err);
      else if (signal.aborted) reject(new FetchFailedError(url, `no answer within ${opts.timeoutMs} ms`, { cause: err, timedOut: true }));
      else reject(new FetchFailedError(url, err.message, { cause: err }));
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const location = redirects.has(status) && typeof res.headers.location === 'string' ? res.headers.location : null;
      const limit = opts.maxBytes ?? 0;
      if (location || opts.method === 'HEAD' || limit === 0 || status < 200 || status >= 300) {
        res.destroy();
        resolvePromise({ status, headers: res.headers, url, body: null, location, stream: null });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > limit) {
        res.destroy();
        reject(new BodyTooLargeError(url, declared, limit));
        return;
      }
      if (stream) {
        let size = 0;
        const cut = new Transform({
          transform(chunk: Buffer, _enc, done) {
            size += chunk.length;
            if (size > limit) {
              done(new BodyTooLargeError(url, size, limit));
              req.destroy();
              return;
            }
            done(null, chunk);
          },
        });
        // the connection's end of the story reaches whoever reads the stream
        res.on('error', (err) => cut.destroy(signal.aborted
          ? new FetchFailedError(url, `no answer within ${opts.timeoutMs} ms`, { cause: err, timedOut: true })
          : new FetchFailedError(url, err.message, { cause: err })));
        res.on('aborted', () => cut.destroy(new FetchFailedError(url, 'the connection broke off mid-body')));
        // bytes may flow (and the cap be passed) before the caller has attached its own listener:
        // the error then stays on the stream (cut.errored) for whoever reads it, instead of being
        // emitted to no listener, which would crash the process
        cut.on('error', () => undefined);
        res.pipe(cut);
        resolvePromise({ status, headers: res.headers, url, body: null, location: null, stream: cut });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false; // the parser may still emit 'end' for what it had already read
      res.on('data', (chunk: Buffer) => {
        if (tooLarge) return;
        size += chunk.length;
        if (size > limit) {
          tooLarge = true;
          reject(new BodyTooLargeError(url, size, limit));
          req.destroy();
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (!tooLarge) resolvePromise({ status, headers: res.headers, url, body: Buffer.concat(chunks), location: null, stream: null });
      });
      res.on('error', (err) => req.destroy(err));
    });
    req.end();
  });
}
