// The syscall layer: the only part of tsbpf that talks to the kernel (through koffi). Everything
// above it (src/) uses these wrappers and never imports koffi.

export { Fd, liveFds, leakedFdCount } from './fd.js';
export {
  mapCreate, mapCreateAsync, mapLookupElem, mapUpdateElem, mapDeleteElem, mapGetNextKey, mapLookupAndDeleteElem, mapFreeze,
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
export { MappedRegion, mapFileReadOnly, setZeroCopy, zeroCopyEnabled } from './mmap.js';
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
export { createPoller, defaultWaitMode, uvPollSupported, dupFd } from './poll.js';
export type { Poller, WaitMode } from './poll.js';
// Attachment plumbing (netlink, tracefs, probes, sockets, link queries).
export {
  rtnlRequest, nlAttr, nlU32, nlS32, nlStr, nlNested, nlParseAttrs, RTM, ifIndex, XDP_FLAGS, xdpSetProgram, xdpQuery,
  xdpFlagsAreModesOnly, tcHookCreate, tcHookDestroy, tcFilterAttach, tcFilterDetach, tcFilterList,
} from './netlink.js';
export type { NlMessage, XdpState, TcDirection, TcFilterOptions, TcFilter } from './netlink.js';
export {
  tracefsRoot, tracepointId, probePmuType, probeRetprobeBit, legacyProbeEventName, legacyProbeCommand, legacyProbeControlFile,
  addLegacyProbeEvent, removeLegacyProbeEvent,
} from './tracefs.js';
export type { LegacyProbeKind } from './tracefs.js';
export { PERF_TYPE, PERF_COUNT_SW, PERF_COUNT_HW, probePerfAttr, perfEventOpenProbe, tracepointPerfAttr } from './perf-probe.js';
export type { ProbeAttrOptions } from './perf-probe.js';
export { linkDetails, progQuery } from './link-query.js';
export type { LinkDetails, ProgQueryResult, PerfEventLinkType } from './link-query.js';
export {
  socketOpen, sockaddrIn, parseSockaddrIn, sockBind, sockConnect, sockListen, sockAccept, sockName, sockSend, sockRecv,
  setSockOpt, getSockOptInt, socketAttachBpf, socketDetachBpf, netnsPath, openNetns, withNetns, withNetnsFd, dupRawFd,
  AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_NONBLOCK, SOCK_CLOEXEC, SOL_SOCKET, MSG_DONTWAIT,
} from './sockets.js';
