// Helpers for the attach tests: typed access to global variables, network namespaces with a veth
// pair, cgroups, UDP traffic through our own sockets, and the leak check (no link, program or map
// made by a test file survives it). Everything a helper creates is removed by cleanup functions
// that also run on process exit, so a failing test leaves nothing behind.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import type { BpfObject } from '../src/index.js';
import {
  AF_INET, SOCK_DGRAM, getNextId, linkGetFdById, linkInfo, mapInfo, progGetFdById, progInfo, sockBind, sockName,
  sockRecv, sockSend, sockaddrIn, socketOpen, withNetns, type Fd,
} from '../syscalls/index.js';

// --- cleanup on exit -------------------------------------------------------------------------------

const cleanups: (() => void)[] = [];
let hooked = false;

/** Registers a cleanup that runs at process exit unless it ran before (returns the run-once function). */
export function onCleanup(fn: () => void): () => void {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    try {
      fn();
    } catch (e) {
      process.stderr.write(`cleanup failed: ${(e as Error).message}\n`);
    }
  };
  cleanups.push(once);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of cleanups.reverse()) c();
    });
  }
  return once;
}

// --- globals ---------------------------------------------------------------------------------------

/** Read/write a global variable of a data section by name, through the map's live view. */
export function globals(obj: BpfObject, section = '.bss'): { get(name: string): bigint; set(name: string, v: number | bigint): void } {
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne(section, BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error(`no DATASEC ${section}`);
  const vars = new Map<string, { off: number; size: number }>();
  for (const v of ds.vars) vars.set(btf.type(v.type).name, { off: v.offset, size: v.size });
  const map = obj.maps.get(section)!;
  const gd = map.globalData!;
  const at = (name: string): { off: number; size: number } => {
    const v = vars.get(name);
    if (!v) throw new Error(`no variable ${name} in ${section}`);
    return v;
  };
  return {
    get(name) {
      const { off, size } = at(name);
      const b = gd.read(off, size);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      return size === 8 ? dv.getBigUint64(0, true) : size === 4 ? BigInt(dv.getUint32(0, true)) : BigInt(dv.getUint16(0, true));
    },
    set(name, value) {
      const { off, size } = at(name);
      const b = new Uint8Array(size);
      const dv = new DataView(b.buffer);
      if (size === 8) dv.setBigUint64(0, BigInt(value), true);
      else if (size === 4) dv.setUint32(0, Number(value), true);
      else dv.setUint16(0, Number(value), true);
      gd.write(off, b);
    },
  };
}

/** Polls `cond` until true or the timeout. */
export async function waitFor(cond: () => boolean, timeoutMs = 3000, stepMs = 20): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}

// --- leak check --------------------------------------------------------------------------------------

export interface IdMarks {
  prog: number;
  map: number;
  link: number;
}

function maxId(kind: 'prog' | 'map' | 'link'): number {
  let id = 0;
  for (;;) {
    const next = getNextId(kind, id);
    if (!next) return id;
    id = next;
  }
}

/** The highest ids now: objects made later have higher ids. */
export function markIds(): IdMarks {
  return { prog: maxId('prog'), map: maxId('map'), link: maxId('link') };
}

const ourProgIds = new Set<number>();
const ourMapIds = new Set<number>();

/**
 * Remembers the kernel ids of a loaded object's programs and maps, so that the leak check can tell
 * its leftovers from the objects of other processes (tests run in parallel, some with the same
 * program names). A leaked link keeps its program alive, so checking programs covers links too.
 */
export function track(obj: BpfObject): BpfObject {
  if (!obj.loaded) throw new Error('track() takes a loaded object');
  for (const p of obj.programs.values()) if (p.loaded) ourProgIds.add(progInfo(p.fd, { mapIds: false }).id);
  for (const m of obj.maps.values()) {
    try {
      ourMapIds.add(mapInfo(m.fd).id);
    } catch {
      // not created
    }
  }
  return obj;
}

function existing(kind: 'prog' | 'map' | 'link', since: number): number[] {
  const out: number[] = [];
  for (let id = getNextId(kind, since); id; id = getNextId(kind, id)) out.push(id);
  return out;
}

/** Programs and maps of tracked objects that still exist, with the links that hold the programs. */
export function leftovers(marks: IdMarks): string[] {
  const progs = existing('prog', marks.prog).filter((id) => ourProgIds.has(id));
  const maps = existing('map', marks.map).filter((id) => ourMapIds.has(id));
  const links: string[] = [];
  for (const id of existing('link', marks.link)) {
    let fd: Fd;
    try {
      fd = linkGetFdById(id);
    } catch {
      continue; // freed meanwhile
    }
    try {
      const info = linkInfo(fd.fd);
      if (ourProgIds.has(info.progId)) links.push(`link ${id} (type ${info.type}) of prog ${info.progId}`);
    } finally {
      fd.close();
    }
  }
  const progName = (id: number): string => {
    try {
      const fd = progGetFdById(id);
      try {
        return progInfo(fd.fd, { mapIds: false }).name;
      } finally {
        fd.close();
      }
    } catch {
      return '?';
    }
  };
  return [...links, ...progs.map((id) => `prog ${id} ${progName(id)}`), ...maps.map((id) => `map ${id}`)];
}

/** Waits for the kernel to free what the test closed (maps go after an RCU grace period) and returns what is left. */
export async function settledLeftovers(marks: IdMarks, timeoutMs = 5000): Promise<string[]> {
  let left = leftovers(marks);
  const end = Date.now() + timeoutMs;
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    left = leftovers(marks);
  }
  return left;
}

// --- network namespaces --------------------------------------------------------------------------------

export interface VethPair {
  /** Namespace names (under /run/netns). */
  nsA: string;
  nsB: string;
  /** Interfaces: devA in nsA, devB in nsB, connected. */
  devA: string;
  devB: string;
  ipA: string;
  ipB: string;
  remove(): void;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Two fresh network namespaces joined by a veth pair with IPv4 addresses, removed by remove() or at exit. */
export function vethPair(tag: string, subnet = 10): VethPair {
  const nsA = `tsbpf-${tag}-${process.pid}-a`;
  const nsB = `tsbpf-${tag}-${process.pid}-b`;
  const remove = onCleanup(() => {
    spawnSync('ip', ['netns', 'del', nsA], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', nsB], { stdio: 'ignore' });
  });
  ip('netns', 'add', nsA);
  ip('netns', 'add', nsB);
  ip('-n', nsA, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', nsB);
  const ipA = `10.${subnet}.0.1`;
  const ipB = `10.${subnet}.0.2`;
  ip('-n', nsA, 'addr', 'add', `${ipA}/24`, 'dev', 'va');
  ip('-n', nsB, 'addr', 'add', `${ipB}/24`, 'dev', 'vb');
  ip('-n', nsA, 'link', 'set', 'va', 'up');
  ip('-n', nsB, 'link', 'set', 'vb', 'up');
  ip('-n', nsA, 'link', 'set', 'lo', 'up');
  ip('-n', nsB, 'link', 'set', 'lo', 'up');
  return { nsA, nsB, devA: 'va', devB: 'vb', ipA, ipB, remove };
}

/** A UDP socket bound in a namespace (to `ip`, any port). */
export function udpSocket(ns: string | undefined, bindIp: string): { fd: Fd; port: number } {
  const make = (): { fd: Fd; port: number } => {
    const fd = socketOpen(AF_INET, SOCK_DGRAM, 0, 'test udp socket');
    sockBind(fd.fd, sockaddrIn(bindIp, 0));
    return { fd, port: sockName(fd.fd).port };
  };
  return ns ? withNetns(ns, make) : make();
}

/** Sends `count` datagrams from a new socket in `fromNs` to ip:port; returns how many `receiver` got (it is drained). */
export async function udpExchange(fromNs: string | undefined, fromIp: string, toIp: string, port: number, receiver: Fd, count = 3): Promise<number> {
  const sender = udpSocket(fromNs, fromIp);
  try {
    for (let i = 0; i < count; i++) {
      sockSend(sender.fd.fd, Buffer.from(`tsbpf ${i}`), sockaddrIn(toIp, port));
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    sender.fd.close();
  }
  const buf = Buffer.alloc(2048);
  let got = 0;
  await waitFor(() => {
    while (sockRecv(receiver.fd, buf) >= 0) got++;
    return got >= count;
  }, 1000);
  return got;
}

// --- cgroups ---------------------------------------------------------------------------------------------

/** The cgroup v2 mount: the unified hierarchy of a hybrid system, or /sys/fs/cgroup itself. */
export function cgroup2Root(): string {
  for (const p of ['/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    if (existsSync(`${p}/cgroup.procs`) && existsSync(`${p}/cgroup.subtree_control`)) return p;
  }
  throw new Error('no cgroup v2 mount found');
}

/** A fresh cgroup v2 directory, removed (after moving its processes out) by remove() or at exit. */
export function tempCgroup(tag: string): { path: string; remove(): void } {
  const root = cgroup2Root();
  const path = `${root}/tsbpf-${tag}-${process.pid}`;
  mkdirSync(path);
  const remove = onCleanup(() => {
    // Processes still inside keep the directory busy: move them to the root first.
    try {
      const procs = execFileSync('cat', [`${path}/cgroup.procs`], { encoding: 'utf8' }).split('\n').filter(Boolean);
      for (const p of procs) writeFileSync(`${root}/cgroup.procs`, p);
    } catch {
      // gone already
    }
    try {
      rmdirSync(path);
    } catch {
      // gone already
    }
  });
  return { path, remove };
}
