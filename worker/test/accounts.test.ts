// Several RunningHub accounts with the real worker: real PostgreSQL, real graphile-worker, the fake
// RunningHub over HTTP with its per-key concurrency limit (421 past it) and a switch that makes one
// key fail. Every provider call about a job must carry the key of the account it started on.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { FilaDb, type Job } from '../../db/fila.ts';
import { spreadOverConnections, rejected, fulfilled } from '../../dev/test-support/concurrency.ts';
import { fifoViolations, startHarness, type Harness } from '../../dev/test-support/harness.ts';
import { checkAccountKeys } from '../runninghub/accounts.ts';
import { ConfigError, providerKeys } from '../../common/config.ts';
import { RunningHubClient } from '../runninghub/client.ts';
import { startFakeRunningHub } from '../../dev/fake-runninghub/server.ts';

const img = (name: string, fake?: string) => `https://files.example/${name}.png${fake ? `#fake=${fake}` : ''}`;
const upscale = (name: string, fake?: string) => ({ image_url: img(name, fake), category: 'pessoas' });

/** The account each create request was sent with, by job. */
function keysSeenFor(h: Harness, jobId: string): string[] {
  return h.createsFor(jobId).map((b) => b.apiKey as string);
}

function accountOfKey(h: Harness, key: string): string {
  return Object.entries(h.keys).find(([, k]) => k === key)?.[0] ?? `unknown key ${key}`;
}

async function used(h: Harness): Promise<Record<string, number>> {
  return Object.fromEntries((await h.t.fila.providerAccounts()).filter((a) => a.enabled).map((a) => [a.account, a.slots_used]));
}

async function idle(h: Harness): Promise<void> {
  await h.waitFor('an idle system', async () => {
    const o = await h.t.fila.queueOverview();
    return o.slots_used === 0 && o.queued === 0;
  }, 30_000);
}

describe('two accounts, 2 slots each', () => {
  let h: Harness;
  beforeAll(async () => {
    // room for a third task per key at the fake: a provider-side cancel may arrive after the next
    // create on the same account (fila's own limits are what these tests check)
    h = await startHarness({ accounts: { a: 2, b: 2 }, fake: { maxConcurrentPerKey: 3 } });
    await h.t.admin.query(`update fila.settings set max_slots = 10, backoff_base = '1 hour', backoff_max = '2 hours'`);
    await h.startWorker();
  });
  afterAll(async () => { await h?.stop(); });
  afterEach(async () => {
    // cancel what still holds a slot or waits (hanging tasks), reset the accounts
    for (const j of await h.t.fila.activeJobs()) await h.t.fila.cancelJob(j.job_id, null);
    await h.t.admin.query(`update fila.provider_accounts set enabled = (account <> 'default'), paused_until = null, pause_reason = null, backoff_step = 0`);
    await h.t.admin.query(`update fila.settings set max_slots = 10`);
    for (const key of Object.values(h.keys)) h.fake.failKey(key, null);
    await idle(h);
  });

  it('with a global cap of 10: 4 run, 2 per account, each created with its account\'s key; the rest queue in order; a cancel goes out with the job\'s key', async () => {
    const jobs: Job[] = [];
    for (let i = 0; i < 7; i++) jobs.push(await h.submit('upscaler', upscale(`cap10-${i}`, 'hang')));
    for (const j of jobs.slice(0, 4)) await h.waitStatus(j.id, 'running');
    expect(await used(h)).toEqual({ a: 2, b: 2 });
    const running = await Promise.all(jobs.slice(0, 4).map((j) => h.job(j.id)));
    expect(running.map((j) => j.account)).toEqual(['a', 'b', 'a', 'b']);
    for (const j of running) expect(keysSeenFor(h, j.id).map((k) => accountOfKey(h, k))).toEqual([j.account]);
    for (const [i, j] of jobs.slice(4).entries()) expect(await h.t.fila.queuePosition(j.id)).toBe(i + 1);
    expect(h.fake.requestsTo('create')).toHaveLength(4); // no refusal: never a third task on one key

    // an operator cancels a running job on b: the provider-side cancel uses b's key
    const onB = running.find((j) => j.account === 'b')!;
    await h.t.fila.cancelJob(onB.id, null);
    await h.waitFor('the provider-side cancel', async () =>
      h.fake.requestsTo('cancel').find((r) => (r.body as { taskId: string }).taskId === onB.provider_task_id));
    const cancel = h.fake.requestsTo('cancel').find((r) => (r.body as { taskId: string }).taskId === onB.provider_task_id)!;
    expect(accountOfKey(h, (cancel.body as { apiKey: string }).apiKey)).toBe('b');
    expect(h.fake.tasks.get(onB.provider_task_id!)!.canceled).toBe(true);
    // its slot went to the head of the queue, on b
    const next = await h.waitStatus(jobs[4]!.id, 'running');
    expect(next.account).toBe('b');
  });

  it('with a global cap of 3: 3 run, never a fourth', async () => {
    await h.t.admin.query('update fila.settings set max_slots = 3');
    const jobs: Job[] = [];
    for (let i = 0; i < 5; i++) jobs.push(await h.submit('upscaler', upscale(`cap3-${i}`, 'hang')));
    for (const j of jobs.slice(0, 3)) await h.waitStatus(j.id, 'running');
    expect(await used(h)).toEqual({ a: 2, b: 1 });
    expect((await h.t.fila.queueOverview()).slots_used).toBe(3);
    expect(await h.t.fila.dispatch()).toEqual([]);
    expect((await h.job(jobs[3]!.id)).status).toBe('queued');
  });

  it('an account answering 802 is paused and requeues its job at its place; the other keeps starting jobs in FIFO order; nobody fails or is refunded', async () => {
    h.fake.failKey(h.keys.b!, 802);
    const jobs: Job[] = [];
    for (let i = 0; i < 6; i++) jobs.push(await h.submit('upscaler', upscale(`k802-${i}`, 'ok:400')));
    for (const j of jobs) expect((await h.waitStatus(j.id, ['completed', 'failed'], 30_000)).status).toBe('completed');

    const done = await Promise.all(jobs.map((j) => h.job(j.id)));
    expect(done.every((j) => j.account === 'a')).toBe(true);
    const b = (await h.t.fila.providerAccounts()).find((x) => x.account === 'b')!;
    expect(b.paused_until).not.toBeNull();
    expect(b.pause_reason).toContain('RunningHub 802 APIKEY_UNAUTHORIZED');
    // b's job went back to the queue and then ran on a; its place was kept: the global record is FIFO
    // (which job went to b first depends on the moment: a job may end before the next is submitted)
    const timelines = await Promise.all(jobs.map((j) => h.timeline(j.id)));
    const second = timelines.find((tl) => tl.some((e) => e.reason === 'dispatched to account b'))!;
    expect(second).toBeDefined();
    expect(second.map((e) => e.to_status)).toEqual(['queued', 'starting', 'queued', 'starting', 'running', 'completed']);
    expect(second[2]!.reason).toMatch(/^requeued: conta RunningHub: RunningHub 802 APIKEY_UNAUTHORIZED: .* \(account b\)$/);
    expect(second[3]!.reason).toBe('dispatched to account a');
    expect(await fifoViolations(h)).toEqual([]); // every start took the head of the queue
    // b was asked to create only the jobs dispatched to it before it paused, each refused once
    const bCreates = jobs.flatMap((j) => keysSeenFor(h, j.id)).filter((k) => k === h.keys.b);
    expect(bCreates.length).toBe(b.refusals);
    expect(b.refusals).toBeGreaterThanOrEqual(1);
    for (const j of jobs) expect(await h.refunds(j.id)).toBe(0);
  });

  it('disabling an account drains it: its running jobs finish there, nothing new starts on it, the other carries on', async () => {
    const jobs: Job[] = [];
    // the first four run until b is disabled (a task of fixed length could end first on a loaded
    // machine, and b's freed slot would take a later job before the disable)
    for (let i = 0; i < 8; i++) jobs.push(await h.submit('upscaler', upscale(`drain-${i}`, i < 4 ? 'hang' : 'ok:300')));
    const first: Job[] = [];
    for (const j of jobs.slice(0, 4)) first.push(await h.waitStatus(j.id, 'running'));
    const onB = first.filter((j) => j.account === 'b');
    expect(onB).toHaveLength(2);
    await h.t.fila.setProviderAccount('b', 2, false);
    for (const j of first) h.fake.finishTask(j.provider_task_id!);
    for (const j of jobs) expect((await h.waitStatus(j.id, ['completed', 'failed'], 30_000)).status).toBe('completed');
    for (const j of onB) expect((await h.job(j.id)).account).toBe('b'); // finished where they were
    const later = await Promise.all(jobs.slice(4).map((j) => h.job(j.id)));
    expect(later.map((j) => j.account)).toEqual(['a', 'a', 'a', 'a']);
    expect(await fifoViolations(h)).toEqual([]);
  });

  it('a lost webhook on a non-default account is recovered by asking with that account\'s key', async () => {
    await h.t.admin.query(`update fila.tools set soft_deadline = '1 second', hard_deadline = '30 seconds' where tool = 'upscaler'`);
    try {
      // a holds a job until the lost one has started: dispatch picks the account with the most free
      // slots, the first by name on a tie, so b only while a is busier (a job of fixed length on a
      // could end first on a loaded machine, and the lost one would then go to a)
      const first = await h.submit('upscaler', upscale('lost-a', 'hang'));
      const onA = await h.waitStatus(first.id, 'running');
      const lost = await h.submit('upscaler', upscale('lost-b', 'lose-webhook'));
      const running = await h.waitStatus(lost.id, 'running');
      expect(running.account).toBe('b');
      h.fake.finishTask(onA.provider_task_id!);
      await h.waitStatus(first.id, 'completed');
      const task = h.fake.tasks.get(running.provider_task_id!)!;
      await h.waitFor('the provider to finish the task', async () => task.status === 'SUCCESS');
      await h.waitFor('the soft deadline to pass', async () => (await h.t.fila.staleJobs()).some((s) => s.job_id === lost.id && s.past === 'soft'));
      const pass = await h.reap();
      expect(pass.recovered).toEqual([{ job_id: lost.id, status: 'completed' }]);
      const questions = [...h.fake.requestsTo('status'), ...h.fake.requestsTo('outputs')]
        .map((r) => r.body as { apiKey: string; taskId: string })
        .filter((b) => b.taskId === task.taskId);
      expect(questions.length).toBeGreaterThanOrEqual(1); // /outputs (status is only a hint, not asked)
      expect(new Set(questions.map((q) => accountOfKey(h, q.apiKey)))).toEqual(new Set(['b']));
      expect((await h.job(lost.id)).outputs).toEqual([{ url: `${h.fake.url}/files/${task.taskId}/ComfyUI_00001_.png`, type: 'png' }]);
    } finally {
      await h.t.admin.query(`update fila.tools set soft_deadline = '3 minutes', hard_deadline = '10 minutes' where tool = 'upscaler'`);
    }
  });
});

describe('three accounts under real concurrency', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ accounts: { a: 2, b: 2, c: 2 } });
    await h.t.admin.query(`update fila.settings set max_slots = 5`); // the cap binds: 5 of the accounts' 6
    await h.startWorker({ concurrency: 8 });
  });
  afterAll(async () => { await h?.stop(); });

  it('50 users submitting at once never exceed the global cap or any account\'s slots, in fila or at the provider, and start in FIFO order', async () => {
    // the fake enforces each account's slots per key: an over-admission would be answered 421
    const users = Array.from({ length: 50 }, () => randomUUID());
    for (const u of users) await h.t.fila.grantCredits(u, 10, 'test');
    const violations: string[] = [];
    let watching = true;
    const observer = (async () => {
      let samples = 0;
      while (watching) {
        const { rows: [s] } = await h.t.admin.query<{ busy: number; over: string[] }>(
          `select (select count(*) from fila.jobs where status in ('starting','running'))::int as busy,
                  array(select a.account || ' ' || count(j.id) || '/' || a.max_slots from fila.provider_accounts a
                        join fila.jobs j on j.account = a.account and j.status in ('starting','running')
                        group by a.account, a.max_slots having count(j.id) > a.max_slots) as over`);
        samples++;
        if (s!.busy > 5) violations.push(`over the cap: ${s!.busy}/5`);
        if (s!.over.length) violations.push(`over an account: ${s!.over.join(', ')}`);
      }
      return samples;
    })();
    let submitted: Job[] = [];
    let samples = 0;
    try {
      // the file's budget less what the worker, the harness and the observer hold
      const submitters = Math.min(50, h.t.connectionBudget - 15);
      const pool = h.t.pool(null, submitters);
      const results = await spreadOverConnections(pool, submitters, 50, async (client, i) =>
        (await new FilaDb(client).submitJob({ userId: users[i]!, tool: 'upscaler', input: upscale(`many-${i}`, 'ok:150') })).job);
      expect(rejected(results)).toEqual([]);
      submitted = fulfilled(results);
      for (const j of submitted) expect((await h.waitStatus(j.id, ['completed', 'failed'], 60_000)).status).toBe('completed');
    } finally {
      watching = false;
      samples = await observer;
    }
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    expect(await fifoViolations(h)).toEqual([]);
    // the provider never had to refuse: no key ever went past its account's slots
    expect(h.fake.requestsTo('create')).toHaveLength(50);
    const perKey = new Map<string, number>();
    for (const t of h.fake.tasks.values()) perKey.set(accountOfKey(h, t.apiKey), (perKey.get(accountOfKey(h, t.apiKey)) ?? 0) + 1);
    expect([...perKey.keys()].sort()).toEqual(['a', 'b', 'c']);
    const { rows: requeues } = await h.t.admin.query(`select 1 from fila.job_events where from_status = 'starting' and to_status = 'queued'`);
    expect(requeues).toEqual([]);
    expect(await h.t.fila.creditAudit()).toEqual([]);
  });
});

describe('keys per account (RUNNINGHUB_ACCOUNTS)', () => {
  const keys = (list: string | undefined, single: string | undefined) =>
    providerKeys({ RUNNINGHUB_ACCOUNTS: list, RUNNINGHUB_API_KEY: single });

  it('reads name=key pairs, or RUNNINGHUB_API_KEY alone as the account `default`', () => {
    expect(keys('main=k1, backup=k2=with=equals', undefined)).toEqual({ main: 'k1', backup: 'k2=with=equals' });
    expect(keys(undefined, 'k0')).toEqual({ default: 'k0' });
    expect(keys(undefined, undefined)).toBeNull();
  });

  it('refuses both variables at once, a missing name or key, or a name twice, without printing any key', () => {
    const bad: Array<[string | undefined, string | undefined, RegExp]> = [
      ['a=secret1', 'secret2', /not both/],
      ['a=secret1,b', undefined, /account "b" has no key/],
      ['a=secret1,a=secret2', undefined, /names account "a" twice/],
      ['a=secret1,,b=secret2', undefined, /entry 2 has no account name/],
      ['=secret1', undefined, /entry 1 has no account name/],
    ];
    for (const [list, single, message] of bad) {
      let caught: unknown;
      try {
        keys(list, single);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toMatch(message);
      expect((caught as Error).message).not.toMatch(/secret/);
    }
  });

  it('checks the keys against the table: an enabled account needs a key, a key needs an account, a disabled one may go without', () => {
    const rows = [{ account: 'a', enabled: true }, { account: 'b', enabled: true }, { account: 'old', enabled: false }];
    expect(() => checkAccountKeys({ a: 'k1', b: 'k2' }, rows)).not.toThrow();
    expect(() => checkAccountKeys({ a: 'k1' }, rows)).toThrow(/enabled account "b" has no key/);
    expect(() => checkAccountKeys({ a: 'k1', b: 'k2', typo: 'k3' }, rows)).toThrow(/key for "typo", which fila.provider_accounts does not know/);
    // a name the table could never hold (RUNNINGHUB_ACCOUNTS does not check names: the table does)
    expect(() => checkAccountKeys({ a: 'k1', b: 'k2', 'Main Account': 'k3' }, rows)).toThrow(/key for "Main Account"/);
  });

  it('a worker whose keys do not match the table refuses to start, naming the account', async () => {
    const h = await startHarness({ accounts: { a: 1, b: 1 } });
    try {
      await expect(h.startWorker({ runninghub: { baseUrl: h.fake.url, accounts: { a: h.keys.a! } } }))
        .rejects.toThrow(/enabled account "b" has no key in RUNNINGHUB_ACCOUNTS/);
      // the same worker with both keys starts, and a job on b goes out with b's key
      await h.startWorker();
      const [first, second] = [await h.submit('upscaler', upscale('k-a')), await h.submit('upscaler', upscale('k-b'))];
      for (const j of [first, second]) await h.waitStatus(j!.id, 'completed');
      expect(keysSeenFor(h, second!.id)).toEqual([h.keys.b]);
    } finally {
      await h.stop();
    }
  });

  it('a job dispatched to an account this worker has no key for is requeued and that account paused, not failed', async () => {
    const h = await startHarness({ accounts: { a: 1 } });
    try {
      await h.t.admin.query(`update fila.settings set backoff_base = '1 hour', backoff_max = '2 hours'`);
      await h.startWorker();
      // an account added after the worker started
      await h.t.fila.setProviderAccount('a', 1, false);
      await h.t.fila.setProviderAccount('late', 1);
      const job = await h.submit('upscaler', upscale('late'));
      await h.waitFor('the job to come back to the queue', async () =>
        (await h.timeline(job.id)).some((e) => e.from_status === 'starting' && e.to_status === 'queued'));
      const late = (await h.t.fila.providerAccounts()).find((x) => x.account === 'late')!;
      expect(late.pause_reason).toBe('no API key for provider account "late" in this worker (RUNNINGHUB_ACCOUNTS)');
      expect((await h.job(job.id)).status).toBe('queued');
      expect(h.fake.requestsTo('create')).toEqual([]);
      expect(await h.refunds(job.id)).toBe(0);
    } finally {
      await h.stop();
    }
  });
});

describe('the fake RunningHub\'s key switch', () => {
  it('802 refuses every call with that key, 812 refuses only creates, other keys are untouched, null restores it', async () => {
    const fake = await startFakeRunningHub({ defaultMs: 50 });
    try {
      const client = (key: string) => new RunningHubClient({ baseUrl: fake.url, apiKey: key, timeoutMs: 5000 });
      const create = (key: string) => client(key).create({ workflowId: '1', nodeInfoList: [], webhookUrl: '' });
      const task = await create('k1');
      fake.failKey('k1', 802);
      await expect(create('k1')).rejects.toMatchObject({ code: 802 });
      await expect(client('k1').status(task.taskId)).rejects.toMatchObject({ code: 802 });
      await expect(create('k2')).resolves.toMatchObject({ taskStatus: 'QUEUED' });
      fake.failKey('k1', 812);
      await expect(create('k1')).rejects.toMatchObject({ code: 812 });
      await expect(client('k1').status(task.taskId)).resolves.toBeDefined();
      fake.failKey('k1', null);
      await expect(create('k1')).resolves.toMatchObject({ taskStatus: 'QUEUED' });
    } finally {
      await fake.stop();
    }
  });

  it('holds each key to its own limit (maxConcurrentByKey) and answers 421 past it', async () => {
    const fake = await startFakeRunningHub({ maxConcurrentPerKey: 3, maxConcurrentByKey: { small: 1 } });
    try {
      const create = (key: string) => new RunningHubClient({ baseUrl: fake.url, apiKey: key })
        .create({ workflowId: '1', nodeInfoList: [{ nodeId: '1', fieldName: 'image', fieldValue: img('h', 'hang') }], webhookUrl: '' });
      await create('small');
      await expect(create('small')).rejects.toMatchObject({ code: 421 });
      for (let i = 0; i < 3; i++) await create('big');
      await expect(create('big')).rejects.toMatchObject({ code: 421 });
    } finally {
      await fake.stop();
    }
  });
});
