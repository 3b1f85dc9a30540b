// A DBA's edits of fila's settings tables, for the demo and the chaos run on their own systems
// (short deadlines, a short back-off). Production code never writes fila's tables: FilaDb calls
// functions and reads views only. Needs a connection that owns the tables (a superuser).
import type pg from 'pg';

/** Change a tool's soft and hard deadlines (fila.tools). */
export async function setToolDeadlines(dba: pg.Pool, tool: string, softSeconds: number, hardSeconds: number): Promise<void> {
  await dba.query(
    `update fila.tools set soft_deadline = make_interval(secs => $2), hard_deadline = make_interval(secs => $3)
      where tool = $1`, [tool, softSeconds, hardSeconds]);
}

/** Provider slots, the starting deadline and presence_timeout (fila.settings). */
export async function setSlotsAndTimeouts(dba: pg.Pool, maxSlots: number, startingSeconds: number, presenceSeconds: number): Promise<void> {
  await dba.query(
    `update fila.settings set max_slots = $1, starting_timeout = make_interval(secs => $2),
            presence_timeout = make_interval(secs => $3)`,
    [maxSlots, startingSeconds, presenceSeconds]);
  // the global cap and the one account's own slots, so that `default` alone can use them all
  await dba.query(`select fila.set_provider_account('default', $1)`, [maxSlots]);
}

/** The dispatch back-off after provider-wide trouble (fila.settings). */
export async function setBackoff(dba: pg.Pool, baseSeconds: number, maxSeconds: number): Promise<void> {
  await dba.query(
    `update fila.settings set backoff_base = make_interval(secs => $1), backoff_max = make_interval(secs => $2)`,
    [baseSeconds, maxSeconds]);
}
