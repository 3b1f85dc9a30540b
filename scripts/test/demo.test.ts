// `npm run demo` in a small configuration: its own system (on this file's test database), every
// scripted outcome, and every verdict of its closing report (computed from the database) holds.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { runDemo } from '../demo/run.ts';
import { printReport } from '../demo.ts';
import { buildPlan, failMessages } from '../demo/plan.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t.drop(); });

describe('demo', () => {
  it('runs 12 users on all four tools and passes its own verdicts', async () => {
    let output = '';
    const out = new Writable({ write(chunk: Buffer, _enc, cb) { output += chunk.toString(); cb(); } });
    const result = await runDemo({ users: 12, fast: true, live: false, out, databaseUrl: t.url, timeoutMs: 45_000 });
    printReport(out, result);
    const failed = result.report.verdicts.filter((v) => !v.ok);
    expect(failed, output).toEqual([]);
    expect(result.report.ok).toBe(true);
    expect(result.jobs).toBe(12);
    // the scripted mix really happened
    expect(result.report.counts).toMatchObject({ failed: 3, canceled: 1, completed: 8 });
    expect(result.report.maxOccupancyReplayed).toBe(3);
    expect(result.report.refunds).toBe(4);
    const rules = result.report.verdicts.map((v) => v.rule).join('\n');
    for (const r of ['lost webhook is recovered', 'capacity refusal requeues', 'cancels while queued', 'second job is refused', 'FIFO', 'credit_audit', 'every result is copied into fila']) {
      expect(rules).toContain(r);
    }
    expect(output).toContain('every rule held');
    console.log(`demo (12 users, fast): ${(result.durationMs / 1000).toFixed(1)} s of jobs, system ready in ${(result.startupMs / 1000).toFixed(1)} s`);
  }, 90_000);
});

describe('the demo\'s plan', () => {
  it('gives each failing user a message of their own tool, never another tool\'s', () => {
    const failing = buildPlan({ users: 40, fast: true, lostWebhook: true }).filter((u) => u.role === 'fail');
    expect(new Set(failing.map((u) => u.tool)).size).toBe(4);
    for (const u of failing) {
      expect(failMessages[u.tool], `${u.name} (${u.tool})`).toContain(u.failMessage);
      expect(u.outcome).toBe(`fail:${encodeURIComponent(u.failMessage!)}`);
    }
  });
});
