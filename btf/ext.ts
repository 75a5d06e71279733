// .BTF.ext: per-ELF-section func_info, line_info and CO-RE relocation records (libbpf btf_ext__new).

import { ParseError } from '../src/errors.js';
import type { Btf } from './btf.js';

export interface BtfExtFuncInfo {
  /** Byte offset of the function's first instruction within its ELF section (as in the file). */
  insnOff: number;
  typeId: number;
}
export interface BtfExtLineInfo {
  /** Byte offset of the instruction within its ELF section (as in the file). */
  insnOff: number;
  fileNameOff: number;
  lineOff: number;
  lineCol: number;
  fileName: string;
  line: number;
  col: number;
  lineText: string;
}
export interface BtfExtCoreRelo {
  /** Byte offset of the instruction within its ELF section (as in the file). */
  insnOff: number;
  typeId: number;
  accessStrOff: number;
  accessStr: string;
  /** enum bpf_core_relo_kind. */
  kind: number;
}
export interface BtfExt {
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  coreReloRecSize: number;
  /** Keyed by ELF section name. */
  funcInfo: Map<string, BtfExtFuncInfo[]>;
  lineInfo: Map<string, BtfExtLineInfo[]>;
  coreRelos: Map<string, BtfExtCoreRelo[]>;
}

const SECTION = '.BTF.ext';
const BTF_MAGIC = 0xeb9f;
/** Header up to line_info_len; core_relo_off/len follow when hdr_len allows. */
const HDR_MIN = 24;
const HDR_CORE = 32;
const FUNC_INFO_MIN = 8;
const LINE_INFO_MIN = 16;
const CORE_RELO_MIN = 16;

function fail(message: string, offset?: number): never {
  throw new ParseError(message, offset === undefined ? { section: SECTION } : { section: SECTION, offset });
}

/** Parse .BTF.ext against its object's BTF (string offsets refer to the BTF string section). */
export function parseBtfExt(bytes: Uint8Array, btf: Btf): BtfExt {
  const size = bytes.length;
  if (size < 8) fail('.BTF.ext header too short', 0);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
  let le: boolean;
  if (dv.getUint16(0, true) === BTF_MAGIC) le = true;
  else if (dv.getUint16(0, false) === BTF_MAGIC) le = false;
  else fail(`invalid .BTF.ext magic 0x${dv.getUint16(0, true).toString(16)}`, 0);
  const native = le === (new Uint8Array(new Uint32Array([1]).buffer)[0] === 1);
  if (bytes[2] !== 1) fail(`unsupported .BTF.ext version ${bytes[2]}`, 2);
  if (bytes[3] !== 0) fail(`unsupported .BTF.ext flags 0x${bytes[3]!.toString(16)}`, 3);
  const hdrLen = dv.getUint32(4, le);
  if (hdrLen > size) fail(`.BTF.ext header length ${hdrLen} exceeds the section (${size} bytes)`, 4);
  if (hdrLen === size) fail('.BTF.ext has no data', 4);
  if (hdrLen < HDR_MIN) fail(`.BTF.ext header length ${hdrLen} lacks func_info/line_info`, 4);

  // File names repeat in every line_info record, and one string can serve many records: decode each once.
  const strings = new Map<number, string>();
  const str = (off: number, what: string, at: number): string => {
    let s = strings.get(off);
    if (s !== undefined) return s;
    try {
      s = btf.strAt(off);
    } catch {
      return fail(`${what}: invalid string offset ${off}`, at);
    }
    strings.set(off, s);
    return s;
  };
  const typeId = (id: number, at: number): number => {
    if (id > btf.typeCount) fail(`invalid type id ${id} (type count ${btf.typeCount})`, at);
    return id;
  };

  // Walks one info subsection, calling `rec(sectionName, recordOffset)` for every record.
  const walk = (hdrField: number, minRec: number, desc: string, rec: (sec: string, at: number) => void): number => {
    const off = dv.getUint32(hdrField, le);
    const len = dv.getUint32(hdrField + 4, le);
    if (len === 0) return 0;
    if (off % 4) fail(`${desc} subsection is not aligned to 4 bytes`, hdrField);
    const start = hdrLen + off;
    if (start + len > size) fail(`${desc} subsection (off ${off}, len ${len}) is beyond the end of .BTF.ext`, hdrField);
    if (len < 4) fail(`${desc} record size not found`, start);
    const recSize = dv.getUint32(start, le);
    // Records may grow in future versions; other-endian data is only understood at the exact size.
    if (recSize < minRec || (!native && recSize !== minRec) || recSize % 4) fail(`${desc} has invalid record size ${recSize}`, start);
    let p = start + 4;
    const end = start + len;
    if (p === end) fail(`${desc} has no records`, p);
    while (p < end) {
      if (end - p < 8) fail(`${desc} section header is truncated`, p);
      const nameOff = dv.getUint32(p, le);
      const num = dv.getUint32(p + 4, le);
      if (num === 0) fail(`${desc} section has no records`, p + 4);
      const total = 8 + num * recSize;
      if (end - p < total) fail(`${desc} section has ${num} records, more than fit`, p + 4);
      const secName = str(nameOff, `${desc} section name`, p);
      for (let i = 0, r = p + 8; i < num; i++, r += recSize) rec(secName, r);
      p += total;
    }
    return recSize;
  };

  const push = <T>(m: Map<string, T[]>, k: string, v: T): void => {
    const a = m.get(k);
    if (a) a.push(v); else m.set(k, [v]);
  };

  const funcInfo = new Map<string, BtfExtFuncInfo[]>();
  const lineInfo = new Map<string, BtfExtLineInfo[]>();
  const coreRelos = new Map<string, BtfExtCoreRelo[]>();

  const funcInfoRecSize = walk(8, FUNC_INFO_MIN, 'func_info', (sec, r) => {
    push(funcInfo, sec, { insnOff: dv.getUint32(r, le), typeId: typeId(dv.getUint32(r + 4, le), r + 4) });
  });
  const lineInfoRecSize = walk(16, LINE_INFO_MIN, 'line_info', (sec, r) => {
    const fileNameOff = dv.getUint32(r + 4, le);
    const lineOff = dv.getUint32(r + 8, le);
    const lineCol = dv.getUint32(r + 12, le);
    push(lineInfo, sec, {
      insnOff: dv.getUint32(r, le), fileNameOff, lineOff, lineCol,
      fileName: str(fileNameOff, 'line_info file name', r + 4), line: lineCol >>> 10, col: lineCol & 0x3ff,
      lineText: str(lineOff, 'line_info line', r + 8),
    });
  });
  let coreReloRecSize = 0;
  if (hdrLen >= HDR_CORE) {
    coreReloRecSize = walk(24, CORE_RELO_MIN, 'core_relo', (sec, r) => {
      const accessStrOff = dv.getUint32(r + 8, le);
      push(coreRelos, sec, {
        insnOff: dv.getUint32(r, le), typeId: typeId(dv.getUint32(r + 4, le), r + 4), accessStrOff,
        accessStr: str(accessStrOff, 'core_relo access string', r + 8), kind: dv.getUint32(r + 12, le),
      });
    });
  }
  return { funcInfoRecSize, lineInfoRecSize, coreReloRecSize, funcInfo, lineInfo, coreRelos };
}
