// Gantry's version, from package.json (the image carries it): gantry_build_info on the API and workers.
import { readFileSync } from 'node:fs';

export const GANTRY_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
