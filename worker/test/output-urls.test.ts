// What the provider returns is checked before anyone clicks it: an outputs answer whose file URL is
// not http(s) fails the job with a clear error (refunded) instead of completing with a link that
// runs script in the dashboard or the tool page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';
import { applyTaskResult } from '../apply-result.ts';
import { interpretOutputs } from '../runninghub/client.ts';
import { testLogger } from '../../dev/test-support/harness.ts';
import { FilaDb } from '../../db/fila.ts';

let t: TestDatabase;
let worker: FilaDb;
beforeAll(async () => {
  t = await createTestDatabase();
  worker = new FilaDb(t.pool('fila_worker', 2)); // as the worker applies results
});
afterAll(async () => { await t.drop(); });

async function runningJob(): Promise<string> {
  const user = await fundedUser(t.fila, 10);
  const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() });
  await t.fila.markRunning(job.id, `task-${job.id}`);
  return job.id;
}

/** A RunningHub /task/openapi/outputs answer with these file URLs. */
const outputsAnswer = (...urls: string[]) => interpretOutputs({
  code: 0, msg: 'success', data: urls.map((fileUrl) => ({ fileUrl, fileType: 'png', taskCostTime: '3', nodeId: '9' })),
});

describe('output URLs', () => {
  it('fails the job, refunded, with a clear error when an output URL is javascript:, data: or not a URL; never completes it', async () => {
    for (const bad of ['javascript:alert(document.cookie)', 'data:text/html,<script>alert(1)</script>', 'JaVaScRiPt:alert(1)', 'file:///etc/passwd', 'no url at all']) {
      const id = await runningJob();
      const out = await applyTaskResult(worker, id, outputsAnswer('https://cdn.example/ok.png', bad), testLogger, null);
      expect(out.job?.status, bad).toBe('failed');
      expect(out.job?.error).toMatch(/^O provedor devolveu um resultado com URL inválida \(.+\): /);
      expect(out.job?.outputs).toBeNull();
      const refunds = await t.admin.query(`select 1 from fila.credit_ledger where job_id = $1 and kind = 'refund'`, [id]);
      expect(refunds.rowCount).toBe(1);
    }
  });

  it('completes a job whose output URLs are http(s)', async () => {
    const id = await runningJob();
    const out = await applyTaskResult(worker, id, outputsAnswer('https://rh-images.example/a.png', 'http://cdn.example/b.png'), testLogger, null);
    expect(out.job?.status).toBe('completed');
    expect(out.job?.outputs?.map((o) => o.url)).toEqual(['https://rh-images.example/a.png', 'http://cdn.example/b.png']);
  });
});
