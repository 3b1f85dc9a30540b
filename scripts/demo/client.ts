// Each simulated user is a JobManager, exactly as a tool page would hold one.
import { JobManager } from '../../api/client/index.ts';

export function demoClient(apiUrl: string, token: string): JobManager {
  // a page's JobManager asks for presence; the demo's users stay "on the page" through their stream
  return new JobManager({ baseUrl: apiUrl, getToken: () => token, presence: true, pollIntervalMs: 500 });
}
