// Kernel feature probes, each run at most once per process. BTF kinds are probed by loading a tiny BTF
// blob that uses the kind, as libbpf does; the answers drive BTF sanitization.

import { Btf, BTF_FUNC_LINKAGE, BTF_KIND, BTF_VAR_LINKAGE, featureProbeBtf, type BtfFeatures } from '../btf/index.js';
import { btfLoad, kernelVersionCode } from '../syscalls/index.js';

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
