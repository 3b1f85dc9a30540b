// The dashboard page: asks for an operator token, then renders the live snapshot the server streams
// (GET /dashboard/events, read with fetch so the bearer header is sent; polling while it is down).
import type { DashboardSnapshot } from '../snapshot.ts';
import { setUpTryForm } from './try-tool.ts';
import { chartSvg, type ChartSpec } from './charts.ts';
import { idText, jobInHash, jobLink, setUpCopyButtons, showJobPage } from './job-page.ts';

/** JSON turns Dates into strings. */
type Wire<T> = T extends Date ? string : T extends (infer U)[] ? Wire<U>[] : T extends object ? { [K in keyof T]: Wire<T[K]> } : T;
type Snapshot = Wire<DashboardSnapshot>;

const tokenKey = 'fila.dashboard.operatorToken';
const $ = <E extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as E;

let snapshot: Snapshot | null = null;
let clockSkew = 0; // server time - browser time, ms
let session = 0; // bumps on sign-out / new token, so old loops stop

function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
const now = () => Date.now() + clockSkew;
function age(iso: string | null): number | null {
  return iso ? Math.max(0, (now() - Date.parse(iso)) / 1000) : null;
}
function dur(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
const toolName: Record<string, string> = { upscaler: 'Upscaler', pose_changer: 'Pose Changer', veste_ai: 'Veste AI', video_upscaler: 'Video Upscaler' };
const tool = (t: string) => esc(toolName[t] ?? t);
const badge = (status: string) => `<span class="badge ${esc(status)}">${esc(status)}</span>`;
const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function tile(label: string, value: string, note = '', cls = ''): string {
  return `<div class="tile ${cls}"><div class="label">${esc(label)}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
}

function render(): void {
  const s = snapshot;
  if (!s) return;
  const o = s.overview;
  const paused = o.dispatch_paused_until !== null;
  $('tiles').innerHTML = [
    tile('Slots busy', `${o.slots_used}<span class="muted"> / ${o.slots_total}</span>`, o.slots_used >= o.slots_total ? 'all busy' : `${o.slots_total - o.slots_used} free`, o.slots_used > o.slots_total ? 'bad' : ''),
    tile('Queued', String(o.queued), o.oldest_queued_at ? `oldest waits ${dur(age(o.oldest_queued_at))}` : 'nobody waiting'),
    tile('Dispatch', paused ? 'paused' : 'flowing', paused ? `${esc(o.pause_reason ?? '')} · until ${time(o.dispatch_paused_until!)}` : `back-off step ${o.backoff_step}`, paused ? 'warn' : 'good'),
    tile('Refunds today', String(s.refunds.count), `${s.refunds.credits} credits returned`),
    tile('Credit audit', s.audit.ok ? 'OK' : `${s.audit.rows.length} off`, s.audit.ok ? 'every balance = its ledger' : 'balances differ from the ledger!', s.audit.ok ? 'good' : 'bad'),
    tile('Completed 24 h', String(s.tools.reduce((n, t) => n + t.completed, 0)), `${s.tools.reduce((n, t) => n + t.failed, 0)} failed · ${s.tools.reduce((n, t) => n + t.canceled, 0)} canceled`),
  ].join('');

  const slots: string[] = [];
  for (let i = 0; i < Math.max(o.slots_total, s.slots.length); i++) {
    const j = s.slots[i];
    if (!j) {
      slots.push(`<div class="slot" data-testid="slot" data-state="free"><div class="head"><span class="muted">slot ${i + 1}</span></div><div class="free">free</div></div>`);
      continue;
    }
    const held = age(j.started_at) ?? 0;
    const total = j.deadline_at && j.started_at ? (Date.parse(j.deadline_at) - Date.parse(j.started_at)) / 1000 : null;
    const soft = j.soft_deadline_at && j.started_at ? (Date.parse(j.soft_deadline_at) - Date.parse(j.started_at)) / 1000 : null;
    const pct = total ? Math.min(100, (held / total) * 100) : 0;
    slots.push(`<div class="slot busy" data-testid="slot" data-state="busy" data-job="${esc(j.job_id)}">
      <div class="head"><span class="tool">${tool(j.tool)}</span>${badge(j.status)}</div>
      <div class="ids"><span class="muted">job</span> ${jobLink(j.job_id)}</div>
      <div class="ids"><span class="muted">user</span> ${idText(j.user_id)}${j.account ? ` <span class="muted">· ${esc(j.account)}</span>` : ''}</div>
      <div>held ${dur(held)}${total ? ` <span class="muted">of ${dur(total)} max</span>` : ''}</div>
      <div class="bar ${soft !== null && held > soft ? 'late' : ''}"><span style="width:${pct.toFixed(1)}%"></span></div></div>`);
  }
  $('slots').innerHTML = slots.join('');

  // one row per account: where the slots are, which account is paused and why
  $('accounts').innerHTML = `<table>
    <tr><th>account</th><th class="num">slots</th><th>state</th><th class="num">pauses</th><th class="num">refusals</th></tr>
    ${s.accounts.map((a) => {
      const state = !a.enabled ? '<span class="badge">disabled</span>'
        : a.paused_until ? `<span class="badge failed" title="${esc(a.pause_reason ?? '')}">paused</span> <span class="muted small">${esc(a.pause_reason ?? '')} · until ${time(a.paused_until)}</span>`
        : '<span class="badge completed">ok</span>';
      return `<tr data-testid="account-row" data-account="${esc(a.account)}" data-state="${!a.enabled ? 'disabled' : a.paused_until ? 'paused' : 'ok'}">
        <td class="mono">${esc(a.account)}</td><td class="num">${a.slots_used} / ${a.slots_total}</td><td>${state}</td>
        <td class="num">${a.pauses}</td><td class="num">${a.refusals}</td></tr>`;
    }).join('')}
    </table>`;

  $('queue-count').textContent = o.queued ? `· ${o.queued}` : '';
  $('queue').innerHTML = s.queue.length === 0 ? '<div class="empty">The queue is empty.</div>' : `<table>
    <tr><th class="num">#</th><th>tool</th><th>job</th><th>user</th><th class="num">waiting</th></tr>
    ${s.queue.map((q) => `<tr data-testid="queue-row" data-position="${q.position}" data-job="${esc(q.job_id)}">
      <td class="num">${q.position}</td><td>${tool(q.tool)}</td><td>${jobLink(q.job_id)}</td>
      <td>${idText(q.user_id)}${q.presence ? ' <span class="muted" title="a page is watching">●</span>' : ''}</td>
      <td class="num">${dur(age(q.queued_at))}</td></tr>`).join('')}
    </table>${o.queued > s.queue.length ? `<div class="muted small">… and ${o.queued - s.queue.length} more</div>` : ''}`;

  $('recent').innerHTML = s.recent.length === 0 ? '<div class="empty">No jobs yet.</div>' : `<table>
    <tr><th>submitted</th><th>tool</th><th>status</th><th>job</th><th>user</th><th class="num">credits</th><th class="num">slot time</th><th>result</th></tr>
    ${s.recent.map((j) => `<tr data-testid="recent-row" data-status="${esc(j.status)}" data-job="${esc(j.job_id)}">
      <td>${time(j.created_at)}</td><td>${tool(j.tool)}</td><td>${badge(j.status)}</td>
      <td>${jobLink(j.job_id)}</td><td>${idText(j.user_id)}</td>
      <td class="num">${j.credit_cost}</td><td class="num">${dur(j.slot_seconds ?? (j.started_at && !j.finished_at ? age(j.started_at) : null))}</td>
      <td>${j.error ? `<span class="err">${esc(j.error)}</span>` : j.outputs ? `<span class="outputs">${j.outputs.map((out, k) => `<a href="${esc(out.url)}" target="_blank" rel="noopener noreferrer">${esc(out.type || 'output')} ${k + 1}</a>`).join('')}</span>` : '<span class="muted">–</span>'}</td></tr>`).join('')}
    </table>`;

  $('tools').innerHTML = `<table>
    <tr><th>tool</th><th class="num">completed</th><th class="num">failed</th><th class="num">canceled</th><th class="num">avg</th><th class="num">p50</th><th class="num">p95</th><th class="num">avg wait</th></tr>
    ${s.tools.map((t) => `<tr><td>${tool(t.tool)}${t.enabled ? '' : ' <span class="badge">disabled</span>'}</td>
      <td class="num">${t.completed}</td><td class="num">${t.failed}</td><td class="num">${t.canceled}</td>
      <td class="num">${dur(t.avg_seconds)}</td><td class="num">${dur(t.p50_seconds)}</td><td class="num">${dur(t.p95_seconds)}</td><td class="num">${dur(t.avg_wait_seconds)}</td></tr>`).join('')}
    </table>`;

  $('credits').innerHTML = `
    <p>${s.audit.ok ? '<span class="badge completed">audit OK</span> every balance equals the sum of its ledger.' : `<span class="badge failed">audit FAILED</span> ${s.audit.rows.length} user(s) differ:`}</p>
    ${s.audit.ok ? '' : `<table><tr><th>user</th><th class="num">balance</th><th class="num">ledger</th></tr>${s.audit.rows.map((r) => `<tr><td>${idText(r.user_id)}</td><td class="num">${r.balance}</td><td class="num">${r.ledger_total}</td></tr>`).join('')}</table>`}
    <h2 style="margin-top:14px">Refunds today <span class="count">· ${s.refunds.count} · ${s.refunds.credits} credits</span></h2>
    ${s.refunds.latest.length === 0 ? '<div class="empty">None today.</div>' : `<table><tr><th>at</th><th>job</th><th class="num">credits</th><th>why</th></tr>
      ${s.refunds.latest.map((r) => `<tr><td>${time(r.created_at)}</td><td>${jobLink(r.job_id)}</td><td class="num">${r.amount}</td><td class="muted">${esc(r.reason ?? '')}</td></tr>`).join('')}</table>`}`;
}

// --- history charts (fila.activity_history, redrawn only when the history changed) ------------

let chartsKey = '';
function renderCharts(s: Snapshot): void {
  const h = s.history;
  const key = JSON.stringify([h, s.overview.slots_total]);
  if (key === chartsKey) return;
  chartsKey = key;
  const b = h.buckets;
  const last = b.at(-1);
  const base = { starts: b.map((x) => x.bucket_start), bucketSeconds: h.bucket_seconds };
  const per = h.bucket_seconds === 60 ? 'per minute' : `per ${h.bucket_seconds} s`;
  const sum = (f: (x: (typeof b)[number]) => number) => b.reduce((n, x) => n + f(x), 0);
  const charts: { title: string; note: string; spec: ChartSpec }[] = [
    { title: 'Queue depth', note: `now ${last?.queue_depth ?? 0}`, spec: { ...base, id: 'queue_depth', kind: 'line',
      series: [{ key: 'queue_depth', label: 'queued', cls: 's-queue', values: b.map((x) => x.queue_depth) }] } },
    { title: 'Slots in use', note: `now ${last?.slots_used ?? 0} of ${s.overview.slots_total}`, spec: { ...base, id: 'slots_used', kind: 'line',
      reference: { value: s.overview.slots_total, label: `${s.overview.slots_total} slots` },
      series: [{ key: 'slots_used', label: 'starting or running', cls: 's-slots', values: b.map((x) => x.slots_used) }] } },
    { title: 'Wait before start', note: `seconds from submit, ${sum((x) => x.starts)} starts`, spec: { ...base, id: 'wait', kind: 'line', unit: 's',
      series: [
        { key: 'wait_p50_seconds', label: 'p50', cls: 's-p50', values: b.map((x) => x.wait_p50_seconds) },
        { key: 'wait_p95_seconds', label: 'p95', cls: 's-p95', values: b.map((x) => x.wait_p95_seconds) },
      ] } },
    { title: `Jobs finished ${per}`, note: `${sum((x) => x.completed)} completed · ${sum((x) => x.failed)} failed · ${sum((x) => x.canceled)} canceled`,
      spec: { ...base, id: 'finished', kind: 'bars', series: [
        { key: 'completed', label: 'completed', cls: 's-completed', values: b.map((x) => x.completed) },
        { key: 'failed', label: 'failed', cls: 's-failed', values: b.map((x) => x.failed) },
        { key: 'canceled', label: 'canceled', cls: 's-canceled', values: b.map((x) => x.canceled) },
      ] } },
    { title: `Refunds ${per}`, note: `${sum((x) => x.refunds)} refunds · ${sum((x) => x.refunded_credits)} credits`,
      spec: { ...base, id: 'refunds', kind: 'bars', series: [
        { key: 'refunds', label: 'refunds', cls: 's-refunds', values: b.map((x) => x.refunds) },
      ] } },
  ];
  $('charts').innerHTML = charts.map((c) => `<figure class="chart-card" data-chart="${esc(c.spec.id)}">
    <figcaption><b>${esc(c.title)}</b> <span class="muted" data-testid="chart-note-${esc(c.spec.id)}">${esc(c.note)}</span></figcaption>
    ${chartSvg(c.spec)}</figure>`).join('');
  $('charts-window').textContent = `last ${h.hours} h, from the event log`;
}

// --- the job page ------------------------------------------------------------------------------

let jobPageToken: string | null = null;
let jobLoading: Promise<unknown> | null = null;
let jobFinished = false;

/** Opens the page the address names (a job, or the board); again on each snapshot while the job moves. */
function route(fresh: boolean): void {
  const id = jobInHash();
  if (!jobPageToken) return;
  if (fresh) jobFinished = false;
  if (id === null) { void showJobPage(jobPageToken, null); return; }
  if (jobLoading || (!fresh && jobFinished)) return;
  jobLoading = showJobPage(jobPageToken, id)
    .then((d) => { jobFinished = d !== null && ['completed', 'failed', 'canceled'].includes(d.job.status) && d.webhooks.every((w) => w.processed_at !== null); },
      (err: unknown) => { $('job-page').innerHTML = `<p class="error" data-testid="job-page-error">${esc((err as Error).message)}</p>`; })
    .finally(() => { jobLoading = null; });
}
window.addEventListener('hashchange', () => route(true));
setUpCopyButtons();

function setLive(mode: 'live' | 'poll' | 'off'): void {
  const el = $('live');
  el.className = `pill ${mode}`;
  el.textContent = mode === 'live' ? 'live' : mode === 'poll' ? 'polling' : 'offline';
}

let updatedAt = 0;
function accept(s: Snapshot): void {
  clockSkew = Date.parse(s.now) - Date.now();
  snapshot = s;
  updatedAt = Date.now();
  render();
  renderCharts(s);
  route(false);
}

class AuthError extends Error {}

async function fetchState(token: string): Promise<Snapshot> {
  const res = await fetch('/dashboard/state', { headers: { authorization: `Bearer ${token}` } });
  if (res.status === 401 || res.status === 403) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new AuthError(body?.error?.message ?? `refused (${res.status})`);
  }
  if (!res.ok) throw new Error(`GET /dashboard/state: ${res.status}`);
  return (await res.json()) as Snapshot;
}

/** Read the SSE stream until it ends or fails. */
async function stream(token: string, mine: number): Promise<void> {
  const ctrl = new AbortController();
  const res = await fetch('/dashboard/events', { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: ctrl.signal });
  if (!res.ok || !res.body) throw new Error(`event stream: ${res.status}`);
  setLive('live');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    if (mine !== session) { ctrl.abort(); return; }
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      if (data) accept(JSON.parse(data) as Snapshot);
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function follow(token: string, mine: number): Promise<void> {
  while (mine === session) {
    try {
      await stream(token, mine);
    } catch (err) {
      console.warn('dashboard: event stream failed; polling for a while', err);
    }
    if (mine !== session) return;
    // the stream is down: poll for ~10 s, then try the stream again
    setLive('poll');
    for (let i = 0; i < 5 && mine === session; i++) {
      try {
        accept(await fetchState(token));
      } catch (err) {
        if (err instanceof AuthError) { signOut(err.message); return; }
        setLive('off');
        console.warn('dashboard: polling failed', err);
      }
      await sleep(2000);
    }
  }
}

async function connect(token: string): Promise<void> {
  const mine = ++session;
  $('login-error').textContent = '';
  try {
    accept(await fetchState(token));
  } catch (err) {
    if (err instanceof AuthError) { signOut(err.message); return; }
    throw err;
  }
  sessionStorage.setItem(tokenKey, token);
  $('login').hidden = true;
  $('signout').hidden = false;
  jobPageToken = token;
  route(true); // the board, or the job the address names
  if (document.body.dataset.development === 'true') setUpTryForm(token);
  void follow(token, mine);
}

function signOut(message = ''): void {
  session++;
  sessionStorage.removeItem(tokenKey);
  snapshot = null;
  setLive('off');
  $('updated').textContent = '';
  $('board').hidden = true;
  $('job-page').hidden = true;
  jobPageToken = null;
  chartsKey = '';
  $('signout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $<HTMLTextAreaElement>('token').value.trim();
  if (!token) { $('login-error').textContent = 'Paste a token first.'; return; }
  connect(token).catch((err: unknown) => { $('login-error').textContent = `Could not connect: ${(err as Error).message}`; });
});
$('signout').addEventListener('click', () => signOut());

// ages and "updated" tick every second without waiting for the server
setInterval(() => {
  if (!snapshot) return;
  render();
  const ago = Math.round((Date.now() - updatedAt) / 1000);
  $('updated').textContent = ago < 2 ? 'changed just now' : `last change ${ago} s ago`;
}, 1000);

const saved = sessionStorage.getItem(tokenKey);
if (saved) connect(saved).catch((err: unknown) => { signOut(`Could not connect: ${(err as Error).message}`); });
else signOut();
