// `tsbpf build`'s engine, for build scripts too: C source → .bpf.o → typed .skel.ts.
export { buildBpf, parseDepfile, sourceStem, type BuildOptions, type BuildResult } from './compile.js';
export { findClang, targetArch, toolchain, type Toolchain } from './toolchain.js';
export { cacheDir } from './files.js';
export { vmlinuxHeaderDir } from './vmlinux-header.js';
export { BuildWatcher, type WatchHandlers } from './watch.js';
