// The layout's one-way arrows, checked on every import of the repository: entry points import the
// runtime, never the reverse; the API and the worker meet only in common/ and db/; production code
// never imports the development stand-ins in dev/.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../config.ts';

type Folder = 'api' | 'worker' | 'db' | 'common' | 'scripts' | 'dev';
const folders: readonly Folder[] = ['api', 'worker', 'db', 'common', 'scripts', 'dev'];

/** Which folders a folder's code must not import. Tests (any `test/` folder) may also import dev/. */
export const forbidden: Record<Folder, readonly Folder[]> = {
  common: ['api', 'worker', 'db', 'scripts', 'dev'],
  db: ['api', 'worker', 'scripts', 'dev'],
  api: ['worker', 'scripts', 'dev'],
  worker: ['api', 'scripts', 'dev'],
  scripts: [],
  dev: ['scripts'],
};

export interface Violation { file: string; imports: string }

const specifier = /(?:^|[^\w.])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm;

function folderOf(file: string): Folder | null {
  const top = file.split('/')[0] as Folder;
  return folders.includes(top) ? top : null;
}

function isTest(file: string): boolean {
  return file.split('/').includes('test');
}

/** Every import that runs against the arrows, for files given as repository-relative path → source. */
export function importViolations(files: ReadonlyMap<string, string>): Violation[] {
  const out: Violation[] = [];
  for (const [file, source] of files) {
    const from = folderOf(file);
    if (!from) continue;
    for (const m of source.matchAll(specifier)) {
      const spec = m[1] ?? m[2] ?? m[3] ?? '';
      if (!spec.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
      const to = folderOf(target);
      if (!to || to === from) continue;
      const rules = isTest(file) ? forbidden[from].filter((f) => f !== 'dev') : forbidden[from];
      if (rules.includes(to)) out.push({ file, imports: target });
    }
  }
  return out;
}

function sourceFiles(dir: string, rel = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return e.name === 'node_modules' || e.name.startsWith('.') ? [] : sourceFiles(path.join(dir, e.name), r);
    return /\.(ts|mts|mjs|js)$/.test(e.name) ? [r] : [];
  });
}

describe('the layout', () => {
  it('has no import that runs the wrong way (api ↛ worker, worker ↛ api, runtime ↛ scripts, production ↛ dev, common ↛ everything else)', () => {
    const files = new Map(folders.flatMap((f) => sourceFiles(path.join(repoRoot, f), f))
      .map((f) => [f, readFileSync(path.join(repoRoot, f), 'utf8')] as const));
    expect(files.size).toBeGreaterThan(50);
    expect(importViolations(files)).toEqual([]);
  });

  it('the check catches each kind of wrong arrow, static, re-exported and dynamic, and lets the right ones pass', () => {
    const files = new Map([
      ['api/app.ts', "import { startJob } from '../worker/tasks/start-job.ts';\nimport { tools } from '../common/tools/index.ts';"],
      ['worker/main.ts', "const { createApp } = await import('../api/app.ts');\nimport { FilaDb } from '../db/fila.ts';"],
      ['worker/runner.ts', "import { startFakeRunningHub } from '../dev/fake-runninghub/server.ts';"],
      ['db/fila.ts', "export { CliError } from '../scripts/config.ts';"],
      ['common/config.ts', "import type { FilaDb } from '../db/fila.ts';"],
      ['api/test/x.test.ts', "import { startTestApi } from '../../dev/test-support/api.ts';"],
      ['scripts/system.ts', "import { startEmbedded } from '../dev/embedded-postgres.ts';\nimport { startWorker } from '../worker/runner.ts';"],
    ]);
    expect(importViolations(files)).toEqual([
      { file: 'api/app.ts', imports: 'worker/tasks/start-job.ts' },
      { file: 'worker/main.ts', imports: 'api/app.ts' },
      { file: 'worker/runner.ts', imports: 'dev/fake-runninghub/server.ts' },
      { file: 'db/fila.ts', imports: 'scripts/config.ts' },
      { file: 'common/config.ts', imports: 'db/fila.ts' },
    ]);
  });
});
