#!/usr/bin/env node
// `node scripts/run.mjs <entry.ts> [args…]`: runs one of fila's long-lived processes (the API, the
// worker, `npm start`) from a JavaScript bundle of its TypeScript, so the process carries no
// TypeScript loader. Under `node --import tsx`, tsx's hooks thread and the transformed sources and
// maps it keeps cost an API process about 50 MB of resident memory before it serves anything.
//
// - fila's own modules are bundled (esbuild, about 0.2 s at every start: the bundle is never
//   stale); packages stay in node_modules, loaded as they would be anyway;
// - each module keeps its own import.meta.url, so what a module finds beside itself (the
//   migrations, the workflows file, the browser scripts it bundles) is the repository's file;
// - stack traces name the .ts files and lines (a source map beside the bundle);
// - the bundle goes to node_modules/.cache/fila/, written whole and renamed into place, so
//   processes starting at once (chaos starts several) never load a half-written file.
import { build } from 'esbuild';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [entryArg] = process.argv.splice(2, 1);
if (!entryArg || !entryArg.endsWith('.ts')) {
  process.stderr.write('usage: node scripts/run.mjs <entry.ts> [args…] (e.g. api/main.ts)\n');
  process.exit(2);
}
const entry = path.resolve(root, entryArg);

/** import.meta.url as the module's own source file, not the bundle */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      return { contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)), loader: 'ts' };
    });
  },
};

const outDir = path.join(root, 'node_modules', '.cache', 'fila');
const outFile = path.join(outDir, `${path.relative(root, entry).replace(/\.ts$/, '').replaceAll(path.sep, '-')}.mjs`);
const result = await build({
  entryPoints: [entry], outfile: outFile, write: false, bundle: true, packages: 'external',
  platform: 'node', format: 'esm', target: 'node20', keepNames: true,
  sourcemap: 'linked', sourcesContent: false, logLevel: 'warning', plugins: [ownImportMetaUrl],
});
await mkdir(outDir, { recursive: true });
for (const file of result.outputFiles) {
  const tmp = `${file.path}.${process.pid}.tmp`;
  await writeFile(tmp, file.contents);
  await rename(tmp, file.path);
}

process.argv[1] = entry; // the entry sees the command line it would see under `node --import tsx`
process.setSourceMapsEnabled(true);
await import(pathToFileURL(outFile).href);
