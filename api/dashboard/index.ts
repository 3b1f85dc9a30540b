// The operator dashboard, served by the API at `/`. (Placeholder until the dashboard lands.)
import type { Hono } from 'hono';

export interface DashboardDeps {
  /** development mode: the "try a tool" form may submit as a development user */
  development: boolean;
}

export function mountDashboard(app: Hono, _deps: DashboardDeps): void {
  app.get('/', (c) => c.html('<!doctype html><title>fila</title><p>fila dashboard: coming soon.</p>'));
}
