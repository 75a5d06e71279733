// cgroup attachments on the real kernel, on a cgroup v2 directory the test creates: cgroup_skb
// (egress and ingress) and cgroup/sock_create through links, link update and detach, and the
// legacy BPF_PROG_ATTACH with ALLOW_MULTI and REPLACE. The traffic comes from a child process
// moved into the cgroup, inside a network namespace of its own.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { BpfObject, ATTACH_TYPE, progQuery } from '../src/index.js';
import { openCgroup } from '../src/attach/cgroup.js';
import { ATTACH_FLAGS, progInfo } from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';
import { globals, markIds, settledLeftovers, tempCgroup, track, vethPair, type VethPair } from './attach-support.js';

const OBJ = compileBpf('attach-cgroup');
const marks = markIds();
let net: VethPair;
let cg: { path: string; remove(): void };

test.before(() => {
  net = vethPair('cg', 72);
  cg = tempCgroup('cg');
});

test.after(() => {
  cg.remove();
  net.remove();
});

async function loaded(): Promise<{ obj: BpfObject; g: ReturnType<typeof globals> }> {
  const obj = BpfObject.open(OBJ);
  await obj.load();
  track(obj);
  return { obj, g: globals(obj) };
}

/** A child in the cgroup (and the test namespace) that sends 3 UDP datagrams to itself over loopback. */
function traffic(): void {
  // `ip netns exec` remounts /sys, hiding the cgroup mount: join the cgroup first, then exec into the namespace.
  const script = `
    const s = require('dgram').createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      let n = 0;
      s.on('message', () => { if (++n === 3) s.close(); });
      for (let i = 0; i < 3; i++) s.send('x', s.address().port, '127.0.0.1');
    });
    setTimeout(() => process.exit(2), 3000).unref();`;
  execFileSync('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && exec ip netns exec "$2" "$3" -e "$4"', 'sh', cg.path, net.nsA, process.execPath, script], {
    stdio: 'inherit', timeout: 10000,
  });
}

const progId = (obj: BpfObject, name: string): number => progInfo(obj.program(name).fd, { mapIds: false }).id;
const EGRESS = ATTACH_TYPE.BPF_CGROUP_INET_EGRESS!;

test('cgroup_skb and cgroup/sock_create links see a process of the cgroup', async () => {
  const { obj, g } = await loaded();
  try {
    using egress = obj.program('skb_egress').attachCgroup(cg.path);
    using ingress = obj.program('skb_ingress').attachCgroup(cg.path, 'BPF_CGROUP_INET_INGRESS');
    using sock = obj.program('sock_create').attachCgroup(cg.path);
    assert.is(egress.kind, 'cgroup');
    assert.is(egress.mechanism, 'bpf_link');
    assert.is(egress.info().attachTypeName, 'BPF_CGROUP_INET_EGRESS');
    assert.ok((egress.info().cgroupId ?? 0n) > 0n);
    traffic();
    assert.ok(g.get('egress_hits') >= 3n, `egress ${g.get('egress_hits')}`);
    assert.ok(g.get('ingress_hits') >= 3n, `ingress ${g.get('ingress_hits')}`);
    assert.ok(g.get('sock_hits') >= 1n, `sock_create ${g.get('sock_hits')}`);
    // update() swaps the program behind the link.
    egress.update(obj.program('skb_egress2'));
    const before = g.get('egress_hits');
    traffic();
    assert.is(g.get('egress_hits'), before);
    assert.ok(g.get('egress2_hits') >= 3n);
    // detach() ends it while the fd stays open.
    egress.detach();
    const cgfd = openCgroup(cg.path);
    try {
      assert.equal(progQuery(cgfd.fd, EGRESS).progIds, []);
    } finally {
      cgfd.close();
    }
  } finally {
    obj.close();
  }
});

test('legacy BPF_PROG_ATTACH: ALLOW_MULTI runs both programs, REPLACE swaps one, close detaches', async () => {
  const { obj, g } = await loaded();
  const cgfd = openCgroup(cg.path);
  try {
    const a = obj.program('skb_egress').attachCgroup(cg.path, undefined, { flags: ATTACH_FLAGS.ALLOW_MULTI });
    const b = obj.program('skb_egress2').attachCgroup(cgfd.fd, EGRESS, { flags: ATTACH_FLAGS.ALLOW_MULTI });
    try {
      assert.is(a.mechanism, 'prog_attach');
      const q = progQuery(cgfd.fd, EGRESS);
      assert.equal(q.progIds, [progId(obj, 'skb_egress'), progId(obj, 'skb_egress2')]);
      assert.is(q.attachFlags, ATTACH_FLAGS.ALLOW_MULTI);
      traffic();
      assert.ok(g.get('egress_hits') >= 3n && g.get('egress2_hits') >= 3n);
      // Program a refuses the second attach of the same program; b replaces a in place.
      b.close();
      a.update(obj.program('skb_egress2'));
      assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [progId(obj, 'skb_egress2')]);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [], 'close() detached them');
    // Without ALLOW_MULTI the hook holds one program: a second attach replaces the first, whose
    // close() then finds nothing to detach.
    using c = obj.program('skb_egress').attachCgroup(cg.path, undefined, { legacy: true });
    using d = obj.program('skb_egress2').attachCgroup(cg.path, undefined, { legacy: true });
    assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [progId(obj, 'skb_egress2')]);
    c.close();
    assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [progId(obj, 'skb_egress2')], 'closing the replaced one leaves the new one');
    d.close();
    assert.equal(progQuery(cgfd.fd, EGRESS).progIds, []);
    // ALLOW_MULTI on a hook that has a plain program is refused.
    using e1 = obj.program('skb_egress').attachCgroup(cg.path, undefined, { legacy: true });
    assert.throws(() => obj.program('skb_egress2').attachCgroup(cg.path, undefined, { flags: ATTACH_FLAGS.ALLOW_MULTI }), /EPERM|already attached/);
    assert.ok(e1);
  } finally {
    cgfd.close();
    obj.close();
  }
});

test('clear errors: a missing cgroup, a program with no attach type', async () => {
  const { obj } = await loaded();
  try {
    assert.throws(() => obj.program('skb_egress').attachCgroup('/sys/fs/cgroup/unified/no-such-group'), /cannot open cgroup/);
    await obj.program('skb_egress').attach().then(() => assert.unreachable(), (e) => assert.match((e as Error).message, /needs a cgroup: prog\.attachCgroup/));
  } finally {
    obj.close();
  }
});

test('leak check: no link, program or map of this file is left', async () => {
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
