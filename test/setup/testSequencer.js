// Jest's order (longest files first), with the browser tests last: chromium takes a core of its
// own, and beside the lease and timing tests of the SQL brokers (leases of 150 ms) it made them
// miss their deadlines. Last, they overlap only the short unit tests that end the run.
const Sequencer = require('@jest/test-sequencer').default;

const BROWSER_TESTS = /[\\/]test[\\/]dashboard[\\/]/;

class BrowserTestsLast extends Sequencer {
  async sort(tests) {
    const sorted = await super.sort(tests);
    return [...sorted.filter((t) => !BROWSER_TESTS.test(t.path)), ...sorted.filter((t) => BROWSER_TESTS.test(t.path))];
  }
}

module.exports = BrowserTestsLast;
