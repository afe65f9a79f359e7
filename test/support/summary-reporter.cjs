// Prints one plain closing line, "N passed, N failed, N skipped", that CI reads.
class SummaryReporter {
  onRunComplete(_contexts, r) {
    console.log(`\njest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
  }
}
module.exports = SummaryReporter;
