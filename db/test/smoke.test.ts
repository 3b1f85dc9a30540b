import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../test-support/database.ts';

let t: TestDatabase;
beforeAll(async () => { t = await createTestDatabase(); });
afterAll(async () => { await t.drop(); });

describe('smoke', () => {
  it('submits a job that takes a free slot at once', async () => {
    const user = crypto.randomUUID();
    await t.fila.grantCredits(user, 10, 'test');
    const { job, json, created } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: { image_url: 'https://x.test/a.png', category: 'pessoas' } });
    expect(created).toBe(true);
    expect(job.status).toBe('starting');
    expect(json.position).toBeNull();
    expect(await t.fila.creditBalance(user)).toBe(8);
  });
});
