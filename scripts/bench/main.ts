// `npm run bench`: fila measured against pgbench on one PostgreSQL, in one run, every figure a
// ratio to something measured in the same run. Writes the JSON and refreshes BENCHMARKS.md.
//   npm run bench                 the full run (about 10 minutes on 2 cores)
//   npm run bench -- --smoke      every phase at toy sizes (the test suite runs this), results in
//                                 a temporary folder unless --out is given
//   --out <dir>                   where BENCHMARKS.md and BENCHMARKS.json go (default: the repository root)
//   --only submit,depth           some phases only (floor, submit, http, handoff, depth, fanout, run)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createBenchDatabase, dropBenchDatabase, withClient } from '../../dev/bench-support.ts';
import { startEmbedded, type EmbeddedServer } from '../../dev/embedded-postgres.ts';
import { findPgbench } from './pgbench.ts';
import {
  depthPhase, fanoutPhase, floorPhase, fullSizes, handoffPhase, httpPhase, runPhase, smokeSizes, submitPhase, type Ctx,
} from './phases.ts';
import { renderMarkdown, type BenchResults } from './report.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const phaseNames = ['floor', 'submit', 'http', 'handoff', 'depth', 'fanout', 'run'] as const;
type PhaseName = typeof phaseNames[number];

const { values } = parseArgs({
  options: { smoke: { type: 'boolean', default: false }, out: { type: 'string' }, only: { type: 'string' } },
});
const smoke = values.smoke ?? false;
const outDir = values.out ?? (smoke ? mkdtempSync(path.join(tmpdir(), 'fila-bench-')) : root);
const only = new Set((values.only ?? phaseNames.join(',')).split(',').map((s) => s.trim()) as PhaseName[]);
for (const p of only) if (!phaseNames.includes(p)) throw new Error(`--only: unknown phase ${p} (phases: ${phaseNames.join(', ')})`);

const started = Date.now();
const log = (line: string) => { process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}\n`); };
const sizes = smoke ? smokeSizes : fullSizes;

let embedded: EmbeddedServer | null = null;
let dataDir: string | null = null;
let serverUrl = process.env.DATABASE_URL ?? '';
if (!serverUrl) {
  dataDir = mkdtempSync(path.join(tmpdir(), 'fila-bench-pg-'));
  // fsync stays on (persistent): pgbench's and fila's commits pay the same flush
  embedded = await startEmbedded({ dataDir: path.join(dataDir, 'pg'), persistent: true, maxConnections: 300 });
  serverUrl = embedded.url;
  log(`embedded PostgreSQL on port ${embedded.port} (fsync on)`);
}

const tool = findPgbench(log);
const ctx: Ctx = { serverUrl, pgbench: 'missing' in tool ? null : tool, sizes, log };
if ('missing' in tool) log(`pgbench unavailable: ${tool.missing}; the phases that need it are skipped`);

const load = () => os.loadavg().map((l) => Number(l.toFixed(2)));
const results: BenchResults = {
  mode: smoke ? 'smoke' : 'full',
  date: new Date().toISOString(),
  machine: {
    cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? 'unknown', memory_gb: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()}`, load_at_start: load(), load_at_end: [],
  },
  versions: {
    node: process.version,
    postgres: await withClient(serverUrl, async (c) => (await c.query<{ v: string }>('select version() as v')).rows[0]!.v),
    pgbench: 'missing' in tool ? `missing: ${tool.missing}` : `${tool.version} (${tool.how})`,
    database: embedded ? 'embedded (embedded-postgres binaries, fsync on)' : 'DATABASE_URL',
  },
  sizes,
  phases: {},
  errors: {},
};

async function phase<T>(name: PhaseName, db: string, fn: (url: string) => Promise<T>): Promise<void> {
  if (!only.has(name)) return;
  log(`phase ${name}`);
  const t0 = Date.now();
  const dbName = `fila_bench_${db}`;
  try {
    const url = await createBenchDatabase(serverUrl, dbName);
    (results.phases as Record<string, unknown>)[name] = await fn(url);
  } catch (err) {
    results.errors[name] = err instanceof Error ? err.message : String(err);
    log(`phase ${name} failed: ${err instanceof Error ? err.stack : String(err)}`);
  } finally {
    await dropBenchDatabase(serverUrl, dbName);
    log(`phase ${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}

try {
  // floor and submit share a database: pgbench's tables beside fila's, the same server state
  if (only.has('floor') || only.has('submit')) {
    const url = await createBenchDatabase(serverUrl, 'fila_bench_main');
    try {
      for (const [name, fn] of [['floor', floorPhase], ['submit', submitPhase]] as const) {
        if (!only.has(name)) continue;
        log(`phase ${name}`);
        try {
          (results.phases as Record<string, unknown>)[name] = await fn(ctx, url);
        } catch (err) {
          results.errors[name] = err instanceof Error ? err.message : String(err);
          log(`phase ${name} failed: ${results.errors[name]}`);
        }
      }
    } finally {
      await dropBenchDatabase(serverUrl, 'fila_bench_main');
    }
  }
  await phase('http', 'http', (url) => httpPhase(ctx, url));
  await phase('handoff', 'handoff', (url) => handoffPhase(ctx, url));
  await phase('depth', 'depth', (url) => depthPhase(ctx, url));
  await phase('fanout', 'fanout', (url) => fanoutPhase(ctx, url));
  await phase('run', 'run', (url) => runPhase(ctx, url));
} finally {
  results.machine.load_at_end = load();
  results.seconds = Math.round((Date.now() - started) / 1000);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'BENCHMARKS.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(path.join(outDir, 'BENCHMARKS.md'), renderMarkdown(results));
  log(`wrote ${path.join(outDir, 'BENCHMARKS.md')} and BENCHMARKS.json`);
  if (embedded) await embedded.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
if (Object.keys(results.errors).length > 0) process.exitCode = 1;
