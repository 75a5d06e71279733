// Kernel feature probes, each run at most once per process. BTF kinds are probed by loading a tiny BTF
// blob that uses the kind, as libbpf does; the answers drive BTF sanitization.

import { featureProbeBtf, type BtfFeatures } from '../btf/index.js';
import { btfLoad, kernelVersionCode } from '../syscalls/index.js';

let btfFeatures: BtfFeatures | undefined;

function probeBtf(feature: keyof BtfFeatures): boolean {
  try {
    btfLoad(featureProbeBtf(feature)).close();
    return true;
  } catch {
    return false;
  }
}

/** Which BTF kinds and flavours the running kernel accepts. */
export function kernelBtfFeatures(): BtfFeatures {
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
