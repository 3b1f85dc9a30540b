// A reference tool page, built only on JobManager — what the app's own pages do:
//   createJob (uploads first, with progress), subscribe (live status, place in line, ETA),
//   cancel, getActiveJob (a reload follows the same job; another tool's job is linked),
//   listJobs (the user's recent jobs of this tool), getCredits.
// The form comes from the tool's input schema (the server embeds it as JSON), so a new tool needs
// no code here.
import { FilaApiError, JobManager, isTerminalStatus, type HistoryJob, type Job, type Uploader, type UploadProgress } from '../../client/index.ts';
import type { FormField, ToolForm } from '../forms.ts';

const spec = JSON.parse(document.getElementById('tool-spec')!.textContent!) as ToolForm;
const development = document.body.dataset.development === 'true';
const tokenKey = 'fila.tools.token';
const $ = <E extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as E;
const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

const statusText: Record<string, string> = {
  queued: 'Na fila', starting: 'Iniciando', running: 'Processando', completed: 'Concluído', failed: 'Falhou', canceled: 'Cancelado',
};

// The token: in development `npm start` prints a link with it in the fragment (never sent to the
// server); it is kept for this tab only and the fragment is removed from the address bar.
function takeToken(): string | null {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(tokenKey, fromHash);
    window.history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(tokenKey);
}

let token = takeToken();

// Development only: the fake provider's `#fake=` directive rides on the first file's URL of a
// submit. An app's page passes its own storage here instead, or nothing (then /v1/uploads).
let directive = '';
const devUploader: Uploader = async (file, ctx) => {
  const { url } = await jm.upload(file, ctx.onProgress ? { onProgress: ctx.onProgress } : {});
  const tag = directive;
  directive = '';
  return tag ? `${url}#fake=${tag.startsWith('fail:') ? `fail:${encodeURIComponent(tag.slice(5))}` : tag}` : url;
};
const jm: JobManager = new JobManager({
  baseUrl: location.origin, getToken: () => token ?? '', ...(development ? { uploader: devUploader } : {}),
});

// --- the current job ---------------------------------------------------------------------------

let stop: (() => void) | null = null;
let current: Job | null = null;
let etaDeadline: number | null = null; // ms (browser clock) when the ETA says it starts

function renderCurrent(): void {
  const j = current;
  $('current').hidden = !j;
  if (!j) return;
  const status = $('status');
  status.className = `badge ${j.status}`;
  status.textContent = statusText[j.status] ?? j.status;
  status.dataset.status = j.status;
  $('job-id').textContent = j.id;
  let where = '';
  if (j.status === 'queued') {
    const left = etaDeadline === null ? null : Math.max(0, Math.ceil((etaDeadline - Date.now()) / 1000));
    where = `${j.position ?? '?'}º na fila` + (left === null ? '' : left > 0 ? ` · começa em cerca de ${fmt(left)}` : ' · começa a qualquer momento');
  } else if (j.status === 'starting') where = 'Enviando ao provedor…';
  else if (j.status === 'running') where = 'Processando no provedor…';
  $('where').textContent = where;
  $('where').dataset.position = j.position === null ? '' : String(j.position);
  $('job-error').textContent = j.status === 'failed' ? (j.error ?? '') : '';
  $('outputs').innerHTML = (j.outputs ?? []).map((o, i) => output(o.url, o.type, i)).join('');
  $('cancel').hidden = isTerminalStatus(j.status);
  $('again').hidden = !isTerminalStatus(j.status);
  setFormEnabled(isTerminalStatus(j.status));
}

function fmt(s: number): string {
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

function isVideo(url: string, type: string): boolean {
  return /^(mp4|mov|webm|video)/i.test(type) || /\.(mp4|mov|webm)(\?|#|$)/i.test(url);
}

function output(url: string, type: string, i: number): string {
  const media = isVideo(url, type)
    ? `<video src="${esc(url)}" controls playsinline preload="metadata"></video>`
    : `<img src="${esc(url)}" alt="resultado ${i + 1}" loading="lazy">`;
  return `<figure data-testid="output">${media}<figcaption><a href="${esc(url)}" download target="_blank" rel="noopener">Baixar resultado ${i + 1}</a> <span class="muted">${esc(type)}</span></figcaption></figure>`;
}

function follow(job: Job): void {
  stop?.();
  $('active-elsewhere').hidden = true;
  let ended = false;
  // after the job ends the subscription goes on until its outputs' copies have landed (their URLs
  // replace the provider's): `stop` stays, so following another job stops this one
  const onUpdate = (j: Job) => {
    current = j;
    etaDeadline = j.status === 'queued' && j.eta !== null ? Date.now() + j.eta * 1000 : null;
    renderCurrent();
    if (isTerminalStatus(j.status) && !ended) {
      ended = true;
      void refreshSide(j);
    }
  };
  onUpdate(job);
  stop = jm.subscribe(job.id, onUpdate, {
    onError: (err) => { $('job-error').textContent = `${err.message} (${err.code})`; },
  });
}

/** After a job ends: the balance, the refund, the history. */
async function refreshSide(finished?: Job): Promise<void> {
  await Promise.all([refreshCredits(), loadHistory(true)]);
  if (finished && (finished.status === 'failed' || finished.status === 'canceled')) {
    const mine = recent.find((h) => h.id === finished.id);
    $('refund').textContent = mine?.refunded_credits ? `${mine.refunded_credits} créditos devolvidos.` : '';
  } else {
    $('refund').textContent = '';
  }
}

async function refreshCredits(): Promise<void> {
  const c = await jm.getCredits();
  const el = $('credits');
  el.textContent = `${c.balance} créditos`;
  el.dataset.balance = String(c.balance);
}

// --- the form ----------------------------------------------------------------------------------

const form = $<HTMLFormElement>('job-form');
const files = new Map<string, File>();

function setFormEnabled(on: boolean): void {
  for (const el of Array.from(form.elements) as HTMLInputElement[]) el.disabled = !on;
}

function showPreview(box: HTMLElement, file: File): void {
  const preview = box.querySelector('.preview')!;
  const url = URL.createObjectURL(file);
  preview.innerHTML = file.type.startsWith('video/')
    ? `<video src="${url}" muted playsinline></video><br>${esc(file.name)}`
    : `<img src="${url}" alt=""><br>${esc(file.name)}`;
}

for (const box of Array.from(form.querySelectorAll<HTMLElement>('.field.file'))) {
  const name = box.dataset.field!;
  const input = box.querySelector<HTMLInputElement>('input[type=file]')!;
  const drop = box.querySelector<HTMLElement>('.drop')!;
  input.addEventListener('change', () => {
    const f = input.files?.[0];
    if (f) { files.set(name, f); showPreview(box, f); } else files.delete(name);
  });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) { files.set(name, f); showPreview(box, f); }
  });
}

function readInput(): Record<string, unknown> {
  const data = new FormData(form);
  const input: Record<string, unknown> = {};
  for (const f of spec.fields as FormField[]) {
    if (f.kind === 'file') {
      const file = files.get(f.name);
      if (file) input[f.name] = file;
      else if (f.required) throw new Error(`Escolha um arquivo para "${f.label}".`);
    } else {
      const raw = String(data.get(f.name) ?? '');
      if (raw === '') {
        if (f.required) throw new Error(`Preencha "${f.label}".`);
        continue;
      }
      input[f.name] = f.kind === 'number' ? Number(raw) : raw;
    }
  }
  return input;
}

function progress(p: UploadProgress): void {
  const bar = form.querySelector<HTMLProgressElement>(`[data-field="${CSS.escape(p.field)}"] progress`);
  if (!bar) return;
  bar.hidden = false;
  bar.value = p.total ? Math.round((p.loaded / p.total) * 100) : 0;
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  $('form-error').textContent = '';
  let input: Record<string, unknown>;
  try {
    input = readInput();
  } catch (err) {
    $('form-error').textContent = (err as Error).message;
    return;
  }
  $<HTMLButtonElement>('submit').disabled = true;
  directive = development ? String(new FormData(form).get('__outcome') ?? '').trim() : '';
  jm.createJob(spec.tool, input, { onUploadProgress: progress })
    .then((job) => { $('refund').textContent = ''; follow(job); void refreshCredits(); void loadHistory(true); })
    .catch((err: unknown) => void showSubmitError(err))
    .finally(() => { if (!current || isTerminalStatus(current.status)) $<HTMLButtonElement>('submit').disabled = false; });
});

async function showSubmitError(err: unknown): Promise<void> {
  const msg = err instanceof FilaApiError ? err.message : (err as Error).message;
  $('form-error').textContent = msg;
  $('form-error').dataset.code = err instanceof FilaApiError ? err.code : '';
  if (err instanceof FilaApiError && err.code === 'user_has_active_job') {
    const active = await jm.getActiveJob();
    if (active) showActiveElsewhere(active, msg);
  }
}

function showActiveElsewhere(active: Job, message: string): void {
  if (active.tool === spec.tool) { follow(active); return; }
  const box = $('active-elsewhere');
  box.hidden = false;
  box.innerHTML = `${esc(message)} <a href="/tools/${esc(active.tool)}" data-testid="active-link">Ver o processamento em andamento</a>`;
}

$('cancel').addEventListener('click', () => {
  if (!current) return;
  $<HTMLButtonElement>('cancel').disabled = true;
  jm.cancel(current.id).then((j) => { current = j; renderCurrent(); void refreshSide(j); },
    (err: unknown) => { $('job-error').textContent = err instanceof FilaApiError ? err.message : String(err); })
    .finally(() => { $<HTMLButtonElement>('cancel').disabled = false; });
});

$('again').addEventListener('click', () => {
  current = null;
  renderCurrent();
  setFormEnabled(true);
  form.reset();
  files.clear();
  for (const p of Array.from(form.querySelectorAll('.preview'))) p.innerHTML = '';
  for (const b of Array.from(form.querySelectorAll<HTMLProgressElement>('progress'))) { b.hidden = true; b.value = 0; }
});

// --- the user's recent jobs of this tool -------------------------------------------------------

let recent: HistoryJob[] = [];
let cursor: string | null = null;

async function loadHistory(fresh: boolean): Promise<void> {
  const page = await jm.listJobs({ tool: spec.tool, limit: 10, ...(fresh || !cursor ? {} : { cursor }) });
  recent = fresh ? page.jobs : [...recent, ...page.jobs];
  cursor = page.next_cursor;
  $('more').hidden = !cursor;
  $('history').innerHTML = recent.length === 0 ? '<li class="muted">Nenhum ainda.</li>' : recent.map((h) => `
    <li data-testid="history-item" data-job="${esc(h.id)}" data-status="${esc(h.status)}">
      <div><span class="badge ${esc(h.status)}">${esc(statusText[h.status] ?? h.status)}</span>
        <span class="muted small">${new Date(h.created_at).toLocaleString()} · ${h.credit_cost} créditos</span></div>
      ${h.error ? `<div class="error">${esc(h.error)}</div>` : ''}
      ${h.refunded_credits ? `<div class="muted small" data-testid="history-refund">${h.refunded_credits} créditos devolvidos</div>` : ''}
      ${h.outputs?.length ? `<div class="thumbs">${h.outputs.map((o, i) => `<a href="${esc(o.url)}" target="_blank" rel="noopener" download>${isVideo(o.url, o.type) ? `vídeo ${i + 1}` : `<img src="${esc(o.url)}" alt="resultado ${i + 1}" loading="lazy">`}</a>`).join('')}</div>` : ''}
      <span class="mono muted small">${esc(h.id)}</span>
    </li>`).join('');
}
$('more').addEventListener('click', () => { void loadHistory(false); });

// --- start -------------------------------------------------------------------------------------

// the ETA counts down between updates
setInterval(() => { if (current?.status === 'queued') renderCurrent(); }, 1000);

async function start(): Promise<void> {
  if (!token) {
    $('signin').hidden = false;
    return;
  }
  $('signin').hidden = true;
  $('app').hidden = false;
  try {
    await Promise.all([refreshCredits(), loadHistory(true)]);
  } catch (err) {
    if (err instanceof FilaApiError && err.status === 401) {
      sessionStorage.removeItem(tokenKey);
      token = null;
      $('app').hidden = true;
      $('signin').hidden = false;
      $('token').focus();
      return;
    }
    throw err;
  }
  // a reload (or another tab) follows the job already running
  const active = await jm.getActiveJob();
  if (active) {
    if (active.tool === spec.tool) follow(active);
    else showActiveElsewhere(active, 'Você já tem um processamento em andamento.');
  }
  document.body.dataset.ready = 'true';
}

$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const t = $<HTMLTextAreaElement>('token').value.trim();
  if (!t) return;
  token = t;
  sessionStorage.setItem(tokenKey, t);
  void start();
});

start().catch((err: unknown) => { $('form-error').textContent = err instanceof Error ? err.message : String(err); });
