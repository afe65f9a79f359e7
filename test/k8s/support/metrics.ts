// A scrape target for the test bed's Prometheus: gauges the tests set, served at /metrics on a free
// loopback port and registered once per test file (Prometheus applies new targets within ~5 s).
import http from 'node:http';
import { registerScrapeTarget, waitForSeries } from '../../../testbed/prometheus.js';

export interface MetricsBoard {
  /** Sets gauge `name{run=<run>}` (undefined removes it). */
  set(name: string, run: string, value: number | undefined): void;
  close(): Promise<void>;
}

export async function startMetricsBoard(id: string): Promise<MetricsBoard> {
  const values = new Map<string, number>();
  const server = http.createServer((_req, res) => {
    const lines = [...values].map(([k, v]) => `${k} ${v}`);
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(`${lines.join('\n')}\ngantry_test_board_up 1\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const unregister = registerScrapeTarget(`test-${id}`, `127.0.0.1:${port}`, { board: id });
  await waitForSeries(`gantry_test_board_up{board="${id}"}`, 60_000);
  return {
    set(name, run, value) {
      const key = `${name}{run="${run}"}`;
      if (value === undefined) values.delete(key); else values.set(key, value);
    },
    async close() {
      unregister();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
