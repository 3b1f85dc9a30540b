// "Try a tool" (development only): the operator's page asks the server for a throw-away user and
// submits as that user through JobManager — the same client, the same path as a tool page.
import { JobManager, FilaApiError, type Job } from '../../client/index.ts';
import { idText, jobLink } from './job-page.ts';

const userKey = 'fila.dashboard.tryUser';
interface TryUser { user_id: string; token: string }

let wired = false;
let stop: (() => void) | null = null;

export function setUpTryForm(operatorToken: string): void {
  const form = document.getElementById('try-form') as HTMLFormElement | null;
  const status = document.getElementById('try-status');
  if (!form || !status || wired) return;
  wired = true;

  const show = (html: string) => { status.innerHTML = html; };
  const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

  async function tryUser(fresh = false): Promise<TryUser> {
    const saved = sessionStorage.getItem(userKey);
    if (saved && !fresh) return JSON.parse(saved) as TryUser;
    const res = await fetch('/dashboard/try-user', { method: 'POST', headers: { authorization: `Bearer ${operatorToken}` } });
    if (!res.ok) throw await FilaApiError.fromResponse(res);
    const user = (await res.json()) as TryUser;
    sessionStorage.setItem(userKey, JSON.stringify(user));
    return user;
  }

  let manager: { user: TryUser; jm: JobManager } | null = null;
  async function jobManager(fresh = false): Promise<{ user: TryUser; jm: JobManager }> {
    if (manager && !fresh) return manager;
    const user = await tryUser(fresh);
    manager = { user, jm: new JobManager({ baseUrl: location.origin, getToken: () => user.token }) };
    return manager;
  }

  function follow(jm: JobManager, user: TryUser, job: Job): void {
    stop?.();
    const render = (j: Job) => {
      const where = j.status === 'queued' && j.position ? ` · position ${j.position}${j.eta ? ` (about ${j.eta} s)` : ''}` : '';
      const result = j.error ? ` · <span class="err">${esc(j.error)}</span>`
        : j.outputs ? ` · ${j.outputs.map((o, i) => `<a href="${esc(o.url)}" target="_blank" rel="noopener noreferrer">output ${i + 1}</a>`).join(' ')}` : '';
      show(`user ${idText(user.user_id)} · job ${jobLink(j.id)} ` +
        `<span class="badge ${esc(j.status)}">${esc(j.status)}</span>${where}${result}` +
        (j.status === 'queued' ? ' <button type="button" class="link" id="try-cancel">cancel</button>' : ''));
      document.getElementById('try-cancel')?.addEventListener('click', () => {
        jm.cancel(j.id).then(render, (err: unknown) => show(`<span class="err">${esc((err as Error).message)}</span>`));
      });
    };
    render(job);
    stop = jm.subscribe(job.id, render, { onError: (err) => show(`<span class="err">${esc(err.code)}: ${esc(err.message)}</span>`) });
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const tool = String(data.get('tool'));
    const outcome = String(data.get('outcome'));
    const base = String(data.get('url') || 'https://example.com/input.png').split('#')[0]!;
    const url = `${tool === 'video_upscaler' ? base.replace(/\.\w+$/, '.mp4') : base}#fake=${outcome}`;
    const input: Record<string, unknown> =
      tool === 'upscaler' ? { image_url: url, category: 'pessoas' }
      : tool === 'pose_changer' ? { person_image_url: url, pose_image_url: base }
      : tool === 'veste_ai' ? { person_image_url: url, garment_image_url: base }
      : { video_url: url };
    show('submitting…');
    jobManager().then(async ({ jm, user }) => follow(jm, user, await jm.createJob(tool, input)))
      .catch((err: unknown) => {
        const msg = err instanceof FilaApiError ? `${err.code}: ${err.message}` : (err as Error).message;
        show(`<span class="err">${esc(msg)}</span>`);
      });
  });

  document.getElementById('try-new-user')?.addEventListener('click', () => {
    stop?.();
    jobManager(true).then(({ user }) => show(`new user ${idText(user.user_id)} with fresh credits`),
      (err: unknown) => show(`<span class="err">${esc((err as Error).message)}</span>`));
  });

  // a reload resumes the try-user's active job, as a tool page would
  if (sessionStorage.getItem(userKey)) jobManager().then(async ({ jm, user }) => {
    const active = await jm.getActiveJob();
    if (active) follow(jm, user, active);
  }).catch((err: unknown) => show(`<span class="err">${esc((err as Error).message)}</span>`));
}
