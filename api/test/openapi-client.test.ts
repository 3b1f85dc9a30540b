// A client generated from /openapi.json with openapi-typescript types what matters: a job's input
// is its tool's own schema (a pose_changer job with `image_url: 42` does not compile), a job's tool
// is one of the registry's, and each route lists the statuses it can answer (415 included).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolNames } from '../../common/tools/index.ts';
import { uploadTypes } from '../uploads.ts';
import { startTestApi, type TestApi } from '../../dev/test-support/api.ts';

let api: TestApi;
let doc: OpenApiDoc;
let textPlainSubmit: number;
let dir: string;
beforeAll(async () => {
  api = await startTestApi();
  doc = await (await fetch(`${api.url}/openapi.json`)).json() as OpenApiDoc;
  // Every request to the server is made here, before the type-checks: ts.createProgram blocks this
  // process (the server's too) for seconds, and undici's keep-alive clock does not count blocked time
  // while the server's keepAliveTimeout (5 s) does, so a request after them could go out on a
  // connection the server is closing at that moment ("other side closed", ECONNRESET).
  textPlainSubmit = (await api.call(randomUUID(), '/v1/jobs', {
    method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ tool: 'upscaler', input: {} }),
  })).status;
  dir = mkdtempSync(path.join(tmpdir(), 'fila-openapi-client-'));
  writeFileSync(path.join(dir, 'api.d.ts'), astToString(await openapiTS(doc as unknown as Parameters<typeof openapiTS>[0])));
});
afterAll(async () => {
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Operation { responses: Record<string, unknown>; requestBody?: { content: Record<string, { encoding?: Record<string, { contentType?: string }> }> } }
interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { oneOf?: unknown[]; discriminator?: { propertyName: string }; properties?: Record<string, { enum?: string[] }> }> };
}

/** Type-check one file against the generated client; the compiler's messages, none when it compiles. */
function typeErrors(name: string, source: string): string[] {
  const file = path.join(dir, name);
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler, skipLibCheck: true, types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

const submit = (input: string) => `import type { paths } from './api.d.ts';
type SubmitJob = paths['/v1/jobs']['post']['requestBody']['content']['application/json'];
export const body: SubmitJob = { tool: 'pose_changer', input: ${input} };
`;

describe('a client generated from /openapi.json with openapi-typescript', () => {
  it('refuses to compile a pose_changer job whose input is not a pose_changer input', () => {
    expect(typeErrors('wrong.ts', submit(`{ image_url: 42 }`))).not.toEqual([]);
    // an input that is right for another tool is wrong for this one: the union is discriminated by tool
    expect(typeErrors('other-tool.ts', submit(`{ image_url: 'https://files.example/a.png', category: 'pessoas' }`))).not.toEqual([]);
  });

  it('compiles a pose_changer job with its own input, and a job read back whose tool is one of the registry', () => {
    expect(typeErrors('right.ts', `${submit(`{ person_image_url: 'https://files.example/p.png', pose_image_url: 'https://files.example/q.png' }`)}
import type { components } from './api.d.ts';
type Tool = components['schemas']['Job']['tool'];
export const tools: Tool[] = ${JSON.stringify(toolNames)};
`)).toEqual([]);
    expect(typeErrors('unknown-tool.ts', `import type { components } from './api.d.ts';
export const tool: components['schemas']['Job']['tool'] = 'photoshop';
`).length).toBeGreaterThan(0);
  });

  it('documents SubmitJob as one branch per tool, discriminated by tool, and Job.tool as the registry\'s names', () => {
    const submitJob = doc.components.schemas.SubmitJob!;
    expect(submitJob.oneOf).toHaveLength(toolNames.length);
    expect(submitJob.discriminator?.propertyName).toBe('tool');
    expect(doc.components.schemas.Job!.properties!.tool!.enum).toEqual(toolNames);
  });

  it('lists the statuses each route answers: 415 on JSON bodies, 413, 429 on the event stream, 500 everywhere, and the uploads\' types', () => {
    const statuses = (p: string, m: string) => Object.keys(doc.paths[p]![m]!.responses);
    expect(statuses('/v1/jobs', 'post')).toEqual(expect.arrayContaining(['200', '201', '400', '401', '402', '409', '413', '415', '422', '500']));
    expect(statuses('/v1/admin/credits', 'post')).toEqual(expect.arrayContaining(['413', '415']));
    expect(statuses('/v1/webhooks/runninghub/{jobId}', 'post')).toEqual(expect.arrayContaining(['413', '415']));
    expect(statuses('/v1/jobs/{id}/events', 'get')).toContain('429');
    for (const [p, item] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(item)) expect(Object.keys(op.responses), `${m} ${p}`).toContain('500');
    const multipart = doc.paths['/v1/uploads']!.post!.requestBody!.content['multipart/form-data']!;
    expect(multipart.encoding?.file?.contentType?.split(', ')).toEqual(Object.keys(uploadTypes));
    expect(Object.keys((doc.paths['/uploads/{name}']!.get!.responses['200'] as { content: object }).content)).toEqual(Object.keys(uploadTypes));
    // and the 415 is real: a submit sent as text/plain (sent in beforeAll)
    expect(textPlainSubmit).toBe(415);
  });
});
