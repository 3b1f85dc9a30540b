// /docs: the OpenAPI document rendered as one self-contained page (no CDN, works offline).
type Obj = Record<string, unknown>;

function esc(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function schemaText(schema: unknown): string {
  return esc(JSON.stringify(schema, null, 2));
}

function refName(schema: unknown): string | null {
  const ref = (schema as Obj | undefined)?.$ref;
  return typeof ref === 'string' ? ref.split('/').pop() ?? null : null;
}

function schemaBlock(schema: unknown): string {
  const name = refName(schema);
  return name ? `<a href="#schema-${esc(name)}">${esc(name)}</a>` : `<pre>${schemaText(schema)}</pre>`;
}

export function renderDocsPage(doc: unknown): string {
  const d = doc as Obj;
  const info = (d.info ?? {}) as Obj;
  const paths = (d.paths ?? {}) as Record<string, Record<string, Obj>>;
  const ops: string[] = [];
  const toc: string[] = [];
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, '-');
      toc.push(`<li><a href="#${id}"><code>${esc(method.toUpperCase())} ${esc(path)}</code></a> ${esc(op.summary)}</li>`);
      const params = (op.parameters as Obj[] | undefined ?? [])
        .map((p) => `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ', required' : ''}) ${esc((p as Obj).description ?? (p.schema as Obj | undefined)?.description ?? '')}</li>`)
        .join('');
      const body = op.requestBody as Obj | undefined;
      const bodyHtml = body
        ? Object.entries((body.content ?? {}) as Record<string, Obj>)
          .map(([type, media]) => `<p>Body <code>${esc(type)}</code>:</p>${schemaBlock(media.schema)}`).join('')
        : '';
      const responses = Object.entries((op.responses ?? {}) as Record<string, Obj>)
        .map(([code, r]) => {
          const content = Object.entries((r.content ?? {}) as Record<string, Obj>)
            .map(([type, media]) => ` <code>${esc(type)}</code> ${refName(media.schema) ? schemaBlock(media.schema) : ''}`).join('');
          return `<li><b>${esc(code)}</b> ${esc(r.description)}${content}</li>`;
        }).join('');
      const secured = Array.isArray(op.security) && op.security.length > 0;
      ops.push(`<section id="${id}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p><b>${esc(op.summary)}</b>${secured ? ' — <i>bearer token</i>' : ''}</p>
${op.description ? `<p>${esc(op.description)}</p>` : ''}
${params ? `<p>Parameters:</p><ul>${params}</ul>` : ''}
${bodyHtml}
<p>Responses:</p><ul>${responses}</ul>
</section>`);
    }
  }
  const schemas = Object.entries(((d.components as Obj | undefined)?.schemas ?? {}) as Obj)
    .map(([name, schema]) => `<section id="schema-${esc(name)}"><h3>${esc(name)}</h3><pre>${schemaText(schema)}</pre></section>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} — reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f7;padding:.75rem;overflow:auto;border-radius:6px}
section{border-top:1px solid #ddd;padding:.5rem 0}.m{display:inline-block;min-width:4.5em;text-align:center;border-radius:4px;color:#fff;font-size:13px}
.get{background:#2a7ae2}.post{background:#2e9d4c}.put,.patch{background:#c27c0e}.delete{background:#c0392b}
</style></head><body>
<h1>${esc(info.title)} <small>v${esc(info.version)}</small></h1>
<p>${esc(info.description)}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
<h2>Routes</h2><ul>${toc.join('')}</ul>
${ops.join('\n')}
<h2>Schemas</h2>
${schemas}
</body></html>`;
}
