import { register } from 'tsx/esm/api';

export default async function globalTeardown(): Promise<void> {
  register();
  const mod = (await import('./test-server.ts' as string)) as typeof import('./test-server.js');
  mod.stopTestServer();
}
