// The four tools: each one's input schema (the API validates with it, the worker maps the stored
// input with it) and its mapping to a RunningHub workflow, whose ids come from configuration
// (workflows.json beside this file, or the file named by FILA_WORKFLOWS_FILE).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { upscalerConfig, upscalerInput, upscalerRequest } from './upscaler.ts';
import { poseChangerConfig, poseChangerInput, poseChangerRequest } from './pose-changer.ts';
import { vesteAiConfig, vesteAiInput, vesteAiRequest } from './veste-ai.ts';
import { videoUpscalerConfig, videoUpscalerInput, videoUpscalerRequest } from './video-upscaler.ts';
import { ToolInputError, type ProviderRequest } from './provider-request.ts';

export { ToolInputError, type ProviderNode, type ProviderRequest } from './provider-request.ts';

export const toolNames = ['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler'] as const;
export type ToolName = (typeof toolNames)[number];

export function isToolName(s: string): s is ToolName {
  return (toolNames as readonly string[]).includes(s);
}

export function toolInputSchemas(opts: { upscalerCategories?: readonly string[] } = {}): Record<ToolName, z.ZodType<Record<string, unknown>>> {
  return {
    upscaler: upscalerInput(opts.upscalerCategories),
    pose_changer: poseChangerInput,
    veste_ai: vesteAiInput,
    video_upscaler: videoUpscalerInput,
  };
}

// Configuration ---------------------------------------------------------------------------------

export const defaultWorkflowsFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workflows.json');

export const toolsConfigSchema = z.object({
  $comment: z.string().optional(),
  upscaler: upscalerConfig,
  pose_changer: poseChangerConfig,
  veste_ai: vesteAiConfig,
  video_upscaler: videoUpscalerConfig,
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
export function loadToolsConfig(file: string = process.env.FILA_WORKFLOWS_FILE || defaultWorkflowsFile): ToolsConfig {
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
  switch (job.tool) {
    case 'upscaler': return upscalerRequest(job.input, config.upscaler);
    case 'pose_changer': return poseChangerRequest(job.input, config.pose_changer);
    case 'veste_ai': return vesteAiRequest(job.input, config.veste_ai);
    case 'video_upscaler': return videoUpscalerRequest(job.input, config.video_upscaler);
    default: throw new ToolInputError(`Ferramenta sem mapeamento para o provedor: ${job.tool}`);
  }
}
