// Public surface of the pure BTF layer: raw BTF and .BTF.ext parsing, lazy type access and name
// lookup, size/alignment queries, mutation and encoding, loader fixups and kernel sanitizing.
export * from './types.js';
export { Btf } from './btf.js';
export type { BtfParseOptions } from './btf.js';
export { parseBtfExt } from './ext.js';
export type { BtfExt, BtfExtFuncInfo, BtfExtLineInfo, BtfExtCoreRelo } from './ext.js';
export { fixupDatasecs, layoutExterns } from './fixup.js';
export type { ExternLayout, KconfigExtern, KsymExtern } from './fixup.js';
export { sanitizeBtf, featureProbeBtf } from './sanitize.js';
export type { BtfFeatures } from './sanitize.js';
export { dumpRaw, dumpRawType } from './dump-raw.js';
export { BtfDumper, dumpC, dumpCTo, VMLINUX_H_HEADER, VMLINUX_H_FOOTER } from './dump-c.js';
export type { BtfDumperOptions, DumpCOptions, EmitTypeDeclOptions, BtfDumpWarning } from './dump-c.js';
export { RawTypes } from './raw-types.js';
export { dumpRawJson } from './dump-raw-json.js';
