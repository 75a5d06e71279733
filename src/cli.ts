#!/usr/bin/env node
// The `tsbpf` executable. It always runs: this file is only ever started, never imported (the library
// and the tests import cli/main.ts). An installed bin is started as node_modules/.bin/tsbpf, a
// symlink whose name says nothing about this file, so nothing here may depend on how it was started.

import { setFlagsFromString } from 'node:v8';
import { main } from './cli/main.js';

// A short-lived process: TurboFan's inlining costs more compile time than it saves here (vmlinux's
// `btf dump format c` uses ~15% less CPU without it, and no more wall time; bench/btf-dump.ts).
// Compiles run on a second thread, which a busy machine may not have spare.
setFlagsFromString('--no-turbo-inlining');

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  process.stderr.write(`tsbpf: internal error: ${(e as Error)?.stack ?? e}\n`);
  process.exitCode = 70;
});
