// The tool registry: the API validates with each tool's input schema, the worker maps the stored
// input to a RunningHub workflow with it, the OpenAPI document names it, and the database's seeds
// agree with its prices and deadlines. Workflow ids come from configuration (workflows.json beside
// this file, or the file FILA_WORKFLOWS_FILE names).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';
import { upscaler } from './upscaler.ts';
import { poseChanger } from './pose-changer.ts';
import { vesteAi } from './veste-ai.ts';
import { videoUpscaler } from './video-upscaler.ts';
import { ToolInputError, type InputOptions, type ProviderRequest } from './provider-request.ts';

export { ToolInputError, type InputOptions, type ProviderNode, type ProviderRequest, type ToolDefinition } from './provider-request.ts';

/** Every tool, by the name jobs carry. A new tool: one file, one line here, its workflows.json entry. */
export const tools = {
  upscaler,
  pose_changer: poseChanger,
  veste_ai: vesteAi,
  video_upscaler: videoUpscaler,
} as const;

export type ToolName = keyof typeof tools;
export const toolNames = Object.keys(tools) as [ToolName, ...ToolName[]];

export function isToolName(s: string): s is ToolName {
  return Object.hasOwn(tools, s);
}

export function toolInputSchemas(opts: InputOptions = {}): Record<ToolName, z.ZodType<Record<string, unknown>>> {
  return Object.fromEntries(toolNames.map((name) => [name, tools[name].input(opts)])) as Record<ToolName, z.ZodType<Record<string, unknown>>>;
}

// Configuration ---------------------------------------------------------------------------------

export const defaultWorkflowsFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows.json');

type ToolConfigs = { [K in ToolName]: (typeof tools)[K]['config'] };
export const toolsConfigSchema = z.object({
  $comment: z.string().optional(),
  ...(Object.fromEntries(toolNames.map((name) => [name, tools[name].config])) as ToolConfigs),
}).strict();
export type ToolsConfig = z.infer<typeof toolsConfigSchema> & { file: string };

/** The tools configuration is missing a key or has a wrong one; the message names each. */
export class ToolsConfigError extends Error {
  override readonly name = 'ToolsConfigError';
}

function keyPath(p: readonly PropertyKey[]): string {
  return p.map((k, i) => {
    const s = String(k);
    return /^[A-Za-z_$][\w$]*$/.test(s) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`;
  }).join('');
}

/** Validate a parsed configuration object; `file` only labels the error. */
export function parseToolsConfig(raw: unknown, file = '(inline)'): ToolsConfig {
  const parsed = toolsConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const missing = i.code === 'invalid_type' && i.message.includes('received undefined');
      return `  ${keyPath(i.path) || '(root)'}: ${missing ? 'missing' : i.message}`;
    });
    throw new ToolsConfigError(`tools configuration ${file} is invalid:\n${lines.join('\n')}`);
  }
  return { ...parsed.data, file };
}

/** Read and validate the tools configuration (at start-up: a bad file stops the process). */
export function loadToolsConfig(file: string = defaultWorkflowsFile): ToolsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ToolsConfigError(`tools configuration ${file} cannot be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return parseToolsConfig(raw, file);
}

/** The upscaler categories the configuration offers (the API builds its input schema with them). */
export function upscalerCategories(config: ToolsConfig): string[] {
  return Object.keys(config.upscaler.categories);
}

/** The provider request for a job, from its row alone (tool + stored input). */
export function buildProviderRequest(job: { tool: string; input: unknown }, config: ToolsConfig): ProviderRequest {
  if (!isToolName(job.tool)) throw new ToolInputError(`Ferramenta sem mapeamento para o provedor: ${job.tool}`);
  const tool = tools[job.tool] as { request(input: unknown, config: unknown): ProviderRequest };
  const toolConfig = config[job.tool];
  return { ...tool.request(job.input, toolConfig), addMetadata: toolConfig.addMetadata ?? false };
}
