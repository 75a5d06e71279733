// The attach layer: one module per family of attachment, all returning Links.

export { autoAttach, autoAttachPlan, attachObject, detachObject, type AttachSummary, type AutoAttachPlan } from './auto.js';
export { attachCgroup, openCgroup, type CgroupOptions } from './cgroup.js';
export { resolveBinaryPath, findFuncOffset, findFuncsByPattern, globMatch } from './elf-symbols.js';
export {
  attachKprobe, attachKprobeMulti, attachKsyscall, kprobeMultiResolve, ksyscallFunction, kprobesUnavailable,
  type KprobeOptions, type KprobeMultiOptions, type ProbeAttachMode,
} from './kprobe.js';
export {
  attachNetfilter, attachNetns, attachSockmap, attachSocket, attachTc, attachTcx, attachXdp, mprogPosition,
  type Interface, type MprogAnchor, type MprogOptions, type NetfilterOptions, type SockmapOptions, type SocketRef, type TcOptions,
  type TcxOptions, type XdpOptions,
} from './net.js';
export {
  attachPerfEventFd, attachPerfEventPerCpu, attachPerfEventSpec, attachPerfFd, type PerfAttachOptions, type PerfEventSpec,
} from './perf.js';
export {
  attachIter, attachRawTracepoint, attachTrace, attachTracepoint, iterLinkInfo, type IterOptions, type RawTracepointOptions,
  type TraceOptions, type TracepointOptions,
} from './tracing.js';
export { attachUprobe, attachUprobeMulti, uprobeOffset, type UprobeMultiOptions, type UprobeOptions } from './uprobe.js';
export { attachUsdt, parseUsdtSection, usdtPlan, type UsdtObjectContext, type UsdtOptions } from './usdt.js';
export {
  encodeUsdtSpec, findUsdtTargets, parseUsdtArg, parseUsdtArgs, usdtNotes, USDT_SPEC_SIZE, type UsdtArgSpec, type UsdtNote, type UsdtTarget,
} from './usdt-spec.js';
export { attachFreplace, progFuncBtfId, resolveFreplaceTarget, type AttachTargetSpec, type FreplaceTarget } from './freplace.js';
