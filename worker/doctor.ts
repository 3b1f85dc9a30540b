// `npx fila doctor`: what can be verified about the RunningHub set-up before a customer finds out.
// The key and the account (/uc/openapi/accountStatus), each tool's configured workflows (RunningHub
// offers no check short of creating a paid task, so only the configuration is verified), the
// base URL's host, and whether the webhook URL answers (and whether RunningHub could reach it).
import { isIP } from 'node:net';
import type { ToolsConfig } from '../common/tools/index.ts';
import { baseUrlWarning, RunningHubError, RunningHubUnreachableError, type RunningHubClient } from './runninghub/client.ts';
import { codeRow } from './runninghub/codes.ts';

export interface DoctorCheck {
  check: string;
  /** warn: works here, but is likely wrong in production */
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

function workflowIds(value: unknown, into: Set<string>): void {
  if (!value || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'workflowId' && typeof v === 'string') into.add(v);
    else workflowIds(v, into);
  }
}

/** Loopback, private, link-local or unique-local: RunningHub cannot call it back. */
function internalHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return /^(127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.|0\.)/.test(h);
  if (isIP(h) === 6) return h === '::1' || /^f[cd]/i.test(h) || /^fe80/i.test(h);
  return false;
}

export async function runDoctor(opts: {
  runninghub: RunningHubClient;
  tools: ToolsConfig;
  publicUrl: string | null;
}): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];

  const hostWarning = baseUrlWarning(opts.runninghub.baseUrl);
  checks.push({ check: 'RUNNINGHUB_BASE_URL', status: hostWarning ? 'warn' : 'ok', detail: hostWarning ?? opts.runninghub.baseUrl });

  try {
    const s = await opts.runninghub.accountStatus();
    checks.push({ check: 'API key and account', status: 'ok',
      detail: `apiType ${s.apiType ?? '?'}, running tasks ${s.currentTaskCounts ?? '?'}, coins ${s.remainCoins ?? '?'}, money ${s.remainMoney ?? '?'} ${s.currency ?? ''}`.trim() });
  } catch (err) {
    if (err instanceof RunningHubError) {
      checks.push({ check: 'API key and account', status: 'fail',
        detail: `RunningHub ${err.code} ${err.msg}${codeRow(err.code) ? `: ${codeRow(err.code)!.meaning}` : ''}` });
    } else if (err instanceof RunningHubUnreachableError) {
      checks.push({ check: 'API key and account', status: 'fail', detail: err.message });
    } else {
      throw err;
    }
  }

  for (const [tool, config] of Object.entries(opts.tools)) {
    if (tool === 'file' || tool === '$comment') continue;
    const ids = new Set<string>();
    workflowIds(config, ids);
    checks.push({ check: `tool ${tool}`, status: ids.size ? 'ok' : 'fail',
      detail: ids.size
        ? `${ids.size} workflow id(s) configured (${[...ids].slice(0, 3).join(', ')}${ids.size > 3 ? ', …' : ''}); RunningHub can only verify a workflow by running it: a refusal disables the tool with the reason`
        : 'no workflow id configured' });
  }

  if (!opts.publicUrl) {
    checks.push({ check: 'webhook URL', status: 'fail', detail: 'FILA_PUBLIC_URL is not set: RunningHub has nowhere to call back' });
  } else {
    const url = new URL(opts.publicUrl);
    let answered: string;
    let status: DoctorCheck['status'] = 'ok';
    try {
      // a forged webhook for a job that does not exist: a live fila API answers 401 and stores nothing
      const res = await fetch(new URL('/v1/webhooks/runninghub/00000000-0000-4000-8000-000000000000?token=doctor', url), {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      answered = `answers HTTP ${res.status}`;
      if (res.status !== 401) { status = 'fail'; answered += ' (a fila API answers 401 to a webhook with a wrong token)'; }
    } catch (err) {
      status = 'fail';
      answered = `does not answer: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (status === 'ok' && (url.protocol !== 'https:' || internalHost(url.hostname))) {
      status = 'warn';
      answered += `; RunningHub cannot reach ${url.protocol !== 'https:' ? 'a plain http' : 'an internal'} address (${url.host}) from the internet`;
    }
    checks.push({ check: 'webhook URL', status, detail: `${url.origin}/v1/webhooks/runninghub/… ${answered}` });
  }
  return checks;
}
