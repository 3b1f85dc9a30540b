// Least privilege: the API's role executes only what the HTTP API calls, the worker's only what the
// worker calls, PUBLIC nothing. Every function of schema fila is compared with the allowlist below,
// so a function added without a decided grant fails here. Production processes log in as members
// of these roles, so the tests do too: RESET ROLE must not give anything back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, type TestDatabase } from '../../dev/test-support/database.ts';
import { createPool } from '../pool.ts';
import { FilaDb } from '../fila.ts';
import { fundedUser, upscaleInput } from '../../dev/test-support/fixtures.ts';

type ProcessRole = 'fila_app' | 'fila_worker';

/** Who may execute each function (identity signature as PostgreSQL prints it). Internal helpers
 *  (`_name`, `tg__name`) are executable by nobody and need no entry. */
const allowlist: Record<string, ProcessRole[]> = {
  // the HTTP API
  'fila.submit_job(uuid,text,jsonb,text,boolean)': ['fila_app'],
  'fila.job_created_by_this_transaction(uuid)': ['fila_app'],
  'fila.cancel_job(uuid,uuid)': ['fila_app'],
  'fila.active_job(uuid)': ['fila_app'],
  'fila.touch_job(uuid,uuid)': ['fila_app'],
  'fila.credit_balance(uuid)': ['fila_app'],
  'fila.receive_webhook(uuid,text,jsonb)': ['fila_app'],
  'fila.grant_credits_by_operator(uuid,uuid,integer,text,text)': ['fila_app'],
  'fila.check_upload_quota(uuid,bigint,integer,bigint)': ['fila_app'],
  'fila.record_upload(uuid,text,bigint,integer,bigint)': ['fila_app'],
  'fila.expired_uploads(interval,interval,timestamp with time zone)': ['fila_app'],
  'fila.uploads_deleted(text[])': ['fila_app'],
  'fila.watched_jobs(uuid[])': ['fila_app'],
  'fila.touch_jobs(uuid[],uuid[])': ['fila_app'],
  'fila.presence_beat(uuid,integer)': ['fila_app'], // the API's event streams say presence is being heard
  'fila.queue_head(integer)': ['fila_app'],
  'fila.user_jobs(uuid,text,fila.job_status,uuid,integer)': ['fila_app'],
  'fila.job_detail(uuid)': ['fila_app'],
  'fila.activity_history(integer,integer,timestamp with time zone)': ['fila_app'],
  'fila.jobs_by_prefix(text,integer)': ['fila_app'],
  'fila._slots_total()': ['fila_app', 'fila_worker'], // queue_overview calls it as its reader
  // both
  'fila.job(uuid,uuid)': ['fila_app', 'fila_worker'],
  'fila.job_json(fila.jobs)': ['fila_app', 'fila_worker'],
  'fila.queue_position(uuid)': ['fila_app', 'fila_worker'], // queue_overview calls it as its reader
  'fila.is_active(fila.job_status)': ['fila_app', 'fila_worker'], // active_jobs calls it as its reader
  'fila.holds_slot(fila.job_status)': ['fila_app', 'fila_worker'], // queue_overview, stale_jobs and the account views call it as their reader
  // the worker
  'fila.dispatch()': ['fila_worker'],
  'fila.resolve_tickets(integer)': ['fila_worker'], // the poller, after a burst of submits
  'fila.mark_running(uuid,text)': ['fila_worker'],
  'fila.finish_job(uuid,fila.job_status,jsonb,text)': ['fila_worker'],
  'fila.requeue_job(uuid,text)': ['fila_worker'],
  'fila.reap_stale_jobs(timestamp with time zone)': ['fila_worker'],
  'fila.webhook(bigint)': ['fila_worker'],
  'fila.mark_webhook_processed(bigint,text)': ['fila_worker'],
  'fila.webhook_task_verdict(uuid,text)': ['fila_worker'],
  'fila.reapply_pending_webhooks(uuid)': ['fila_worker'],
  'fila.record_orphan_task(uuid,text,text)': ['fila_worker'],
  'fila.provider_task_ended(uuid)': ['fila_worker'], // the provider answered a cancel: the held slot is free
  'fila.note_create_sent(uuid)': ['fila_worker'], // a create is out: the job holds its slot until it is answered
  'fila.note_create_answered(uuid)': ['fila_worker'],
  'fila.note_uncertain_create(uuid,text)': ['fila_worker'],
  'fila.uncertain_starts()': ['fila_worker'],
  'fila.adopt_provider_task(uuid,text)': ['fila_worker'],
  'fila.claim_overdue_polls(integer,interval)': ['fila_worker'],
  'fila.claim_overdue_polls_by_account(integer,interval)': ['fila_worker'],
  'fila.record_provider_result(uuid,jsonb,text)': ['fila_worker'],
  'fila.record_account_status(text,integer,text,text,text)': ['fila_worker'],
  'fila.disable_tool(text,text)': ['fila_worker'],
  'fila.output_copy(uuid,integer)': ['fila_worker'],
  'fila.record_output_copy(uuid,integer,text,bigint,text,text)': ['fila_worker'],
  'fila.record_output_copy_failure(uuid,integer,text,text)': ['fila_worker'],
  // the database owner only (DBA, `fila grant`, `npm start`'s development credits)
  'fila.grant_credits(uuid,integer,text,text)': [],
  'fila.set_provider_account(text,integer,boolean)': [],
  'fila.enable_tool(text)': [],
};

interface FnGrant { fn: string; name: string; args: string[]; fila_app: boolean; fila_worker: boolean; public: boolean }

let t: TestDatabase;
let fns: FnGrant[];
const logins: Record<ProcessRole, { name: string; url: string }> = {} as never;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  t = await createTestDatabase();
  fns = (await t.admin.query<FnGrant>(`
    select p.oid::regprocedure::text as fn, p.proname as name,
           coalesce((select array_agg(format_type(a, null) order by i) from unnest(p.proargtypes::oid[]) with ordinality as x(a, i)), '{}') as args,
           has_function_privilege('fila_app', p.oid, 'execute') as fila_app,
           has_function_privilege('fila_worker', p.oid, 'execute') as fila_worker,
           exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                   where a.grantee = 0 and a.privilege_type = 'EXECUTE') as public
      from pg_proc p where p.pronamespace = 'fila'::regnamespace order by 1`)).rows;
  // login roles that are members of the process roles, as production's are (roles are
  // cluster-wide: a random suffix keeps parallel runs on one server apart)
  for (const role of ['fila_app', 'fila_worker'] as const) {
    const name = `${role}_login_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await t.admin.query(`create role ${name} login password '${password}' in role ${role}`);
    const u = new URL(t.url);
    u.username = name;
    u.password = password;
    logins[role] = { name, url: u.toString() };
  }
});
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
  for (const { name } of Object.values(logins)) await t.admin.query(`drop role if exists ${name}`);
  await t.drop();
});

/** A pool logged in as the member of `role`, connecting with no `role` option: the role is
 *  the login's membership alone, as in production. */
function loginPool(role: ProcessRole, max = 2): pg.Pool {
  const p = createPool(logins[role].url, null, max);
  pools.push(p);
  return p;
}

/** The views each process reads. */
const views: Record<ProcessRole, string[]> = {
  fila_app: ['queue_overview', 'queue', 'active_jobs', 'stale_jobs', 'credit_ledger', 'credit_audit', 'job_timeline', 'recent_jobs', 'tool_stats',
    'provider_account_overview', 'provider_account_check', 'provider_recovery', 'tool_availability', 'held_slots',
    'output_copy_overview'], // /metrics
  fila_worker: ['queue_overview', 'active_jobs', 'stale_jobs', 'provider_account_overview', 'provider_account_check'], // the poller compares RunningHub's count with fila's
};

const internal = (name: string) => name.startsWith('_') || name.startsWith('tg__');

async function sqlstate(p: Promise<unknown>): Promise<string | null> {
  return p.then(() => null, (e: { code?: string }) => e.code ?? 'no code');
}

/** A call with every argument null, cast to its type: enough to reach the EXECUTE check. */
const nullCall = (f: FnGrant) => `select fila.${f.name}(${f.args.map((a) => `null::${a}`).join(', ')})`;

describe('least privilege', () => {
  it('has a decided grant for every function in schema fila: the allowlist, internal helpers to nobody, PUBLIC to none', () => {
    const actual = Object.fromEntries(fns.map((f) => [f.fn, (['fila_app', 'fila_worker'] as const).filter((r) => f[r])]));
    const expected = Object.fromEntries(fns.map((f) => [f.fn, allowlist[f.fn] ?? (internal(f.name) ? [] : ['(not in the allowlist: decide its grant)'])]));
    expect(actual).toEqual(expected);
    expect(fns.filter((f) => f.public).map((f) => f.fn)).toEqual([]);
    // and the allowlist names nothing that no longer exists
    expect(Object.keys(allowlist).filter((fn) => !fns.some((f) => f.fn === fn))).toEqual([]);
  });

  for (const role of ['fila_app', 'fila_worker'] as const) {
    it(`refuses with 42501 every function ${role} does not hold, called by a login member of it, after RESET ROLE too`, async () => {
      const forbidden = fns.filter((f) => !f[role]);
      expect(forbidden.length).toBeGreaterThan(5);
      const c = await loginPool(role, 1).connect();
      try {
        const refused: Record<string, string | null> = {};
        for (const f of forbidden) {
          await c.query('reset role');
          refused[f.fn] = await sqlstate(c.query(nullCall(f)));
        }
        expect(refused).toEqual(Object.fromEntries(forbidden.map((f) => [f.fn, '42501'])));
        // nor can it become the other process's role, or read a table
        const other = role === 'fila_app' ? 'fila_worker' : 'fila_app';
        expect(await sqlstate(c.query(`set role ${other}`))).toBe('42501');
        expect(await sqlstate(c.query('select * from fila.jobs limit 1'))).toBe('42501');
        expect(await sqlstate(c.query('select * from fila.credit_entries limit 1'))).toBe('42501');
      } finally {
        c.release();
      }
    });

    it(`lets a login member of ${role} execute what it holds and read its views (no 42501)`, async () => {
      const allowed = fns.filter((f) => f[role]);
      const c = await loginPool(role, 1).connect();
      try {
        const codes: Record<string, string | null> = {};
        for (const f of allowed) {
          await c.query('begin');
          codes[f.fn] = await sqlstate(c.query(nullCall(f)));
          await c.query('rollback');
        }
        expect(Object.entries(codes).filter(([, code]) => code === '42501')).toEqual([]);
        for (const view of views[role]) expect(await sqlstate(c.query(`select * from fila.${view} limit 1`)), view).toBeNull();
      } finally {
        c.release();
      }
    });
  }

  it('does not let the API grant credits, finish a job as completed, mark it running or reap as of any time', async () => {
    const user = await fundedUser(t.fila, 10);
    const { job } = await t.fila.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() });
    const api = new FilaDb(loginPool('fila_app'));
    const denied = async (p: Promise<unknown>) => expect((await p.then(() => null, (e: { cause?: { code?: string }; code?: string }) => e.cause?.code ?? e.code))).toBe('42501');
    await denied(api.grantCredits(user, 1_000_000, 'free money'));
    await denied(api.finishJob(job.id, 'completed', [{ url: 'https://x.example/a.png', type: 'png' }], null));
    await denied(api.markRunning(job.id, 'task-1'));
    await denied(api.reapStaleJobs(new Date(Date.now() + 86_400_000)));
    await denied(api.dispatch());
    expect(await t.fila.creditBalance(user)).toBe(10 - job.credit_cost);
    expect((await t.fila.job(job.id)).job.status).toBe(job.status);
  });

  it('does not let the worker submit, cancel, grant credits or store webhooks', async () => {
    const user = await fundedUser(t.fila, 10);
    const worker = new FilaDb(loginPool('fila_worker'));
    const denied = async (p: Promise<unknown>) => expect((await p.then(() => null, (e: { code?: string }) => e.code))).toBe('42501');
    await denied(worker.submitJob({ userId: user, tool: 'upscaler', input: upscaleInput() }));
    await denied(worker.grantCreditsByOperator(user, user, 5, 'self-service'));
    await denied(worker.cancelJob(crypto.randomUUID(), null));
    await denied(worker.receiveWebhook(crypto.randomUUID(), 'runninghub', {}));
    expect(await t.fila.creditBalance(user)).toBe(10);
  });

  it("records the operator on a grant made through the API's function", async () => {
    const operator = crypto.randomUUID();
    const user = crypto.randomUUID();
    const api = new FilaDb(loginPool('fila_app'));
    expect(await api.grantCreditsByOperator(operator, user, 7, 'support ticket 12', 'op-key-1')).toBe(7);
    expect(await api.grantCreditsByOperator(operator, user, 7, 'support ticket 12', 'op-key-1')).toBe(7);
    const { rows } = await t.admin.query('select kind, amount, reason, operator_id from fila.credit_ledger where user_id = $1', [user]);
    expect(rows).toEqual([{ kind: 'grant', amount: 7, reason: 'support ticket 12', operator_id: operator }]);
  });
});

describe('credit grants at the edge of the integer range', () => {
  it('refuses a grant that would pass the largest balance with FL012, granting nothing', async () => {
    const user = crypto.randomUUID();
    await t.fila.grantCredits(user, 2_147_000_000, 'near the top');
    const err = await t.fila.grantCredits(user, 1_000_000, 'one too many').then(() => null, (e: { code?: string; sqlstate?: string }) => e);
    expect(err).toMatchObject({ code: 'balance_limit', sqlstate: 'FL012' });
    expect(await t.fila.creditBalance(user)).toBe(2_147_000_000);
  });
});
