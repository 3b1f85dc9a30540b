// The worker end to end: real PostgreSQL, real graphile-worker, the fake RunningHub over HTTP, and
// a webhook receiver that stores webhooks the way the API does.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { defaultWorkflowsFile } from '../../common/tools/index.ts';
import { webhookUrl } from '../../common/webhook-token.ts';
import { fifoViolations, startHarness, type Harness } from '../../dev/test-support/harness.ts';

interface Node { nodeId: string; fieldName: string }
const config = JSON.parse(readFileSync(defaultWorkflowsFile, 'utf8')) as {
  upscaler: { workflows: Record<string, { workflowId: string }>; nodes: { image: Node; editing_level: Node } };
  pose_changer: { workflowId: string; nodes: { person_image: Node; pose_image: Node } };
  veste_ai: { workflowId: string; nodes: { person_image: Node; garment_image: Node } };
  video_upscaler: { workflowId: string; nodes: { video: Node } };
};
const node = (n: Node, fieldValue: string) => ({ nodeId: n.nodeId, fieldName: n.fieldName, fieldValue });
const img = (name: string, fake?: string) => `https://files.example/${name}.png${fake ? `#fake=${fake}` : ''}`;

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await h.startWorker();
});
afterAll(async () => { await h?.stop(); });
beforeEach(async () => {
  // every test starts from an idle system with the default settings
  await h.waitFor('an idle system', async () => {
    const o = await h.t.fila.queueOverview();
    return o.slots_used === 0 && o.queued === 0;
  }, 30_000);
  await h.t.admin.query(`update fila.settings set max_slots = 3, backoff_base = '200 ms', backoff_max = '2 seconds'`);
  await h.t.admin.query(`update fila.dispatch_state set paused_until = null, pause_reason = null, backoff_step = 0`);
  await h.t.admin.query(`update fila.tools set soft_deadline = '3 minutes', hard_deadline = '10 minutes'`);
});

describe('each tool end to end', () => {
  const cases = [
    {
      tool: 'upscaler',
      input: { image_url: img('face'), version: 'pro', category: 'pessoas', framing_mode: 'longe', editing_level: 0.6 },
      expected: () => ({
        workflowId: config.upscaler.workflows['pro/pessoas/longe']!.workflowId,
        nodeInfoList: [node(config.upscaler.nodes.image, img('face')), node(config.upscaler.nodes.editing_level, '0.6')],
      }),
      type: 'png',
    },
    {
      tool: 'upscaler',
      // logo takes no editing level: the node is left out even when the input has one
      input: { image_url: img('logo'), version: 'standard', category: 'logo', framing_mode: 'perto', editing_level: 0.9 },
      expected: () => ({
        workflowId: config.upscaler.workflows['standard/logo/perto']!.workflowId,
        nodeInfoList: [node(config.upscaler.nodes.image, img('logo'))],
      }),
      type: 'png',
    },
    {
      tool: 'pose_changer',
      input: { person_image_url: img('person'), pose_image_url: img('pose') },
      expected: () => ({
        workflowId: config.pose_changer.workflowId,
        nodeInfoList: [node(config.pose_changer.nodes.person_image, img('person')), node(config.pose_changer.nodes.pose_image, img('pose'))],
      }),
      type: 'png',
    },
    {
      tool: 'veste_ai',
      input: { person_image_url: img('person'), garment_image_url: img('shirt') },
      expected: () => ({
        workflowId: config.veste_ai.workflowId,
        nodeInfoList: [node(config.veste_ai.nodes.person_image, img('person')), node(config.veste_ai.nodes.garment_image, img('shirt'))],
      }),
      type: 'png',
    },
    {
      tool: 'video_upscaler',
      input: { video_url: 'https://files.example/clip.mp4' },
      expected: () => ({
        workflowId: config.video_upscaler.workflowId,
        nodeInfoList: [node(config.video_upscaler.nodes.video, 'https://files.example/clip.mp4')],
      }),
      type: 'mp4',
    },
  ];

  for (const c of cases) {
    it(`${c.tool} (${JSON.stringify(c.input).slice(0, 60)}…): submit → starting → running → webhook → completed, the provider got exactly the configured workflow and nodes`, async () => {
      const job = await h.submit(c.tool, c.input);
      const done = await h.waitStatus(job.id, ['completed', 'failed']);
      expect(done.status).toBe('completed');
      expect((await h.timeline(job.id)).map((e) => e.to_status)).toEqual(['queued', 'starting', 'running', 'completed']);

      const creates = h.createsFor(job.id);
      expect(creates).toEqual([{
        apiKey: h.apiKey,
        ...c.expected(),
        webhookUrl: webhookUrl(h.receiver.url, job.id, h.secret),
      }]);
      const task = h.fake.tasks.get(done.provider_task_id!);
      expect(task?.status).toBe('SUCCESS');
      expect(done.outputs).toEqual([{ url: `${h.fake.url}/files/${task!.taskId}/ComfyUI_00001_.${c.type}`, type: c.type }]);
      // the webhook arrived through the receiver and was confirmed with /outputs before it was applied
      const { rows } = await h.t.admin.query<{ outcome: string }>('select outcome from fila.webhook_inbox where job_id = $1', [job.id]);
      expect(rows.map((r) => r.outcome)).toEqual(['applied: completed']);
      expect(h.fake.requestsTo('outputs').some((r) => (r.body as { taskId: string }).taskId === task!.taskId)).toBe(true);
      expect(await h.refunds(job.id)).toBe(0);
    });
  }
});

describe('one start path', () => {
  it('a job started at once and a job started from the queue send identical provider requests', async () => {
    const input = { image_url: img('same'), version: 'standard', category: 'produto', framing_mode: 'perto' };
    const atOnce = await h.submit('upscaler', input);
    expect(atOnce.status).toBe('starting');
    // fill the other slots so the next identical job has to wait in the queue
    const blockers = [await h.submit('veste_ai', { person_image_url: img('p', 'ok:1500'), garment_image_url: img('g') }),
      await h.submit('veste_ai', { person_image_url: img('p', 'ok:1500'), garment_image_url: img('g') })];
    const fromQueue = await h.submit('upscaler', input);
    expect(fromQueue.status).toBe('queued');
    for (const j of [atOnce, ...blockers, fromQueue]) expect((await h.waitStatus(j.id, ['completed', 'failed'])).status).toBe('completed');

    const strip = (b: Record<string, unknown>) => ({ ...b, webhookUrl: undefined });
    const [a] = h.createsFor(atOnce.id);
    const [q] = h.createsFor(fromQueue.id);
    expect(a).toBeDefined();
    expect(strip(q!)).toEqual(strip(a!));
    expect((await h.timeline(fromQueue.id)).map((e) => e.to_status)).toEqual(['queued', 'starting', 'running', 'completed']);
  });
});

describe('provider outcomes', () => {
  it('fail:<msg> → failed with that message word for word, refunded once, the user free at once', async () => {
    const message = 'CUDA out of memory. Tried to allocate 2.00 GiB (100% & more)';
    const job = await h.submit('upscaler', { image_url: img('x', `fail:${encodeURIComponent(message)}`), category: 'comida' }, 10);
    expect(await h.t.fila.creditBalance(job.user_id)).toBe(10 - job.credit_cost);
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.status).toBe('failed');
    expect(done.error).toBe(message);
    // free at once: the same user submits again immediately
    expect(await h.t.fila.activeJob(job.user_id)).toBeNull();
    expect(await h.t.fila.creditBalance(job.user_id)).toBe(10);
    const again = (await h.t.fila.submitJob({ userId: job.user_id, tool: 'video_upscaler', input: { video_url: 'https://files.example/v.mp4' } })).job;
    expect(again.status).not.toBe('failed');
    await h.waitStatus(again.id, 'completed');
    expect(await h.refunds(job.id)).toBe(1);
    expect(await h.t.fila.creditAudit()).toEqual([]);
    const failedEvent = (await h.timeline(job.id)).find((e) => e.to_status === 'failed');
    expect(failedEvent?.reason).toBe(`provider: ${message}`);
  });

  it('a refusal about the job itself (433 at create) → failed with the provider\'s message and code, refunded, nothing requeued', async () => {
    const job = await h.submit('pose_changer', { person_image_url: img('p', 'refuse:433'), pose_image_url: img('q') });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.error).toBe('VALIDATE_PROMPT_FAILED (RunningHub 433)');
    expect((await h.timeline(job.id)).map((e) => e.to_status)).toEqual(['queued', 'starting', 'failed']);
    expect(await h.refunds(job.id)).toBe(1);
  });

  it('lose-webhook → the reaper asks the provider and recovers the real result', async () => {
    await h.t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '30 seconds' where tool = 'upscaler'`);
    const job = await h.submit('upscaler', { image_url: img('lost', 'lose-webhook'), category: 'logo' });
    const running = await h.waitStatus(job.id, 'running');
    const task = h.fake.tasks.get(running.provider_task_id!)!;
    await h.waitFor('the provider to finish the task', async () => task.status === 'SUCCESS');
    await h.waitFor('the soft deadline to pass', async () => (await h.t.fila.staleJobs()).some((s) => s.job_id === job.id && s.past === 'soft'));
    expect((await h.job(job.id)).status).toBe('running'); // no webhook came
    const pass = await h.reap();
    expect(pass.recovered).toEqual([{ job_id: job.id, status: 'completed' }]);
    const done = await h.job(job.id);
    expect(done.status).toBe('completed');
    expect(done.outputs).toEqual([{ url: `${h.fake.url}/files/${task.taskId}/ComfyUI_00001_.png`, type: 'png' }]);
    expect(h.fake.webhookDeliveries.filter((d) => d.taskId === task.taskId)).toEqual([]);
    expect(await h.refunds(job.id)).toBe(0);
  });

  it('duplicate-webhook → one completion, no second event, the second delivery recorded as a duplicate', async () => {
    const job = await h.submit('veste_ai', { person_image_url: img('p', 'duplicate-webhook'), garment_image_url: img('g') });
    const done = await h.waitStatus(job.id, ['completed', 'failed']);
    expect(done.status).toBe('completed');
    await h.waitFor('both deliveries to be processed', async () => {
      const { rows } = await h.t.admin.query<{ outcome: string | null }>(
        'select outcome from fila.webhook_inbox where job_id = $1 order by id', [job.id]);
      return rows.length === 2 && rows.every((r) => r.outcome !== null) ? rows : null;
    }, 10_000).then((rows) => {
      expect(rows[0]!.outcome).toBe('applied: completed');
      expect(rows[1]!.outcome).toMatch(/^duplicate: /);
    });
    expect(h.fake.webhookDeliveries.filter((d) => d.taskId === done.provider_task_id).map((d) => d.status)).toEqual([200, 200]);
    const events = await h.timeline(job.id);
    expect(events.map((e) => e.to_status)).toEqual(['queued', 'starting', 'running', 'completed']);
    expect((await h.job(job.id)).finished_at).toEqual(done.finished_at);
  });

  it('queue-maxed:2 → requeued at the head twice with a growing back-off, then runs; debited once; nobody overtakes it', async () => {
    await h.t.admin.query('update fila.settings set max_slots = 1');
    const a = await h.submit('upscaler', { image_url: img('busy', 'queue-maxed:2'), category: 'pessoas' });
    await h.waitFor('the first refusal', async () => h.createsFor(a.id).length >= 1);
    const b = await h.submit('upscaler', { image_url: img('after'), category: 'pessoas' }); // submitted while a waits again
    await h.waitStatus(a.id, 'completed', 20_000);
    await h.waitStatus(b.id, 'completed', 20_000);

    const ta = await h.timeline(a.id);
    expect(ta.map((e) => e.to_status)).toEqual(['queued', 'starting', 'queued', 'starting', 'queued', 'starting', 'running', 'completed']);
    expect(ta.filter((e) => e.to_status === 'queued' && e.from_status === 'starting').map((e) => e.reason))
      .toEqual(['requeued: RunningHub 421 TASK_QUEUE_MAXED', 'requeued: RunningHub 421 TASK_QUEUE_MAXED']);
    // growing back-off: the second pause (2 × base) is longer than the first (base = 200 ms)
    const gap = (i: number) => ta[i + 1]!.at.getTime() - ta[i]!.at.getTime();
    expect(gap(2)).toBeGreaterThanOrEqual(190);
    expect(gap(4)).toBeGreaterThanOrEqual(390);
    expect(h.createsFor(a.id)).toHaveLength(3);
    // b, submitted while a was back in the queue, started only after a was running
    const tb = await h.timeline(b.id);
    const aRunning = ta.find((e) => e.to_status === 'running')!;
    const bStarting = tb.find((e) => e.to_status === 'starting')!;
    expect(bStarting.event_id).toBeGreaterThan(aRunning.event_id);
    expect(await fifoViolations(h)).toEqual([]);
    const ledger = await h.t.fila.creditLedger(a.user_id);
    expect(ledger.filter((l) => l.job_id === a.id).map((l) => [l.kind, l.amount])).toEqual([['debit', -a.credit_cost]]);
  });

  it('hang → left running past its soft deadline, failed at its hard deadline, refunded, the provider task canceled, and the next queued job starts', async () => {
    await h.t.admin.query('update fila.settings set max_slots = 1');
    await h.t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '3 seconds' where tool = 'video_upscaler'`);
    const stuck = await h.submit('video_upscaler', { video_url: 'https://files.example/long.mp4#fake=hang' });
    const running = await h.waitStatus(stuck.id, 'running');
    const next = await h.submit('upscaler', { image_url: img('next'), category: 'logo' });
    expect(next.status).toBe('queued');

    await h.waitFor('the soft deadline to pass', async () => (await h.t.fila.staleJobs()).some((s) => s.job_id === stuck.id));
    const soft = await h.reap();
    expect(soft.stillRunning).toContain(stuck.id);
    expect((await h.job(stuck.id)).status).toBe('running');

    await h.waitFor('the hard deadline to pass', async () => (await h.t.fila.staleJobs()).some((s) => s.job_id === stuck.id && s.past === 'hard'));
    const hard = await h.reap();
    expect(hard.reaped.map((j) => j.id)).toContain(stuck.id);
    const failed = await h.job(stuck.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/^Prazo esgotado/);
    expect(await h.refunds(stuck.id)).toBe(1);
    await h.waitFor('the provider task to be canceled', async () => h.fake.tasks.get(running.provider_task_id!)?.canceled);
    expect((await h.waitStatus(next.id, 'completed')).status).toBe('completed');
    expect(await h.refunds(stuck.id)).toBe(1);
    expect(await h.t.fila.creditAudit()).toEqual([]);
  });
});
