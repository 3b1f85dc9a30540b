// The job page (`#job=<id>`): everything fila knows about one job, from GET /dashboard/jobs/:id
// (fila.job_detail): the job with its input, outputs and real error, its timeline (job_events, as
// job_timeline shows them), its ledger lines and the webhooks received for it. Ids are shown whole
// and copyable, as everywhere on the dashboard.
import type { JobDetail } from '../../../db/fila.ts';

const $ = <E extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as E;
export const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** A whole id and a button that copies it. */
export function idText(id: string | null | undefined): string {
  if (!id) return '<span class="muted">–</span>';
  return `<span class="id mono" data-testid="id">${esc(id)}</span><button type="button" class="copy" data-copy="${esc(id)}" title="copy ${esc(id)}" aria-label="copy id">copy</button>`;
}

/** A whole job id that opens its page, and its copy button. */
export function jobLink(id: string | null | undefined): string {
  if (!id) return '<span class="muted">–</span>';
  return `<a class="id mono" href="#job=${esc(id)}" data-testid="job-link" data-job-link="${esc(id)}">${esc(id)}</a><button type="button" class="copy" data-copy="${esc(id)}" title="copy ${esc(id)}" aria-label="copy id">copy</button>`;
}

/** The job id the address asks for, or null (the board). */
export function jobInHash(): string | null {
  const m = /^#job=([0-9a-fA-F-]{36})$/.exec(location.hash);
  return m ? m[1]!.toLowerCase() : null;
}

const stamp = (iso: string | null | undefined) => (iso ? `<time datetime="${esc(iso)}">${esc(new Date(iso).toLocaleString([], { hour12: false }))}.${esc(String(new Date(iso).getMilliseconds()).padStart(3, '0'))}</time>` : '<span class="muted">–</span>');
const badge = (status: string) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;
const json = (v: unknown) => `<pre class="json">${esc(JSON.stringify(v, null, 2))}</pre>`;

export function renderJobPage(d: JobDetail): string {
  const j = d.job;
  const row = (label: string, value: string) => `<tr><th>${esc(label)}</th><td>${value}</td></tr>`;
  return `
  <div class="row between"><h2>${esc(j.tool)} ${badge(j.status)}</h2><a href="#" data-testid="job-back">← back to the board</a></div>
  <table class="facts" data-testid="job-facts" data-job="${esc(j.id)}" data-status="${esc(j.status)}">
    ${row('job', idText(j.id))}
    ${row('user', idText(j.user_id))}
    ${row('credits', `${j.credit_cost}`)}
    ${row('provider task', idText(j.provider_task_id))}
    ${row('submitted', stamp(j.created_at))}
    ${row('started', stamp(j.started_at))}
    ${row('finished', stamp(j.finished_at))}
  </table>
  ${j.error ? `<h3>Error</h3><pre class="err" data-testid="job-error">${esc(j.error)}</pre>` : ''}
  <h3>Input</h3><div data-testid="job-input">${json(j.input)}</div>
  <h3>Outputs</h3>${j.outputs?.length ? `<ul data-testid="job-outputs">${j.outputs.map((o) => `<li><a href="${esc(o.url)}" target="_blank" rel="noopener noreferrer" data-testid="job-output">${esc(o.url)}</a> <span class="muted">${esc(o.type)}</span></li>`).join('')}</ul>` : '<div class="empty">None.</div>'}
  <h3>Timeline</h3>
  <table data-testid="job-timeline"><tr><th>at</th><th>from</th><th>to</th><th>reason</th></tr>
    ${d.timeline.map((e) => `<tr data-testid="timeline-row" data-from="${esc(e.from_status ?? '')}" data-to="${esc(e.to_status)}"><td>${stamp(e.at)}</td><td>${e.from_status ? badge(e.from_status) : '<span class="muted">–</span>'}</td><td>${badge(e.to_status)}</td><td>${esc(e.reason)}</td></tr>`).join('')}
  </table>
  <h3>Ledger</h3>
  ${d.ledger.length === 0 ? '<div class="empty">No lines.</div>' : `<table data-testid="job-ledger"><tr><th>at</th><th>kind</th><th class="num">credits</th><th>reason</th></tr>
    ${d.ledger.map((l) => `<tr data-testid="ledger-row" data-kind="${esc(l.kind)}" data-amount="${l.amount}"><td>${stamp(l.created_at)}</td><td>${esc(l.kind)}</td><td class="num">${l.amount > 0 ? '+' : ''}${l.amount}</td><td class="muted">${esc(l.reason ?? '')}</td></tr>`).join('')}</table>`}
  <h3>Webhooks received</h3>
  ${d.webhooks.length === 0 ? '<div class="empty">None.</div>' : `<table data-testid="job-webhooks"><tr><th>received</th><th>processed</th><th>outcome</th><th>payload</th></tr>
    ${d.webhooks.map((w) => `<tr data-testid="webhook-row" data-outcome="${esc(w.outcome ?? '')}"><td>${stamp(w.received_at)}</td><td>${stamp(w.processed_at)}</td><td>${esc(w.outcome ?? '')}</td><td><details><summary>${esc(w.provider)} #${w.id}</summary>${json(w.payload)}</details></td></tr>`).join('')}</table>`}`;
}

/** Shows the job page for `id`, or the board when `id` is null. Returns what it fetched. */
export async function showJobPage(token: string, id: string | null): Promise<JobDetail | null> {
  $('job-page').hidden = id === null;
  $('board').hidden = id !== null;
  if (id === null) return null;
  const res = await fetch(`/dashboard/jobs/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as JobDetail | { error: { code: string; message: string } };
  if ('error' in body) {
    $('job-page').innerHTML = `<div class="row between"><h2>Job</h2><a href="#">← back to the board</a></div><p class="error" data-testid="job-page-error">${esc(body.error.message)} (${esc(body.error.code)})</p>`;
    return null;
  }
  // the same job still asked for (the operator may have gone back meanwhile)
  if (jobInHash() === id) $('job-page').innerHTML = renderJobPage(body);
  return body;
}

/** Copy buttons anywhere on the page (the tables are redrawn, so one listener on the document). */
export function setUpCopyButtons(): void {
  document.addEventListener('click', (e) => {
    const button = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-copy]');
    if (!button) return;
    const text = button.dataset.copy!;
    navigator.clipboard.writeText(text).then(() => {
      button.textContent = 'copied';
      button.dataset.copied = 'true';
      setTimeout(() => { button.textContent = 'copy'; }, 1200);
    }, (err: unknown) => {
      // no clipboard (an insecure origin): select the id so Ctrl-C copies it
      console.warn('dashboard: clipboard refused', err);
      const id = button.previousElementSibling;
      if (id) window.getSelection()?.selectAllChildren(id);
    });
  });
}
