// The tail of a gate's log, read on the worker that wrote it (workflows/gate-log.ts). Only files under
// this worker's pipeline log directory are read (the path is resolved, links included, before the
// check), and at most the last MAX_GATE_LOG_TAIL bytes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail, FailureType } from '../workflows/failures.js';
import { MAX_GATE_LOG_TAIL, type GateLogActivities, type GateLogRequest, type GateLogTail } from '../workflows/gate-log.js';

export function createGateLogActivities(opts: { logDir: string }): GateLogActivities {
  const host = os.hostname();
  return {
    async readGateLogTail(req: GateLogRequest): Promise<GateLogTail> {
      const real = async (p: string) => fs.promises.realpath(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') throw fail(FailureType.BadRequest, `the log ${p} is no longer on ${host} (pipeline logs are removed with the worker's data directory)`);
        throw err;
      });
      const root = await real(opts.logDir);
      const file = await real(req.path);
      if (!file.startsWith(`${root}${path.sep}`)) throw fail(FailureType.BadRequest, `${req.path} is not a pipeline log on ${host} (not under ${opts.logDir})`);
      const max = Math.max(0, Math.min(req.maxBytes, MAX_GATE_LOG_TAIL));
      const fh = await fs.promises.open(file, 'r');
      try {
        const { size } = await fh.stat();
        const n = Math.min(size, max);
        const buf = Buffer.alloc(n);
        await fh.read(buf, 0, n, size - n);
        // Starting mid-file may cut a UTF-8 character: skip its continuation bytes.
        let start = 0;
        while (n < size && start < n && start < 4 && (buf[start]! & 0xc0) === 0x80) start++;
        return { text: buf.subarray(start).toString('utf8'), bytes: size, shownBytes: n - start, host };
      } finally {
        await fh.close();
      }
    },
  };
}
