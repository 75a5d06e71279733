// freplace (BPF_PROG_TYPE_EXT) on the real kernel: an XDP program whose verdict comes from the global
// subprogram decide(); an extension loaded against it replaces decide(), which BPF_PROG_TEST_RUN
// shows (XDP_PASS becomes XDP_DROP, or XDP_TX), and closing the link restores the original.
// Kernels without BPF trampolines refuse every EXT program with EPERM (libbpf too): there the live
// tests check that the refusal is explained, and the rest is skipped.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfError, BpfObject, NotSupportedError } from '../src/index.js';
import { compileBpf } from './support/compile.js';
import { globals, markIds, settledLeftovers, track } from './attach-support.js';
import { testIf } from './support/skip.js';

const marks = markIds();
const TARGET = compileBpf('attach-freplace-target');
const EXT = compileBpf('attach-freplace');
const XDP = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3 };
const packet = new Uint8Array(64).fill(0xab);

async function target(): Promise<BpfObject> {
  const obj = BpfObject.open(TARGET);
  await obj.load();
  return track(obj);
}

/** Whether this kernel loads EXT programs at all (it needs trampolines, like fentry). */
async function extSupported(): Promise<boolean> {
  using t = await target();
  using ext = BpfObject.open(EXT);
  ext.program('new_decide').setAttachTarget(t.program('xdp_target'));
  ext.program('tx_decide').autoload = false;
  try {
    await ext.load();
    return true;
  } catch (e) {
    if (e instanceof NotSupportedError && e.errno === 1) return false;
    throw e;
  }
}
const EXT_OK = await extSupported();
const EXT_MISSING = 'needs EXT programs (BPF trampolines), which this kernel refuses';

testIf(!EXT_OK, 'needs a kernel that refuses EXT programs')('freplace: a kernel that refuses EXT programs gets a clear error', async () => {
  using t = await target();
  using ext = BpfObject.open(EXT);
  ext.program('new_decide').setAttachTarget(t.program('xdp_target'));
  ext.program('tx_decide').autoload = false;
  await ext.load().then(() => assert.unreachable(), (e) => {
    assert.instance(e, NotSupportedError);
    assert.match((e as Error).message, /refused to load freplace program 'new_decide'/);
    assert.match((e as BpfError).advice ?? '', /trampolines/);
  });
});

const verdict = (obj: BpfObject): number => obj.program('xdp_target').testRunSync({ data: packet }).retval;

testIf(EXT_OK, EXT_MISSING)('freplace: SEC("freplace/decide") loaded against a loaded XDP program replaces its global function', async () => {
  using t = await target();
  assert.is(verdict(t), XDP.PASS);
  using ext = BpfObject.open(EXT);
  ext.program('new_decide').setAttachTarget(t.program('xdp_target'));
  ext.program('tx_decide').autoload = false;
  await ext.load();
  track(ext);
  const { links, skipped } = await ext.attach();
  assert.equal(skipped.map((s) => s.program), ['tx_decide']);
  const l = links.get('new_decide')!;
  assert.is(l.kind, 'freplace');
  assert.is(verdict(t), XDP.DROP, 'decide() is replaced');
  assert.is(globals(ext).get('replaced'), 1n);
  assert.is(globals(t).get('calls'), 0n, 'the original did not run');
  ext.detach();
  assert.is(verdict(t), XDP.PASS, 'closing the link restores decide()');
  assert.is(globals(t).get('calls'), 1n);
});

testIf(EXT_OK, EXT_MISSING)('freplace: attachFreplace(target, func) on another program with the same function', async () => {
  using t1 = await target();
  using t2 = await target();
  using ext = BpfObject.open(EXT);
  ext.program('new_decide').autoload = false;
  ext.program('tx_decide').setAttachTarget(t1.program('xdp_target').fd, 'decide');
  await ext.load();
  track(ext);
  {
    using l = ext.program('tx_decide').attachFreplace(t2.program('xdp_target'), 'decide');
    assert.match(l.target, /freplace prog 'xdp_target':decide/);
    assert.is(verdict(t2), XDP.TX);
    assert.is(verdict(t1), XDP.PASS, 'only the program given is changed');
    assert.ok(l.info().id > 0);
  }
  assert.is(verdict(t2), XDP.PASS);
  {
    using l = ext.program('tx_decide').attachFreplace();
    assert.is(verdict(t1), XDP.TX, 'no arguments: the load-time target');
    void l;
  }
  assert.is(verdict(t1), XDP.PASS);
});

test('freplace: clear errors (no target before load, unknown function)', async () => {
  using t = await target();
  {
    using ext = BpfObject.open(EXT);
    ext.program('tx_decide').autoload = false;
    await ext.load().then(() => assert.unreachable(), (e) => {
      assert.instance(e, BpfError);
      assert.match((e as BpfError).message, /new_decide.*none was given|none was given/);
      assert.match((e as BpfError).advice ?? '', /setAttachTarget/);
    });
  }
  {
    using ext = BpfObject.open(EXT);
    ext.program('tx_decide').autoload = false;
    ext.program('new_decide').setAttachTarget(t.program('xdp_target'), 'nope');
    await ext.load().then(() => assert.unreachable(), (e) => assert.match((e as Error).message, /has no function 'nope'/));
  }
  {
    using ext = BpfObject.open(EXT);
    ext.program('new_decide').setAttachTarget(t.program('xdp_target'));
    ext.program('tx_decide').autoload = false;
    await ext.load().catch((e: unknown) => assert.ok(!EXT_OK && e instanceof NotSupportedError));
    if (ext.loaded) track(ext);
    assert.throws(() => ext.program('new_decide').setAttachTarget(t.program('xdp_target')), /before load/);
  }
});

test('leak check: no link, program or map of this file is left', async () => {
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
