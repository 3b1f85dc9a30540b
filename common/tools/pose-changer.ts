// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';
import { fileUrl } from './file-url.ts';
import { fileNode, nodeRef, parseStoredInput, workflowId, type ProviderRequest, defineTool } from './provider-request.ts';
import { addMetadataOption } from './provider-request.ts';

export const poseChangerInput = z.object({
  person_image_url: fileUrl,
  pose_image_url: fileUrl,
}).strict();

export const poseChangerConfig = z.object({
  addMetadata: addMetadataOption,
  workflowId,
  nodes: z.object({ person_image: nodeRef, pose_image: nodeRef }).strict(),
}).strict();
export type PoseChangerConfig = z.infer<typeof poseChangerConfig>;

export function poseChangerRequest(input: unknown, cfg: PoseChangerConfig): ProviderRequest {
  const v = parseStoredInput('pose_changer', poseChangerInput, input);
  return {
    workflowId: cfg.workflowId,
    nodeInfoList: [
      fileNode(cfg.nodes.person_image, v.person_image_url, 'image'),
      fileNode(cfg.nodes.pose_image, v.pose_image_url, 'image'),
    ],
  };
}

export const poseChanger = defineTool({
  name: 'pose_changer',
  title: 'Pose Changer',
  openApiName: 'PoseChangerInput',
  input: () => poseChangerInput,
  config: poseChangerConfig,
  request: poseChangerRequest,
  prices: [{ match: {}, priority: 0, price: 3 }],
  deadlines: { soft: '3 minutes', hard: '10 minutes' },
});
