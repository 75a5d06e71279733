import { ParseError } from '../src/errors.js';

const utf8 = new TextDecoder();
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * A NUL-terminated string section (SHT_STRTAB). An ASCII table (the normal case) is decoded once,
 * on first use, and each lookup is a slice of that string: per-string decoding dominated the cost
 * of reading vmlinux-sized symbol tables.
 *
 * Lookups find the terminating NUL with a native indexOf. A hostile table can make that quadratic
 * (thousands of names starting inside one long NUL-free run), so once the bytes scanned exceed a
 * few times the table size, lookups switch to binary search over the sorted NUL positions.
 */
export class StringTable {
  readonly data: Uint8Array;
  /** The section name, for error messages. */
  readonly section: string;
  /** The whole table as a string when it is pure ASCII (so string offsets equal byte offsets). */
  private text: string | undefined;
  private decoded = false;
  private scanned = 0;
  private nuls: Uint32Array | undefined;

  constructor(data: Uint8Array, section: string) {
    this.data = data;
    this.section = section;
  }

  /**
   * The string starting at `offset`. `what` (and `index`, appended when given) name the referrer
   * in the error message; they are separate so the hot path builds no message strings.
   */
  get(offset: number, what: string, index?: number): string {
    const data = this.data;
    if (offset >= data.length) {
      throw new ParseError(`${referrer(what, index)}: string offset ${offset} is outside ${this.section} (size ${data.length})`, {
        section: this.section,
        offset,
      });
    }
    if (!this.decoded) this.decode();
    const text = this.text;
    let end: number;
    if (this.nuls) {
      end = nulAtOrAfter(this.nuls, offset);
    } else {
      end = text !== undefined ? text.indexOf('\0', offset) : data.indexOf(0, offset);
      if (end !== -1) {
        this.scanned += end - offset;
        if (this.scanned > 4 * data.length + 65536) this.nuls = indexNuls(data);
      }
    }
    if (end === -1) {
      throw new ParseError(`${referrer(what, index)}: string at offset ${offset} is not NUL-terminated within ${this.section}`, {
        section: this.section,
        offset,
      });
    }
    if (end === offset) return '';
    return text !== undefined ? text.slice(offset, end) : utf8.decode(data.subarray(offset, end));
  }

  private decode(): void {
    const text = utf8.decode(this.data);
    // Any byte ≥ 0x80 decodes to a non-ASCII char (or U+FFFD), so this also proves 1:1 offsets.
    if (!NON_ASCII.test(text)) this.text = text;
    this.decoded = true;
  }
}

function indexNuls(data: Uint8Array): Uint32Array {
  let count = 0;
  for (let i = data.indexOf(0); i !== -1; i = data.indexOf(0, i + 1)) count++;
  const nuls = new Uint32Array(count);
  let n = 0;
  for (let i = data.indexOf(0); i !== -1; i = data.indexOf(0, i + 1)) nuls[n++] = i;
  return nuls;
}

/** The first NUL position ≥ offset, or -1. */
function nulAtOrAfter(nuls: Uint32Array, offset: number): number {
  let lo = 0;
  let hi = nuls.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (nuls[mid]! < offset) lo = mid + 1;
    else hi = mid;
  }
  return lo === nuls.length ? -1 : nuls[lo]!;
}

function referrer(what: string, index: number | undefined): string {
  return index === undefined ? what : `${what} ${index}`;
}
