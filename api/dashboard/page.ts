// The dashboard's one page. Static markup and styles; api/dashboard/client/app.ts fills it in.

export function dashboardHtml(opts: { development: boolean }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fila · operator</title>
<style>${css}</style>
</head>
<body data-development="${opts.development ? 'true' : 'false'}">
<header class="top">
  <div class="brand"><span class="logo">fila</span><span class="sub">operator dashboard</span></div>
  <div class="status">
    <span id="live" class="pill off" data-testid="live">offline</span>
    <span id="updated" class="muted"></span>
    <button id="signout" class="link" hidden>sign out</button>
  </div>
</header>

<main>
  <section id="login" class="card login" hidden>
    <h2>Operator token</h2>
    <p class="muted">Paste a bearer token that carries <code>fila_role: "operator"</code>. <code>npm start</code>
      prints one in development; elsewhere: <code>npx fila token &lt;your-id&gt; --operator</code>.
      It stays in this tab only (sessionStorage).</p>
    <form id="login-form">
      <textarea id="token" name="token" rows="3" spellcheck="false" autocomplete="off" placeholder="eyJhbGciOiJIUzI1NiIs…" data-testid="token-input"></textarea>
      <div class="row"><button type="submit" data-testid="connect">Connect</button>
      <span id="login-error" class="error" role="alert" data-testid="login-error"></span></div>
    </form>
  </section>

  <div id="board" hidden>
    <section class="tiles" id="tiles"></section>
    <section class="card history">
      <h2>History <span id="charts-window" class="muted small"></span></h2>
      <div id="charts" class="charts" data-testid="charts"></div>
    </section>
    <div class="grid">
      <section class="card span2">
        <h2>Provider slots</h2>
        <div id="slots" class="slots"></div>
      </section>
      <section class="card">
        <h2>Queue <span id="queue-count" class="count"></span></h2>
        <p class="muted small">One global FIFO: position 1 takes the next free slot.</p>
        <div id="queue"></div>
      </section>
      <section class="card span3">
        <h2>Provider accounts <span class="muted small">slots in use per RunningHub account; trouble pauses only its account</span></h2>
        <div id="accounts"></div>
      </section>
      <section class="card span3">
        <h2>Recent jobs</h2>
        <div id="recent"></div>
      </section>
      <section class="card span2">
        <h2>Tools <span class="muted small">last 24 h · slot time of completed jobs</span></h2>
        <div id="tools"></div>
      </section>
      <section class="card">
        <h2>Credits</h2>
        <div id="credits"></div>
      </section>
      ${opts.development ? tryCard : ''}
    </div>
  </div>
  <section id="job-page" class="card job-page" hidden data-testid="job-page"></section>
</main>
<script type="module" src="/dashboard/app.js"></script>
</body>
</html>`;
}

const tryCard = `<section class="card span3 try" id="try">
        <h2>Try a tool <span class="badge dev">development</span></h2>
        <p class="muted small">Submits as a throw-away development user, through the same JobManager the tool pages use.
          The fake provider follows the outcome you pick (<code>#fake=…</code> on the input URL).</p>
        <form id="try-form" class="try-form">
          <label>Tool <select name="tool" id="try-tool">
            <option value="upscaler">Upscaler</option><option value="pose_changer">Pose Changer</option>
            <option value="veste_ai">Veste AI</option><option value="video_upscaler">Video Upscaler</option></select></label>
          <label>Outcome <select name="outcome">
            <option value="ok">succeeds (default time)</option><option value="ok:8000">succeeds after 8 s</option>
            <option value="fail:Imagem%20sem%20rosto%20detectado">fails with a provider message</option>
            <option value="lose-webhook">webhook lost (the reaper recovers it)</option>
            <option value="queue-maxed:1">provider queue full once</option></select></label>
          <label>Input URL <input name="url" value="https://example.com/input.png" size="34"></label>
          <button type="submit" data-testid="try-submit">Submit</button>
          <button type="button" id="try-new-user" class="link">new user</button>
        </form>
        <div id="try-status" class="try-status" data-testid="try-status"></div>
      </section>`;

const css = `
:root { --bg:#f5f6f8; --card:#fff; --ink:#1d2330; --muted:#6b7385; --line:#e4e7ec; --accent:#3454d1;
  --ok:#1f9d55; --warn:#c77c02; --bad:#d64545; --idle:#9aa3b5; --run:#3454d1; --start:#7a5af8; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--ink); background:var(--bg); }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; background:#eef0f4; padding:1px 4px; border-radius:4px; }
.top { display:flex; justify-content:space-between; align-items:center; padding:12px 24px; background:#151a26; color:#fff; }
.brand .logo { font-weight:700; font-size:20px; letter-spacing:.5px; margin-right:10px; }
.brand .sub { color:#aab2c5; }
.status { display:flex; gap:12px; align-items:center; }
.status .muted { color:#aab2c5; }
.pill { padding:2px 10px; border-radius:999px; font-size:12px; font-weight:600; }
.pill.live { background:#1f9d55; } .pill.poll { background:#c77c02; } .pill.off { background:#6b7385; }
main { padding:20px 24px 40px; max-width:1400px; margin:0 auto; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; min-width:0; }
.card h2 { margin:0 0 10px; font-size:15px; }
.login { max-width:640px; margin:40px auto; }
.login textarea { width:100%; font:12px ui-monospace, monospace; padding:8px; border:1px solid var(--line); border-radius:6px; }
.row { display:flex; gap:12px; align-items:center; margin-top:8px; }
button { background:var(--accent); color:#fff; border:0; border-radius:6px; padding:6px 14px; font:inherit; cursor:pointer; }
button.link { background:none; color:inherit; text-decoration:underline; padding:0; }
.error { color:var(--bad); font-weight:500; }
.muted { color:var(--muted); } .small { font-size:12px; margin-top:-6px; }
.tiles { display:grid; grid-template-columns:repeat(6, minmax(0,1fr)); gap:12px; margin-bottom:14px; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.tile .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
.tile .value { font-size:24px; font-weight:650; margin-top:2px; }
.tile .note { color:var(--muted); font-size:12px; }
.tile.bad { border-color:var(--bad); } .tile.bad .value { color:var(--bad); }
.tile.warn { border-color:var(--warn); } .tile.warn .value { color:var(--warn); }
.tile.good .value { color:var(--ok); }
.grid { display:grid; grid-template-columns:repeat(3, minmax(0,1fr)); gap:14px; }
.span2 { grid-column: span 2; } .span3 { grid-column: span 3; }
.slots { display:grid; grid-template-columns:repeat(auto-fill, minmax(210px,1fr)); gap:10px; }
.slot { border:1px dashed var(--line); border-radius:8px; padding:10px 12px; min-height:96px; }
.slot.busy { border:1px solid #c9d3f5; background:#f4f6fe; }
.slot .head { display:flex; justify-content:space-between; align-items:center; }
.slot .tool { font-weight:600; }
.slot .free { color:var(--idle); margin-top:18px; text-align:center; }
.bar { height:4px; background:#e4e7ec; border-radius:2px; margin-top:8px; overflow:hidden; }
.bar > span { display:block; height:100%; background:var(--run); }
.bar.late > span { background:var(--warn); }
table { width:100%; border-collapse:collapse; font-size:13px; }
th { text-align:left; font-weight:600; color:var(--muted); font-size:12px; border-bottom:1px solid var(--line); padding:4px 6px; }
td { border-bottom:1px solid #f0f1f4; padding:5px 6px; vertical-align:top; }
td.num, th.num { text-align:right; font-variant-numeric: tabular-nums; }
.mono { font:12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:11px; font-weight:600; background:#eef0f4; color:var(--muted); }
.badge.queued { background:#eef0f4; color:#4a5468; }
.badge.starting { background:#efeafe; color:var(--start); }
.badge.running { background:#e8edfc; color:var(--run); }
.badge.completed { background:#e5f5ec; color:var(--ok); }
.badge.failed { background:#fbe9e9; color:var(--bad); }
.badge.canceled { background:#fdf2e2; color:var(--warn); }
.badge.dev { background:#fdf2e2; color:var(--warn); }
.err { color:var(--bad); }
.outputs a { color:var(--accent); margin-right:6px; }
.empty { color:var(--idle); padding:10px 0; }
.count { color:var(--muted); font-weight:500; }
.try-form { display:flex; flex-wrap:wrap; gap:12px; align-items:end; }
.try-form label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); gap:3px; }
.try-form select, .try-form input { font:inherit; padding:5px 6px; border:1px solid var(--line); border-radius:6px; color:var(--ink); }
.try-status { margin-top:10px; min-height:20px; }
.paused { color:var(--warn); font-weight:600; }
.history { margin-bottom:14px; }
.charts { display:grid; grid-template-columns:repeat(auto-fill, minmax(340px,1fr)); gap:12px; }
.chart-card { margin:0; }
.chart-card figcaption { font-size:13px; }
.legend { display:flex; gap:10px; font-size:11px; color:var(--muted); margin:2px 0; }
.legend .key::before { content:""; display:inline-block; width:10px; height:3px; margin-right:4px; vertical-align:middle; background:currentColor; }
svg.chart { width:100%; height:auto; display:block; }
svg.chart .axis { stroke:#c4c9d4; } svg.chart .grid { stroke:#eef0f4; }
svg.chart .reference { stroke:var(--muted); stroke-dasharray:4 3; }
svg.chart .tick { font-size:10px; fill:var(--muted); }
svg.chart .line { fill:none; stroke-width:1.8; }
.s-queue { color:#4a5468; stroke:#4a5468; fill:#4a5468; } .s-slots { color:var(--run); stroke:var(--run); fill:var(--run); }
.s-p50 { color:var(--start); stroke:var(--start); fill:var(--start); } .s-p95 { color:var(--warn); stroke:var(--warn); fill:var(--warn); }
.s-completed { color:var(--ok); fill:var(--ok); } .s-failed { color:var(--bad); fill:var(--bad); }
.s-canceled { color:var(--warn); fill:var(--warn); } .s-refunds { color:#b04a9a; fill:#b04a9a; }
svg.chart .line.s-queue, svg.chart .line.s-slots, svg.chart .line.s-p50, svg.chart .line.s-p95 { fill:none; }
.id { word-break:break-all; }
a.id { color:var(--accent); text-decoration:none; } a.id:hover { text-decoration:underline; }
button.copy { background:none; color:var(--muted); border:1px solid var(--line); border-radius:4px; padding:0 5px; margin-left:4px; font-size:10px; vertical-align:middle; }
.slot .ids { font-size:11px; }
.job-page { max-width:1100px; margin:0 auto; }
.job-page h3 { font-size:14px; margin:16px 0 6px; }
.job-page table.facts th { width:120px; border:0; }
.job-page pre { background:#f5f6f8; border:1px solid var(--line); border-radius:6px; padding:8px; overflow:auto; font:12px ui-monospace, monospace; margin:0; white-space:pre-wrap; }
.job-page pre.err { color:var(--bad); background:#fbe9e9; }
.between { justify-content:space-between; }
@media (max-width: 1000px) { .tiles { grid-template-columns:repeat(3, minmax(0,1fr)); } .grid { grid-template-columns:1fr; } .span2, .span3 { grid-column: auto; } }
`;
