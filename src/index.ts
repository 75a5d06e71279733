// tsbpf's public API.

export { BpfObject, type OpenOptions } from './object.js';
export { Program, type TestRunOptions, type TestRunResult } from './program.js';
export { BpfMap, UPDATE, type BatchOptions, type BatchResult } from './map.js';
export { GlobalData } from './global-data.js';
export {
  BpfError, ParseError, SyscallError, NotSupportedError, KeyNotFoundError, VerifierError, StateError, errnoName,
  type BpfErrorOptions,
} from './errors.js';
export { MAP_TYPE, MAP_FLAG, PROG_FLAG } from './spec/map-types.js';
export { PROG_TYPE, ATTACH_TYPE } from './kernel-enums.js';
export { findSectionDef, SECTION_DEFS, type SectionDef } from './section-defs.js';
