// Small builders for SQL tests.
import { randomUUID } from 'node:crypto';
import type { FilaDb } from '../../db/fila.ts';

export const upscaleInput = (n = 0) => ({ image_url: `https://files.test/in-${n}.png`, category: 'pessoas' });

/** A new user with credits. */
export async function fundedUser(fila: FilaDb, credits = 100): Promise<string> {
  const user = randomUUID();
  await fila.grantCredits(user, credits, 'test funds');
  return user;
}
