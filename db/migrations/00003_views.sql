-- 00003 — views for DBAs and operators (and the API's read paths).
-- Why: tables are private; these are what people read. They run with their owner's rights, so the
-- application role may read them without any table privilege.

create view fila.queue_overview as
select
  s.max_slots as slots_total,
  (select count(*) from fila.jobs j where j.status in ('starting', 'running'))::integer as slots_used,
  -- the tail's place is the queue's length, and the head waited longest: both index probes at any depth
  coalesce((select fila.queue_position(j.id) from fila.jobs j where j.status = 'queued'
            order by j.queue_seq desc limit 1), 0) as queued,
  (select j.created_at from fila.jobs j where j.status = 'queued' order by j.queue_seq limit 1) as oldest_queued_at,
  case when d.paused_until > clock_timestamp() then d.paused_until end as dispatch_paused_until,
  d.pause_reason,
  d.backoff_step
from fila.settings s, fila.dispatch_state d;
comment on view fila.queue_overview is 'One row: provider slots total and used, queue depth, the oldest waiting job, and whether dispatch is paused after provider-wide trouble (and why).';

create view fila.queue as
select j.id as job_id, j.user_id, j.tool,
       (row_number() over (order by j.queue_seq))::integer as position,
       j.created_at as queued_at, j.presence, j.last_seen_at
from fila.jobs j
where j.status = 'queued';
comment on view fila.queue is 'The global FIFO, head first (position 1). For one job''s place at any depth use fila.queue_position(job_id).';

create view fila.active_jobs as
select j.id as job_id, j.user_id, j.tool, j.status, j.created_at, j.started_at, j.running_at,
       j.soft_deadline_at, j.deadline_at, j.provider_task_id
from fila.jobs j
where j.status in ('queued', 'starting', 'running');
comment on view fila.active_jobs is 'Jobs in queued, starting or running: at most one per user. deadline_at is the hard deadline of a slot holder.';

create view fila.stale_jobs as
select j.id as job_id, j.user_id, j.tool, j.status, j.provider_task_id, j.started_at, j.running_at,
       j.soft_deadline_at, j.deadline_at, j.last_seen_at,
       case
         when j.status = 'queued' then 'abandoned'
         when j.deadline_at < now() then 'hard'
         else 'soft'
       end as past
from fila.jobs j
where (j.status in ('starting', 'running') and (j.deadline_at < now() or j.soft_deadline_at < now()))
   or (j.status = 'queued' and j.presence
       and j.last_seen_at < now() - (select s.presence_timeout from fila.settings s));
comment on view fila.stale_jobs is 'Jobs the reaper is about to look at: slot holders past their soft deadline (checked with the provider) or hard deadline (failed), and queued jobs whose page is gone (abandoned).';

create view fila.credit_ledger as
select e.id, e.user_id, e.job_id, e.kind, e.amount, e.reason, e.created_at
from fila.credit_entries e;
comment on view fila.credit_ledger is 'Every credit movement: debits negative, grants and refunds positive. A balance is the sum of its user''s rows.';

create view fila.credit_audit as
select coalesce(b.user_id, l.user_id) as user_id,
       coalesce(b.balance, 0) as balance,
       coalesce(l.total, 0)::integer as ledger_total,
       coalesce(b.balance, 0) - coalesce(l.total, 0)::integer as difference
from fila.balances b
full join (select e.user_id, sum(e.amount) as total from fila.credit_entries e group by e.user_id) l
  on l.user_id = b.user_id
where coalesce(b.balance, 0) <> coalesce(l.total, 0);
comment on view fila.credit_audit is 'Users whose balance differs from the sum of their ledger. Must be empty.';

create view fila.job_timeline as
select e.job_id, e.at, e.from_status, e.to_status, e.reason, e.id as event_id, j.user_id, j.tool
from fila.job_events e
join fila.jobs j on j.id = e.job_id;
comment on view fila.job_timeline is 'Every transition of every job, in order of event_id: from_status null is the submit.';

-- For the operator dashboard and the demo's closing report (issue 5).
create view fila.recent_jobs as
select j.id as job_id, j.user_id, j.tool, j.status, j.credit_cost, j.input, j.outputs, j.error,
       j.attempts, j.provider_task_id, j.queue_seq, j.created_at, j.started_at, j.running_at,
       j.finished_at,
       extract(epoch from (j.finished_at - j.started_at))::float8 as slot_seconds
from fila.jobs j;
comment on view fila.recent_jobs is 'Every job with its outcome (status, real error, outputs) and the seconds it held a slot; read it ordered by queue_seq desc (indexed) with a limit.';

create view fila.tool_stats as
select t.tool, t.enabled, t.soft_deadline, t.hard_deadline,
       (count(j.id) filter (where j.status = 'completed'))::integer as completed,
       (count(j.id) filter (where j.status = 'failed'))::integer as failed,
       (count(j.id) filter (where j.status = 'canceled'))::integer as canceled,
       (avg(extract(epoch from (j.finished_at - j.started_at))) filter (where j.status = 'completed'))::float8 as avg_seconds,
       (percentile_cont(0.5) within group (order by extract(epoch from (j.finished_at - j.started_at)))
          filter (where j.status = 'completed'))::float8 as p50_seconds,
       (percentile_cont(0.95) within group (order by extract(epoch from (j.finished_at - j.started_at)))
          filter (where j.status = 'completed'))::float8 as p95_seconds,
       (avg(extract(epoch from (j.started_at - j.created_at))) filter (where j.started_at is not null))::float8 as avg_wait_seconds
from fila.tools t
left join fila.jobs j on j.tool = t.tool and j.finished_at > now() - interval '24 hours'
group by t.tool, t.enabled, t.soft_deadline, t.hard_deadline;
comment on view fila.tool_stats is 'Per tool over the last 24 hours: outcomes, slot time of completed jobs (avg, p50, p95) and the average wait before a slot.';
