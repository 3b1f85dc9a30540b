// The tool pages' HTML: static markup from the tool's form (forms.ts); client/app.ts does the rest
// through JobManager. Mobile first: one column, big touch targets.
import type { FormField, ToolForm } from './forms.ts';

const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
/** JSON inside <script>: no "</script>" can end it early. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function field(f: FormField): string {
  const req = f.required ? ' required' : '';
  switch (f.kind) {
    case 'file':
      return `<div class="field file" data-field="${esc(f.name)}">
  <span class="label">${esc(f.label)}${f.required ? '' : ' <span class="muted">(opcional)</span>'}</span>
  <label class="drop" data-testid="drop-${esc(f.name)}">
    <input type="file" name="${esc(f.name)}" accept="${f.accept === 'video' ? 'video/mp4,video/quicktime,video/webm' : 'image/png,image/jpeg,image/webp'}"${req} data-testid="file-${esc(f.name)}">
    <span class="hint">${f.accept === 'video' ? 'Escolha ou solte um vídeo (MP4, MOV, WebM)' : 'Escolha ou solte uma imagem (PNG, JPEG, WebP)'}</span>
    <span class="preview" aria-live="polite"></span>
  </label>
  <progress class="upload" max="100" value="0" hidden data-testid="progress-${esc(f.name)}"></progress>
</div>`;
    case 'select':
      return `<label class="field"><span class="label">${esc(f.label)}</span>
  <select name="${esc(f.name)}"${req} data-testid="field-${esc(f.name)}">${f.required && !f.default ? '<option value="" disabled selected>escolha…</option>' : ''}${f.required ? '' : '<option value="">—</option>'}
  ${f.options.map((o) => `<option value="${esc(o)}"${o === f.default ? ' selected' : ''}>${esc(o)}</option>`).join('')}</select></label>`;
    case 'number':
      return `<label class="field"><span class="label">${esc(f.label)}${f.required ? '' : ' <span class="muted">(opcional)</span>'}</span>
  <input type="number" name="${esc(f.name)}" inputmode="decimal"${f.min !== null ? ` min="${f.min}"` : ''}${f.max !== null ? ` max="${f.max}"` : ''} step="${f.step ?? 'any'}"${req} data-testid="field-${esc(f.name)}"></label>`;
  }
}

function shell(title: string, body: string, development: boolean): string {
  return `<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · fila</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body data-development="${development}">
${body}
</body>
</html>`;
}

export function toolPageHtml(form: ToolForm, tools: ToolForm[], opts: { development: boolean }): string {
  const nav = tools.map((t) => `<a href="/tools/${esc(t.tool)}"${t.tool === form.tool ? ' aria-current="page"' : ''}>${esc(t.title)}</a>`).join('');
  return shell(form.title, `<header class="top"><a class="logo" href="/tools">fila</a><nav>${nav}</nav></header>
<main data-tool="${esc(form.tool)}">
  <section id="signin" class="card" hidden>
    <h2>Entrar</h2>
    <p class="muted">Cole o token de um usuário (<code>npm start</code> imprime um link com ele; em produção a página recebe o token da sessão).</p>
    <form id="signin-form"><textarea id="token" rows="3" spellcheck="false" autocomplete="off" data-testid="token-input"></textarea>
    <button type="submit">Entrar</button></form>
  </section>
  <div id="app" hidden>
    <section class="card">
      <div class="row between"><h1>${esc(form.title)}</h1><span class="credits" id="credits" data-testid="credits"></span></div>
      <div id="active-elsewhere" class="notice" role="status" hidden data-testid="active-elsewhere"></div>
      <form id="job-form" novalidate>
        ${form.fields.map(field).join('\n        ')}
        ${opts.development ? `<label class="field dev"><span class="label">Provedor falso <span class="badge">desenvolvimento</span></span>
          <input name="__outcome" list="fake-directives" autocomplete="off" placeholder="ok · ok:8000 · fail:mensagem · hang" data-testid="fake-outcome">
          <datalist id="fake-directives"><option value="ok:8000"><option value="fail:"><option value="hang"><option value="queue-maxed:1"></datalist></label>` : ''}
        <div class="row"><button type="submit" id="submit" data-testid="submit">Enviar</button>
        <span id="form-error" class="error" role="alert" data-testid="form-error"></span></div>
      </form>
    </section>
    <section id="current" class="card" hidden data-testid="current">
      <div class="row between"><h2>Processamento</h2><span id="status" class="badge" data-testid="status"></span></div>
      <p id="where" class="where" data-testid="where"></p>
      <p id="job-error" class="error" data-testid="job-error"></p>
      <p id="refund" class="muted" data-testid="refund"></p>
      <div id="outputs" class="outputs" data-testid="outputs"></div>
      <div class="row"><button type="button" id="cancel" class="secondary" data-testid="cancel" hidden>Cancelar</button>
      <button type="button" id="again" class="secondary" hidden>Novo processamento</button>
      <span class="muted mono small" id="job-id" data-testid="job-id"></span></div>
    </section>
    <section class="card">
      <h2>Seus processamentos recentes</h2>
      <ol id="history" class="history" data-testid="history"></ol>
      <button type="button" id="more" class="secondary" hidden>Mais</button>
    </section>
  </div>
</main>
<script type="application/json" id="tool-spec">${scriptJson(form)}</script>
<script type="module" src="/tools/app.js"></script>`, opts.development);
}

export function toolIndexHtml(tools: ToolForm[], opts: { development: boolean }): string {
  return shell('Ferramentas', `<header class="top"><a class="logo" href="/tools">fila</a></header>
<main><section class="card"><h1>Ferramentas</h1>
<p class="muted">Páginas de referência: cada uma usa só o JobManager, como as páginas do app devem usar.</p>
<ul class="tools">${tools.map((t) => `<li><a href="/tools/${esc(t.tool)}" data-testid="tool-link">${esc(t.title)}</a></li>`).join('')}</ul>
</section></main>
<script>
// keep the development token's fragment when moving to a tool
for (const a of document.querySelectorAll('a[href^="/tools/"]')) a.href += location.hash;
</script>`, opts.development);
}

const css = `
:root { --bg:#f4f5f7; --card:#fff; --ink:#1b2130; --muted:#697186; --line:#e2e5eb; --accent:#3454d1;
  --ok:#1f9d55; --warn:#b86e00; --bad:#cf3b3b; }
* { box-sizing:border-box; }
body { margin:0; font:16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
code, .mono { font:13px ui-monospace, SFMono-Regular, Menlo, monospace; }
.top { display:flex; gap:16px; align-items:center; padding:10px 16px; background:#151a26; overflow-x:auto; }
.top .logo { color:#fff; font-weight:700; font-size:20px; text-decoration:none; }
.top nav { display:flex; gap:14px; white-space:nowrap; }
.top nav a { color:#b9c1d6; text-decoration:none; font-size:14px; }
.top nav a[aria-current] { color:#fff; border-bottom:2px solid #fff; }
main { max-width:720px; margin:0 auto; padding:12px; display:flex; flex-direction:column; gap:12px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:14px 16px; }
h1 { font-size:22px; margin:0 0 8px; } h2 { font-size:17px; margin:0 0 8px; }
.row { display:flex; gap:10px; align-items:center; flex-wrap:wrap; margin-top:10px; }
.between { justify-content:space-between; margin-top:0; }
.field { display:flex; flex-direction:column; gap:4px; margin:10px 0; }
.label { font-size:14px; font-weight:600; }
select, input[type=number], textarea { font:inherit; padding:10px; border:1px solid var(--line); border-radius:8px; background:#fff; color:var(--ink); width:100%; }
.drop { display:flex; flex-direction:column; align-items:center; justify-content:center; gap:6px; min-height:110px; padding:12px;
  border:2px dashed var(--line); border-radius:10px; text-align:center; cursor:pointer; color:var(--muted); }
.drop.over { border-color:var(--accent); background:#eef2fd; }
.drop input[type=file] { max-width:100%; }
.preview img, .preview video { max-width:100%; max-height:180px; border-radius:8px; }
progress.upload { width:100%; height:8px; }
button { font:inherit; font-weight:600; background:var(--accent); color:#fff; border:0; border-radius:8px; padding:12px 20px; cursor:pointer; min-height:44px; }
button:disabled { opacity:.55; cursor:default; }
button.secondary { background:#eef0f4; color:var(--ink); }
.error { color:var(--bad); font-weight:500; }
.muted { color:var(--muted); } .small { font-size:12px; }
.notice { background:#fff6e5; border:1px solid #f1d49b; border-radius:8px; padding:10px 12px; margin:8px 0; }
.badge { display:inline-block; padding:2px 10px; border-radius:999px; font-size:13px; font-weight:600; background:#eef0f4; color:var(--muted); }
.badge.queued { color:#4a5468; } .badge.starting { background:#efeafe; color:#7a5af8; } .badge.running { background:#e8edfc; color:var(--accent); }
.badge.completed { background:#e5f5ec; color:var(--ok); } .badge.failed { background:#fbe9e9; color:var(--bad); } .badge.canceled { background:#fdf2e2; color:var(--warn); }
.where { font-size:18px; margin:6px 0; }
.outputs { display:flex; flex-direction:column; gap:10px; }
.outputs figure { margin:0; } .outputs img, .outputs video { max-width:100%; border-radius:8px; display:block; }
.outputs figcaption a { color:var(--accent); }
.history { list-style:none; padding:0; margin:0; }
.history li { border-top:1px solid var(--line); padding:10px 0; display:flex; flex-direction:column; gap:4px; }
.history .thumbs { display:flex; gap:6px; flex-wrap:wrap; } .history .thumbs img { height:56px; border-radius:6px; }
.tools { padding-left:18px; font-size:18px; line-height:2; }
.dev .badge { background:#fdf2e2; color:var(--warn); }
@media (min-width: 700px) { main { padding:20px; } }
`;
