// scripts/run.mjs, which `npm run api`, `npm run worker` and `npm start` go through: the entry runs
// from a bundle with no TypeScript loader in the process, yet every module still finds its files
// beside its own source, stack traces name the .ts lines, and processes starting at once (chaos
// starts several) each load a whole bundle.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../common/config.ts';

const exec = promisify(execFile);
// inside the repository, as an entry point is (its packages resolve from node_modules)
mkdirSync(path.join(repoRoot, '.artifacts'), { recursive: true });
const dir = mkdtempSync(path.join(repoRoot, '.artifacts', 'run-test-'));
const cache = path.join(repoRoot, 'node_modules', '.cache', 'fila');
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  const bundle = path.relative(repoRoot, dir).replaceAll(path.sep, '-');
  for (const f of readdirSync(cache)) if (f.startsWith(bundle)) rmSync(path.join(cache, f));
});

const probe = path.join(dir, 'probe.ts');
writeFileSync(probe, `import { migrationsDir } from ${JSON.stringify(path.join(repoRoot, 'db', 'migrate.ts'))};
import { defaultWorkflowsFile } from ${JSON.stringify(path.join(repoRoot, 'common', 'tools', 'index.ts'))};
const typed: string = 'typed';
let loader = 'none';
try {
  await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'common', 'config.ts')).href)} + '?unbundled');
  loader = 'a TypeScript loader is present';
} catch (err) {
  loader = (err as { code?: string }).code ?? String(err);
}
console.log(JSON.stringify({ self: import.meta.url, migrationsDir, defaultWorkflowsFile, argv: process.argv.slice(1), loader, typed }));
if (process.argv.includes('--throw')) {
  function fails(): never { throw new Error('from the probe'); }
  fails();
}
`);

const run = (...args: string[]) => exec(process.execPath, [path.join(repoRoot, 'scripts', 'run.mjs'), ...args], { cwd: repoRoot });

describe('scripts/run.mjs', () => {
  it('runs the entry with no TypeScript loader, each module keeping its own import.meta.url and the entry its own arguments', async () => {
    const { stdout } = await run(path.relative(repoRoot, probe), '--flag', 'value');
    const seen = JSON.parse(stdout) as Record<string, unknown>;
    expect(seen).toEqual({
      self: pathToFileURL(probe).href,
      migrationsDir: path.join(repoRoot, 'db', 'migrations'),
      defaultWorkflowsFile: path.join(repoRoot, 'common', 'tools', 'workflows.json'),
      argv: [probe, '--flag', 'value'],
      // a .ts file the bundle does not hold cannot be loaded: nothing in the process compiles TypeScript
      loader: 'ERR_UNKNOWN_FILE_EXTENSION',
      typed: 'typed',
    });
  });

  it('names the TypeScript file and line in a stack trace', async () => {
    const failed = await run(path.relative(repoRoot, probe), '--throw').then(() => null, (err: { code: number; stderr: string }) => err);
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`at fails (${probe}:13:`);
  });

  it('starts processes at once, each loading a whole bundle', async () => {
    const outputs = await Promise.all(Array.from({ length: 6 }, (_, i) => run(path.relative(repoRoot, probe), String(i))));
    outputs.forEach(({ stdout }, i) => expect((JSON.parse(stdout) as { argv: string[] }).argv).toEqual([probe, String(i)]));
  });

  it('refuses a missing or non-TypeScript entry with its usage', async () => {
    const failed = await run('README.md').then(() => null, (err: { code: number; stderr: string }) => err);
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain('usage: node scripts/run.mjs <entry.ts>');
  });
});
