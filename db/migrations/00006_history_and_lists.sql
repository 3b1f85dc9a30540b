-- 00005 — what people read about the past: a user's own jobs, an operator's history charts, one
-- job in full, and a job found by the first characters of its id.
-- Why: tool pages list the user's recent jobs (GET /v1/me/jobs), the operator dashboard draws the
-- last hours from the event log instead of only the present moment, and an operator pastes the
-- 8 characters a screen showed. Each is one read-only function, so the API and the CLI call it
-- without table privileges and the rule for "whose jobs" lives here, not in TypeScript.

-- The history charts read the window's transitions by time (the per-user list walks
-- jobs_user_recent, the jobs by prefix the primary key).
create index job_events_by_time on fila.job_events (at);

create function fila.user_jobs(
  user_id uuid,
  tool text default null,
  status fila.job_status default null,
  before_job uuid default null,
  max_rows integer default 20
) returns jsonb
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  -- Keyset pagination on (created_at, id): the cursor is the last job of the previous page, and it
  -- only counts when it is the caller's own (someone else's id gives an empty page, not a leak).
  with cursor_job as (
    select c.created_at, c.id from fila.jobs c
    where c.id = user_jobs.before_job and c.user_id = user_jobs.user_id
  ), page as (
    select j as job, j.created_at, j.id,
           row_number() over (order by j.created_at desc, j.id desc) as n
    from fila.jobs j
    where j.user_id = user_jobs.user_id
      and (user_jobs.tool is null or j.tool = user_jobs.tool)
      and (user_jobs.status is null or j.status = user_jobs.status)
      and (user_jobs.before_job is null
           or (j.created_at, j.id) < (select c.created_at, c.id from cursor_job c))
    order by j.created_at desc, j.id desc
    -- one more than a page tells whether there is a next one
    limit least(greatest(user_jobs.max_rows, 1), 100) + 1
  ), shown as (
    select p.* from page p where p.n <= least(greatest(user_jobs.max_rows, 1), 100)
  )
  select jsonb_build_object(
    'jobs', coalesce((
      select jsonb_agg(fila.job_json(s.job) || jsonb_build_object('refunded_credits', r.amount) order by s.n)
      from shown s
      left join fila.credit_entries r on r.job_id = s.id and r.kind = 'refund'), '[]'::jsonb),
    'next_cursor', case when (select count(*) from page) > (select count(*) from shown)
                        then (select s.id from shown s order by s.n desc limit 1) end);
$$;
comment on function fila.user_jobs(uuid, text, fila.job_status, uuid, integer) is
  'One user''s jobs, newest first, as {jobs: [job_json + refunded_credits], next_cursor}: optionally one tool and one status; before_job = the previous page''s next_cursor. At most 100 per page. Only that user''s jobs, ever.';

create function fila.activity_history(
  hours integer default 3,
  bucket_seconds integer default 60,
  as_of timestamptz default now()
) returns table (
  bucket_start timestamptz,
  queue_depth integer,
  slots_used integer,
  starts integer,
  wait_p50_seconds float8,
  wait_p95_seconds float8,
  completed integer,
  failed integer,
  canceled integer,
  refunds integer,
  refunded_credits integer
)
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  -- From the event log. Queue depth and slots in use are levels: today's level (the jobs table, in
  -- the same snapshot as the events) minus what the events after each bucket's end changed, so only
  -- the window's events are read however long the log is. The rest are counts per bucket. Each
  -- source is grouped by bucket once (no per-bucket scans), so a 3-hour view is one pass.
  with params as (
    select make_interval(secs => greatest(activity_history.bucket_seconds, 10)) as width,
           activity_history.as_of as upto,
           activity_history.as_of - make_interval(hours => least(greatest(activity_history.hours, 1), 48)) as since
  ), bounds as (
    select p.width, date_bin(p.width, p.since, timestamptz 'epoch') as first_bucket,
           date_bin(p.width, p.upto, timestamptz 'epoch') as last_bucket
    from params p
  ), buckets as (
    select b as bucket_start from bounds x, generate_series(x.first_bucket, x.last_bucket, x.width) as b
  ), per_bucket as (
    -- events after the last bucket (as_of in the past) land in a later bucket: they still count
    -- when the levels are walked back from today's
    select date_bin(x.width, e.at, timestamptz 'epoch') as bucket_start,
           sum(case when e.to_status = 'queued' then 1 else 0 end
               - case when e.from_status = 'queued' then 1 else 0 end) as queue_delta,
           sum(case when e.to_status in ('starting', 'running') then 1 else 0 end
               - case when e.from_status in ('starting', 'running') then 1 else 0 end) as slot_delta,
           count(*) filter (where e.to_status = 'completed') as completed,
           count(*) filter (where e.to_status = 'failed') as failed,
           count(*) filter (where e.to_status = 'canceled') as canceled
    from fila.job_events e, bounds x
    where e.at >= x.first_bucket
    group by 1
  ), waits as (
    select date_bin(x.width, e.at, timestamptz 'epoch') as bucket_start,
           count(*) as starts,
           percentile_cont(0.5) within group (order by extract(epoch from (e.at - j.created_at))) as p50,
           percentile_cont(0.95) within group (order by extract(epoch from (e.at - j.created_at))) as p95
    from fila.job_events e join fila.jobs j on j.id = e.job_id, bounds x
    where e.at >= x.first_bucket and e.from_status = 'queued' and e.to_status = 'starting'
    group by 1
  ), refund_buckets as (
    select date_bin(x.width, r.created_at, timestamptz 'epoch') as bucket_start,
           count(*) as refunds, sum(r.amount) as credits
    from fila.credit_entries r, bounds x
    where r.kind = 'refund' and r.created_at >= x.first_bucket
    group by 1
  ), now_level as (
    select (count(*) filter (where j.status = 'queued')) as queued,
           (count(*) filter (where j.status in ('starting', 'running'))) as holding
    from fila.jobs j where j.status in ('queued', 'starting', 'running')
  ), walked as (
    -- every bucket that has events, in time order, with what changed after its end
    select pb.*,
           coalesce(sum(pb.queue_delta) over later, 0) as queue_after,
           coalesce(sum(pb.slot_delta) over later, 0) as slots_after
    from per_bucket pb
    window later as (order by pb.bucket_start rows between 1 following and unbounded following)
  )
  select b.bucket_start,
         (l.queued - coalesce(w.queue_after,
            (select coalesce(sum(pb.queue_delta), 0) from per_bucket pb where pb.bucket_start > b.bucket_start)))::integer,
         (l.holding - coalesce(w.slots_after,
            (select coalesce(sum(pb.slot_delta), 0) from per_bucket pb where pb.bucket_start > b.bucket_start)))::integer,
         coalesce(ws.starts, 0)::integer, ws.p50::float8, ws.p95::float8,
         coalesce(w.completed, 0)::integer, coalesce(w.failed, 0)::integer, coalesce(w.canceled, 0)::integer,
         coalesce(rb.refunds, 0)::integer, coalesce(rb.credits, 0)::integer
  from buckets b
  cross join now_level l
  left join walked w on w.bucket_start = b.bucket_start
  left join waits ws on ws.bucket_start = b.bucket_start
  left join refund_buckets rb on rb.bucket_start = b.bucket_start
  order by b.bucket_start;
$$;
comment on function fila.activity_history(integer, integer, timestamptz) is
  'The last hours (1–48) in buckets (≥ 10 s), oldest first, from job_events and the credit ledger: queue depth and slots in use at each bucket''s end, starts and the wait before them (p50/p95 seconds from submit), jobs finished by outcome, refunds (count, credits). The bucket holding as_of is partial.';

create function fila.job_detail(job_id uuid) returns jsonb
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  select jsonb_build_object(
    'job', fila.job_json(j),
    'timeline', coalesce((select jsonb_agg(jsonb_build_object(
        'event_id', e.id, 'at', e.at, 'from_status', e.from_status, 'to_status', e.to_status, 'reason', e.reason)
        order by e.id) from fila.job_events e where e.job_id = j.id), '[]'::jsonb),
    'ledger', coalesce((select jsonb_agg(jsonb_build_object(
        'id', c.id, 'kind', c.kind, 'amount', c.amount, 'reason', c.reason, 'created_at', c.created_at)
        order by c.id) from fila.credit_entries c where c.job_id = j.id), '[]'::jsonb),
    'webhooks', coalesce((select jsonb_agg(jsonb_build_object(
        'id', w.id, 'provider', w.provider, 'payload', w.payload, 'received_at', w.received_at,
        'processed_at', w.processed_at, 'outcome', w.outcome)
        order by w.id) from fila.webhook_inbox w where w.job_id = j.id), '[]'::jsonb))
  from fila.job(job_detail.job_id) j;
$$;
comment on function fila.job_detail(uuid) is
  'Everything about one job for an operator: its JSON, its timeline (job_events), its ledger lines and the webhooks received for it (raw payloads). FL004 when it does not exist.';

create function fila.jobs_by_prefix(id_prefix text, max_rows integer default 10) returns setof fila.jobs
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
declare
  v_hex text := lower(replace(coalesce(jobs_by_prefix.id_prefix, ''), '-', ''));
  v_low uuid;
  v_high uuid;
begin
  if v_hex !~ '^[0-9a-f]{1,32}$' then
    raise exception 'a job id prefix is 1 to 32 hexadecimal digits (dashes allowed), not "%"', jobs_by_prefix.id_prefix
      using errcode = '22023';
  end if;
  -- the prefix as a range of the primary key: an index probe, whatever the table's size
  v_low := rpad(v_hex, 32, '0')::uuid;
  v_high := rpad(v_hex, 32, 'f')::uuid;
  return query select * from fila.jobs j where j.id between v_low and v_high
    order by j.id limit greatest(jobs_by_prefix.max_rows, 1);
end;
$$;
comment on function fila.jobs_by_prefix(text, integer) is
  'Jobs whose id starts with these hex digits (dashes ignored), by id, at most max_rows: one row = the prefix is unique.';

grant execute on function
  fila.user_jobs(uuid, text, fila.job_status, uuid, integer),
  fila.activity_history(integer, integer, timestamptz),
  fila.job_detail(uuid),
  fila.jobs_by_prefix(text, integer)
to fila_app;
