// Bundle entry for replay.test.ts: the same change behind patched() (see changed-train.ts).
export { trainPatched as releaseTrain } from './changed-train.js';
