// `npm run bench -- --smoke`: the benchmark's harness runs every phase end to end at toy sizes on
// this run's PostgreSQL and writes its JSON and BENCHMARKS.md. (The figures themselves belong to
// a full run: nothing here is timed.)
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { repoRoot } from '../../common/config.ts';
import type { BenchResults } from '../bench/report.ts';

const run = promisify(execFile);
const out = mkdtempSync(path.join(tmpdir(), 'fila-bench-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run bench -- --smoke', () => {
  it('runs every phase on one PostgreSQL and writes the JSON and BENCHMARKS.md with ratios and plans', async () => {
    const { stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/bench/main.ts', '--smoke', '--out', out], {
      cwd: repoRoot, env: { ...process.env, DATABASE_URL: inject('filaServerUrl') }, maxBuffer: 32 * 1024 * 1024,
    }).catch((err: { stderr?: string; message: string }) => { throw new Error(`bench failed: ${err.stderr ?? err.message}`); });
    const results = JSON.parse(readFileSync(path.join(out, 'BENCHMARKS.json'), 'utf8')) as BenchResults;
    expect(results.errors, stderr).toEqual({});
    expect(results.mode).toBe('smoke');
    const p = results.phases;
    const sizes = results.sizes;
    expect(p.floor?.simpleUpdate.map((r) => r.clients)).toEqual(sizes.clients);
    expect(p.floor?.simpleUpdate.every((r) => r.tps > 0 && r.p99_ms >= r.p50_ms)).toBe(true);
    expect(p.submit?.map((r) => r.clients)).toEqual(sizes.clients);
    // slots full throughout: every submit queued, none failed
    for (const r of p.submit!) {
      expect(r.failed).toBe(0);
      expect(r.queued_after - r.queued_before).toBe(r.transactions);
    }
    expect(results.errors).toEqual({});
    // every POST /v1/jobs became a job: a phase that measured refusals measured nothing
    expect(p.http?.non2xx).toBe(0);
    expect(p.http?.created).toBeGreaterThan(0);
    expect(p.handoff?.handoffs).toBe(sizes.handoffs);
    expect(p.depth?.levels).toHaveLength(sizes.depths.length);
    // every write's work at every depth, counted by PostgreSQL (a real count: a call touches pages)
    for (const level of p.depth!.levels) {
      expect(Object.keys(level.buffers)).toEqual(['submit_job (one client)', 'finish_job + dispatch', 'cancel_job (mid-queue)']);
      for (const b of Object.values(level.buffers)) expect(b).toBeGreaterThan(0);
    }
    expect(Object.keys(p.depth!.plans)).toContain('queue_position(tail)');
    expect(p.depth!.plans['queue_position(tail)']!.join('\n')).toMatch(/Index/);
    expect(p.fanout?.opened).toBe(p.fanout?.streams);
    expect(p.fanout?.missing).toBe(0);
    expect(p.run?.completed).toBe(p.run?.jobs);
    const md = readFileSync(path.join(out, 'BENCHMARKS.md'), 'utf8');
    for (const heading of ['## Submits against the pgbench floor', '## Slot hand-off', '## Flat at depth', '## Live positions', '## Targets', '## Plans of the hot statements']) {
      expect(md).toContain(heading);
    }
  }, 600_000);
});
