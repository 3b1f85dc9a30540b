// /v1/uploads: input files, streamed to the store; /uploads/{name} serves the development store.
import { createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../errors.ts';
import * as s from '../schemas.ts';
import { defaultUploadLimits, LocalUploadStore, receiveUpload, servedFileHeaders, uploadTypes } from '../uploads.ts';
import { authErrors, bearer, err, json, serverErrors, type RouteContext } from './openapi.ts';

export function uploadRoutes({ app, deps, auth }: RouteContext): void {
  const { fila } = deps;
  const limits = deps.uploadLimits ?? defaultUploadLimits;
  const quota = { maxFiles: limits.maxFiles, maxBytes: limits.maxBytes };
  app.openapi(createRoute({
    method: 'post', path: '/v1/uploads', tags: ['uploads'], security: bearer,
    middleware: [auth], // no bodyLimit here: it buffers a chunked body; receiveUpload counts as it reads
    summary: 'Store an input file', description: 'multipart/form-data with a `file` field; answers the URL to put in a job input.',
    request: {
      body: {
        // the file part's own type: what the store accepts (the content is checked against it)
        content: { 'multipart/form-data': { schema: s.UploadBody, encoding: { file: { contentType: Object.keys(uploadTypes).join(', ') } } } },
        required: true,
      },
    },
    responses: {
      201: { description: 'Stored', content: json(s.UploadResult) }, 400: err('No file, or a malformed multipart body'), ...authErrors,
      402: err('insufficient_credits: uploads need a balance'), 413: err('file_too_large'), 415: err('unsupported_media_type'),
      429: err('upload_quota_exceeded: too many files or bytes kept'), 501: err('uploads_not_configured'), ...serverErrors,
    },
  }), async (c) => {
    const store = deps.uploads;
    if (!store) throw new ApiError(501, 'uploads_not_configured', 'Uploads não estão configurados neste servidor.');
    const userId = c.var.caller.userId;
    const declared = Number(c.req.header('content-length') ?? 0);
    try {
      await fila.checkUploadQuota(userId, Number.isSafeInteger(declared) && declared > 0 ? declared : 0, quota);
    } catch (e) {
      c.header('connection', 'close'); // refused before its body was read
      throw e;
    }
    const stored = await receiveUpload(c.req.raw, store); // streamed, never buffered whole
    try {
      await fila.recordUpload(userId, stored.name, stored.size, quota);
    } catch (e) {
      await store.delete(stored.name); // over the quota after all (a concurrent upload): not kept
      throw e;
    }
    c.var.log.info({ upload: stored.name, size: stored.size }, 'stored upload');
    return c.json(stored, 201);
  });

  if (deps.uploads instanceof LocalUploadStore) {
    const store = deps.uploads;
    app.openapi(createRoute({
      method: 'get', path: '/uploads/{name}', tags: ['uploads'],
      summary: 'A stored input file (development store)', description: 'Public: the worker and the provider fetch it.',
      request: { params: s.UploadNameParams },
      responses: {
        200: { description: 'The file, with the type it was stored as', content: Object.fromEntries(Object.keys(uploadTypes).map((t) => [t, { schema: z.string().openapi({ format: 'binary' }) }])) },
        404: err('not_found'), ...serverErrors,
      },
    }), async (c) => {
      const file = await store.open(c.req.valid('param').name);
      if (!file) throw new ApiError(404, 'not_found', 'Arquivo não encontrado.');
      return c.body(file.body, 200, { 'content-type': file.contentType, 'content-length': String(file.size), ...servedFileHeaders });
    });
  }
}
