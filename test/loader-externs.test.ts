// Differential test: externs.bpf.c (kconfig, ksyms, kfuncs) through tsbpf and libbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfError, BpfObject } from '../src/index.js';
import { differential } from './support/differential.js';
import { compileInline } from './support/inline-bpf.js';
import { refRun } from './support/ref.js';
import { differences, mapDump } from './support/diff.js';
import { externsScenario } from './support/scenarios.js';

const s = externsScenario();
// The .kconfig layout is the loader's own business (programs reach it through relocations), so the
// main comparison checks its attributes only; the test below asks for libbpf's exact layout.
const d = differential(test, s, {
  layoutFree: ['.kconfig'],
  tagExclude: {
    // libbpf 1.1 leaves a call to an unresolved weak kfunc as a kfunc call with imm 0; libbpf >= 1.2
    // poisons it into an invalid helper call (imm 2002000000 + extern index). Either is dead code.
    weak_kfunc: 'unresolved weak kfunc encoding differs between libbpf versions',
  },
});

test('externs: .kconfig has the same layout and contents as libbpf\'s', async () => {
  const a = d.libbpf();
  const b = (await d.tsbpf()).outcome;
  assert.equal(mapDump(b, '.kconfig'), mapDump(a, '.kconfig'));
  assert.equal(differences(s, a, b), []);
});

// Externs the kernel lacks: the load fails with libbpf's errno. libbpf reports a failed BTF lookup of
// a typed ksym or kfunc as EINVAL and an unresolved typeless ksym as ESRCH (issue 15: a kfunc that
// 6.1 lacks gave ESRCH here).
const MISSING: Record<string, { decl: string; body: string; errno: number }> = {
  kfunc: { decl: 'extern void tsbpf_no_such_kfunc(void) __ksym;', body: 'tsbpf_no_such_kfunc(); return 0;', errno: 22 },
  'typed variable': { decl: 'extern const int tsbpf_no_such_var __ksym;', body: 'return *(volatile const int *)&tsbpf_no_such_var;', errno: 22 },
  'typeless symbol': { decl: 'extern const void tsbpf_no_such_sym __ksym;', body: 'volatile long a = (long)&tsbpf_no_such_sym; return a;', errno: 3 },
};
for (const [what, m] of Object.entries(MISSING)) {
  test(`a strong ${what} the kernel lacks: the load fails with libbpf's errno (${m.errno === 22 ? 'EINVAL' : 'ESRCH'}), naming the extern`, async () => {
    const src = `#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n${m.decl}\nSEC("syscall")\nint use_it(void *ctx)\n{\n\t${m.body}\n}\nchar LICENSE[] SEC("license") = "GPL";\n`;
    const path = compileInline(`missing-${what.replace(/ /g, '-')}`, src);
    const theirs = refRun(path, ['load']).lines.find((l) => l.cmd === 'load')?.err;
    assert.is(theirs, -m.errno, `libbpf's errno (${theirs})`);
    using obj = BpfObject.open(path);
    await obj.load().then(() => assert.unreachable('loaded'), (e: unknown) => {
      assert.instance(e, BpfError);
      assert.is((e as BpfError).errno, m.errno);
      assert.match((e as Error).message, /extern 'tsbpf_no_such_\w+' \(strong\) not resolved/);
    });
  });
}

test.run();
