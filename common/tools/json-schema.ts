// Each tool's input schema as the database checks it (fila.tool_inputs): JSON Schema from zod,
// limited to the keywords fila._tool_input_problem implements, so that no rule of a tool is
// silently left unchecked by the database.
// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';
import { toolInputSchemas, toolNames, type InputOptions, type ToolName } from './index.ts';

/** What the SQL check implements; annotations are allowed and ignored. */
const checked = new Set(['type', 'properties', 'required', 'additionalProperties', 'enum', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern']);
const annotations = new Set(['$schema', 'default', 'description', 'title', 'examples', 'format']);

export class UncheckableSchemaError extends Error {
  override readonly name = 'UncheckableSchemaError';
}

function assertCheckable(node: unknown, where: string): void {
  if (typeof node !== 'object' || node === null) throw new UncheckableSchemaError(`${where}: not a schema object`);
  for (const [key, value] of Object.entries(node)) {
    if (annotations.has(key)) continue;
    if (!checked.has(key)) throw new UncheckableSchemaError(`${where}: the database cannot check "${key}"`);
    if (key === 'properties') {
      for (const [name, child] of Object.entries(value as Record<string, unknown>)) assertCheckable(child, `${where}.${name}`);
    }
    if (key === 'additionalProperties' && value !== false) throw new UncheckableSchemaError(`${where}: additionalProperties must be false`);
  }
}

/** One input schema as the database checks it (the input side: fields with a default are optional). */
export function databaseJsonSchema(name: string, schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  assertCheckable(json, name);
  return json;
}

/** The input JSON Schema of every tool, as fila.tool_inputs stores it. */
export function toolInputJsonSchemas(opts: InputOptions = {}): Record<ToolName, Record<string, unknown>> {
  const schemas = toolInputSchemas(opts);
  return Object.fromEntries(toolNames.map((tool) => [tool, databaseJsonSchema(tool, schemas[tool])])) as Record<ToolName, Record<string, unknown>>;
}
