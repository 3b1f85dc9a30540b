// Uploads of formats RunningHub does not accept are refused at once with what to send instead,
// rather than failing the job at the provider later.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, uid, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
beforeAll(async () => { api = await startTestApi(); });

/** A user with a balance: uploads are refused to users without one. */
async function funded(): Promise<string> {
  const user = uid();
  await api.t.fila.grantCredits(user, 10, 'test');
  return user;
}
afterAll(async () => { await api.close(); });

describe('POST /v1/uploads and the provider\'s formats', () => {
  it('refuses a .webm video with 415 and a message naming the formats to use, keeping nothing', async () => {
    const webm = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(64)]);
    const form = new FormData();
    form.append('file', new Blob([webm], { type: 'video/webm' }), 'clip.webm');
    const before = readdirSync(api.uploadDir).length;
    const res = await api.call(await funded(), '/v1/uploads', { method: 'POST', body: form });
    expect(res.status).toBe(415);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unsupported_media_type');
    expect(body.error.message).toBe('Vídeos .webm não são aceitos pelo RunningHub: envie o vídeo em .mp4 ou .mov.');
    expect(readdirSync(api.uploadDir)).toHaveLength(before);
  });

  it('still takes an .mp4 video', async () => {
    const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypmp42'), Buffer.alloc(64)]);
    const form = new FormData();
    form.append('file', new Blob([mp4], { type: 'video/mp4' }), 'clip.mp4');
    const res = await api.call(await funded(), '/v1/uploads', { method: 'POST', body: form });
    expect(res.status).toBe(201);
  });
});
