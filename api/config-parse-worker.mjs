// The worker side of api/config-parse.ts: parses and validates gantry.yaml (text, or the document as a
// parsed object) in a worker thread, so that a large or hostile config never blocks the API's event
// loop. One request at a time; every outcome, even an exception, is answered with the request's id.
// Plain JavaScript so that a thread can start it under any loader (the API under tsx, tests under
// jest): it loads the TypeScript parser itself through tsx's API. Protocol types: api/config-parse.ts.
import { parentPort } from 'node:worker_threads';
import { tsImport } from 'tsx/esm/api';

const { parseConfig, parseConfigText } = await tsImport('../core/config.ts', import.meta.url);

/** @param {{ id: number, text?: string, object?: unknown }} req */
function handle(req) {
  try {
    return { id: req.id, result: typeof req.text === 'string' ? parseConfigText(req.text) : parseConfig(req.object) };
  } catch (err) {
    // parseConfigText reports YAML problems itself; what escapes it (a stack overflow, an internal
    // error) is answered as a failure of this one parse.
    return { id: req.id, failure: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

parentPort.on('message', (req) => {
  const answer = handle(req);
  try {
    parentPort.postMessage(answer);
  } catch (err) {
    // A result that cannot be cloned back is a failure of this parse, not of the thread.
    parentPort.postMessage({ id: req.id, failure: `the parsed config could not be returned: ${err instanceof Error ? err.message : String(err)}` });
  }
});
// One small parse before saying ready, so a first real parse does not pay for warming up.
parseConfigText('app: { name: warm, image: registry.local/warm }\nenvironments: [{ name: w, replicas: 1, cells: [{ name: c }], groups: [{ pods: rest }] }]\n');
parentPort.postMessage({ ready: true });
