// Kernel feature probes, each run at most once per process. BTF kinds are probed by loading a tiny BTF
// blob that uses the kind, as libbpf does; the answers drive BTF sanitization.

import { Btf, BTF_FUNC_LINKAGE, BTF_KIND, BTF_VAR_LINKAGE, featureProbeBtf, type BtfFeatures } from '../btf/index.js';
import {
  BPF_ATTACH_TYPE, BPF_PROG_TYPE, btfLoad, type Fd, kernelVersionCode, linkCreate, type LinkCreateOptions, progLoad,
} from '../syscalls/index.js';
import { NotSupportedError } from './errors.js';

let btfFeatures: BtfFeatures | undefined;

function probeBtf(feature: keyof BtfFeatures): boolean {
  return loads(featureProbeBtf(feature));
}

/**
 * One BTF blob with every construct probed below (static and global functions, .data and ?.data
 * sections, float, decl and type tags, enum64). The kernel validates every type of a blob, so if it
 * loads this one it supports them all: one BPF_BTF_LOAD instead of nine on current kernels. If it is
 * refused, each feature is probed on its own, as libbpf does.
 */
export function allFeaturesProbeBtf(): Uint8Array {
  const b = Btf.create();
  const int = b.addType({ kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 });
  const proto = b.addType({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 0, params: [{ name: 'a', type: int }] });
  b.addType({ kind: BTF_KIND.FUNC, name: 'x', type: proto, linkage: BTF_FUNC_LINKAGE.STATIC });
  b.addType({ kind: BTF_KIND.FUNC, name: 'y', type: proto, linkage: BTF_FUNC_LINKAGE.GLOBAL });
  const v = b.addType({ kind: BTF_KIND.VAR, name: 'v', type: int, linkage: BTF_VAR_LINKAGE.STATIC });
  b.addType({ kind: BTF_KIND.DATASEC, name: '.data', size: 4, vars: [{ type: v, offset: 0, size: 4 }] });
  const w = b.addType({ kind: BTF_KIND.VAR, name: 'w', type: int, linkage: BTF_VAR_LINKAGE.STATIC });
  b.addType({ kind: BTF_KIND.DATASEC, name: '?.data', size: 4, vars: [{ type: w, offset: 0, size: 4 }] });
  b.addType({ kind: BTF_KIND.FLOAT, name: 'float', size: 4 });
  b.addType({ kind: BTF_KIND.DECL_TAG, name: 'tag', type: v, componentIdx: -1 });
  const tag = b.addType({ kind: BTF_KIND.TYPE_TAG, name: 'tag', type: int, kflag: false });
  b.addType({ kind: BTF_KIND.PTR, name: '', type: tag });
  b.addType({ kind: BTF_KIND.ENUM64, name: 'enum64', size: 8, signed: false, values: [] });
  return b.encode();
}

function loads(blob: Uint8Array): boolean {
  try {
    btfLoad(blob).close();
    return true;
  } catch {
    return false;
  }
}

/** Which BTF kinds and flavours the running kernel accepts. */
export function kernelBtfFeatures(): BtfFeatures {
  if (!btfFeatures && loads(allFeaturesProbeBtf())) {
    btfFeatures = {
      btf: true, func: true, globalFunc: true, datasec: true, qmarkDatasec: true, float: true, declTag: true, typeTag: true, enum64: true,
    };
  }
  if (!btfFeatures) {
    const btf = probeBtf('btf');
    btfFeatures = {
      btf,
      func: btf && probeBtf('func'),
      globalFunc: btf && probeBtf('globalFunc'),
      datasec: btf && probeBtf('datasec'),
      qmarkDatasec: btf && probeBtf('qmarkDatasec'),
      float: btf && probeBtf('float'),
      declTag: btf && probeBtf('declTag'),
      typeTag: btf && probeBtf('typeTag'),
      enum64: btf && probeBtf('enum64'),
    };
  }
  return btfFeatures;
}

/** True when every BTF feature is present, so the object's BTF can be loaded unchanged. */
export function needsBtfSanitizing(f: BtfFeatures): boolean {
  return !(f.func && f.globalFunc && f.datasec && f.qmarkDatasec && f.float && f.declTag && f.typeTag && f.enum64);
}

/**
 * Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK instead of the memory cgroup, so loads fail
 * with EPERM unless the limit is raised (libbpf raises it to infinity in that case).
 */
export function kernelChargesMemlock(): boolean {
  return kernelVersionCode() < (5 << 16) + (11 << 8);
}

/**
 * Features named in TSBPF_PRETEND_MISSING (comma-separated, e.g. `tcx,uprobe_multi`) probe as absent:
 * on a kernel that has them, this runs the paths a kernel without them takes (the errors and the
 * callers' fallbacks), which is how the tests and examples check those paths on a new kernel.
 */
const pretendMissing = new Set((process.env.TSBPF_PRETEND_MISSING ?? '').split(',').map((s) => s.trim()).filter(Boolean));

/** Link types that came after the rest of the loader's baseline, with the release that brought them. */
export const LINK_FEATURES = {
  tcx: { what: 'tcx links (BPF_TCX_INGRESS/EGRESS)', since: '6.6' },
  uprobe_multi: { what: 'uprobe.multi links (BPF_TRACE_UPROBE_MULTI)', since: '6.6' },
} as const;
export type LinkFeature = keyof typeof LINK_FEATURES;

/**
 * @internal For tests: makes `f` probe as absent (or no longer), like TSBPF_PRETEND_MISSING, in this
 * process. Only the probe's answer changes; the kernel is untouched.
 */
export function setPretendMissing(f: LinkFeature, missing: boolean): void {
  if (missing) pretendMissing.add(f);
  else pretendMissing.delete(f);
}

const linkFeatureCache = new Map<LinkFeature, boolean>();
/** `r0 = 0; exit`. */
const RETURN_0 = Uint8Array.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Whether the kernel has a link type, probed once per process by creating one with a target that
 * cannot exist: a kernel with the link type gets as far as looking the target up and fails there
 * (ENODEV for an ifindex, EBADF for a path that is not a regular file), one without refuses the attach
 * type itself (EINVAL). A probe that cannot even load its program (no privileges, say) answers true:
 * the real attach will then fail with the kernel's own, more useful, error.
 */
export function kernelHasLink(f: LinkFeature): boolean {
  if (pretendMissing.has(f)) return false;
  let has = linkFeatureCache.get(f);
  if (has === undefined) {
    has = f === 'tcx'
      ? probeLink(BPF_PROG_TYPE.SCHED_CLS, undefined, BPF_ATTACH_TYPE.TCX_INGRESS, 0x7fffffff, {}, 19)
      : probeLink(BPF_PROG_TYPE.KPROBE, BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI, BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI, 0,
        { uprobeMulti: { path: '/', offsets: BigUint64Array.of(0n) } }, 9);
    linkFeatureCache.set(f, has);
  }
  return has;
}

function probeLink(progType: number, expectedAttachType: number | undefined, attachType: number, target: number,
  opts: LinkCreateOptions, presentErrno: number): boolean {
  let prog: Fd;
  try {
    prog = progLoad({ progType, insns: RETURN_0, license: 'GPL', expectedAttachType }, 'link feature probe');
  } catch {
    return true;
  }
  try {
    linkCreate(prog.fd, target, attachType, opts, 'link feature probe').close();
    return true;
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    return errno === presentErrno;
  } finally {
    prog.close();
  }
}

/** The error for an attach that needs a link type the kernel lacks (the kernel itself says EINVAL). */
export function missingLinkError(f: LinkFeature, what: string, advice: string): NotSupportedError {
  const { what: feature, since } = LINK_FEATURES[f];
  return new NotSupportedError(`${what}: this kernel has no ${feature}, which came in Linux ${since}`, {
    errno: 22, cmd: 'BPF_LINK_CREATE', advice,
  });
}
