// The address rules and the fetch that applies them, against real HTTP servers on loopback. The
// default rule refuses loopback itself; to show that redirects and re-resolved names are checked
// hop by hop, some cases narrow the rule to "only 127.0.0.1" and point the second hop at 127.0.0.2
// (also loopback on Linux, refused by the narrowed rule): the server there must see nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isExampleHost, isPublicAddress, publicUrlRefusal } from '../public-address.ts';
import { BodyTooLargeError, FetchFailedError, fetchPublic, openPublic, UrlRefusedError } from '../public-fetch.ts';
import { text } from 'node:stream/consumers';

interface Served { server: Server; port: number; hits: string[] }
async function serve(host: string, handler: (url: string, res: import('node:http').ServerResponse) => void): Promise<Served> {
  const hits: string[] = [];
  const server = createServer((req, res) => { hits.push(req.url ?? ''); handler(req.url ?? '', res); });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { server, port: (server.address() as AddressInfo).port, hits };
}

let outside: Served; // stands for a public server (on 127.0.0.1)
let inside: Served; // stands for an internal service (on 127.0.0.2)
const onlyOutside = (ip: string) => ip === '127.0.0.1';
beforeAll(async () => {
  inside = await serve('127.0.0.2', (_url, res) => { res.end('internal secret'); });
  outside = await serve('127.0.0.1', (url, res) => {
    if (url === '/to-inside') { res.writeHead(302, { location: `http://127.0.0.2:${inside.port}/secret` }); res.end(); return; }
    if (url === '/to-inside-by-name') { res.writeHead(307, { location: `http://intranet-files.corp.test:${inside.port}/secret` }); res.end(); return; }
    if (url === '/loop') { res.writeHead(302, { location: '/loop' }); res.end(); return; }
    if (url === '/big') { res.writeHead(200, { 'content-type': 'image/png' }); res.end(Buffer.alloc(5000)); return; }
    if (url === '/big-chunked') { res.writeHead(200); res.write(Buffer.alloc(3000)); res.end(Buffer.alloc(3000)); return; }
    if (url === '/hang') return; // never answers
    res.writeHead(200, { 'content-type': 'image/png' });
    res.end('png bytes');
  });
});
afterAll(async () => {
  for (const s of [outside, inside]) {
    s.server.closeAllConnections();
    await new Promise<void>((r) => s.server.close(() => r()));
  }
});

describe('address rules', () => {
  it('refuses loopback, private, link-local/metadata, CGNAT, unique-local and mapped forms; accepts public unicast', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.100.100.200', '0.0.0.0',
      '::1', '::', 'fd00:ec2::254', 'fe80::1', '::ffff:127.0.0.1', '::ffff:a9fe:a9fe', '64:ff9b::a9fe:a9fe', '224.0.0.1', '255.255.255.255']) {
      expect(isPublicAddress(ip), ip).toBe(false);
    }
    for (const ip of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '[2a00:1450:4001::200e]']) expect(isPublicAddress(ip), ip).toBe(true);
    expect(isPublicAddress('not-an-ip')).toBe(false);
  });

  it('refuses URLs by their literal form: non-http schemes, credentials, internal names, and numeric tricks for loopback', () => {
    const refused = ['file:///etc/passwd', 'gopher://x.example/', 'ftp://files.example/a.png', 'http://user:pw@files.example/a.png',
      'http://localhost:8080/', 'http://api.localhost/', 'http://metadata.google.internal/computeMetadata/v1/', 'http://redis:6379/',
      'http://2130706433/', 'http://0x7f.1/', 'http://017700000001/', 'http://[::ffff:127.0.0.1]/', 'http://169.254.169.254/latest/',
      'http://[fd00:ec2::254]/', 'not a url'];
    for (const url of refused) expect(publicUrlRefusal(url), url).not.toBeNull();
    for (const url of ['https://files.example/a.png', 'http://cdn.example.com:8080/x.png?sig=1', 'https://93.184.216.34/a.png']) {
      expect(publicUrlRefusal(url), url).toBeNull();
    }
  });

  it('knows the reserved example and test names (RFC 2606) and nothing else', () => {
    for (const h of ['files.example', 'example.com', 'cdn.example.org', 'a.test', 'x.invalid']) expect(isExampleHost(h), h).toBe(true);
    for (const h of ['example.com.evil.net', 'myexample.com', 'files.examples', 'testing.com']) expect(isExampleHost(h), h).toBe(false);
  });
});

describe('fetchPublic', () => {
  it('never connects to a loopback URL under the default rule', async () => {
    const err = await fetchPublic(`http://127.0.0.1:${outside.port}/a.png`, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect((err as UrlRefusedError).reason).toBe('127.0.0.1 is not a public address');
    expect(outside.hits).not.toContain('/a.png');
  });

  it('refuses a public-looking name that resolves inward, before connecting', async () => {
    const resolve = async () => [{ address: '127.0.0.1', family: 4 }];
    const err = await fetchPublic(`http://files.attacker.example:${outside.port}/by-name.png`, { timeoutMs: 2000, resolve }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect((err as UrlRefusedError).reason).toBe('files.attacker.example resolves to 127.0.0.1, not a public address');
    expect(outside.hits).not.toContain('/by-name.png');
  });

  it('checks the name again at every fetch: a name that rebinds inward after a first good answer is refused', async () => {
    let answers = 0;
    const resolve = async () => [{ address: answers++ === 0 ? '127.0.0.1' : '127.0.0.2', family: 4 }];
    const url = `http://rebind.attacker.example:${outside.port}/rebind.png`;
    const first = await fetchPublic(url, { timeoutMs: 2000, maxBytes: 1000, resolve, allowAddress: onlyOutside });
    expect([first.status, first.body?.toString()]).toEqual([200, 'png bytes']);
    // the attacker's server would listen on 127.0.0.2 with the same port: it is never reached
    const err = await fetchPublic(url, { timeoutMs: 2000, resolve, allowAddress: onlyOutside }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UrlRefusedError);
    expect(inside.hits).toEqual([]);
  });

  it('checks every redirect: a public URL that redirects inward, by address or by name, is refused and the inside is never reached', async () => {
    const resolve = async (host: string) => [{ address: host === 'intranet-files.corp.test' ? '127.0.0.2' : '127.0.0.1', family: 4 }];
    for (const path of ['/to-inside', '/to-inside-by-name']) {
      const err = await fetchPublic(`http://127.0.0.1:${outside.port}${path}`, { timeoutMs: 2000, resolve, allowAddress: onlyOutside }).catch((e: unknown) => e);
      expect(err, path).toBeInstanceOf(UrlRefusedError);
    }
    expect(inside.hits).toEqual([]);
  });

  it('stops after a bounded number of redirects', async () => {
    const err = await fetchPublic(`http://127.0.0.1:${outside.port}/loop`, { timeoutMs: 2000, allowAddress: onlyOutside, maxRedirects: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FetchFailedError);
    expect((err as FetchFailedError).reason).toBe('more than 3 redirects');
  });

  it('refuses a body over the limit, declared or streamed', async () => {
    for (const path of ['/big', '/big-chunked']) {
      const err = await fetchPublic(`http://127.0.0.1:${outside.port}${path}`, { timeoutMs: 2000, maxBytes: 4096, allowAddress: onlyOutside }).catch((e: unknown) => e);
      expect(err, path).toBeInstanceOf(BodyTooLargeError);
    }
  });

  it('gives up on a server that never answers at the deadline, saying so', async () => {
    const err = await fetchPublic(`http://127.0.0.1:${outside.port}/hang`, { timeoutMs: 300, allowAddress: onlyOutside }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FetchFailedError);
    expect((err as FetchFailedError).reason).toBe('no answer within 300 ms');
  });
});

describe('openPublic (a body streamed, never held whole)', () => {
  const base = () => `http://127.0.0.1:${outside.port}`;
  it('streams a 2xx body under the same rules: the bytes arrive as sent', async () => {
    const res = await openPublic(`${base()}/a.png`, { timeoutMs: 2000, maxBytes: 100, allowAddress: onlyOutside });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(await text(res.body!)).toBe('png bytes');
  });

  it('refuses a redirect into our network before any byte is sent there', async () => {
    const before = inside.hits.length;
    await expect(openPublic(`${base()}/to-inside`, { timeoutMs: 2000, maxBytes: 100, allowAddress: onlyOutside })).rejects.toBeInstanceOf(UrlRefusedError);
    expect(inside.hits.length).toBe(before);
  });

  it('cuts a body past maxBytes while streaming, even one that passed the cap before anyone read it', async () => {
    for (const path of ['/big', '/big-chunked']) {
      const res = await openPublic(`${base()}${path}`, { timeoutMs: 2000, maxBytes: 4000, allowAddress: onlyOutside });
      await new Promise((r) => setTimeout(r, 50)); // the bytes arrive before the caller reads
      await expect(text(res.body!)).rejects.toBeInstanceOf(BodyTooLargeError);
    }
  });
});
