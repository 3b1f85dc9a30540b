// The reference tool pages, served in development at /tools and /tools/<tool>: one page per tool
// of the registry, its form derived from the tool's input schema (forms.ts), its script
// (client/app.ts) built on JobManager and bundled with esbuild when the server starts.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';
import type pino from 'pino';
import type { z } from 'zod';
import { bundleBrowserScript } from '../browser-bundle.ts';
import { errorBody } from '../errors.ts';
import { toolForm, type ToolForm } from './forms.ts';
import { toolIndexHtml, toolPageHtml } from './page.ts';

export interface ToolPagesDeps {
  /** each tool's input schema, as the API validates it (the configured upscaler categories included) */
  inputSchemas: Record<string, z.ZodType>;
  /** each tool's name on the page (the registry's title) */
  titles: Record<string, string | undefined>;
  development: boolean;
  logger?: pino.Logger;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's app carries its own Env
export function mountToolPages(app: Hono<any>, deps: ToolPagesDeps): void {
  const script = bundleBrowserScript(path.join(path.dirname(fileURLToPath(import.meta.url)), 'client', 'app.ts'));
  script.catch((err: unknown) => deps.logger?.error({ err }, 'tool pages: bundling the client failed'));
  const forms: ToolForm[] = Object.entries(deps.inputSchemas).map(([tool, schema]) => toolForm(tool, schema, deps.titles[tool]));
  const byTool = new Map(forms.map((f) => [f.tool, f]));

  app.get('/tools', (c) => c.html(toolIndexHtml(forms, { development: deps.development })));
  app.get('/tools/app.js', async (c) => {
    c.header('content-type', 'text/javascript; charset=utf-8');
    c.header('cache-control', 'no-cache');
    return c.body(await script);
  });
  app.get('/tools/:tool', (c) => {
    const form = byTool.get(c.req.param('tool'));
    if (!form) return c.json(errorBody('not_found', 'Ferramenta desconhecida.'), 404);
    c.header('cache-control', 'no-store');
    return c.html(toolPageHtml(form, forms, { development: deps.development }));
  });
}
