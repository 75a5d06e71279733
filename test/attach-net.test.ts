// Networking attachments on the real kernel, with traffic only between two network namespaces
// the test creates (joined by a veth pair) and removes: XDP (link and netlink, update, detach),
// tcx with ordering, legacy tc (clsact + cls_bpf), a socket filter, sk_lookup and flow dissector
// netns links, netfilter and sockmap links. Every program counts packets in .bss.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BpfError, Link, NotSupportedError, progQuery, tcFilterList, withNetns, xdpQuery, ATTACH_TYPE, ifIndex,
} from '../src/index.js';
import { kernelHasLink, setPretendMissing } from '../src/features.js';
import { probeProgType } from '../src/probes/index.js';
import {
  AF_INET, SOCK_STREAM, linkCreate, progInfo, sockAccept, sockaddrIn, sockBind, sockConnect, sockListen, sockName, sockRecv, sockSend, socketOpen,
  type Fd,
} from '../syscalls/index.js';
import { markIds, settledLeftovers, track, udpExchange, udpSocket, vethPair, waitFor, type VethPair } from './attach-support.js';
import * as attachNet from './skel/attach-net.skel.js';
import { compiled } from './support/skeleton.js';
import { testIf } from './support/skip.js';

const { open } = compiled(attachNet);
// BPF_PROG_TYPE_NETFILTER came in Linux 6.4; where it is missing, nf_count would fail the whole object.
const HAVE_NETFILTER = probeProgType('netfilter');
const marks = markIds();
let net: VethPair;

async function loaded(): Promise<attachNet.attach_net> {
  const skel = open();
  if (!HAVE_NETFILTER) skel.progs.nf_count.autoload = false;
  await skel.load();
  track(skel.obj);
  return skel;
}

/** UDP from nsB to a socket in nsA; returns how many datagrams arrived. */
async function traffic(count = 3): Promise<number> {
  const recv = udpSocket(net.nsA, net.ipA);
  try {
    return await udpExchange(net.nsB, net.ipB, net.ipA, recv.port, recv.fd, count);
  } finally {
    recv.fd.close();
  }
}

const inA = <T>(fn: () => T): T => withNetns(net.nsA, fn);
// The library's probe decides; the 'tcx probe' test below checks it against the kernel.
const NO_TCX = 'needs tcx links (Linux 6.6)';

test.before(() => {
  net = vethPair('net', 71);
});

test.after(() => {
  net.remove();
});

test('xdp: a BPF link on the veth sees the traffic; update swaps the program; detach and close remove it', async () => {
  using skel = await loaded();
  using link = inA(() => skel.progs.xdp_count.attachXdp('va'));
  assert.is(link.kind, 'xdp');
  assert.is(link.mechanism, 'bpf_link');
  const ifindex = inA(() => ifIndex('va'));
  assert.is(link.info().ifindex, ifindex);
  assert.is(inA(() => xdpQuery(ifindex)).progId, link.info().progId);
  assert.is(await traffic(3), 3, 'the packets still arrive (XDP_PASS)');
  assert.ok(skel.bss.xdp_hits >= 3n, `xdp saw ${skel.bss.xdp_hits}`);
  link.update(skel.progs.xdp_count2);
  await traffic(2);
  assert.ok(skel.bss.xdp2_hits >= 2n, 'the new program runs after update()');
  assert.throws(() => link.update(skel.progs.xdp_count, { oldProgram: skel.progs.xdp_count }), /EPERM|ENOENT|EINVAL|BPF_LINK_UPDATE/);
  link.detach();
  assert.ok(link.detached);
  assert.is(inA(() => xdpQuery(ifindex)).attached, 'none', 'detach() removed it while the fd is still open');
  link.close();
});

test('xdp: netlink attachment with flags (skb mode, UPDATE_IF_NOEXIST), replace, and removal from another namespace', async () => {
  using skel = await loaded();
  const ifindex = inA(() => ifIndex('va'));
  const link = inA(() => skel.progs.xdp_count.attachXdp(ifindex, { mode: 'skb', flags: 1 /* UPDATE_IF_NOEXIST */ }));
  try {
    assert.is(link.mechanism, 'netlink');
    const q = inA(() => xdpQuery(ifindex));
    assert.is(q.attached, 'skb');
    // UPDATE_IF_NOEXIST: a second program is refused.
    assert.throws(() => inA(() => skel.progs.xdp_count2.attachXdp(ifindex, { mode: 'skb', flags: 1 })), (e: unknown) => e instanceof BpfError && e.errno === 16);
    // A BPF link cannot take over either, and says why.
    assert.throws(() => inA(() => skel.progs.xdp_count2.attachXdp(ifindex)), /already has an XDP program/);
    assert.throws(() => inA(() => skel.progs.xdp_count2.attachXdp(ifindex, { mode: 'skb' })), /already has an XDP program/);
    const before = skel.bss.xdp_hits;
    assert.is(await traffic(3), 3);
    assert.ok(skel.bss.xdp_hits - before >= 3n);
    // update() goes through XDP_FLAGS_REPLACE with the current program as the expected one.
    link.update(skel.progs.xdp_count2);
    assert.is(inA(() => xdpQuery(ifindex)).skbProgId, progInfoId(skel.progs.xdp_count2.fd));
    assert.throws(() => link.pin('/sys/fs/bpf/x'), /not a BPF link/);
  } finally {
    // Closed from the root namespace: the link undoes it in the namespace it was made in.
    link.close();
  }
  assert.is(inA(() => xdpQuery(ifindex)).attached, 'none');
});

function progInfoId(fd: number): number {
  return progInfo(fd, { mapIds: false }).id;
}

testIf(kernelHasLink('tcx'), NO_TCX)('tcx: two links ordered with before, as the packets and BPF_PROG_QUERY show', async () => {
  using skel = await loaded();
  using first = inA(() => skel.progs.tcx_count.attachTcx('va', 'ingress'));
  using second = inA(() => skel.progs.tcx_count2.attachTcx('va', 'ingress', { before: first }));
  assert.is(first.kind, 'tcx');
  assert.is(first.info().attachTypeName, 'BPF_TCX_INGRESS');
  const ifindex = inA(() => ifIndex('va'));
  const q = inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!));
  assert.equal(q.progIds, [progInfoId(skel.progs.tcx_count2.fd), progInfoId(skel.progs.tcx_count.fd)]);
  assert.equal(q.linkIds, [second.id, first.id]);
  assert.is(await traffic(2), 2);
  assert.ok(skel.bss.tcx_hits >= 2n && skel.bss.tcx2_hits >= 2n);
  assert.is(skel.bss.order_first, 2n, 'the program inserted before runs first');
  assert.is(skel.bss.order_second, 1n);
  second.close();
  assert.equal(inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!)).progIds, [progInfoId(skel.progs.tcx_count.fd)]);
  // after: true appends; expectedRevision guards against concurrent changes.
  const rev = inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!)).revision;
  assert.throws(() => inA(() => skel.progs.tcx_count2.attachTcx('va', 'ingress', { after: true, expectedRevision: rev + 5n })), /changed since the expected revision \(ESTALE\)/);
  using third = inA(() => skel.progs.tcx_count2.attachTcx('va', 'ingress', { after: true, expectedRevision: rev }));
  assert.equal(inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!)).linkIds, [first.id, third.id]);
});

test('tcx probe: it says the kernel has tcx links exactly when BPF_LINK_CREATE makes one on the veth', async () => {
  using skel = await loaded();
  // The raw syscall, not attachTcx, which consults the probe first.
  let created: boolean;
  try {
    inA(() => linkCreate(skel.progs.tcx_count.fd, ifIndex('va'), ATTACH_TYPE.BPF_TCX_INGRESS!)).close();
    created = true;
  } catch (e) {
    assert.is((e as BpfError).errno, 22, String(e));
    created = false;
  }
  assert.is(kernelHasLink('tcx'), created);
});

test('tcx missing (simulated: only the probe answers "no"): a NotSupportedError naming tcx and Linux 6.6, and attachTc works instead', async () => {
  using skel = await loaded();
  setPretendMissing('tcx', true);
  try {
    let err: unknown;
    try {
      inA(() => skel.progs.tcx_count.attachTcx('va', 'ingress')).close();
    } catch (e) {
      err = e;
    }
    assert.instance(err, NotSupportedError);
    const e = err as NotSupportedError;
    assert.match(e.message, /prog 'tcx_count'.*this kernel has no tcx links.*Linux 6\.6/);
    assert.is(e.errno, 22, 'EINVAL, what such a kernel (and so libbpf) reports');
    assert.is(e.cmd, 'BPF_LINK_CREATE');
    assert.match(e.advice ?? '', /attachTc\(iface, 'ingress'\)/);
    // The fallback the advice names: the same program in a cls_bpf filter.
    using link = inA(() => skel.progs.tcx_count.attachTc('va', 'ingress'));
    assert.is(link.kind, 'tc');
    const before = skel.bss.tcx_hits;
    assert.is(await traffic(3), 3);
    assert.ok(skel.bss.tcx_hits >= before + 3n);
  } finally {
    setPretendMissing('tcx', false);
  }
});

testIf(kernelHasLink('tcx'), NO_TCX)('tcx present: an EINVAL from the kernel stays what it is (here a program type tcx does not take), not "no tcx"', async () => {
  using skel = await loaded();
  assert.throws(() => inA(() => skel.progs.xdp_count.attachTcx('va', 'ingress')),
    (e: unknown) => e instanceof BpfError && !(e instanceof NotSupportedError) && e.errno === 22 && !/no tcx/.test(e.message));
});

test('tc (legacy): a cls_bpf filter on a clsact qdisc the link creates and removes', async () => {
  using skel = await loaded();
  const ifindex = inA(() => ifIndex('va'));
  const link = inA(() => skel.progs.tc_count.attachTc('va', 'ingress', { priority: 7 }));
  try {
    assert.is(link.mechanism, 'netlink');
    const filters = inA(() => tcFilterList(ifindex, 'ingress'));
    assert.is(filters.length, 1);
    assert.is(filters[0]!.priority, 7);
    assert.is(filters[0]!.progId, progInfoId(skel.progs.tc_count.fd));
    assert.is(await traffic(3), 3);
    assert.ok(skel.bss.tc_hits >= 3n);
  } finally {
    link.close();
  }
  assert.equal(inA(() => tcFilterList(ifindex, 'ingress')), []);
  const before = skel.bss.tc_hits;
  await traffic(2);
  assert.is(skel.bss.tc_hits, before, 'no hits after close');
});

test('socket filter: SO_ATTACH_BPF on a UDP socket counts and can drop; close detaches', async () => {
  using skel = await loaded();
  const recv = udpSocket(net.nsA, net.ipA);
  try {
    {
      using link = skel.progs.sock_count.attachSocket(recv.fd);
      assert.is(link.kind, 'socket_filter');
      assert.is(await udpExchange(net.nsA, net.ipA, net.ipA, recv.port, recv.fd, 3), 3);
      assert.is(skel.bss.sock_hits, 3n);
    }
    {
      using drop = skel.progs.sock_drop.attachSocket(recv.fd.fd);
      assert.is(await udpExchange(net.nsA, net.ipA, net.ipA, recv.port, recv.fd, 2), 0, 'the filter dropped them');
      assert.is(skel.bss.sock_hits, 5n);
    }
    assert.is(await udpExchange(net.nsA, net.ipA, net.ipA, recv.port, recv.fd, 2), 2, 'detached: packets arrive again');
    assert.is(skel.bss.sock_hits, 5n);
  } finally {
    recv.fd.close();
  }
});

test('sk_lookup and flow dissector: netns links on the test namespace', async () => {
  using skel = await loaded();
  using lookup = skel.progs.lookup_count.attachNetns(net.nsA);
  assert.is(lookup.kind, 'netns');
  assert.is(lookup.info().attachTypeName, 'BPF_SK_LOOKUP');
  assert.is(await traffic(3), 3);
  assert.ok(skel.bss.lookup_hits >= 3n, `sk_lookup ran ${skel.bss.lookup_hits} times`);
  using flow = skel.progs.flow_dissect.attachNetns(`/run/netns/${net.nsA}`);
  assert.is(flow.info().attachTypeName, 'BPF_FLOW_DISSECTOR');
  assert.is(flow.info().netnsIno, lookup.info().netnsIno);
  // A flow dissector link can be detached explicitly.
  flow.detach();
  lookup.close();
  const n = skel.bss.lookup_hits;
  await traffic(1);
  assert.is(skel.bss.lookup_hits, n);
});

testIf(HAVE_NETFILTER, 'needs netfilter programs (BPF_PROG_TYPE_NETFILTER, Linux 6.4)')('netfilter: a link on LOCAL_IN of the test namespace', async () => {
  using skel = await loaded();
  using link = inA(() => skel.progs.nf_count.attachNetfilter({ hook: 'input', priority: -128 }));
  assert.equal(link.info().netfilter, { pf: 2, hooknum: 1, priority: -128, flags: 0 });
  assert.is(await traffic(3), 3);
  assert.ok(skel.bss.nf_hits >= 3n);
});

test('sockmap: sk_msg on a sockmap link sees the messages of a socket in the map', async () => {
  using skel = await loaded();
  const fds: Fd[] = [];
  try {
    using link = skel.progs.msg_count.attachSockmap(skel.maps.socks);
    assert.is(link.kind, 'sockmap');
    assert.is(link.mechanism, 'bpf_link');
    assert.is(link.info().attachTypeName, 'BPF_SK_MSG_VERDICT');
    const { client, server } = inA(() => {
      const l = socketOpen(AF_INET, SOCK_STREAM);
      fds.push(l);
      sockBind(l.fd, sockaddrIn('127.0.0.1', 0));
      sockListen(l.fd);
      const c = socketOpen(AF_INET, SOCK_STREAM);
      fds.push(c);
      sockConnect(c.fd, sockaddrIn('127.0.0.1', sockName(l.fd).port));
      const s = sockAccept(l.fd);
      fds.push(s);
      return { client: c, server: s };
    });
    const key = new Uint8Array(4);
    const value = new Uint8Array(8);
    new DataView(value.buffer).setBigUint64(0, BigInt(client.fd), true);
    skel.maps.socks.update(key, value);
    sockSend(client.fd, Buffer.from('hello'));
    sockSend(client.fd, Buffer.from('again'));
    const buf = Buffer.alloc(64);
    let got = 0;
    await waitFor(() => {
      const n = sockRecv(server.fd, buf);
      if (n > 0) got += n;
      return got >= 10;
    });
    assert.is(got, 10, 'the data still arrives (SK_PASS)');
    assert.is(skel.bss.msg_hits, 2n);
    // The pre-6.10 way works too.
    using legacy = skel.progs.skb_verdict.attachSockmap(skel.maps.socks, undefined, { legacy: true });
    assert.is(legacy.mechanism, 'prog_attach');
  } finally {
    for (const f of fds.reverse()) f.close();
  }
});

test('clear errors: wrong interface, wrong program type', async () => {
  using skel = await loaded();
  assert.throws(() => skel.progs.xdp_count.attachXdp('no-such-dev0'), /interface no-such-dev0/);
  assert.throws(() => inA(() => skel.progs.tc_count.attachXdp('va')), /cannot attach here|EINVAL/);
  await skel.progs.xdp_count.attach().then(() => assert.unreachable(), (e) => assert.match((e as Error).message, /needs an interface: prog\.attachXdp/));
});

test('leak check: no link, program or map of this file is left', async () => {
  assert.ok(Link);
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
