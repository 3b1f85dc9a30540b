// the z of @hono/zod-openapi: schemas built before its extension has run lack .openapi(), which the API's document needs
import { z } from '@hono/zod-openapi';

/**
 * An input file: an http(s) URL (an upload's URL, the app's storage, or a provider file name's URL).
 * The pattern travels into the database's check of job inputs (fila.tool_inputs), so it is written
 * in the part of regex syntax JavaScript and PostgreSQL read alike.
 */
export const fileUrl = z.url({ protocol: /^https?$/ }).max(2048)
  .regex(/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#]\S*)?$/, 'an http(s) URL with a host name')
  // .regex() replaces the URL's `format` in the JSON Schema with its pattern; the tool pages find
  // their file pickers by `format: "uri"` (and the OpenAPI document says what the field is)
  .meta({ format: 'uri' });
