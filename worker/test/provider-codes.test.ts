// Every class of RunningHub answer goes to its place, through the real worker and the fake over
// HTTP: provider trouble never fails or refunds the job; a tool whose workflow RunningHub refuses
// is disabled with the reason (and the rest of the queue moves); only the job's own errors fail it,
// with the provider's words.
import pino from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FilaError } from '../../db/errors.ts';
import { startHarness, type Harness } from '../../dev/test-support/harness.ts';

let h: Harness;
const logLines: Array<Record<string, unknown>> = [];
const img = (name: string, fake?: string) => `https://files.example/${name}.png${fake ? `#fake=${fake}` : ''}`;

beforeAll(async () => {
  h = await startHarness();
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  await h.startWorker({ logger: pino({ level: 'info' }, sink) });
});
afterAll(async () => { await h?.stop(); });
beforeEach(async () => {
  await h.t.admin.query(`update fila.settings set max_slots = 3, backoff_base = '200 ms', backoff_max = '1 second'`);
  await h.t.admin.query(`update fila.provider_accounts set paused_until = null, pause_reason = null, backoff_step = 0`);
  await h.t.admin.query(`update fila.tools set enabled = true, disabled_reason = null, disabled_at = null`);
});

/** The first requeue of a job whose every create is refused the same way; then it is canceled. */
async function firstRequeue(tool: string, input: Record<string, unknown>): Promise<{ reason: string; refunds: number; failed: boolean }> {
  const job = await h.submit(tool, input);
  const ev = await h.waitFor('the first requeue', async () =>
    (await h.timeline(job.id)).find((e) => e.from_status === 'starting' && e.to_status === 'queued'));
  const failed = (await h.timeline(job.id)).some((e) => e.to_status === 'failed');
  const refunds = await h.refunds(job.id);
  await h.t.fila.cancelJob(job.id, null);
  return { reason: ev.reason, refunds, failed };
}

describe('provider trouble requeues the job at its place, never fails or refunds it', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['capacity (415)', 'refuse:415', /^requeued: RunningHub 415 TASK_INSTANCE_MAXED: every machine instance/],
    ['capacity (814)', 'refuse:814', /^requeued: RunningHub 814 PERSONAL_QUEUE_COUNT_LIMIT/],
    ['account (812), with what the operator must do', 'refuse:812', /^requeued: conta RunningHub: RunningHub 812 CORPAPIKEY_INSUFFICIENT_FUNDS: .*top it up/],
    ['account (436)', 'refuse:436', /^requeued: conta RunningHub: RunningHub 436 TASK_USER_EXCLAPI_REQUIRED/],
    ['transient (808)', 'refuse:808', /^requeued: RunningHub 808 APIKEY_UPLOAD_FAILED/],
    ['transient (500)', 'refuse:500', /^requeued: RunningHub 500 UNKNOWN_ERROR/],
    ['an HTTP 502 from a gateway', 'http-error:502', /^requeued: RunningHub unreachable \(http-status\): .*HTTP 502/],
    ['a malformed answer', 'malformed', /^requeued: RunningHub unreachable \(bad-response\)/],
  ];
  for (const [what, directive, reason] of cases) {
    it(`${what}: requeued, not failed, not refunded`, async () => {
      const r = await firstRequeue('upscaler', { image_url: img(directive.replace(/\W/g, ''), directive), category: 'logo' });
      expect(r.reason).toMatch(reason);
      expect(r.failed).toBe(false);
      expect(r.refunds).toBe(0);
    });
  }

  it('a code RunningHub never documented: requeued as transient and logged at error with the whole payload', async () => {
    const r = await firstRequeue('upscaler', { image_url: img('unknown', 'refuse:777'), category: 'logo' });
    expect(r.reason).toMatch(/^requeued: RunningHub 777 UNKNOWN_ERROR \(código desconhecido/);
    expect(r.failed).toBe(false);
    const line = logLines.find((l) => l.level === 50 && (l.err as { code?: number } | undefined)?.code === 777);
    expect(line).toMatchObject({ msg: expect.stringMatching(/code fila does not know/), payload: null });
    expect(line).toHaveProperty('payload');
  });
});

describe('a tool whose workflow RunningHub refuses', () => {
  it('is disabled with the reason: its job is requeued (not failed), new submits get FL003 "Ferramenta indisponível" with the reason, other tools keep running, enable_tool dispatches it again', async () => {
    const broken = await h.submit('pose_changer', { person_image_url: img('p', 'refuse:810'), pose_image_url: img('q') });
    const tool = await h.waitFor('the tool to be disabled', async () =>
      (await h.t.fila.toolAvailability()).find((t) => t.tool === 'pose_changer' && !t.enabled));
    expect(tool.disabled_reason).toMatch(/RunningHub 810 WORKFLOW_NOT_SAVED_OR_NOT_RUNNING/);
    const requeued = await h.waitStatus(broken.id, 'queued');
    expect(await h.refunds(requeued.id)).toBe(0);

    // a new submit of that tool is refused with the reason, and changes nothing
    const user = crypto.randomUUID();
    await h.t.fila.grantCredits(user, 10, 'test');
    const refusal = await h.t.fila.submitJob({ userId: user, tool: 'pose_changer', input: { person_image_url: img('a'), pose_image_url: img('b') } })
      .then(() => null, (e: unknown) => e);
    expect(refusal).toBeInstanceOf(FilaError);
    expect(refusal).toMatchObject({ sqlstate: 'FL003' });
    expect((refusal as Error).message).toMatch(/^Ferramenta indisponível: pose_changer\. O RunningHub recusou o workflow/);
    expect(await h.t.fila.creditBalance(user)).toBe(10);

    // the queue moves past it: a later job of another tool runs while the broken one waits at its place
    const other = await h.submit('veste_ai', { person_image_url: img('p'), garment_image_url: img('g') });
    expect((await h.waitStatus(other.id, 'completed')).status).toBe('completed');
    expect((await h.job(broken.id)).status).toBe('queued');
    expect(h.createsFor(broken.id)).toHaveLength(1);

    await h.t.fila.enableTool('pose_changer');
    await h.waitFor('the waiting job to be dispatched again', async () => h.createsFor(broken.id).length === 2 || null);
    await h.t.fila.cancelJob(broken.id, null);
  });
});

describe('errors about the job itself fail it with the provider\'s words', () => {
  it('create answered code 0 with taskStatus FAILED and node_errors: failed at once with the node\'s text, never running, refunded', async () => {
    const url = img('missing', 'create-failed');
    const job = await h.submit('upscaler', { image_url: url, category: 'logo' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.error).toBe(`Value not in list: image: '${url.split('#')[0]}' not in [] (node 10 LoadImage)`);
    expect((await h.timeline(job.id)).map((e) => e.to_status)).toEqual(['queued', 'starting', 'failed']);
    // the task it was is still named on the job (recorded right after the failure)
    expect(await h.waitFor('the task id on the job', async () => (await h.job(job.id)).provider_task_id)).toMatch(/^\d+$/);
    expect(await h.refunds(job.id)).toBe(1);
  });

  it('an input file larger than RunningHub accepts (809): failed with the code, refunded', async () => {
    const job = await h.submit('upscaler', { image_url: img('huge', 'refuse:809'), category: 'logo' });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.error).toBe('APIKEY_FILE_SIZE_EXCEEDED (RunningHub 809)');
    expect(await h.refunds(job.id)).toBe(1);
    // a refused create made no task: the job's slot is free at once
    const held = await h.t.admin.query('select why from fila.held_slots where job_id = $1 and held_until > now()', [job.id]);
    expect(held.rows).toEqual([]);
  });
});
