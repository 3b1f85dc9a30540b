// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';
import { fileUrl } from './file-url.ts';
import { fileNode, nodeRef, parseStoredInput, workflowId, type ProviderRequest, defineTool } from './provider-request.ts';
import { addMetadataOption } from './provider-request.ts';

export const videoUpscalerInput = z.object({
  video_url: fileUrl,
}).strict();

export const videoUpscalerConfig = z.object({
  addMetadata: addMetadataOption,
  workflowId,
  nodes: z.object({ video: nodeRef }).strict(),
}).strict();
export type VideoUpscalerConfig = z.infer<typeof videoUpscalerConfig>;

export function videoUpscalerRequest(input: unknown, cfg: VideoUpscalerConfig): ProviderRequest {
  const v = parseStoredInput('video_upscaler', videoUpscalerInput, input);
  return { workflowId: cfg.workflowId, nodeInfoList: [fileNode(cfg.nodes.video, v.video_url, 'video')] };
}

export const videoUpscaler = defineTool({
  name: 'video_upscaler',
  title: 'Video Upscaler',
  openApiName: 'VideoUpscalerInput',
  input: () => videoUpscalerInput,
  config: videoUpscalerConfig,
  request: videoUpscalerRequest,
  prices: [{ match: {}, priority: 0, price: 10 }],
  deadlines: { soft: '15 minutes', hard: '40 minutes' },
});
