// `tsbpf prog|map|link|btf|feature` against Debian's bpftool 7.1 on the same kernel objects: the plain
// text and the JSON must match field for field (ids, types, names, tags, sizes, flags, typed values).
// Only the objects this test loads are compared: other suites may load and unload programs meanwhile.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  BPF_PROG_TYPE, linkInfo, mapInfo, objPin, progInfo, progLoadWithLog, rawTracepointOpen, type Fd,
} from '../syscalls/index.js';
import { main } from '../src/cli/main.js';
import { btfList } from '../src/cli/kernel-objects.js';
import { Assembler, R0 } from '../src/disasm/index.js';
import { BpfObject } from '../src/index.js';
import { packet } from './support/diff.js';
import { compileBpf, haveCommand } from './support/compile.js';

const HAVE_BPFTOOL = haveCommand('bpftool');

async function tsbpf(...argv: string[]): Promise<{ out: string; err: string; code: number }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => { out += t; }, err: (t) => { err += t; } });
  return { out, err, code };
}

function bpftool(...argv: string[]): string {
  return execFileSync('bpftool', argv, { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Load times are printed to the second from CLOCK_BOOTTIME arithmetic; the two tools read the clocks at
 * different moments, so a value may differ by one at a second boundary.
 */
function sameLoadTime(a: string, b: string, what: string): [string, string] {
  const re = /("loaded_at":|loaded_at )(\d+|[0-9T:+-]+)/g;
  const ta = [...a.matchAll(re)].map((m) => m[2]!);
  const tb = [...b.matchAll(re)].map((m) => m[2]!);
  assert.is(ta.length, tb.length, `${what}: loaded_at count`);
  ta.forEach((x, i) => {
    const secs = (s: string): number => (/^\d+$/.test(s) ? Number(s) : Date.parse(s.replace(/([+-]\d\d)(\d\d)$/, '$1:$2')) / 1000);
    assert.ok(Math.abs(secs(x) - secs(tb[i]!)) <= 1, `${what}: loaded_at ${x} vs ${tb[i]}`);
  });
  return [a.replace(re, '$10'), b.replace(re, '$10')];
}

const objs: BpfObject[] = [];
let progIds: number[] = [];
let mapIds: number[] = [];
let btfIds: number[] = [];
let linkFd: Fd | undefined;
let rawTpFd: Fd | undefined;
let linkId = 0;
const pinPath = `/sys/fs/bpf/tsbpf-cli-test-${process.pid}`;

test.before(async () => {
  for (const [name, flags] of [['calls', []], ['maps', []], ['globals', []], ['diag-isa', ['-mcpu=v3']]] as const) {
    const o = BpfObject.open(compileBpf(name, { flags: [...flags] }));
    objs.push(o);
    await o.load();
  }
  // Put values in the maps so that dumps have typed content: a hash, per-CPU maps, an LPM trie, arrays.
  const maps = objs[1]!;
  for (const p of ['hash_add', 'percpu_add', 'lpm_insert', 'lru_add']) await maps.programs.get(p)!.testRun({ data: packet(3, 24, 7) });
  await objs[0]!.programs.get('walk_numbers')!.testRun({ data: packet(2, 0, 0) });
  await objs[3]!.programs.get('isa_mix')!.testRun({ data: new Uint8Array(64) });
  for (const o of objs) {
    for (const p of o.programs.values()) if (p.loaded) progIds.push(progInfo(p.fd, { mapIds: false }).id);
    for (const m of o.maps.values()) mapIds.push(mapInfo(m.fd).id);
  }
  progIds = [...new Set(progIds)].sort((a, b) => a - b);
  mapIds = [...new Set(mapIds)].sort((a, b) => a - b);
  btfIds = [...new Set(progIds.map((id) => JSON.parse(bpftoolOrEmpty('--json', 'prog', 'show', 'id', String(id)))?.btf_id).filter(Boolean))] as number[];
  // A raw tracepoint link from a hand-assembled program.
  const raw = progLoadWithLog({ progType: BPF_PROG_TYPE.RAW_TRACEPOINT, insns: new Assembler().mov64(R0, 0).exit().assemble(), license: 'GPL', name: 'cli_test_rawtp' });
  rawTpFd = raw.fd;
  linkFd = rawTracepointOpen('sched_switch', rawTpFd.fd);
  linkId = linkInfo(linkFd.fd).id;
  objPin(objs[1]!.maps.get('hash_map')!.fd, pinPath);
});

function bpftoolOrEmpty(...argv: string[]): string {
  if (!HAVE_BPFTOOL) return 'null';
  return bpftool(...argv);
}

test.after(() => {
  rmSync(pinPath, { force: true });
  linkFd?.close();
  rawTpFd?.close();
  for (const o of objs) o.close();
});

test('prog show id N: plain and JSON equal bpftool for every loaded program', async () => {
  if (!HAVE_BPFTOOL) return;
  assert.ok(progIds.length >= 25, `${progIds.length} programs`);
  for (const id of progIds) {
    for (const json of [false, true]) {
      const args = [...(json ? ['--json'] : []), 'prog', 'show', 'id', String(id)];
      const ours = await tsbpf(...args);
      assert.is(ours.code, 0, ours.err);
      const [a, b] = sameLoadTime(ours.out, bpftool(...args), `prog ${id}`);
      if (json) assert.equal(JSON.parse(a), JSON.parse(b), `prog ${id} JSON`);
      assert.fixture(a, b);
    }
  }
  // isa_mix has bpf_metadata_* variables, which bpftool shows.
  const isa = progInfo(objs[3]!.programs.get('isa_mix')!.fd, { mapIds: false }).id;
  assert.equal(JSON.parse((await tsbpf('--json', 'prog', 'show', 'id', String(isa))).out).metadata, { owner: 'tsbpf', level: 3 });
});

test('prog list --json: our programs appear as bpftool lists them', async () => {
  if (!HAVE_BPFTOOL) return;
  const pick = (text: string): unknown[] => (JSON.parse(text) as { id: number; loaded_at?: number }[])
    .filter((p) => progIds.includes(p.id)).map((p) => ({ ...p, loaded_at: undefined }));
  const ours = pick((await tsbpf('--json', 'prog', 'list')).out);
  const theirs = pick(bpftool('--json', 'prog', 'list'));
  assert.is(ours.length, progIds.length);
  assert.equal(ours, theirs);
});

test('prog show name/tag select like bpftool; unknown ids fail like bpftool', async () => {
  if (!HAVE_BPFTOOL) return;
  const one = JSON.parse((await tsbpf('--json', 'prog', 'show', 'id', String(progIds[0]))).out) as { name: string; tag: string };
  const byTag = JSON.parse((await tsbpf('--json', 'prog', 'show', 'tag', one.tag)).out);
  const ids = (v: unknown): number[] => (Array.isArray(v) ? v : [v]).map((p: { id: number }) => p.id).sort();
  assert.ok(ids(byTag).includes(progIds[0]!));
  const byName = JSON.parse((await tsbpf('--json', 'prog', 'show', 'name', 'isa_mix')).out);
  assert.ok(ids(byName).every((id) => ids(JSON.parse(bpftool('--json', 'prog', 'show', 'name', 'isa_mix'))).includes(id)));
  const bad = await tsbpf('prog', 'show', 'id', '999999999');
  assert.is(bad.code, 1);
  assert.match(bad.err, /Error: get by id \(999999999\): No such file or directory/);
});

test('map show id N: plain and JSON equal bpftool for every map', async () => {
  if (!HAVE_BPFTOOL) return;
  assert.ok(mapIds.length >= 30, `${mapIds.length} maps`);
  for (const id of mapIds) {
    for (const json of [false, true]) {
      const args = [...(json ? ['--json'] : []), 'map', 'show', 'id', String(id)];
      const ours = await tsbpf(...args);
      assert.is(ours.code, 0, ours.err);
      assert.fixture(ours.out, bpftool(...args));
    }
  }
  // -f: pinned paths.
  const hashId = mapInfo(objs[1]!.maps.get('hash_map')!.fd).id;
  const pinned = await tsbpf('map', 'show', 'id', String(hashId), '-f');
  assert.fixture(pinned.out, bpftool('-f', 'map', 'show', 'id', String(hashId)));
  assert.ok(pinned.out.includes(`pinned ${pinPath}`));
});

test('map dump id N: typed (BTF) and raw dumps, plain and JSON, equal bpftool', async () => {
  if (!HAVE_BPFTOOL) return;
  let nonEmpty = 0;
  for (const id of mapIds) {
    for (const json of [false, true]) {
      const args = [...(json ? ['--json'] : []), 'map', 'dump', 'id', String(id)];
      const ours = await tsbpf(...args);
      let theirs: string;
      try {
        theirs = bpftool(...args);
      } catch (e) {
        // bpftool fails on maps without iteration (ring buffers, bloom filters); so must we, or print nothing.
        theirs = (e as { stdout: string }).stdout;
      }
      if (json && theirs.trim()) {
        assert.equal(JSON.parse(ours.out), JSON.parse(theirs), `map ${id} JSON dump`);
        if (JSON.parse(theirs).length) nonEmpty++;
      } else if (!json) {
        assert.fixture(ours.out, theirs);
      }
    }
  }
  assert.ok(nonEmpty >= 8, `${nonEmpty} maps with entries`);
  // The typed plain dump of a global data section with a struct, an array and scalars.
  const data = objs[2]!.maps.get('.data')!;
  const out = (await tsbpf('map', 'dump', 'id', String(mapInfo(data.fd).id))).out;
  assert.match(out, /"\.data": \[\{/);
});

test('link list/show: plain and JSON equal bpftool', async () => {
  if (!HAVE_BPFTOOL) return;
  for (const json of [false, true]) {
    const args = [...(json ? ['--json'] : []), 'link', 'show', 'id', String(linkId)];
    const ours = await tsbpf(...args);
    assert.fixture(ours.out, bpftool(...args));
  }
  const listed = JSON.parse((await tsbpf('--json', 'link', 'list')).out) as { id: number; type: string; tp_name?: string }[];
  const mine = listed.find((l) => l.id === linkId);
  assert.equal(mine && { type: mine.type, tp_name: mine.tp_name }, { type: 'raw_tracepoint', tp_name: 'sched_switch' });
});

test('btf list: our BTF objects with the programs and maps using them, as bpftool lists them', async () => {
  if (!HAVE_BPFTOOL) return;
  let out = '';
  await btfList([], { json: true, pretty: false, out: (t) => { out += t; }, err: () => {} });
  type B = { id: number; prog_ids: number[]; map_ids: number[] };
  const norm = (text: string): B[] => (JSON.parse(text) as B[])
    .filter((b) => btfIds.includes(b.id) || b.id === 1)
    .map((b) => ({ ...b, prog_ids: [...b.prog_ids].sort((x, y) => x - y), map_ids: [...b.map_ids].sort((x, y) => x - y) }));
  const ours = norm(out);
  assert.ok(ours.length >= btfIds.length + 1, 'vmlinux and our objects are listed');
  assert.equal(ours, norm(bpftool('--json', 'btf', 'list')));
  let plain = '';
  await btfList(['id', '1'], { json: false, pretty: false, out: (t) => { plain += t; }, err: () => {} });
  assert.match(plain, /^1: name \[vmlinux\]  size \d+B/);
});

test('prog dump xlated through the CLI: text, linum and JSON equal bpftool', async () => {
  if (!HAVE_BPFTOOL) return;
  const id = progInfo(objs[0]!.programs.get('calc_nested')!.fd, { mapIds: false }).id;
  assert.fixture((await tsbpf('prog', 'dump', 'xlated', 'id', String(id))).out, bpftool('prog', 'dump', 'xlated', 'id', String(id)));
  assert.fixture((await tsbpf('prog', 'dump', 'xlated', 'id', String(id), 'linum')).out, bpftool('prog', 'dump', 'xlated', 'id', String(id), 'linum'));
  assert.equal(JSON.parse((await tsbpf('--json', 'prog', 'dump', 'xlated', 'id', String(id), 'opcodes')).out),
    JSON.parse(bpftool('--json', 'prog', 'dump', 'xlated', 'id', String(id), 'opcodes')));
  // Objects before load.
  const obj = await tsbpf('prog', 'dump', 'xlated', 'object', compileBpf('calls'), 'name', 'calc_nested');
  assert.is(obj.code, 0, obj.err);
  assert.match(obj.out, /^int calc_nested\(struct __sk_buff \* skb\):\n/);
  assert.match(obj.out, /call pc\+\d+#square_plus/);
});

test('feature probe: program and map types, misc and system config agree with bpftool', async () => {
  if (!HAVE_BPFTOOL) return;
  const r = await tsbpf('--json', 'feature', 'probe');
  assert.is(r.code, 0, r.err);
  const ours = JSON.parse(r.out) as Record<string, Record<string, unknown>>;
  const theirs = JSON.parse(bpftool('--json', 'feature', 'probe')) as Record<string, Record<string, unknown>>;
  assert.equal(ours.system_config, theirs.system_config);
  assert.equal(ours.syscall_config, theirs.syscall_config);
  for (const section of ['program_types', 'map_types', 'misc']) {
    // bpftool 7.1 knows fewer types than this kernel; compare what it knows.
    for (const [k, v] of Object.entries(theirs[section]!)) assert.is(ours[section]![k], v, `${section}.${k}`);
  }
  assert.is(ours.program_types!.have_netfilter_prog_type !== undefined, true, 'newer program types are probed too');
  assert.is(typeof ours.btf_kinds!.have_btf_type_tag, 'boolean');
  // Helpers: libbpf 1.1 (under bpftool 7.1) misses "program of this type cannot use helper" and lists
  // every helper; ours must be a subset, and the obvious ones must be in it.
  const helpers = ours.helpers as Record<string, string[]>;
  const known = new Set(JSON.parse(bpftool('--json', 'feature', 'list_builtins', 'helpers')) as string[]);
  for (const [k, list] of Object.entries(theirs.helpers as Record<string, string[]>)) {
    for (const h of helpers[k] ?? []) if (known.has(h)) assert.ok(list.includes(h), `${k}: ${h} not in bpftool's list`);
  }
  assert.ok(helpers.socket_filter_available_helpers!.includes('bpf_map_lookup_elem'));
  assert.ok(helpers.xdp_available_helpers!.includes('bpf_xdp_adjust_head'));
  assert.not.ok(helpers.socket_filter_available_helpers!.includes('bpf_xdp_adjust_head'));
  assert.ok(helpers.kprobe_available_helpers!.includes('bpf_get_current_task'));
  // Plain output: bpftool's sentences.
  const plain = (await tsbpf('feature', 'probe')).out;
  assert.match(plain, /^Scanning system configuration\.\.\.\n/);
  assert.match(plain, /\neBPF program_type socket_filter is available\n/);
  assert.match(plain, /\neBPF helpers supported for program type xdp:\n\t- bpf_map_lookup_elem\n/);
  assert.match(plain, /\nISA extension v4 is (NOT )?available\n/);
});

test('feature list_builtins: the names bpftool knows, in the same order', async () => {
  const r = await tsbpf('--json', 'feature', 'list_builtins', 'prog_types');
  const names = JSON.parse(r.out) as string[];
  assert.is(names[0], 'unspec');
  assert.ok(names.includes('socket_filter') && names.includes('syscall'));
  if (!HAVE_BPFTOOL) return;
  for (const what of ['prog_types', 'map_types', 'attach_types', 'link_types', 'helpers']) {
    const theirs = JSON.parse(bpftool('--json', 'feature', 'list_builtins', what)) as string[];
    const ours = JSON.parse((await tsbpf('--json', 'feature', 'list_builtins', what)).out) as string[];
    // This kernel's enums are newer than bpftool 7.1's tables: ours may go on after theirs end.
    assert.equal(ours.slice(0, theirs.length), theirs, what);
  }
});

test.run();
