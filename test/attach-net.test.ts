// Networking attachments on the real kernel, with traffic only between two network namespaces
// the test creates (joined by a veth pair) and removes: XDP (link and netlink, update, detach),
// tcx with ordering, legacy tc (clsact + cls_bpf), a socket filter, sk_lookup and flow dissector
// netns links, netfilter and sockmap links. Every program counts packets in .bss.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BpfObject, BpfError, Link, progQuery, tcFilterList, withNetns, xdpQuery, ATTACH_TYPE, ifIndex,
} from '../src/index.js';
import {
  AF_INET, SOCK_STREAM, progInfo, sockAccept, sockaddrIn, sockBind, sockConnect, sockListen, sockName, sockRecv, sockSend, socketOpen,
  type Fd,
} from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';
import { globals, markIds, settledLeftovers, track, udpExchange, udpSocket, vethPair, waitFor, type VethPair } from './attach-support.js';

const OBJ = compileBpf('attach-net');
const marks = markIds();
let net: VethPair;

async function loaded(): Promise<{ obj: BpfObject; g: ReturnType<typeof globals> }> {
  const obj = BpfObject.open(OBJ);
  await obj.load();
  track(obj);
  return { obj, g: globals(obj) };
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

test.before(() => {
  net = vethPair('net', 71);
});

test.after(() => {
  net.remove();
});

test('xdp: a BPF link on the veth sees the traffic; update swaps the program; detach and close remove it', async () => {
  const { obj, g } = await loaded();
  try {
    using link = inA(() => obj.program('xdp_count').attachXdp('va'));
    assert.is(link.kind, 'xdp');
    assert.is(link.mechanism, 'bpf_link');
    const ifindex = inA(() => ifIndex('va'));
    assert.is(link.info().ifindex, ifindex);
    assert.is(inA(() => xdpQuery(ifindex)).progId, link.info().progId);
    assert.is(await traffic(3), 3, 'the packets still arrive (XDP_PASS)');
    assert.ok(g.get('xdp_hits') >= 3n, `xdp saw ${g.get('xdp_hits')}`);
    link.update(obj.program('xdp_count2'));
    await traffic(2);
    assert.ok(g.get('xdp2_hits') >= 2n, 'the new program runs after update()');
    assert.throws(() => link.update(obj.program('xdp_count'), { oldProgram: obj.program('xdp_count') }), /EPERM|ENOENT|EINVAL|BPF_LINK_UPDATE/);
    link.detach();
    assert.ok(link.detached);
    assert.is(inA(() => xdpQuery(ifindex)).attached, 'none', 'detach() removed it while the fd is still open');
    link.close();
  } finally {
    obj.close();
  }
});

test('xdp: netlink attachment with flags (skb mode, UPDATE_IF_NOEXIST), replace, and removal from another namespace', async () => {
  const { obj, g } = await loaded();
  try {
    const ifindex = inA(() => ifIndex('va'));
    const link = inA(() => obj.program('xdp_count').attachXdp(ifindex, { mode: 'skb', flags: 1 /* UPDATE_IF_NOEXIST */ }));
    try {
      assert.is(link.mechanism, 'netlink');
      const q = inA(() => xdpQuery(ifindex));
      assert.is(q.attached, 'skb');
      // UPDATE_IF_NOEXIST: a second program is refused.
      assert.throws(() => inA(() => obj.program('xdp_count2').attachXdp(ifindex, { mode: 'skb', flags: 1 })), (e: unknown) => e instanceof BpfError && e.errno === 16);
      // A BPF link cannot take over either, and says why.
      assert.throws(() => inA(() => obj.program('xdp_count2').attachXdp(ifindex)), /already has an XDP program/);
      assert.throws(() => inA(() => obj.program('xdp_count2').attachXdp(ifindex, { mode: 'skb' })), /already has an XDP program/);
      const before = g.get('xdp_hits');
      assert.is(await traffic(3), 3);
      assert.ok(g.get('xdp_hits') - before >= 3n);
      // update() goes through XDP_FLAGS_REPLACE with the current program as the expected one.
      link.update(obj.program('xdp_count2'));
      assert.is(inA(() => xdpQuery(ifindex)).skbProgId, progInfoId(obj.program('xdp_count2').fd));
      assert.throws(() => link.pin('/sys/fs/bpf/x'), /not a BPF link/);
    } finally {
      // Closed from the root namespace: the link undoes it in the namespace it was made in.
      link.close();
    }
    assert.is(inA(() => xdpQuery(ifindex)).attached, 'none');
  } finally {
    obj.close();
  }
});

function progInfoId(fd: number): number {
  return progInfo(fd, { mapIds: false }).id;
}

test('tcx: two links ordered with before, as the packets and BPF_PROG_QUERY show', async () => {
  const { obj, g } = await loaded();
  try {
    using first = inA(() => obj.program('tcx_count').attachTcx('va', 'ingress'));
    using second = inA(() => obj.program('tcx_count2').attachTcx('va', 'ingress', { before: first }));
    assert.is(first.kind, 'tcx');
    assert.is(first.info().attachTypeName, 'BPF_TCX_INGRESS');
    const ifindex = inA(() => ifIndex('va'));
    const q = inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!));
    assert.equal(q.progIds, [progInfoId(obj.program('tcx_count2').fd), progInfoId(obj.program('tcx_count').fd)]);
    assert.equal(q.linkIds, [second.id, first.id]);
    assert.is(await traffic(2), 2);
    assert.ok(g.get('tcx_hits') >= 2n && g.get('tcx2_hits') >= 2n);
    assert.is(g.get('order_first'), 2n, 'the program inserted before runs first');
    assert.is(g.get('order_second'), 1n);
    second.close();
    assert.equal(inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!)).progIds, [progInfoId(obj.program('tcx_count').fd)]);
    // after: true appends; expectedRevision guards against concurrent changes.
    const rev = inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!)).revision;
    assert.throws(() => inA(() => obj.program('tcx_count2').attachTcx('va', 'ingress', { after: true, expectedRevision: rev + 5n })), /changed since the expected revision \(ESTALE\)/);
    using third = inA(() => obj.program('tcx_count2').attachTcx('va', 'ingress', { after: true, expectedRevision: rev }));
    assert.equal(inA(() => progQuery(ifindex, ATTACH_TYPE.BPF_TCX_INGRESS!)).linkIds, [first.id, third.id]);
  } finally {
    obj.close();
  }
});

test('tc (legacy): a cls_bpf filter on a clsact qdisc the link creates and removes', async () => {
  const { obj, g } = await loaded();
  try {
    const ifindex = inA(() => ifIndex('va'));
    const link = inA(() => obj.program('tc_count').attachTc('va', 'ingress', { priority: 7 }));
    try {
      assert.is(link.mechanism, 'netlink');
      const filters = inA(() => tcFilterList(ifindex, 'ingress'));
      assert.is(filters.length, 1);
      assert.is(filters[0]!.priority, 7);
      assert.is(filters[0]!.progId, progInfoId(obj.program('tc_count').fd));
      assert.is(await traffic(3), 3);
      assert.ok(g.get('tc_hits') >= 3n);
    } finally {
      link.close();
    }
    assert.equal(inA(() => tcFilterList(ifindex, 'ingress')), []);
    const before = g.get('tc_hits');
    await traffic(2);
    assert.is(g.get('tc_hits'), before, 'no hits after close');
  } finally {
    obj.close();
  }
});

test('socket filter: SO_ATTACH_BPF on a UDP socket counts and can drop; close detaches', async () => {
  const { obj, g } = await loaded();
  const recv = udpSocket(net.nsA, net.ipA);
  try {
    {
      using link = obj.program('sock_count').attachSocket(recv.fd);
      assert.is(link.kind, 'socket_filter');
      assert.is(await udpExchange(net.nsA, net.ipA, net.ipA, recv.port, recv.fd, 3), 3);
      assert.is(g.get('sock_hits'), 3n);
    }
    {
      using drop = obj.program('sock_drop').attachSocket(recv.fd.fd);
      assert.is(await udpExchange(net.nsA, net.ipA, net.ipA, recv.port, recv.fd, 2), 0, 'the filter dropped them');
      assert.is(g.get('sock_hits'), 5n);
    }
    assert.is(await udpExchange(net.nsA, net.ipA, net.ipA, recv.port, recv.fd, 2), 2, 'detached: packets arrive again');
    assert.is(g.get('sock_hits'), 5n);
  } finally {
    recv.fd.close();
    obj.close();
  }
});

test('sk_lookup and flow dissector: netns links on the test namespace', async () => {
  const { obj, g } = await loaded();
  try {
    using lookup = obj.program('lookup_count').attachNetns(net.nsA);
    assert.is(lookup.kind, 'netns');
    assert.is(lookup.info().attachTypeName, 'BPF_SK_LOOKUP');
    assert.is(await traffic(3), 3);
    assert.ok(g.get('lookup_hits') >= 3n, `sk_lookup ran ${g.get('lookup_hits')} times`);
    using flow = obj.program('flow_dissect').attachNetns(`/run/netns/${net.nsA}`);
    assert.is(flow.info().attachTypeName, 'BPF_FLOW_DISSECTOR');
    assert.is(flow.info().netnsIno, lookup.info().netnsIno);
    // A flow dissector link can be detached explicitly.
    flow.detach();
    lookup.close();
    const n = g.get('lookup_hits');
    await traffic(1);
    assert.is(g.get('lookup_hits'), n);
  } finally {
    obj.close();
  }
});

test('netfilter: a link on LOCAL_IN of the test namespace', async () => {
  const { obj, g } = await loaded();
  try {
    using link = inA(() => obj.program('nf_count').attachNetfilter({ hook: 'input', priority: -128 }));
    assert.equal(link.info().netfilter, { pf: 2, hooknum: 1, priority: -128, flags: 0 });
    assert.is(await traffic(3), 3);
    assert.ok(g.get('nf_hits') >= 3n);
  } finally {
    obj.close();
  }
});

test('sockmap: sk_msg on a sockmap link sees the messages of a socket in the map', async () => {
  const { obj, g } = await loaded();
  const fds: Fd[] = [];
  try {
    using link = obj.program('msg_count').attachSockmap(obj.map('socks'));
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
    obj.map('socks').update(key, value);
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
    assert.is(g.get('msg_hits'), 2n);
    // The pre-6.10 way works too.
    using legacy = obj.program('skb_verdict').attachSockmap(obj.map('socks'), undefined, { legacy: true });
    assert.is(legacy.mechanism, 'prog_attach');
  } finally {
    for (const f of fds.reverse()) f.close();
    obj.close();
  }
});

test('clear errors: wrong interface, wrong program type', async () => {
  const { obj } = await loaded();
  try {
    assert.throws(() => obj.program('xdp_count').attachXdp('no-such-dev0'), /interface no-such-dev0/);
    assert.throws(() => inA(() => obj.program('tc_count').attachXdp('va')), /cannot attach here|EINVAL/);
    await obj.program('xdp_count').attach().then(() => assert.unreachable(), (e) => assert.match((e as Error).message, /needs an interface: prog\.attachXdp/));
  } finally {
    obj.close();
  }
});

test('leak check: no link, program or map of this file is left', async () => {
  assert.ok(Link);
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
