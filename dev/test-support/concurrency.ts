// Real concurrency: n separate connections, all connected first, released at once.
import type pg from 'pg';

export async function onConnections<T>(
  pool: pg.Pool,
  n: number,
  fn: (client: pg.PoolClient, i: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  try {
    // every connection is open before the first call goes out
    return await Promise.allSettled(clients.map((c, i) => fn(c, i)));
  } finally {
    for (const c of clients) c.release();
  }
}

export function fulfilled<T>(results: PromiseSettledResult<T>[]): T[] {
  return results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled').map((r) => r.value);
}

export function rejected<T>(results: PromiseSettledResult<T>[]): unknown[] {
  return results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
}
