// The browser side of the closed-tab test: a tool page reduced to what matters here. It runs the
// real JobManager (bundled by esbuild): on its first load it submits with presence, on a reload it
// resumes the active job; every update lands in <body data-*> for the test to read.
import { JobManager, type Job } from '../../../api/client/index.ts';

interface PageConfig { token: string; tool: string; input: Record<string, unknown> }

const config = (window as unknown as { FILA_TEST: PageConfig }).FILA_TEST;
const manager = new JobManager({ baseUrl: location.origin, getToken: () => config.token, presence: true });

function show(job: Job): void {
  const d = document.body.dataset;
  d.job = job.id;
  d.status = job.status;
  d.position = job.position === null ? '' : String(job.position);
  d.updates = String(Number(d.updates ?? '0') + 1);
}

async function main(): Promise<void> {
  const resumed = await manager.resume(show);
  if (resumed) {
    show(resumed.job);
    document.body.dataset.loaded = 'resumed';
    return;
  }
  const job = await manager.createJob(config.tool, config.input);
  show(job);
  manager.subscribe(job.id, show);
  document.body.dataset.loaded = 'submitted';
}

main().catch((err: unknown) => {
  document.body.dataset.error = err instanceof Error ? err.message : String(err);
});
