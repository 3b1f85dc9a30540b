// Development secrets are asked for (npm start, the CLI in development), random per data folder and
// kept in it; production never gets one it did not set.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.ts';
import { secrets } from '../config.ts';

const folder = () => mkdtempSync(path.join(tmpdir(), 'fila-secrets-'));

describe('development secrets', () => {
  it('are random per data folder, kept in it (owner-only), and the same on the next start', () => {
    const a = folder();
    const b = folder();
    const first = secrets(loadConfig({ FILA_DATA_DIR: a }));
    const again = secrets(loadConfig({ FILA_DATA_DIR: a }));
    const other = secrets(loadConfig({ FILA_DATA_DIR: b }));
    expect(again).toEqual(first);
    expect(other.jwtSecret).not.toBe(first.jwtSecret);
    expect(other.webhookSecret).not.toBe(first.webhookSecret);
    expect(first.jwtSecret).not.toBe(first.webhookSecret);
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    const file = path.join(a, 'secrets.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(first);
    expect(statSync(file).mode & 0o077).toBe(0);
  });

  it('are not the constants older versions fell back to', () => {
    const s = secrets(loadConfig({ FILA_DATA_DIR: folder() }));
    expect(s.jwtSecret).not.toBe('fila-dev-jwt-secret');
    expect(s.webhookSecret).not.toBe('fila-dev-webhook-secret');
  });

  it('give way to a variable that is set', () => {
    const s = secrets(loadConfig({ FILA_DATA_DIR: folder(), FILA_JWT_SECRET: 'from-the-environment' }));
    expect(s.jwtSecret).toBe('from-the-environment');
    expect(s.webhookSecret).not.toBe('from-the-environment');
  });

  it('are never made in production: a missing secret is an error naming it, and no file is written', () => {
    const dir = folder();
    expect(() => secrets(loadConfig({ NODE_ENV: 'production', FILA_DATA_DIR: dir, FILA_WEBHOOK_SECRET: 'w' })))
      .toThrow('production mode: FILA_JWT_SECRET must be set');
    expect(() => statSync(path.join(dir, 'secrets.json'))).toThrow();
  });
});
