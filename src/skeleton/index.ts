// Skeletons: `tsbpf gen skeleton` (generate.ts) and the runtime its output imports (runtime.ts, layout.ts).
export {
  Skeleton, TypedMap, PerCpuTypedMap, openSkeleton, openAndLoadSkeleton,
  type SkeletonBase, type SkeletonDesc, type SectionDesc, type MapDesc, type SkeletonOpenOptions, type SkeletonLinks,
} from './runtime.js';
export {
  CharArray, BufferBacking, codecFor, structAccessor, t as skeletonTypes,
  type Backing, type Codec, type Init, type TypeDesc, type StructType, type FieldDesc, type TypedArrayValue,
} from './layout.js';
export { generateSkeleton, skeletonName, sectionIdent, type GenerateSkeletonOptions } from './generate.js';
