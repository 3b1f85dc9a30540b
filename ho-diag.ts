import { createBenchDatabase, fundBenchUsers, benchUserIds } from './dev/bench-support.ts';
import { FilaDb } from './db/fila.ts';
import { createPool } from './db/pool.ts';
import { startWorker } from './worker/runner.ts';
import { startFakeRunningHub } from './dev/fake-runninghub/server.ts';
const url = await createBenchDatabase(process.env.DATABASE_URL!, 'fila_hodiag');
await fundBenchUsers(url, 'f', 300);
const ids = await benchUserIds(url, 'f', 1, 300);
const marks: Record<string, number[]> = {};
let committed = 0;
const mark = (k: string) => { (marks[k] ??= []).push(Date.now() - committed); };
for (const m of ['job', 'noteCreateSent', 'markRunning'] as const) {
  const orig = (FilaDb.prototype as any)[m];
  (FilaDb.prototype as any)[m] = async function (...a: unknown[]) { mark(m + ':call'); const r = await orig.apply(this, a); mark(m + ':done'); return r; };
}
const fake = await startFakeRunningHub({ defaultMs: 0, maxConcurrentPerKey: 1_000_000 });
const pool = createPool(url, null, 4);
const fila = new FilaDb(pool);
const worker = await startWorker({ databaseUrl: url, runninghub: { baseUrl: fake.url, accounts: { default: 'k' } }, publicUrl: 'http://127.0.0.1:9', webhookSecret: 'x', crontab: false, logger: (await import('pino')).default({ level: 'silent' }) });
const input = { image_url: 'https://files.example/bench.png#fake=hang', category: 'pessoas' };
for (const id of ids) await fila.submitJob({ userId: id, tool: 'upscaler', input });
const running = async () => (await pool.query<{ id: string }>(`select job_id::text as id from fila.active_jobs where status = 'running' order by started_at`)).rows.map((r) => r.id);
while ((await running()).length < 3) await new Promise((r) => setTimeout(r, 10));
const lat: number[] = [];
for (let i = 0; i < 200; i++) {
  const holder = (await running())[0]!;
  const creates = fake.requestsTo('create').length;
  for (const k of Object.keys(marks)) marks[k] = marks[k]!.slice(0, i);
  committed = Infinity;
  await fila.finishJob(holder, 'completed', [], null);
  committed = Date.now();
  while (fake.requestsTo('create').length <= creates) await new Promise((r) => setImmediate(r));
  lat.push(fake.requestsTo('create').at(-1)!.at - committed);
  while ((await running()).length < 3) await new Promise((r) => setImmediate(r));
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log('handoff p50', med(lat));
for (const [k, v] of Object.entries(marks)) console.log(k, 'p50', med(v.filter((x) => x > -1e9 && x < 1e6)));
await worker.stop(); await fake.stop(); await pool.end();
