// `npm run chaos -- --short` inside the suite: every fault at once (workers SIGKILLed, the API and
// PostgreSQL restarted, the provider away, injected provider faults, cancels and closed pages) and
// the independent checker finds no break. The run starts its own embedded PostgreSQL (it restarts
// it), or a fresh database on DATABASE_URL (then without the PostgreSQL restart).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.ts';
import { runChaos, shortRun } from '../chaos/run.ts';
import { printResult } from '../chaos.ts';

describe('npm run chaos -- --short', () => {
  it('injects every fault and breaks no rule', async () => {
    let output = '';
    const out = new Writable({ write(chunk: Buffer, _enc, cb) { output += chunk.toString(); cb(); } });
    const databaseUrl = loadConfig().DATABASE_URL;
    const result = await runChaos({ ...shortRun, live: false, out, ...(databaseUrl ? { databaseUrl } : {}) });
    printResult(out, result, false);
    console.log(output.slice(output.indexOf('fila chaos —')));
    expect(result.check.rows.filter((r) => r.breaks > 0), output).toEqual([]);
    expect(result.check.ok).toBe(true);
    expect(output).toContain('0 breaks: every rule held');
    // the faults really happened
    const f = result.faults;
    expect(f.sigkills).toBeGreaterThanOrEqual(2);
    expect(f.apiRestarts).toBeGreaterThanOrEqual(1);
    expect(f.providerOutages).toBeGreaterThanOrEqual(1);
    if (!databaseUrl) expect(f.postgresRestarts).toBeGreaterThanOrEqual(1);
    expect(f.refusals).toBeGreaterThan(0);
    expect(f.lostWebhooks).toBeGreaterThan(0);
    expect(f.scriptedFailures).toBeGreaterThan(0);
    // on a loaded machine the time bound may stop submits early; the run is still judged whole
    expect(result.check.counts.jobs).toBeGreaterThanOrEqual(Math.min(100, shortRun.jobs));
  }, 300_000);
});
