// The terminal histograms match libbpf-tools' trace_helpers.c byte for byte (the expected texts are
// the C functions' output for the same counts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLinearHist, formatLog2Hist, printLog2Hist } from '../src/index.js';

const LOG2 =
  '     usecs               : count    distribution\n' +
  '         0 -> 1          : 0        |                                        |\n' +
  '         2 -> 3          : 4        |*****                                   |\n' +
  '         4 -> 7          : 31       |****************************************|\n' +
  '         8 -> 15         : 7        |*********                               |\n' +
  '        16 -> 31         : 0        |                                        |\n' +
  '        32 -> 63         : 1        |*                                       |\n';

const LINEAR =
  '     msecs         : count     distribution\n' +
  '        20        : 3         |*************                           |\n' +
  '        25        : 9         |****************************************|\n' +
  '        30        : 0         |                                        |\n' +
  '        35        : 1         |****                                    |\n';

const SINGLE =
  '     usecs               : count    distribution\n' +
  '         0 -> 1          : 7        |****************************************|\n';

// Slot 34 is past 32: wider columns and a 20-star bar (lines 0, 1 and the last shown here).
const WIDE_HEAD = '               usecs                         : count    distribution';
const WIDE_FIRST = '                   0 -> 1                    : 1        |****                |';
const WIDE_LAST = '         17179869184 -> 34359738367          : 5        |********************|';

test('log2 histogram: header, ranges, counts and bars as print_log2_hist draws them', () => {
  assert.is(formatLog2Hist([0, 4, 31, 7, 0, 1, 0, 0], 'usecs'), LOG2);
  // u64 counts (bigints) draw the same.
  assert.is(formatLog2Hist([0n, 4n, 31n, 7n, 0n, 1n], 'usecs'), LOG2);
  assert.is(formatLog2Hist(new Uint32Array([0, 4, 31, 7, 0, 1, 0, 0]), 'usecs'), LOG2);
  assert.is(formatLog2Hist([7], 'usecs'), SINGLE);
});

test('log2 histogram past slot 32 widens the columns and halves the bar', () => {
  const vals = new Array<number>(35).fill(0);
  vals[0] = 1;
  vals[34] = 5;
  const lines = formatLog2Hist(vals, 'usecs').split('\n');
  assert.is(lines.length, 37); // header, 35 slots, final newline
  assert.is(lines[0], WIDE_HEAD);
  assert.is(lines[1], WIDE_FIRST);
  assert.is(lines[35], WIDE_LAST);
});

test('empty histograms print nothing; bad counts are refused', () => {
  assert.is(formatLog2Hist([], 'usecs'), '');
  assert.is(formatLog2Hist([0, 0, 0], 'usecs'), '');
  assert.is(formatLinearHist([0, 0], 0, 1, 'x'), '');
  assert.throws(() => formatLog2Hist([-1], 'usecs'), /non-negative/);
  assert.throws(() => formatLog2Hist([NaN], 'usecs'), /non-negative/);
});

test('linear histogram skips empty leading and trailing slots, as print_linear_hist', () => {
  assert.is(formatLinearHist([0, 0, 3, 9, 0, 1, 0], 10, 5, 'msecs'), LINEAR);
});

test('printLog2Hist writes the text; counts beyond 2^53 keep their digits', () => {
  let out = '';
  printLog2Hist([0, 4, 31, 7, 0, 1], 'usecs', { write: (s) => { out += s; } });
  assert.is(out, LOG2);
  const huge = formatLog2Hist([2n ** 60n + 1n, 2n ** 59n], 'nsecs');
  assert.match(huge, /: 1152921504606846977 \|\*{40}\|/);
  // 2^59 / (2^60 + 1) of the bar rounds down to 19 stars, as the C integer division does.
  assert.match(huge, /: 576460752303423488 \|\*{19} {21}\|/);
});

test.run();
