// The tools' mappings and their configuration (no provider involved).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProviderRequest, defaultWorkflowsFile, loadToolsConfig, parseToolsConfig, ToolInputError, ToolsConfigError, toolInputSchemas, upscalerCategories } from '../../common/tools/index.ts';

const raw = () => JSON.parse(readFileSync(defaultWorkflowsFile, 'utf8')) as Record<string, Record<string, unknown>>;
const config = loadToolsConfig(defaultWorkflowsFile);

describe('tools configuration', () => {
  it('the repository default is valid and offers the default upscaler categories', () => {
    expect(upscalerCategories(config)).toEqual(['pessoas', 'produto', 'comida', 'logo']);
    expect(Object.keys(toolInputSchemas({ upscalerCategories: upscalerCategories(config) }))).toEqual(['upscaler', 'pose_changer', 'veste_ai', 'video_upscaler']);
  });

  it('a missing workflow, node or tool is named in the error', () => {
    const cfg = raw();
    delete (cfg.upscaler!.workflows as Record<string, unknown>)['standard/logo/longe'];
    delete (cfg.pose_changer!.nodes as Record<string, unknown>).pose_image;
    delete cfg.video_upscaler;
    const err = (() => { try { parseToolsConfig(cfg, 'x.json'); return null; } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(ToolsConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('x.json');
    expect(msg).toContain('upscaler.workflows["standard/logo/longe"]: missing');
    expect(msg).toContain('pose_changer.nodes.pose_image: missing');
    expect(msg).toContain('video_upscaler: missing');
  });

  it('a new category needs its workflows too', () => {
    const cfg = raw();
    (cfg.upscaler!.categories as Record<string, unknown>).paisagem = { editingLevel: false };
    expect(() => parseToolsConfig(cfg)).toThrow(/upscaler\.workflows\["standard\/paisagem\/perto"\]/);
  });

  it('an unreadable file is a clear start-up error', () => {
    expect(() => loadToolsConfig('/nonexistent/workflows.json')).toThrow(/tools configuration \/nonexistent\/workflows.json cannot be read/);
  });
});

describe('mappings', () => {
  it('the upscaler picks its workflow from version/category/framing_mode and the editing level only where the category uses it', () => {
    const wf = (k: string) => config.upscaler.workflows[k]!.workflowId;
    const r1 = buildProviderRequest({ tool: 'upscaler', input: { image_url: 'https://f.example/a.png', category: 'produto' } }, config);
    expect(r1).toEqual({ workflowId: wf('standard/produto/perto'), nodeInfoList: [
      { nodeId: '10', fieldName: 'image', fieldValue: 'https://f.example/a.png' },
      { nodeId: '52', fieldName: 'value', fieldValue: '0.35' }, // the configured default
    ] });
    const r2 = buildProviderRequest({ tool: 'upscaler', input: { image_url: 'https://f.example/a.png', version: 'pro', category: 'comida', framing_mode: 'longe', editing_level: 0.8 } }, config);
    expect(r2).toEqual({ workflowId: wf('pro/comida/longe'), nodeInfoList: [{ nodeId: '10', fieldName: 'image', fieldValue: 'https://f.example/a.png' }] });
    const all = new Set<string>();
    for (const version of ['standard', 'pro']) for (const category of upscalerCategories(config)) for (const framing_mode of ['perto', 'longe']) {
      all.add(buildProviderRequest({ tool: 'upscaler', input: { image_url: 'https://f.example/a.png', version, category, framing_mode } }, config).workflowId);
    }
    expect(all.size).toBe(16);
  });

  it('a node configured with upload:true is marked for upload; the others pass the URL', () => {
    const cfg = raw();
    ((cfg.veste_ai!.nodes as Record<string, Record<string, unknown>>).garment_image!).upload = true;
    const r = buildProviderRequest({ tool: 'veste_ai', input: { person_image_url: 'https://f.example/p.png', garment_image_url: 'https://f.example/g.png' } }, parseToolsConfig(cfg));
    expect(r.nodeInfoList).toEqual([
      { nodeId: '3', fieldName: 'image', fieldValue: 'https://f.example/p.png' },
      { nodeId: '8', fieldName: 'image', fieldValue: 'https://f.example/g.png', upload: 'image' },
    ]);
  });

  it('a stored input that no longer fits the tool is a ToolInputError (that job fails, nothing else)', () => {
    expect(() => buildProviderRequest({ tool: 'pose_changer', input: { person_image_url: 'nope' } }, config)).toThrow(ToolInputError);
    expect(() => buildProviderRequest({ tool: 'paint', input: {} }, config)).toThrow(ToolInputError);
  });
});
