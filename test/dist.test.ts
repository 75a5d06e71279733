// The package must work for consumers that cannot run TypeScript: `npm run build` emits dist/, and plain
// node imports it by the package name through the exports map.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, compileBpf } from './support/compile.js';

test('dist/ imports with plain node and loads an object', () => {
  if (!existsSync(join(REPO_ROOT, 'dist/src/index.js'))) {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }
  const obj = compileBpf('globals');
  const script = `
    import { BpfObject, BpfError } from 'tsbpf';
    const obj = BpfObject.open(${JSON.stringify(obj)});
    await obj.load();
    console.log(JSON.stringify({ progs: [...obj.programs.keys()].length, maps: [...obj.maps.keys()], isError: typeof BpfError }));
    obj.close();
  `;
  // Self-reference by package name resolves through package.json "exports" from inside the package.
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  assert.ok(r.progs > 0);
  assert.ok(r.maps.includes('.bss'));
  assert.is(r.isError, 'function');
});

test.run();
