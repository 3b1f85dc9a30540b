-- 00017 — results outlive the provider's links: each output of a completed job is copied into
-- fila's own file store (the store uploads use), and users are shown the copy once it has landed.
-- Why: RunningHub gives result URLs a 24-hour lifetime (standard-model API; undocumented for
-- workflows); a customer who comes back the next day found a dead link. The copy is an outbox like
-- dispatch: the job's move to `completed` records one pending copy per output and enqueues the
-- worker's `copy_output` for it in the same transaction (a trigger, so that every path that
-- completes a job — webhook, poll, reaper — is covered and no crash can leave a result uncopied).
-- Until a copy lands, and forever when it cannot be made (refused as hostile, or retries spent),
-- job_json shows the provider's URL: the result is never lost to a failing copy.
-- Copies are files of the store like uploads (fila.uploads, `output_of` set), so the one sweeper
-- and the one retention policy delete them too; they do not count against the user's upload quota
-- (the user did not choose to store them, and a quota full of results would block new uploads).

alter table fila.uploads add column output_of uuid;
comment on column fila.uploads.output_of is 'Set for a copy of an output of this job (not an upload): kept and expired like uploads, not counted in the user''s quota.';

create table fila.output_copies (
  job_id uuid not null references fila.jobs (id),
  output_index integer not null constraint output_index_not_negative check (output_index >= 0),
  provider_url text not null,
  status text not null default 'pending'
    constraint output_copy_status_known check (status in ('pending', 'copied', 'refused', 'failed')),
  upload_name text references fila.uploads (name),
  url text,
  content_type text,
  attempts integer not null default 0,
  last_error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (job_id, output_index),
  constraint copied_iff_stored check ((status = 'copied') = (upload_name is not null and url is not null))
);
comment on table fila.output_copies is 'One row per output of a completed job: the provider''s URL and fila''s copy of it. pending: copy_output will try (again); copied: url is fila''s copy; refused: the download was hostile (private address, too large, type not allowed) and is never retried; failed: retries spent. Users see the copy when copied (and not yet expired), the provider''s URL otherwise.';

create function fila.tg__jobs_copy_outputs() returns trigger
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  insert into fila.output_copies (job_id, output_index, provider_url)
  select new.id, (o.i - 1)::integer, o.v->>'url'
  from jsonb_array_elements(case when jsonb_typeof(new.outputs) = 'array' then new.outputs else '[]'::jsonb end)
       with ordinality as o(v, i)
  where jsonb_typeof(o.v->'url') = 'string'
  on conflict do nothing;
  -- graphile-worker retries a failed copy with its exponential back-off (e^attempt seconds)
  perform graphile_worker.add_job('copy_output',
    json_build_object('job_id', c.job_id, 'output_index', c.output_index),
    max_attempts := 8, job_key := format('copy_output:%s:%s', c.job_id, c.output_index))
  from fila.output_copies c where c.job_id = new.id and c.status = 'pending';
  return null;
end;
$$;
comment on function fila.tg__jobs_copy_outputs() is 'A job just completed: one pending output_copies row per output URL and a copy_output task for each, in the completing transaction.';

create trigger jobs_copy_outputs after update of status on fila.jobs
  for each row when (new.status = 'completed' and old.status is distinct from 'completed')
  execute function fila.tg__jobs_copy_outputs();

create function fila.output_copy(job_id uuid, output_index integer) returns fila.output_copies
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  select c.* from fila.output_copies c
  where c.job_id = output_copy.job_id and c.output_index = output_copy.output_index;
$$;
comment on function fila.output_copy(uuid, integer) is 'One output''s copy record (all columns null when there is none): what copy_output reads before it downloads.';

create function fila.record_output_copy(job_id uuid, output_index integer, name text, size bigint, content_type text, url text)
returns fila.output_copies
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_copy fila.output_copies;
begin
  if coalesce(record_output_copy.name, '') = '' or coalesce(record_output_copy.url, '') = ''
     or coalesce(record_output_copy.size, -1) < 0 then
    raise exception 'record_output_copy needs the stored file''s name, url and size' using errcode = '22023';
  end if;
  select c.* into v_copy from fila.output_copies c
  where c.job_id = record_output_copy.job_id and c.output_index = record_output_copy.output_index
  for update;
  if not found then
    perform fila._raise('FL004', 'Resultado não encontrado.',
      format('no output %s of job %s', record_output_copy.output_index, record_output_copy.job_id));
  end if;
  -- a copy already landed (a retry of a task that had in fact succeeded): the first one stays;
  -- the caller deletes its own file when the returned name is not its own
  if v_copy.status = 'copied' then
    return v_copy;
  end if;
  insert into fila.uploads (name, user_id, size, output_of)
  select record_output_copy.name, j.user_id, record_output_copy.size, j.id
  from fila.jobs j where j.id = record_output_copy.job_id;
  update fila.output_copies c
     set status = 'copied', upload_name = record_output_copy.name, url = record_output_copy.url,
         content_type = record_output_copy.content_type, attempts = c.attempts + 1, last_error = null, updated_at = now()
   where c.job_id = record_output_copy.job_id and c.output_index = record_output_copy.output_index
  returning c.* into v_copy;
  return v_copy;
end;
$$;
comment on function fila.record_output_copy(uuid, integer, text, bigint, text, text) is
'The copy of one output is in the store: recorded as a file of the job''s owner (fila.uploads, output_of; not counted in the quota) and shown to users from now on. Idempotent: a second copy returns the first one''s row (the caller deletes its file). FL004 when there is no such output.';

create function fila.record_output_copy_failure(job_id uuid, output_index integer, reason text, status text)
returns fila.output_copies
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_copy fila.output_copies;
begin
  if record_output_copy_failure.status not in ('pending', 'refused', 'failed') or coalesce(record_output_copy_failure.reason, '') = '' then
    raise exception 'record_output_copy_failure needs a reason and a status of pending (will retry), refused or failed'
      using errcode = '22023';
  end if;
  update fila.output_copies c
     set status = record_output_copy_failure.status, attempts = c.attempts + 1,
         last_error = left(record_output_copy_failure.reason, 2000), updated_at = now()
   where c.job_id = record_output_copy_failure.job_id and c.output_index = record_output_copy_failure.output_index
     and c.status = 'pending' -- a copy that landed meanwhile stays
  returning c.* into v_copy;
  if not found then
    select c.* into v_copy from fila.output_copies c
    where c.job_id = record_output_copy_failure.job_id and c.output_index = record_output_copy_failure.output_index;
  end if;
  return v_copy;
end;
$$;
comment on function fila.record_output_copy_failure(uuid, integer, text, text) is
'A copy attempt failed: pending (copy_output will retry), refused (hostile: never retried) or failed (retries spent). The provider''s URL stays what users see.';

-- copies are not the user's uploads: only uploads count against the quota
create or replace function fila.check_upload_quota(user_id uuid, incoming_bytes bigint, max_count integer, max_bytes bigint)
returns void
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
declare
  v_count integer;
  v_bytes bigint;
begin
  if check_upload_quota.user_id is null or coalesce(check_upload_quota.incoming_bytes, -1) < 0
     or coalesce(check_upload_quota.max_count, 0) < 1 or coalesce(check_upload_quota.max_bytes, 0) < 1 then
    raise exception 'check_upload_quota needs a user, incoming_bytes >= 0 and positive limits' using errcode = '22023';
  end if;
  if fila.credit_balance(check_upload_quota.user_id) <= 0 then
    perform fila._raise('FL002', 'Créditos insuficientes: envios de arquivos exigem saldo.',
      format('user %s has no balance', check_upload_quota.user_id));
  end if;
  select count(*)::integer, coalesce(sum(u.size), 0)::bigint into v_count, v_bytes
  from fila.uploads u where u.user_id = check_upload_quota.user_id and u.deleted_at is null and u.output_of is null;
  if v_count + 1 > check_upload_quota.max_count
     or v_bytes + check_upload_quota.incoming_bytes > check_upload_quota.max_bytes then
    perform fila._raise('FL011',
      format('Limite de arquivos enviados atingido (%s arquivos, %s MB). Os antigos expiram sozinhos; tente mais tarde.',
             check_upload_quota.max_count, round(check_upload_quota.max_bytes / 1048576.0)),
      format('user %s keeps %s files, %s bytes; this one adds %s bytes', check_upload_quota.user_id, v_count, v_bytes,
             check_upload_quota.incoming_bytes));
  end if;
end;
$$;

-- the job as users see it: each output's url is fila's copy when it has landed (and has not
-- expired), the provider's otherwise; provider_url, copy_url and copy_status say which is which
create or replace function fila.job_json(j fila.jobs) returns jsonb
language sql stable security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
  with pos as (
    select case when j.status = 'queued' then fila.queue_position(j.id) end as position
  )
  select jsonb_build_object(
    'id', j.id, 'user_id', j.user_id, 'tool', j.tool, 'status', j.status, 'input', j.input,
    'credit_cost', j.credit_cost, 'provider_task_id', j.provider_task_id,
    'outputs', case when jsonb_typeof(j.outputs) = 'array' then (
      select coalesce(jsonb_agg(o.v || jsonb_build_object(
               'url', coalesce(s.copy_url, o.v->'url'),
               'provider_url', o.v->'url',
               'copy_url', s.copy_url,
               'copy_status', case when c.status = 'copied' and s.copy_url is null then 'expired' else c.status end)
             order by o.i), '[]'::jsonb)
      from jsonb_array_elements(j.outputs) with ordinality as o(v, i)
      left join fila.output_copies c on c.job_id = j.id and c.output_index = o.i - 1
      left join fila.uploads u on u.name = c.upload_name
      cross join lateral (select to_jsonb(case when c.status = 'copied' and u.deleted_at is null then c.url end) as copy_url) s
    ) else j.outputs end,
    'error', j.error, 'presence', j.presence, 'created_at', j.created_at, 'started_at', j.started_at,
    'running_at', j.running_at, 'finished_at', j.finished_at, 'deadline_at', j.deadline_at,
    'account', j.account,
    'position', pos.position,
    'eta', case when pos.position is not null then fila._eta(pos.position, fila._eta_basis()) end)
  from pos;
$$;
comment on function fila.job_json(fila.jobs) is 'A job as JSON for the HTTP API: its columns (with the provider account it started on; each output''s url is fila''s copy once it has landed, the provider''s until then, with provider_url, copy_url and copy_status beside it), plus position and eta while queued (seconds until it starts: the remaining time of the slot holders, per tool, and of the jobs ahead; fila._eta_basis).';

-- ---------------------------------------------------------------------------------------------
-- A second, small concern, here only because the next migration numbers are reserved for other
-- work (split it out if a number frees up): the poller's rate bound becomes per account.
-- Why: claim_overdue_polls bounds asks per call (max_jobs) and per job (poll_every), so the rate
-- to one account grows with the number of workers, and one account with many late webhooks takes
-- a whole pass's budget from the others. claim_overdue_polls_by_account gives each account its
-- own budget: at most max_per_account asks per poll_every window, counted over every worker (the
-- jobs of that account asked within the window spend it; one claimer at a time, so two workers
-- cannot spend the same budget).
create index jobs_polled_since on fila.jobs (last_polled_at) where last_polled_at is not null;

create function fila.claim_overdue_polls_by_account(max_per_account integer, poll_every interval default '3 seconds')
returns setof fila.jobs
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp set jit = off as $$
begin
  -- 'FILP': the poll claim lock, apart from dispatch's ('FILA') and the users' locks
  perform pg_catalog.pg_advisory_xact_lock(1179208784, 0);
  return query
  with spent as (
    -- asks already made in the window, per account, by any worker (a job asked and finished since counts too)
    select r.account, count(*)::integer as n
    from fila.jobs r
    where r.last_polled_at >= now() - claim_overdue_polls_by_account.poll_every
    group by r.account
  ), due as (
    select c.id, c.account,
           row_number() over (partition by c.account order by c.last_polled_at nulls first, c.running_at) as k
    from (
      select r.id, r.account, r.last_polled_at, r.running_at
      from fila.jobs r join fila.tools t on t.tool = r.tool
      where r.status = 'running' and r.running_at + t.typical_duration < now()
        and (r.last_polled_at is null or r.last_polled_at < now() - claim_overdue_polls_by_account.poll_every)
      for update of r skip locked
    ) c
  )
  update fila.jobs j set last_polled_at = now()
  from due left join spent on spent.account is not distinct from due.account
  where j.id = due.id and due.k <= greatest(claim_overdue_polls_by_account.max_per_account, 0) - coalesce(spent.n, 0)
  returning j.*;
end;
$$;
comment on function fila.claim_overdue_polls_by_account(integer, interval) is 'Running jobs whose webhook is late (running longer than their tool''s typical_duration) and that nobody asked about within poll_every, marked as asked now, for the worker to ask the provider (/outputs): per provider account at most max_per_account asks within any poll_every window, whatever the number of workers. The poller''s claim; claim_overdue_polls (one budget for all accounts, per call) stays for callers of it.';

revoke all on function fila.tg__jobs_copy_outputs() from public, fila_app, fila_worker;
grant execute on function
  fila.claim_overdue_polls_by_account(integer, interval),
  fila.output_copy(uuid, integer),
  fila.record_output_copy(uuid, integer, text, bigint, text, text),
  fila.record_output_copy_failure(uuid, integer, text, text)
to fila_worker;
revoke all on function
  fila.claim_overdue_polls_by_account(integer, interval),
  fila.output_copy(uuid, integer),
  fila.record_output_copy(uuid, integer, text, bigint, text, text),
  fila.record_output_copy_failure(uuid, integer, text, text)
from public, fila_app;
