// cgroup attachments on the real kernel, on a cgroup v2 directory the test creates: cgroup_skb
// (egress and ingress) and cgroup/sock_create through links, link update and detach, and the
// legacy BPF_PROG_ATTACH with ALLOW_MULTI and REPLACE. The traffic comes from a child process
// moved into the cgroup, inside a network namespace of its own.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { ATTACH_TYPE, progQuery, type Program } from '../src/index.js';
import { openCgroup } from '../src/attach/cgroup.js';
import { ATTACH_FLAGS, progInfo } from '../syscalls/index.js';
import { markIds, settledLeftovers, tempCgroup, track, vethPair, type VethPair } from './attach-support.js';
import * as attachCgroup from './skel/attach-cgroup.skel.js';
import { compiled } from './support/skeleton.js';

const { openAndLoad } = compiled(attachCgroup);
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

async function loaded(): Promise<attachCgroup.attach_cgroup> {
  const skel = await openAndLoad();
  track(skel.obj);
  return skel;
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

const progId = (p: Program): number => progInfo(p.fd, { mapIds: false }).id;
const EGRESS = ATTACH_TYPE.BPF_CGROUP_INET_EGRESS!;

test('cgroup_skb and cgroup/sock_create links see a process of the cgroup', async () => {
  using skel = await loaded();
  using egress = skel.progs.skb_egress.attachCgroup(cg.path);
  using ingress = skel.progs.skb_ingress.attachCgroup(cg.path, 'BPF_CGROUP_INET_INGRESS');
  using sock = skel.progs.sock_create.attachCgroup(cg.path);
  assert.is(egress.kind, 'cgroup');
  assert.is(egress.mechanism, 'bpf_link');
  assert.is(egress.info().attachTypeName, 'BPF_CGROUP_INET_EGRESS');
  assert.ok((egress.info().cgroupId ?? 0n) > 0n);
  traffic();
  assert.ok(skel.bss.egress_hits >= 3n, `egress ${skel.bss.egress_hits}`);
  assert.ok(skel.bss.ingress_hits >= 3n, `ingress ${skel.bss.ingress_hits}`);
  assert.ok(skel.bss.sock_hits >= 1n, `sock_create ${skel.bss.sock_hits}`);
  // update() swaps the program behind the link.
  egress.update(skel.progs.skb_egress2);
  const before = skel.bss.egress_hits;
  traffic();
  assert.is(skel.bss.egress_hits, before);
  assert.ok(skel.bss.egress2_hits >= 3n);
  // detach() ends it while the fd stays open.
  egress.detach();
  const cgfd = openCgroup(cg.path);
  try {
    assert.equal(progQuery(cgfd.fd, EGRESS).progIds, []);
  } finally {
    cgfd.close();
  }
});

test('legacy BPF_PROG_ATTACH: ALLOW_MULTI runs both programs, REPLACE swaps one, close detaches', async () => {
  using skel = await loaded();
  using cgfd = openCgroup(cg.path);
  const a = skel.progs.skb_egress.attachCgroup(cg.path, undefined, { flags: ATTACH_FLAGS.ALLOW_MULTI });
  const b = skel.progs.skb_egress2.attachCgroup(cgfd.fd, EGRESS, { flags: ATTACH_FLAGS.ALLOW_MULTI });
  try {
    assert.is(a.mechanism, 'prog_attach');
    const q = progQuery(cgfd.fd, EGRESS);
    assert.equal(q.progIds, [progId(skel.progs.skb_egress), progId(skel.progs.skb_egress2)]);
    assert.is(q.attachFlags, ATTACH_FLAGS.ALLOW_MULTI);
    traffic();
    assert.ok(skel.bss.egress_hits >= 3n && skel.bss.egress2_hits >= 3n);
    // Program a refuses the second attach of the same program; b replaces a in place.
    b.close();
    a.update(skel.progs.skb_egress2);
    assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [progId(skel.progs.skb_egress2)]);
  } finally {
    a.close();
    b.close();
  }
  assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [], 'close() detached them');
  // Without ALLOW_MULTI the hook holds one program: a second attach replaces the first, whose
  // close() then finds nothing to detach.
  using c = skel.progs.skb_egress.attachCgroup(cg.path, undefined, { legacy: true });
  using d = skel.progs.skb_egress2.attachCgroup(cg.path, undefined, { legacy: true });
  assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [progId(skel.progs.skb_egress2)]);
  c.close();
  assert.equal(progQuery(cgfd.fd, EGRESS).progIds, [progId(skel.progs.skb_egress2)], 'closing the replaced one leaves the new one');
  d.close();
  assert.equal(progQuery(cgfd.fd, EGRESS).progIds, []);
  // ALLOW_MULTI on a hook that has a plain program is refused.
  using e1 = skel.progs.skb_egress.attachCgroup(cg.path, undefined, { legacy: true });
  assert.throws(() => skel.progs.skb_egress2.attachCgroup(cg.path, undefined, { flags: ATTACH_FLAGS.ALLOW_MULTI }), /EPERM|already attached/);
  assert.ok(e1);
});

test('clear errors: a missing cgroup, a program with no attach type', async () => {
  using skel = await loaded();
  assert.throws(() => skel.progs.skb_egress.attachCgroup('/sys/fs/cgroup/unified/no-such-group'), /cannot open cgroup/);
  await skel.progs.skb_egress.attach().then(() => assert.unreachable(), (e) => assert.match((e as Error).message, /needs a cgroup: prog\.attachCgroup/));
});

test('leak check: no link, program or map of this file is left', async () => {
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
