import { ParseError } from '../src/errors.js';

/** One entry of a SHT_NOTE section or PT_NOTE segment. */
export interface ElfNote {
  /** The owner, e.g. 'GNU' or 'stapsdt' (without the terminating NUL). */
  name: string;
  type: number;
  /** Zero-copy view of the descriptor. */
  desc: Uint8Array;
  /** Offset of the note header within the section or segment. */
  offset: number;
}

const HEADER_SIZE = 12;
const latin1 = new TextDecoder('latin1');

/**
 * Splits note data into entries. `align` is the padding unit of name and descriptor: 4 for
 * classic notes (.note.stapsdt, .note.gnu.build-id), 8 for sections aligned to 8
 * (.note.gnu.property), as the gABI and binutils do.
 */
export function parseNotes(data: Uint8Array, align: number, section: string): ElfNote[] {
  const pad = align === 8 ? 8 : 4;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const notes: ElfNote[] = [];
  let off = 0;
  while (off + HEADER_SIZE <= data.length) {
    const namesz = view.getUint32(off, true);
    const descsz = view.getUint32(off + 4, true);
    const type = view.getUint32(off + 8, true);
    const nameOff = off + HEADER_SIZE;
    if (namesz > data.length - nameOff) {
      throw new ParseError(`note name size ${namesz} runs past the end`, { section, offset: off });
    }
    // Padding is relative to the start of the (pad-aligned) data, which is what matters for 8-byte
    // notes: a 4-byte name right after the 12-byte header needs no padding at all.
    const descOff = roundUp(nameOff + namesz, pad);
    if (descOff > data.length || descsz > data.length - descOff) {
      throw new ParseError(`note descriptor size ${descsz} runs past the end`, { section, offset: off + 4 });
    }
    let nameEnd = nameOff + namesz;
    if (nameEnd > nameOff && data[nameEnd - 1] === 0) nameEnd--;
    notes.push({
      name: latin1.decode(data.subarray(nameOff, nameEnd)),
      type,
      desc: data.subarray(descOff, descOff + descsz),
      offset: off,
    });
    off = roundUp(descOff + descsz, pad);
  }
  if (off < data.length && off + HEADER_SIZE > data.length && data.length - off >= pad) {
    throw new ParseError('truncated note header', { section, offset: off });
  }
  return notes;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
