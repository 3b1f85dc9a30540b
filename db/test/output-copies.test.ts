// fila.output_copies through its functions: a completed job records one pending copy per output
// (and its copy_output task) in the completing transaction; job_json shows the provider's URL until
// a copy is recorded, the copy after, and the provider's again once the copy has expired; a
// failure never replaces a copy that landed; copies are files of the owner outside the quota.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t?.drop(); });

async function completedJob(urls: string[]): Promise<{ id: string; user: string }> {
  const user = await fundedUser(t.fila);
  const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() });
  await t.fila.markRunning(job.id, `task-${randomUUID()}`);
  await t.fila.finishJob(job.id, 'completed', urls.map((url) => ({ url, type: 'png' })), null);
  return { id: job.id, user };
}

const copyTasks = async (jobId: string) => (await t.admin.query<{ key: string }>(
  `select key from graphile_worker.jobs where task_identifier = 'copy_output' and key like 'copy_output:' || $1 || ':%' order by key`, [jobId])).rows.map((r) => r.key);

describe('output copies', () => {
  it('a job that completes records one pending copy per output and enqueues copy_output for each, in the same transaction', async () => {
    const { id } = await completedJob(['https://cdn.example/a.png', 'https://cdn.example/b.png']);
    expect((await t.fila.outputCopy(id, 0))).toMatchObject({ status: 'pending', provider_url: 'https://cdn.example/a.png', attempts: 0 });
    expect((await t.fila.outputCopy(id, 1))).toMatchObject({ status: 'pending', provider_url: 'https://cdn.example/b.png' });
    expect(await t.fila.outputCopy(id, 2)).toBeNull();
    expect(await copyTasks(id)).toEqual([`copy_output:${id}:0`, `copy_output:${id}:1`]);
    const { json } = await t.fila.job(id);
    expect(json.outputs).toEqual([
      { url: 'https://cdn.example/a.png', type: 'png', provider_url: 'https://cdn.example/a.png', copy_url: null, copy_status: 'pending' },
      { url: 'https://cdn.example/b.png', type: 'png', provider_url: 'https://cdn.example/b.png', copy_url: null, copy_status: 'pending' },
    ]);
  });

  it('does not record copies for a failed job, nor twice for a duplicate completion', async () => {
    const user = await fundedUser(t.fila);
    const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() });
    await t.fila.finishJob(job.id, 'failed', null, 'boom');
    expect(await t.fila.outputCopy(job.id, 0)).toBeNull();
    const done = await completedJob(['https://cdn.example/c.png']);
    await t.fila.finishJob(done.id, 'completed', [{ url: 'https://cdn.example/other.png', type: 'png' }], null); // a duplicate webhook: no-op
    expect(await t.fila.outputCopy(done.id, 0)).toMatchObject({ provider_url: 'https://cdn.example/c.png' });
    expect(await copyTasks(done.id)).toEqual([`copy_output:${done.id}:0`]);
  });

  it('shows the copy once recorded; a later failure does not replace it; a second copy is refused in favour of the first; the expired copy falls back to the provider URL', async () => {
    const { id, user } = await completedJob(['https://cdn.example/d.png']);
    expect(await t.fila.recordOutputCopyFailure(id, 0, 'HTTP 503', 'pending')).toMatchObject({ status: 'pending', attempts: 1, last_error: 'HTTP 503' });
    const name = `${randomUUID()}.png`;
    const copy = await t.fila.recordOutputCopy(id, 0, { name, size: 10, contentType: 'image/png', url: `https://fila.example/uploads/${name}` });
    expect(copy).toMatchObject({ status: 'copied', upload_name: name, attempts: 2, last_error: null });
    expect(await t.fila.recordOutputCopyFailure(id, 0, 'late failure', 'failed')).toMatchObject({ status: 'copied', upload_name: name });
    const second = `${randomUUID()}.png`;
    expect(await t.fila.recordOutputCopy(id, 0, { name: second, size: 10, contentType: 'image/png', url: `https://fila.example/uploads/${second}` }))
      .toMatchObject({ upload_name: name });
    expect((await t.fila.job(id)).json.outputs).toEqual([{ url: `https://fila.example/uploads/${name}`, type: 'png',
      provider_url: 'https://cdn.example/d.png', copy_url: `https://fila.example/uploads/${name}`, copy_status: 'copied' }]);
    // the owner's file, not in the upload quota: one allowed file is still free
    await t.fila.checkUploadQuota(user, 1, { maxFiles: 1, maxBytes: 5 });
    // the uploads' retention deletes it; then users see the provider's URL again
    expect(await t.fila.expiredUploads(60, 60, new Date(Date.now() + 120_000))).toContain(name);
    await t.fila.uploadsDeleted([name]);
    expect((await t.fila.job(id)).json.outputs).toEqual([{ url: 'https://cdn.example/d.png', type: 'png',
      provider_url: 'https://cdn.example/d.png', copy_url: null, copy_status: 'expired' }]);
  });

  it('a refused copy is final and keeps the provider URL; bad arguments are 22023', async () => {
    const { id } = await completedJob(['https://cdn.example/e.png']);
    expect(await t.fila.recordOutputCopyFailure(id, 0, 'refused: content type text/html', 'refused')).toMatchObject({ status: 'refused' });
    expect((await t.fila.job(id)).json.outputs![0]).toMatchObject({ url: 'https://cdn.example/e.png', copy_status: 'refused' });
    const code = (p: Promise<unknown>) => p.then(() => null, (e: { sqlstate?: string; code?: string }) => e.sqlstate ?? e.code);
    expect(await code(t.fila.recordOutputCopyFailure(id, 0, 'x', 'copied' as never))).toBe('22023');
    expect(await code(t.fila.recordOutputCopy(id, 0, { name: '', size: 1, contentType: 'image/png', url: 'u' }))).toBe('22023');
    expect(await code(t.fila.recordOutputCopy(randomUUID(), 0, { name: `${randomUUID()}.png`, size: 1, contentType: 'image/png', url: 'u' }))).toBe('FL004');
  });
});
