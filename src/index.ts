// tsbpf's public API.

export { BpfObject, type OpenOptions } from './object.js';
export { Program, type TestRunOptions, type TestRunResult } from './program.js';
export { BpfMap, UPDATE, type BatchOptions, type BatchResult } from './map.js';
export { GlobalData } from './global-data.js';
export { StructOps, type StructOpsFunc } from './struct-ops.js';
export {
  BpfError, ParseError, SyscallError, NotSupportedError, KeyNotFoundError, VerifierError, StateError, BuildError, errnoName,
  type BpfErrorOptions,
} from './errors.js';
export { MAP_TYPE, MAP_FLAG, PROG_FLAG } from './spec/map-types.js';
export { PROG_TYPE, ATTACH_TYPE } from './kernel-enums.js';
export { findSectionDef, SECTION_DEFS, type SectionDef } from './section-defs.js';
export { RingBuffer, Ring, type RingSource, type RingCallback, type RingBufferOptions } from './events/ringbuf.js';
export { PerfBuffer, PerfCpuBuffer, type PerfCallback, type LostCallback, type PerfBufferOptions } from './events/perfbuf.js';
export { UserRingBuffer, type UserRingBufferOptions } from './events/user-ringbuf.js';
export { RecordView } from './events/record.js';
export type { WaitMode } from '../syscalls/index.js';
export { Link, IterLink, LinkGroup, type LinkKind, type LinkMechanism, type ProgramRef } from './link.js';
export {
  type AttachSummary, type CgroupOptions, type Interface, type IterOptions, type KprobeMultiOptions, type KprobeOptions,
  type MprogAnchor, type MprogOptions, type NetfilterOptions, type PerfAttachOptions, type PerfEventSpec, type ProbeAttachMode,
  type RawTracepointOptions, type SockmapOptions, type SocketRef, type TcOptions, type TcxOptions, type TraceOptions,
  type TracepointOptions, type UprobeMultiOptions, type UprobeOptions, type XdpOptions,
  resolveBinaryPath, findFuncOffset, uprobeOffset,
} from './attach/index.js';
export {
  type UsdtOptions, type UsdtArgSpec, type UsdtNote, type UsdtTarget, usdtPlan, usdtNotes, parseUsdtArgs, encodeUsdtSpec,
} from './attach/index.js';
export { XDP_FLAGS, xdpQuery, tcFilterList, ifIndex, type XdpState, type TcFilter } from '../syscalls/netlink.js';
export { withNetns } from '../syscalls/sockets.js';
export { PERF_TYPE, PERF_COUNT_SW, PERF_COUNT_HW } from '../syscalls/perf-probe.js';
export { progQuery, type LinkDetails, type ProgQueryResult } from '../syscalls/link-query.js';
export * from './skeleton/index.js';
export { buildBpf, type BuildOptions, type BuildResult } from './build/index.js';
export { formatLog2Hist, formatLinearHist, printLog2Hist, printLinearHist, type HistCount, type HistOptions } from './histogram.js';
export * as asm from './disasm/index.js';
export {
  decodeInstructions, encodeInstructions, formatInstruction, listingText, listingJson, disassembleObjectProgram,
  disassembleObjectProgramText, xlatedProgram, xlatedFormatOptions, dumpXlated, dumpXlatedJson, Assembler, helperName, helperId,
  type Instruction, type RawInsn, type FormatOptions, type ListingOptions, type ListingEntry, type XlatedProgram,
} from './disasm/index.js';
export {
  probeProgType, probeMapType, probeHelper, probeMisc, probeBtfKinds, probeAll, type FeatureReport, type MiscFeature,
  type ProbeAllOptions,
} from './probes/index.js';
export {
  verifierDiagnostic, diagnoseVerifierLog, parseVerifierLog, formatDiagnostic, sourceLocation,
  type VerifierDiagnostic, type VerifierLogSummary, type SourceLocation, type CoreReloInfo,
} from './verifier-diagnostics.js';
export { Btf, BtfDumper, dumpC, BTF_KIND, type BtfDumperOptions, type DumpCOptions, type EmitTypeDeclOptions } from '../btf/index.js';
