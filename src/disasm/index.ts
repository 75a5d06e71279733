// Instruction decoding, disassembly (bpftool's xlated notation), listings with source lines, an
// assembler for hand-written programs, and BTF-typed value formatting.
export * from './opcodes.js';
export {
  decodeInstructions, encodeInstructions, imm64, slotCount, branchTarget, isLdImm64, isExit, isCall, isHelperCall,
  isPseudoCall, isKfuncCall, isSignExtendingLoad, type Instruction, type RawInsn,
} from './decode.js';
export { formatInstruction, helperName, helperId, type FormatOptions } from './format.js';
export {
  listing, listingText, listingJson, type ListingEntry, type ListingOptions, type FuncInfoRecord, type LineInfoRecord,
} from './listing.js';
export {
  Assembler, R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, FP, alu64, alu64Reg, alu32, alu32Reg, mov64, mov64Reg, mov32,
  movsx64, neg64, endian, ldx, ldxs, stx, st, atomic, xchg, cmpxchg, ldImm64, ldMapFd, ldMapValue, call, callKfunc, exit,
  type AluOp, type JmpOp, type Size, type AtomicOp,
} from './builder.js';
export { btfTypeOnly, btfValue, type BtfValueOptions } from './btf-text.js';
export { writeJson, RawJson, JsonEntries, type JsonValue } from './json-writer.js';
export { kernelSymbols, type KernelSymbols } from './kallsyms.js';
export {
  xlatedProgram, xlatedFormatOptions, kernelBtfById, progFullName, dumpXlated, dumpXlatedJson, type XlatedProgram,
} from './kernel-prog.js';
export {
  disassembleObjectProgram, disassembleObjectProgramText, objectFormatOptions, objectListingOptions, linkedFuncInfo,
  linkedLineInfo, type ObjectLike,
} from './object.js';
