// Every row of every fila table, and of graphile-worker's job queue (the outbox), as a row count
// and a checksum per table: equal snapshots mean nothing was written. The table list is read
// from the catalog, so a table added by a later migration is covered without touching this file.
// One table is left out: fila.presence_services, where each running API process beats every few
// seconds whatever the requests do (a liveness clock, not a write of any request's).
import type { Queryable } from '../../db/fila.ts';

export type TableChecksums = Record<string, { rows: number; md5: string }>;

/** A function that takes the snapshot (the table list is read once, when it is made). */
export async function tableChecksummer(db: Queryable): Promise<() => Promise<TableChecksums>> {
  const { rows: tables } = await db.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and (n.nspname = 'fila' or (n.nspname = 'graphile_worker' and c.relname = '_private_jobs'))
        and format('%I.%I', n.nspname, c.relname) <> 'fila.presence_services'
      order by 1`);
  const sql = tables.map(({ name }) =>
    `select '${name}' as name, count(*)::int as rows, md5(coalesce(string_agg(t::text, e'\\n' order by t::text), '')) as md5 from ${name} t`)
    .join(' union all ');
  return async () => {
    const { rows } = await db.query<{ name: string; rows: number; md5: string }>(sql);
    return Object.fromEntries(rows.map((r) => [r.name, { rows: r.rows, md5: r.md5 }]));
  };
}
