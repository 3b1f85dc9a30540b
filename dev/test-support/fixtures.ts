// Small builders for SQL tests.
import { randomUUID } from 'node:crypto';
import type { FilaDb, Queryable } from '../../db/fila.ts';

export const upscaleInput = (n = 0) => ({ image_url: `https://files.test/in-${n}.png`, category: 'pessoas' });

/** A new user with credits. */
export async function fundedUser(fila: FilaDb, credits = 100): Promise<string> {
  const user = randomUUID();
  await fila.grantCredits(user, credits, 'test funds');
  return user;
}

/** What the worker's cancel_provider_task does once the provider answers: for every ended job whose
 *  provider task's cancel is pending, provider_task_ended (its held slot is free; dispatch runs).
 *  For SQL tests that run no worker. Needs a connection allowed to call it (the owner or fila_worker). */
export async function answerProviderCancels(fila: FilaDb, db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `select id from fila.jobs where provider_cancel_requested_at is not null
       and (provider_task_ended_at is null or provider_task_ended_at < provider_cancel_requested_at) order by id`);
  for (const r of rows) await fila.providerTaskEnded(r.id);
  return rows.length;
}
