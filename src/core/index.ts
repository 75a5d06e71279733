// CO-RE (compile once, run everywhere): libbpf's relo_core semantics over tsbpf's Btf. Pure: no file
// system, no system calls. Kernel BTF sources (vmlinux, modules, btfCustomPath) live in
// src/kernel-btf.ts (kernelCoreTargets).
export { CORE_RELO_KIND, coreReloKindName, isFieldBased, isTypeBased, isEnumvalBased, isExistenceKind } from './kinds.js';
export type { CoreReloKind } from './kinds.js';
export { essentialName, essentialNameLen, sameEssentialName } from './names.js';
export { parseSpec, specMatch, typesAreCompat, typesMatch, fieldsAreCompat, formatSpec, formatPath } from './spec.js';
export type { CoreSpec, CoreAccessor } from './spec.js';
export { calcRelo } from './calc.js';
export type { CoreReloRes } from './calc.js';
export { patchInsn, poisonInsn } from './patch.js';
export { CandidateIndex, createCoreTargets } from './targets.js';
export type { CoreCandidate, CoreTargetBtf, CoreTargets, CreateCoreTargetsOptions } from './targets.js';
export {
  applyCoreRelos, relocateObjectCore, describeCoreOutcome, fixupCoreVerifierLog, CoreRelocationError,
} from './relocate.js';
export type { CoreReloOutcome, ApplyCoreRelosOptions, CoreProgram, CoreProgramResult } from './relocate.js';
