-- 00005 — uploads are counted per user, refused past a quota or without a balance, and expire.
-- Why: /v1/uploads stored whatever any signed-in caller sent, forever: one account could fill the
-- disk. The quota is checked and the upload recorded under the user's lock (two uploads at once
-- cannot both squeeze under it); the limits themselves are configuration (the API passes them).

create table fila.uploads (
  name text primary key,
  user_id uuid not null,
  size bigint not null constraint upload_size_not_negative check (size >= 0),
  created_at timestamptz not null default now(),
  deleted_at timestamptz
);
create index uploads_kept_by_user on fila.uploads (user_id) where deleted_at is null;
create index uploads_kept_by_age on fila.uploads (created_at) where deleted_at is null;
comment on table fila.uploads is 'Input files stored through /v1/uploads: who sent them, how big, when; deleted_at once the file is gone (expired). Kept files count against the user''s quota.';

create function fila.check_upload_quota(user_id uuid, incoming_bytes bigint, max_count integer, max_bytes bigint)
returns void
language plpgsql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
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
  from fila.uploads u where u.user_id = check_upload_quota.user_id and u.deleted_at is null;
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
comment on function fila.check_upload_quota(uuid, bigint, integer, bigint) is
'Refuses an upload: FL002 when the user has no balance, FL011 when one more file of incoming_bytes would pass max_count files or max_bytes kept. Read-only: the API asks before it reads a body.';

create function fila.record_upload(user_id uuid, name text, size bigint, max_count integer, max_bytes bigint)
returns void
language plpgsql security definer set search_path = pg_catalog, fila, pg_temp as $$
begin
  if coalesce(record_upload.name, '') = '' then
    raise exception 'record_upload needs the stored file''s name' using errcode = '22023';
  end if;
  -- the user's lock: two uploads of one user cannot both pass the same remaining quota
  perform fila._lock_user(record_upload.user_id);
  perform fila.check_upload_quota(record_upload.user_id, record_upload.size, record_upload.max_count, record_upload.max_bytes);
  insert into fila.uploads (name, user_id, size) values (record_upload.name, record_upload.user_id, record_upload.size);
end;
$$;
comment on function fila.record_upload(uuid, text, bigint, integer, bigint) is
'Counts a stored file against its user''s quota, checked again under the user''s lock (FL002, FL011 as check_upload_quota). On a refusal the API deletes the file it stored.';

create function fila.expired_uploads(retention interval, grace interval, as_of timestamptz default now())
returns setof text
language sql stable security definer set search_path = pg_catalog, fila, pg_temp as $$
  -- older than the retention, or used by a job of its owner that finished more than grace ago;
  -- never while a job of its owner that names it still waits or runs
  select u.name
  from fila.uploads u
  where u.deleted_at is null
    and (u.created_at < expired_uploads.as_of - expired_uploads.retention
         or exists (select 1 from fila.jobs j
                    where j.user_id = u.user_id and j.finished_at < expired_uploads.as_of - expired_uploads.grace
                      and strpos(j.input::text, u.name) > 0))
    and not exists (select 1 from fila.jobs j
                    where j.user_id = u.user_id and j.status in ('queued', 'starting', 'running')
                      and strpos(j.input::text, u.name) > 0)
  order by u.created_at;
$$;
comment on function fila.expired_uploads(interval, interval, timestamptz) is
'Stored files to delete as of as_of: older than retention, or named by a finished job of their owner past grace — but never one an active job still needs. The API deletes them, then calls uploads_deleted.';

create function fila.uploads_deleted(names text[]) returns integer
language sql security definer set search_path = pg_catalog, fila, pg_temp as $$
  with gone as (
    update fila.uploads u set deleted_at = now()
    where u.name = any(uploads_deleted.names) and u.deleted_at is null
    returning 1
  )
  select count(*)::integer from gone;
$$;
comment on function fila.uploads_deleted(text[]) is 'The files are gone from the store: they no longer count against their owners'' quotas. Returns how many were marked.';
