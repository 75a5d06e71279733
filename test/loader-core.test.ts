// CO-RE through the loader: CO-RE objects load with tsbpf and get libbpf's program tags (the same
// relocated instructions), results match what the kernel really holds, and a reached poisoned
// relocation fails with an error that names the relocation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfObject, VerifierError } from '../src/index.js';
import { progInfo } from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';
import { refRun } from './support/ref.js';

async function tags(path: string): Promise<Map<string, string>> {
  const obj = BpfObject.open(path, { objectName: '' });
  try {
    await obj.load();
    const out = new Map<string, string>();
    for (const [name, p] of obj.programs) if (p.loaded) out.set(name, progInfo(p.fd).tag);
    return out;
  } finally {
    obj.close();
  }
}

function libbpfTags(path: string): Map<string, string> {
  const r = refRun(path, ['load', 'progs']);
  const out = new Map<string, string>();
  for (const l of r.lines) {
    const line = l as unknown as { cmd?: string; name?: string; tag?: string };
    if (line.cmd === 'prog' && line.name && line.tag) out.set(line.name, line.tag);
  }
  return out;
}

for (const name of ['core-read']) {
  test(`${name}: every program has libbpf's tag after CO-RE relocation`, async () => {
    const path = compileBpf(name);
    const ours = await tags(path);
    const theirs = libbpfTags(path);
    assert.ok(theirs.size > 0, 'libbpf loaded the programs');
    for (const [prog, tag] of theirs) assert.is(ours.get(prog), tag, `program ${prog}`);
  });
}

test('a reached poisoned relocation fails with a message naming the relocation', async () => {
  const obj = BpfObject.open(compileBpf('core-poison'));
  for (const p of obj.programs.values()) p.autoload = true;
  try {
    await obj.load();
    assert.unreachable('a program that reads a missing field loaded');
  } catch (e) {
    assert.instance(e, VerifierError);
    const msg = (e as Error).message;
    assert.match(msg, /CO-RE relocation/);
    assert.match((e as VerifierError).log ?? '', /invalid CO-RE relocation/);
  } finally {
    obj.close();
  }
});

test.run();
