// What a tool's mapping produces: the RunningHub workflow and its nodeInfoList, built from the
// job's stored input alone (rule 7: every start path builds the same request).
import { z } from 'zod';

/** A node of a workflow as configuration names it. `upload`: the input file goes through /upload first. */
export const nodeRef = z.object({
  nodeId: z.string().min(1),
  fieldName: z.string().min(1),
  upload: z.boolean().optional(),
}).strict();
export type NodeRef = z.infer<typeof nodeRef>;

export const workflowId = z.string().regex(/^\d+$/, 'a RunningHub workflow id (digits)');

export interface ProviderNode {
  nodeId: string;
  fieldName: string;
  fieldValue: string;
  /** set when configuration says this node takes an uploaded file: fieldValue is then the file's URL */
  upload?: 'image' | 'video';
}

export interface ProviderRequest {
  workflowId: string;
  nodeInfoList: ProviderNode[];
  /** RunningHub embeds the workflow and prompt in output images unless this is false (fila's default) */
  addMetadata?: boolean;
}

/** The stored input does not fit the tool (e.g. a DBA edited it): a failure of that job alone. */
export class ToolInputError extends Error {
  override readonly name = 'ToolInputError';
}

export function fileNode(ref: NodeRef, url: string, kind: 'image' | 'video'): ProviderNode {
  return { nodeId: ref.nodeId, fieldName: ref.fieldName, fieldValue: url, ...(ref.upload ? { upload: kind } : {}) };
}

export function parseStoredInput<T>(tool: string, schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ToolInputError(`Entrada inválida para ${tool}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}
