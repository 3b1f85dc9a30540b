// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';
import { fileUrl } from './file-url.ts';
import { fileNode, nodeRef, parseStoredInput, workflowId, type ProviderRequest, defineTool } from './provider-request.ts';
import { addMetadataOption } from './provider-request.ts';

export const vesteAiInput = z.object({
  person_image_url: fileUrl,
  garment_image_url: fileUrl,
}).strict();

export const vesteAiConfig = z.object({
  addMetadata: addMetadataOption,
  workflowId,
  nodes: z.object({ person_image: nodeRef, garment_image: nodeRef }).strict(),
}).strict();
export type VesteAiConfig = z.infer<typeof vesteAiConfig>;

export function vesteAiRequest(input: unknown, cfg: VesteAiConfig): ProviderRequest {
  const v = parseStoredInput('veste_ai', vesteAiInput, input);
  return {
    workflowId: cfg.workflowId,
    nodeInfoList: [
      fileNode(cfg.nodes.person_image, v.person_image_url, 'image'),
      fileNode(cfg.nodes.garment_image, v.garment_image_url, 'image'),
    ],
  };
}

export const vesteAi = defineTool({
  name: 'veste_ai',
  title: 'Veste AI',
  openApiName: 'VesteAiInput',
  input: () => vesteAiInput,
  config: vesteAiConfig,
  request: vesteAiRequest,
  prices: [{ match: {}, priority: 0, price: 3 }],
  deadlines: { soft: '3 minutes', hard: '10 minutes' },
});
