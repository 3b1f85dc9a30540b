// The RunningHub client against the fake over real HTTP: every endpoint, errors with the provider's
// code and message, unreachable vs. refused, and the fake obeying each `#fake=` directive.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeRunningHub, type FakeRunningHub } from '../../dev/fake-runninghub/server.ts';
import { RunningHubClient, RunningHubError, RunningHubUnreachableError } from '../runninghub/client.ts';
import { InputFileError, readInputFile } from '../input-files.ts';

let fake: FakeRunningHub;
let client: RunningHubClient;
let hooks: { url: string; got: Array<{ path: string; body: { event: string; taskId: string; eventData: string } }>; failing: Map<string, number>; stop(): Promise<void> };
const job = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const hookUrl = (n: number) => `${hooks.url}/v1/webhooks/runninghub/${job(n)}?token=t`;
const create = (n: number, fake?: string) => client.create({
  workflowId: '1904136902449209346',
  nodeInfoList: [{ nodeId: '10', fieldName: 'image', fieldValue: `https://files.example/${n}.png${fake ? `#fake=${fake}` : ''}` }],
  webhookUrl: hookUrl(n),
});
const until = async (what: string, fn: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

beforeAll(async () => {
  fake = await startFakeRunningHub({ defaultMs: 150, webhookRetryMs: 100, duplicateGapMs: 1000 });
  client = new RunningHubClient({ baseUrl: fake.url, apiKey: 'k1', timeoutMs: 2000 });
  const got: typeof hooks.got = [];
  const failing = new Map<string, number>(); // job id → how many of its next webhooks get a 503
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const jobId = /runninghub\/([^?]+)/.exec(req.url ?? '')?.[1] ?? '';
      const left = failing.get(jobId) ?? 0;
      if (left > 0) { failing.set(jobId, left - 1); res.writeHead(503); res.end(); return; }
      got.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as never });
      res.writeHead(200); res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hooks = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got,
    failing,
    stop: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
});
afterAll(async () => {
  await fake?.stop();
  await hooks?.stop();
});

const hooksFor = (taskId: string) => hooks.got.filter((h) => h.body.taskId === taskId);

describe('client ↔ fake: the endpoints', () => {
  it('create → status → outputs, with the fixture shapes; status of an ended task is "" (unknown, not a bad answer); the webhook carries eventData as a JSON string', async () => {
    const task = await create(1, 'ok:1500'); // long enough to be seen unfinished on a loaded machine
    expect(task.taskId).toMatch(/^\d+$/);
    expect(task.taskStatus).toBe('QUEUED');
    expect(['QUEUED', 'RUNNING']).toContain(await client.status(task.taskId));
    expect((await client.outputs(task.taskId)).kind).toBe('not-finished');
    await until('the webhook', () => hooksFor(task.taskId).length === 1);
    expect(await client.status(task.taskId)).toBeNull();
    expect(fake.tasks.get(task.taskId)?.status).toBe('SUCCESS');
    const out = await client.outputs(task.taskId);
    expect(out).toEqual({ kind: 'success', files: [expect.objectContaining({ fileType: 'png', nodeId: '9' })] });
    const hook = hooksFor(task.taskId)[0]!;
    expect(hook.path).toBe(`/v1/webhooks/runninghub/${job(1)}?token=t`);
    expect(hook.body.event).toBe('TASK_END');
    expect(JSON.parse(hook.body.eventData)).toMatchObject({ code: 0, msg: 'success', data: [{ fileType: 'png' }] });
    expect(fake.requestsTo('create').at(-1)!.body).toMatchObject({
      apiKey: 'k1', workflowId: '1904136902449209346', webhookUrl: hookUrl(1),
      nodeInfoList: [{ nodeId: '10', fieldName: 'image', fieldValue: 'https://files.example/1.png#fake=ok:1500' }],
    });
  });

  it('errors keep the provider\'s code and message: unknown task (807), bad key (802), bad params (301)', async () => {
    await expect(client.status('123')).rejects.toMatchObject({ name: 'RunningHubError', code: 807, msg: 'APIKEY_TASK_NOT_FOUND' });
    const bad = new RunningHubClient({ baseUrl: fake.url, apiKey: '' });
    await expect(bad.accountStatus()).rejects.toMatchObject({ code: 802, msg: 'APIKEY_UNAUTHORIZED' });
    await expect(client.create({ workflowId: 'not-a-number', nodeInfoList: [], webhookUrl: hookUrl(2) }))
      .rejects.toMatchObject({ code: 301, msg: 'PARAMS_INVALID' });
  });

  it('cancel stops a task: no webhook, outputs 805; accountStatus counts running tasks', async () => {
    const task = await create(3, 'hang');
    expect((await client.accountStatus()).currentTaskCounts).not.toBe('0');
    await client.cancel(task.taskId);
    expect(await client.status(task.taskId)).toBeNull();
    expect((await client.outputs(task.taskId)).kind).toBe('failed');
    expect(fake.tasks.get(task.taskId)?.canceled).toBe(true);
    expect(hooksFor(task.taskId)).toEqual([]);
  });

  it('upload takes multipart (apiKey, file, fileType) and answers a fileName; more than 30 MB: 809', async () => {
    const name = await client.upload(new Blob([new Uint8Array(1024)], { type: 'image/png' }), 'face.png', 'image');
    expect(name).toMatch(/^api\/[0-9a-f]{32}\.png$/);
    expect(fake.requestsTo('upload').at(-1)!.body).toEqual({ apiKey: 'k1', fileType: 'image', fileName: 'face.png', size: 1024 });
    await expect(client.upload(new Blob([new Uint8Array(30 * 1024 * 1024 + 1)]), 'big.png', 'image'))
      .rejects.toMatchObject({ code: 809, msg: 'APIKEY_FILE_SIZE_EXCEEDED' });
  });

  it('an input file past 30 MB is refused while it is read, with a clear message', async () => {
    const big = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png' }); // no content-length: counted while streaming
      const chunk = Buffer.alloc(1024 * 1024);
      let sent = 0;
      const more = (): void => {
        while (sent < 40 && !res.destroyed) { sent++; if (!res.write(chunk)) { res.once('drain', more); return; } }
        res.end();
      };
      more();
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(big.address() as AddressInfo).port}/huge.png`;
    // this loopback server stands for a public one: only the size limit is under test here
    const err = await readInputFile(url, undefined, { network: { allowAddress: (ip) => ip === '127.0.0.1' } }).then(() => null, (e: unknown) => e);
    big.closeAllConnections();
    await new Promise<void>((r) => big.close(() => r()));
    expect(err).toBeInstanceOf(InputFileError);
    expect((err as Error).message).toMatch(/maior que o limite de 30\.0 MB/);
  });
});

describe('client: unreachable', () => {
  it('a closed listener is "refused" (surely never reached); no answer in time is "timeout" (may have reached)', async () => {
    const other = await startFakeRunningHub({ createDelayMs: 1500 });
    const c = new RunningHubClient({ baseUrl: other.url, apiKey: 'k', timeoutMs: 300 });
    const t = await c.create({ workflowId: '1', nodeInfoList: [], webhookUrl: '' }).then(() => null, (e: unknown) => e);
    expect(t).toBeInstanceOf(RunningHubUnreachableError);
    expect(t).toMatchObject({ reason: 'timeout', mayHaveReachedProvider: true });
    await other.pause();
    expect(other.listening).toBe(false);
    const r = await c.status('1').then(() => null, (e: unknown) => e);
    expect(r).toMatchObject({ name: 'RunningHubUnreachableError', reason: 'refused', mayHaveReachedProvider: false });
    await other.resume();
    await expect(c.status('1')).rejects.toBeInstanceOf(RunningHubError); // answering again (807)
    await other.stop();
  });
});

describe('the fake obeys #fake= directives', () => {
  it('fail:<message> → the message percent-decoded, in the webhook and in /outputs as 805 failedReason; the job keeps it with the node name', async () => {
    const msg = 'CUDA out of memory: 2.00 GiB & more';
    const task = await create(10, `fail:${encodeURIComponent(msg)}`);
    await until('the webhook', () => hooksFor(task.taskId).length === 1);
    const out = await client.outputs(task.taskId);
    expect(out).toMatchObject({ kind: 'failed', code: 805, message: `${msg} (FakeNode)`, reason: { exception_message: msg, node_name: 'FakeNode' } });
    expect(JSON.parse(hooksFor(task.taskId)[0]!.body.eventData)).toMatchObject({ code: 805, data: { failedReason: { exception_message: msg } } });
  });

  it('ok:<ms> finishes after that long', async () => {
    const t0 = Date.now();
    const task = await create(11, 'ok:600');
    await until('the webhook', () => hooksFor(task.taskId).length === 1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550);
  });

  it('lose-webhook finishes but never calls back', async () => {
    const task = await create(12, 'lose-webhook');
    await until('the task to finish', () => fake.tasks.get(task.taskId)?.status === 'SUCCESS');
    await new Promise((r) => setTimeout(r, 300));
    expect(hooksFor(task.taskId)).toEqual([]);
    expect((await client.outputs(task.taskId)).kind).toBe('success');
  });

  it('duplicate-webhook calls back twice, about a second apart', async () => {
    const task = await create(13, 'duplicate-webhook');
    const deliveries = () => fake.webhookDeliveries.filter((d) => d.taskId === task.taskId);
    // the fake records a delivery after reading its answer, later than our server saw it: wait
    // for the fake's own records, which are what this test reads
    await until('two recorded deliveries', () => hooksFor(task.taskId).length === 2 && deliveries().length === 2, 5000);
    const [a, b] = deliveries();
    expect([a!.status, b!.status]).toEqual([200, 200]);
    // the gap between sending them is the fake's scheduled delay; answer times do not enter it
    expect(b!.sentAt - a!.sentAt).toBeGreaterThanOrEqual(900);
  });

  it('queue-maxed:<n> answers 421 to the first n creates of that job only', async () => {
    await expect(create(14, 'queue-maxed:2')).rejects.toMatchObject({ code: 421, msg: 'TASK_QUEUE_MAXED' });
    await expect(create(15)).resolves.toMatchObject({ taskStatus: 'QUEUED' }); // another job is not affected
    await expect(create(14, 'queue-maxed:2')).rejects.toMatchObject({ code: 421 });
    await expect(create(14, 'queue-maxed:2')).resolves.toMatchObject({ taskStatus: 'QUEUED' });
  });

  it('hang never finishes; the per-key limit (3) answers 421 beyond it, per API key', async () => {
    await until('no task of key k1 in flight', () => [...fake.tasks.values()].every((t) => t.apiKey !== 'k1' || t.status === 'SUCCESS' || t.status === 'FAILED'));
    const hung = [await create(20, 'hang'), await create(21, 'hang'), await create(22, 'hang')];
    await until('the hung tasks to run', () => hung.every((t) => fake.tasks.get(t.taskId)?.status === 'RUNNING'));
    for (const t of hung) expect(await client.status(t.taskId)).toBe('RUNNING');
    await expect(create(23)).rejects.toMatchObject({ code: 421, msg: 'TASK_QUEUE_MAXED' });
    const otherKey = new RunningHubClient({ baseUrl: fake.url, apiKey: 'k2' });
    await expect(otherKey.create({ workflowId: '1', nodeInfoList: [], webhookUrl: '' })).resolves.toBeDefined();
    for (const t of hung) await client.cancel(t.taskId);
    await expect(create(24)).resolves.toBeDefined();
  });

  it('retries a webhook answered with non-2xx until it is taken', async () => {
    hooks.failing.set(job(30), 2); // this job's webhooks only: others' may still be in flight
    const task = await create(30);
    const deliveries = () => fake.webhookDeliveries.filter((d) => d.taskId === task.taskId);
    // the fake records a delivery once it has read the answer: after our server took it
    await until('the webhook to be taken', () => hooksFor(task.taskId).length === 1 && deliveries().length === 3, 5000);
    expect(deliveries().map((d) => d.status)).toEqual([503, 503, 200]);
  });
});
