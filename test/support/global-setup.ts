// jest loads global setup outside its module mapper, so NodeNext ".js" specifiers to ".ts" files
// would not resolve: tsx's loader (a dependency already) resolves them here.
import { register } from 'tsx/esm/api';

export default async function globalSetup(): Promise<void> {
  register();
  const mod = (await import('./test-server.ts' as string)) as typeof import('./test-server.js');
  await mod.startTestServer();
}
