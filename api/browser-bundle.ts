// The browser scripts the API serves (the dashboard, the tool pages): a TypeScript entry and what it
// imports (JobManager), bundled once per process with esbuild, in memory. No build step, no files
// written, nothing from a CDN.
import { build } from 'esbuild';

export async function bundleBrowserScript(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}
