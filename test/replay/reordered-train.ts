// Bundle entry for replay.test.ts: the release train changed WITHOUT patched() (see changed-train.ts).
export { trainReordered as releaseTrain } from './changed-train.js';
