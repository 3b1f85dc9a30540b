// Real concurrency: n separate connections, all connected first, released at once.
import type pg from 'pg';

export async function onConnections<T>(
  pool: pg.Pool,
  n: number,
  fn: (client: pg.PoolClient, i: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  // all n must be open at once: a pool smaller than n would wait forever for the n-th
  const max = pool.options.max ?? 10;
  if (n > max) throw new Error(`onConnections needs ${n} connections at once but the pool holds ${max}: size both from t.connectionBudget`);
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  try {
    // every connection is open before the first call goes out
    return await Promise.allSettled(clients.map((c, i) => fn(c, i)));
  } finally {
    for (const c of clients) c.release();
  }
}

/** `tasks` calls spread over as many connections at once as the budget allows (all of them when
 *  it allows that many): task i runs on connection i mod n, in order. */
export async function spreadOverConnections<T>(
  pool: pg.Pool,
  budget: number,
  tasks: number,
  fn: (client: pg.PoolClient, i: number) => Promise<T>,
): Promise<PromiseSettledResult<T>[]> {
  const n = Math.min(tasks, budget);
  const perConnection = await onConnections(pool, n, async (client, c) => {
    const mine: Array<PromiseSettledResult<T>> = [];
    for (let i = c; i < tasks; i += n) {
      mine.push(await fn(client, i).then((value) => ({ status: 'fulfilled' as const, value }), (reason: unknown) => ({ status: 'rejected' as const, reason })));
    }
    return mine;
  });
  const out: PromiseSettledResult<T>[] = new Array<PromiseSettledResult<T>>(tasks);
  perConnection.forEach((r, c) => {
    if (r.status === 'rejected') throw r.reason;
    r.value.forEach((v, k) => { out[c + k * n] = v; });
  });
  return out;
}

export function fulfilled<T>(results: PromiseSettledResult<T>[]): T[] {
  return results.filter((r): r is PromiseFulfilledResult<T> => r.status === 'fulfilled').map((r) => r.value);
}

export function rejected<T>(results: PromiseSettledResult<T>[]): unknown[] {
  return results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
}
