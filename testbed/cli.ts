// `npm run testbed -- install|up|down|status`: the local stack Gantry runs and is tested on.
import { downTemporal, installTemporal, temporalStatus, upTemporal } from './temporal.js';
import { home } from './paths.js';

const usage = 'usage: npm run testbed -- install|up|down|status';

async function main(argv: string[]): Promise<void> {
  const [cmd] = argv;
  switch (cmd) {
    case 'install':
      await installTemporal();
      return;
    case 'up':
      await upTemporal();
      return;
    case 'down':
      await downTemporal();
      return;
    case 'status': {
      const t = await temporalStatus();
      console.log(`cache: ${home}`);
      console.log(`temporal: ${t.healthy ? 'serving' : 'down'} at ${t.address}${t.embedded ? ' (embedded)' : ' (TEMPORAL_ADDRESS)'}${t.pid ? ` pid ${t.pid}` : ''}${t.uiUrl && t.healthy ? ` UI ${t.uiUrl}` : ''}`);
      return;
    }
    default:
      console.error(usage);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
