// Terminal histograms as the bcc and libbpf-tools programs draw them (trace_helpers.c's
// print_log2_hist and print_linear_hist), for the counts BPF programs collect in slot arrays.
//
//      usecs               : count    distribution
//          0 -> 1          : 0        |                                        |
//          2 -> 3          : 4        |*****                                   |
//          4 -> 7          : 31       |****************************************|

/** A slot count as BPF maps hand them over: u32 slots read as numbers, u64 slots as bigints. */
export type HistCount = number | bigint;

export interface HistOptions {
  /** Width of the bar in characters (default 40; log2 histograms with slots past 32 use half). */
  stars?: number;
}

function big(v: HistCount): bigint {
  if (typeof v === 'bigint') return v;
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`histogram count must be a non-negative number, got ${v}`);
  return BigInt(Math.trunc(v));
}

/** `width` stars for val/max, '+' when val exceeds max (as print_stars does). */
function bar(val: bigint, max: bigint, width: number): string {
  const n = max === 0n ? 0 : Number(((val < max ? val : max) * BigInt(width)) / max);
  return `${'*'.repeat(n)}${' '.repeat(width - n)}${val > max ? '+' : ''}`;
}

const padStart = (s: string | bigint | number, w: number): string => String(s).padStart(w);
const padEnd = (s: string | bigint | number, w: number): string => String(s).padEnd(w);

/**
 * A power-of-two histogram: slot i counts values in [2^i, 2^(i+1)) (slot 0 also holds 0), the
 * layout every libbpf-tools BPF program fills with log2(value). Trailing empty slots are left out;
 * an all-zero histogram is the empty string. The text ends with a newline.
 *
 * @param vals the slot counts
 * @param valType the unit in the header, e.g. 'usecs' or 'msecs'
 */
export function formatLog2Hist(vals: ArrayLike<HistCount>, valType: string, opts: HistOptions = {}): string {
  let idxMax = -1;
  let valMax = 0n;
  const counts: bigint[] = [];
  for (let i = 0; i < vals.length; i++) {
    const v = big(vals[i]!);
    counts.push(v);
    if (v > 0n) idxMax = i;
    if (v > valMax) valMax = v;
  }
  if (idxMax < 0) return '';
  const narrow = idxMax <= 32;
  const stars = narrow ? (opts.stars ?? 40) : Math.floor((opts.stars ?? 40) / 2);
  const width = narrow ? 10 : 20;
  let out = `${' '.repeat(narrow ? 5 : 15)}${padEnd(valType, narrow ? 19 : 29)} : count    distribution\n`;
  for (let i = 0; i <= idxMax; i++) {
    let low = (1n << BigInt(i + 1)) >> 1n;
    const high = (1n << BigInt(i + 1)) - 1n;
    if (low === high) low -= 1n;
    out += `${padStart(low, width)} -> ${padEnd(high, width)} : ${padEnd(counts[i]!, 8)} |${bar(counts[i]!, valMax, stars)}|\n`;
  }
  return out;
}

/**
 * A linear histogram: slot i counts values in [base + i*step, base + (i+1)*step). Leading and
 * trailing empty slots are left out, as print_linear_hist does.
 */
export function formatLinearHist(vals: ArrayLike<HistCount>, base: number, step: number, valType: string, opts: HistOptions = {}): string {
  let idxMin = -1;
  let idxMax = -1;
  let valMax = 0n;
  const counts: bigint[] = [];
  for (let i = 0; i < vals.length; i++) {
    const v = big(vals[i]!);
    counts.push(v);
    if (v > 0n) {
      idxMax = i;
      if (idxMin < 0) idxMin = i;
    }
    if (v > valMax) valMax = v;
  }
  if (idxMax < 0) return '';
  const stars = opts.stars ?? 40;
  let out = `     ${padEnd(valType, 13)} : count     distribution\n`;
  for (let i = idxMin; i <= idxMax; i++) {
    out += `        ${padEnd(base + i * step, 10)}: ${padEnd(counts[i]!, 9)} |${bar(counts[i]!, valMax, stars)}|\n`;
  }
  return out;
}

/** formatLog2Hist, written to stdout (or `write`), like libbpf-tools' print_log2_hist. */
export function printLog2Hist(vals: ArrayLike<HistCount>, valType: string, opts: HistOptions & { write?: (s: string) => void } = {}): void {
  (opts.write ?? ((s: string) => void process.stdout.write(s)))(formatLog2Hist(vals, valType, opts));
}

/** formatLinearHist, written to stdout (or `write`), like libbpf-tools' print_linear_hist. */
export function printLinearHist(vals: ArrayLike<HistCount>, base: number, step: number, valType: string,
  opts: HistOptions & { write?: (s: string) => void } = {}): void {
  (opts.write ?? ((s: string) => void process.stdout.write(s)))(formatLinearHist(vals, base, step, valType, opts));
}
