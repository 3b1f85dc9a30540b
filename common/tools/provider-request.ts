// What a tool is (ToolDefinition) and what its mapping produces: the RunningHub workflow and its
// nodeInfoList, built from the job's stored input alone, so that every start path (first start,
// retry, another worker) sends the same request.
// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';

/** What the API needs to build input schemas that match the worker's configuration. */
export interface InputOptions {
  /** the upscaler's categories, from the tools configuration (default: the built-in four) */
  upscalerCategories?: readonly string[];
}

/**
 * One tool, whole: everything the API, the worker, the OpenAPI document and the database seeds
 * derive from. A new tool is one file exporting one of these, listed in index.ts, plus its
 * workflow ids in workflows.json.
 */
export interface ToolDefinition<Name extends string, Config> {
  name: Name;
  /** what people call it (the tool pages' heading; default: the name, capitalised) */
  title?: string;
  /** the name of its input schema in /openapi.json */
  openApiName: string;
  /** the input a job of this tool must have (strict: unknown keys are refused) */
  input(opts?: InputOptions): z.ZodType<Record<string, unknown>>;
  /** its part of the tools configuration (workflows.json) */
  config: z.ZodType<Config>;
  /** the provider request for a stored input; throws ToolInputError when the input does not fit */
  request(input: unknown, config: Config): ProviderRequest;
  /** the rows of fila.tool_prices a fresh database starts with (operators change them in SQL) */
  prices: readonly { match: Record<string, unknown>; priority: number; price: number }[];
  /** fila.tools' soft and hard deadlines a fresh database starts with (PostgreSQL intervals) */
  deadlines: { soft: string; hard: string };
}

export function defineTool<Name extends string, Config>(def: ToolDefinition<Name, Config>): ToolDefinition<Name, Config> {
  return def;
}

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
  /** RunningHub embeds the workflow and prompt in output images unless this is false:
   *  buildProviderRequest sets it from the tool's configuration, false by default */
  addMetadata?: boolean;
}

/** In a tool's workflow configuration: `"addMetadata": true` lets RunningHub embed the workflow
 *  and prompt in the outputs (its own default); fila sends false unless a tool asks. */
export const addMetadataOption = z.boolean().optional();

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
