// The syscall layer: the only part of tsbpf that talks to the kernel (through koffi). Everything
// above it (src/) uses these wrappers and never imports koffi.

export { Fd, liveFds, leakedFdCount } from './fd.js';
export {
  mapCreate, mapLookupElem, mapUpdateElem, mapDeleteElem, mapGetNextKey, mapLookupAndDeleteElem, mapFreeze,
  mapLookupBatch, mapLookupAndDeleteBatch, mapUpdateBatch, mapDeleteBatch,
  progLoad, progLoadWithLog, progLoadWithLogAsync, btfLoad, btfLoadWithLog, objPin, objGet, progTestRun,
  getNextId, progGetFdById, mapGetFdById, btfGetFdById, linkGetFdById,
  linkCreate, rawTracepointOpen, progAttach, progDetach, linkDetach, linkUpdate, progBindMap, iterCreate, enableStats,
  bpfRaw, logTail, INITIAL_LOG_SIZE, MAX_LOG_SIZE,
} from './bpf.js';
export type {
  MapCreateOptions, ProgLoadOptions, BtfLoadOptions, BatchOptions, ProgTestRunOptions, ProgTestRunResult, ObjKind,
  LinkCreateOptions, ProgAttachOptions,
} from './bpf.js';
export { mapInfo, progInfo, btfInfo, linkInfo } from './info.js';
export type { MapInfo, ProgInfo, ProgInfoOptions, BtfInfo, LinkInfo } from './info.js';
export { MappedRegion, setZeroCopy, zeroCopyEnabled } from './mmap.js';
export type { Prot } from './mmap.js';
export {
  possibleCpus, onlineCpus, parseCpuList, pageSize, kernelRelease, kernelVersion, kernelVersionCode, memlockRlimit,
  raiseMemlockRlimit, needsMemlockRlimit, isBpffs, hasCapability, CAP, RLIM_INFINITY,
} from './system.js';
export {
  perfEventAttr, perfEventOpen, perfEventEnable, perfEventDisable, perfEventSetBpf, PERF_FLAG_FD_CLOEXEC,
  Epoll, EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP, eventFd, eventFdRead, eventFdWrite, EFD_NONBLOCK,
} from './events.js';
export type { PerfEventAttrField } from './events.js';
export { syscallError, bpfAdvice, errnoDescription } from './errors.js';
export * from './constants.js';
export * from './generated/bpf-enums.js';
export {
  BPF_ATTR, BPF_ATTR_SIZE, BPF_ATTR_SIZEOF, BPF_PROG_INFO, BPF_PROG_INFO_SIZE, BPF_MAP_INFO, BPF_MAP_INFO_SIZE,
  BPF_BTF_INFO, BPF_BTF_INFO_SIZE, BPF_LINK_INFO, BPF_LINK_INFO_SIZE, PERF_EVENT_ATTR, PERF_EVENT_ATTR_SIZE,
} from './generated/bpf-attr.js';
export type { Field, BpfAttrLayout } from './generated/bpf-attr.js';
