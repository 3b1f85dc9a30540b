// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';
import { fileUrl } from './file-url.ts';
import { fileNode, nodeRef, parseStoredInput, workflowId, type ProviderNode, type ProviderRequest, defineTool } from './provider-request.ts';
import { addMetadataOption } from './provider-request.ts';

/** Categories come from configuration (tools config); these are the defaults. */
export const defaultUpscalerCategories = ['pessoas', 'produto', 'comida', 'logo'] as const;

export const upscalerVersions = ['standard', 'pro'] as const;
export const upscalerFramingModes = ['perto', 'longe'] as const;

export function upscalerInput(categories: readonly string[] = defaultUpscalerCategories) {
  const [first, ...rest] = categories;
  if (!first) throw new Error('upscaler: the configured category list is empty');
  return z.object({
    image_url: fileUrl,
    version: z.enum(upscalerVersions).default('standard'),
    category: z.enum([first, ...rest]),
    framing_mode: z.enum(upscalerFramingModes).default('perto'),
    editing_level: z.number().min(0).max(1).optional(),
  }).strict();
}

const upscalerNodes = z.object({ image: nodeRef, editing_level: nodeRef }).strict();

/**
 * The upscaler's configuration: one workflow per version/category/framing_mode (key
 * "<version>/<category>/<framing_mode>"), shared node ids (a workflow may override them), and which
 * categories take an editing level.
 */
export const upscalerConfig = z.object({
  addMetadata: addMetadataOption,
  categories: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.object({ editingLevel: z.boolean() }).strict())
    .refine((c) => Object.keys(c).length > 0, 'at least one category'),
  defaultEditingLevel: z.number().min(0).max(1),
  nodes: upscalerNodes,
  workflows: z.record(z.string(), z.object({ workflowId, nodes: upscalerNodes.partial().optional() }).strict()),
}).strict().superRefine((cfg, ctx) => {
  for (const version of upscalerVersions) {
    for (const category of Object.keys(cfg.categories)) {
      for (const framing of upscalerFramingModes) {
        const key = `${version}/${category}/${framing}`;
        if (!cfg.workflows[key]) {
          ctx.addIssue({ code: 'custom', path: ['workflows', key], message: 'missing: every version/category/framing_mode needs a workflow' });
        }
      }
    }
  }
});
export type UpscalerConfig = z.infer<typeof upscalerConfig>;

export function upscalerRequest(input: unknown, cfg: UpscalerConfig): ProviderRequest {
  const v = parseStoredInput('upscaler', upscalerInput(Object.keys(cfg.categories)), input);
  const key = `${v.version}/${v.category}/${v.framing_mode}`;
  const workflow = cfg.workflows[key];
  if (!workflow) throw new Error(`upscaler: no workflow configured for ${key}`); // validated at start-up
  const nodes = { ...cfg.nodes, ...workflow.nodes };
  const nodeInfoList: ProviderNode[] = [fileNode(nodes.image, v.image_url, 'image')];
  if (cfg.categories[v.category]?.editingLevel) {
    nodeInfoList.push({
      nodeId: nodes.editing_level.nodeId,
      fieldName: nodes.editing_level.fieldName,
      fieldValue: String(v.editing_level ?? cfg.defaultEditingLevel),
    });
  }
  return { workflowId: workflow.workflowId, nodeInfoList };
}

export const upscaler = defineTool({
  name: 'upscaler',
  title: 'Upscaler',
  openApiName: 'UpscalerInput',
  input: (opts) => upscalerInput(opts?.upscalerCategories),
  config: upscalerConfig,
  request: upscalerRequest,
  prices: [{ match: {}, priority: 0, price: 2 }, { match: { version: 'pro' }, priority: 10, price: 4 }],
  deadlines: { soft: '3 minutes', hard: '10 minutes' },
});
