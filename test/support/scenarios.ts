// The differential test scenarios: for each test program, what to set before load, which programs
// to run with which inputs, which map operations to do, and the absolute results expected. Each
// scenario runs through libbpf (test/ref.test.ts, and the libbpf half of test/loader-*.test.ts)
// and through tsbpf (test/loader-*.test.ts); `expect` is checked against both.

import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import * as assert from 'uvu/assert';
import {
  concat, entry, globalData, mapDump, MAP_TYPE, packet, readLE, step, sumPerCpu, u32, u64,
  type DumpEntry, type Outcome, type Scenario,
} from './diff.js';

const BPF_NOEXIST = 1;
const EEXIST = 17;
const ENOENT = 2;
const E2BIG = 7;
const EACCES = 13;
const EINVAL = 22;
const BPF_F_NO_PREALLOC = 1;
const BPF_F_RDONLY_PROG = 1 << 7;
const BPF_F_MMAPABLE = 1 << 10;

/** IPv4 address a.b.c.d as the u32 whose little-endian bytes are a, b, c, d. */
function ip4(a: number, b: number, c: number, d: number): number {
  return (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
}

function u32hex(v: number): string {
  return Buffer.from(u32(v)).toString('hex');
}

function u64hex(v: number | bigint): string {
  return Buffer.from(u64(v)).toString('hex');
}

function retval(o: Outcome, label: string, want: number): void {
  const r = step(o, label);
  assert.is(r.err, 0, `${o.side}: ${label} failed with ${r.err}`);
  assert.is(r.retval, want, `${o.side}: ${label} returned ${r.retval}, want ${want}`);
}

function stepErr(o: Outcome, label: string, want: number): void {
  assert.is(step(o, label).err, want, `${o.side}: ${label} err ${step(o, label).err}, want ${want}`);
}

/** A map entry's value, per-CPU values summed (u64 words). */
function valueOf(o: Outcome, map: string, keyHex: string): string | undefined {
  const e: DumpEntry | undefined = entry(o, map, keyHex);
  if (!e) return undefined;
  if (e.values) {
    assert.is(e.values.length, o.ncpus, `${o.side}: ${map}[${keyHex}] has ${e.values.length} per-CPU values, want ${o.ncpus}`);
    return sumPerCpu(e.values, mapDump(o, map).valueSize);
  }
  return e.value;
}

function mapAttrs(o: Outcome, name: string, want: Partial<{ type: number; keySize: number; valueSize: number; maxEntries: number; flags: number; mapExtra: number; frozen: boolean }>): void {
  const m = mapDump(o, name);
  for (const [k, v] of Object.entries(want)) {
    assert.is((m as unknown as Record<string, unknown>)[k], v, `${o.side}: map ${name}.${k} = ${(m as unknown as Record<string, unknown>)[k]}, want ${v}`);
  }
}

function keysOf(o: Outcome, map: string): string[] {
  return (mapDump(o, map).entries ?? []).map((e) => e.key ?? '').sort();
}

// ---- maps.bpf.c ----------------------------------------------------------------------------

const lpmKey = (prefix: number, a: number, b: number, c: number, d: number): Uint8Array =>
  concat(u32(prefix), new Uint8Array([a, b, c, d]));

export const mapsScenario: Scenario = {
  name: 'maps',
  object: 'maps',
  steps: [
    { op: 'run', label: 'hash1', prog: 'hash_add', data: packet(1, 0, 5) },
    { op: 'run', label: 'hash2', prog: 'hash_add', data: packet(1, 0, 7) },
    { op: 'run', label: 'hash3', prog: 'hash_add', data: packet(2, 0, 9) },
    { op: 'update', label: 'u-hash', map: 'hash_map', key: u32(100), value: u64(555) },
    { op: 'lookup', label: 'l-hash', map: 'hash_map', key: u32(100) },
    { op: 'lookup', label: 'l-miss', map: 'hash_map', key: u32(101) },
    { op: 'update', label: 'u-noexist', map: 'hash_map', key: u32(100), value: u64(1), flags: BPF_NOEXIST },
    { op: 'delete', label: 'd-hash', map: 'hash_map', key: u32(100) },
    { op: 'delete', label: 'd-miss', map: 'hash_map', key: u32(100) },
    { op: 'run', label: 'arr1', prog: 'array_swap', data: packet(3, 0, 11) },
    { op: 'run', label: 'arr2', prog: 'array_swap', data: packet(3, 0, 12) },
    { op: 'run', label: 'arr-oob', prog: 'array_swap', data: packet(9, 0, 1) },
    { op: 'update', label: 'u-arr', map: 'array_map', key: u32(5), value: u64(99) },
    { op: 'update', label: 'u-arr-oob', map: 'array_map', key: u32(8), value: u64(1) },
    { op: 'run', label: 'pcpu1', prog: 'percpu_add', data: packet(1, 0, 3) },
    { op: 'run', label: 'pcpu2', prog: 'percpu_add', data: packet(5, 0, 4) },
    { op: 'lookup', label: 'l-pcpu', map: 'percpu_array', key: u32(1) },
    { op: 'run', label: 'lru1', prog: 'lru_add', data: packet(7, 0, 10) },
    { op: 'run', label: 'lru2', prog: 'lru_add', data: packet(7, 0, 10) },
    { op: 'run', label: 'lpm-ins8', prog: 'lpm_insert', data: packet(ip4(10, 0, 0, 0), 8, 100) },
    { op: 'run', label: 'lpm-ins16', prog: 'lpm_insert', data: packet(ip4(192, 168, 0, 0), 16, 200) },
    { op: 'run', label: 'lpm-ins32', prog: 'lpm_insert', data: packet(ip4(192, 168, 1, 1), 32, 300) },
    { op: 'update', label: 'u-lpm', map: 'lpm_trie', key: lpmKey(24, 10, 1, 2, 0), value: u32(400) },
    { op: 'run', label: 'lpm-16', prog: 'lpm_match', data: packet(ip4(192, 168, 1, 2)) },
    { op: 'run', label: 'lpm-32', prog: 'lpm_match', data: packet(ip4(192, 168, 1, 1)) },
    { op: 'run', label: 'lpm-8', prog: 'lpm_match', data: packet(ip4(10, 2, 3, 4)) },
    { op: 'run', label: 'lpm-24', prog: 'lpm_match', data: packet(ip4(10, 1, 2, 3)) },
    { op: 'run', label: 'lpm-none', prog: 'lpm_match', data: packet(ip4(11, 2, 3, 4)) },
    { op: 'run', label: 'push1', prog: 'push_both', data: packet(0, 0, 41) },
    { op: 'run', label: 'push2', prog: 'push_both', data: packet(0, 0, 42) },
    { op: 'run', label: 'push3', prog: 'push_both', data: packet(0, 0, 43) },
    { op: 'run', label: 'pop-q', prog: 'pop_one', data: packet(0, 0) },
    { op: 'run', label: 'pop-s', prog: 'pop_one', data: packet(0, 1) },
    { op: 'pop', label: 'upop-q', map: 'queue' },
    { op: 'run', label: 'bloom-add', prog: 'bloom_op', data: packet(0, 0, 77) },
    { op: 'run', label: 'bloom-hit', prog: 'bloom_op', data: packet(0, 1, 77) },
    { op: 'run', label: 'bloom-miss', prog: 'bloom_op', data: packet(0, 1, 78) },
    { op: 'run', label: 'rb1', prog: 'ringbuf_out', data: packet(0, 0, 1) },
    { op: 'run', label: 'rb2', prog: 'ringbuf_out', data: packet(0, 0, 2) },
    { op: 'run', label: 'urb', prog: 'user_ringbuf_drain', data: packet(0) },
    { op: 'run', label: 'perf', prog: 'perf_out', data: packet(0, 0, 5) },
    { op: 'run', label: 'in-a', prog: 'inner_add', data: packet(1, 0, 5) },
    { op: 'run', label: 'in-b', prog: 'inner_add', data: packet(1, 2, 6) },
    { op: 'run', label: 'in-hash', prog: 'inner_add', data: packet(1, 7, 7) },
    { op: 'run', label: 'in-empty', prog: 'inner_add', data: packet(1, 1, 7) },
    { op: 'run', label: 'in-hmiss', prog: 'inner_add', data: packet(1, 4, 1) },
    { op: 'run', label: 'redir-dev', prog: 'redirect_empty', data: packet(0, 0) },
    { op: 'run', label: 'redir-cpu', prog: 'redirect_empty', data: packet(0, 1) },
    { op: 'run', label: 'redir-devhash', prog: 'redirect_empty', data: packet(0, 2) },
    { op: 'run', label: 'sk', prog: 'sk_storage_bump', data: packet(0) },
    { op: 'run', label: 'task1', prog: 'task_storage_bump' },
    { op: 'run', label: 'task2', prog: 'task_storage_bump' },
  ],
  expect(o) {
    assert.is(o.loadErr, 0, `${o.side}: load failed`);
    retval(o, 'hash1', 5);
    retval(o, 'hash2', 12);
    retval(o, 'hash3', 9);
    stepErr(o, 'u-hash', 0);
    assert.is(step(o, 'l-hash').value, u64hex(555));
    stepErr(o, 'l-miss', -ENOENT);
    stepErr(o, 'u-noexist', -EEXIST);
    stepErr(o, 'd-hash', 0);
    stepErr(o, 'd-miss', -ENOENT);
    retval(o, 'arr1', 0);
    retval(o, 'arr2', 11);
    retval(o, 'arr-oob', -1);
    stepErr(o, 'u-arr-oob', -E2BIG);
    const lp = step(o, 'l-pcpu').value;
    assert.ok(Array.isArray(lp) && lp.length === o.ncpus, `${o.side}: per-CPU lookup gives one value per CPU`);
    assert.is(sumPerCpu(lp as string[], 8), u64hex(7));
    retval(o, 'lru1', 10);
    retval(o, 'lru2', 20);
    for (const l of ['lpm-ins8', 'lpm-ins16', 'lpm-ins32']) retval(o, l, 0);
    retval(o, 'lpm-16', 200);
    retval(o, 'lpm-32', 300);
    retval(o, 'lpm-8', 100);
    retval(o, 'lpm-24', 400);
    retval(o, 'lpm-none', -1);
    for (const l of ['push1', 'push2', 'push3']) retval(o, l, 0);
    retval(o, 'pop-q', 41);
    retval(o, 'pop-s', 43);
    assert.is(step(o, 'upop-q').value, u64hex(42));
    retval(o, 'bloom-add', 0);
    retval(o, 'bloom-hit', 1);
    retval(o, 'bloom-miss', 0);
    retval(o, 'rb1', 16);
    retval(o, 'rb2', 32);
    retval(o, 'urb', 0);
    retval(o, 'perf', -ENOENT);
    retval(o, 'in-a', 5);
    retval(o, 'in-b', 6);
    retval(o, 'in-hash', 13);
    retval(o, 'in-empty', -1);
    retval(o, 'in-hmiss', -1);
    retval(o, 'redir-dev', 2);
    retval(o, 'redir-cpu', 2);
    retval(o, 'redir-devhash', 2);
    retval(o, 'sk', 1);
    retval(o, 'task1', 1);
    retval(o, 'task2', 2);

    // every map exists, with the kernel attributes the BTF definitions ask for
    const names = [
      'hash_map', 'array_map', 'percpu_hash', 'percpu_array', 'lru_hash', 'lru_percpu_hash', 'lpm_trie',
      'queue', 'stack', 'bloom', 'ringbuf', 'user_ringbuf', 'perf_events', 'stack_traces', 'inner_a',
      'inner_b', 'outer_array', 'outer_hash', 'outer_template', 'sk_storage', 'task_storage',
      'inode_storage', 'devmap', 'devmap_hash', 'cpumap', 'sockmap', 'sockhash', 'storage_seen',
    ];
    assert.equal([...o.maps.keys()].sort(), [...names].sort(), `${o.side}: map names`);
    mapAttrs(o, 'hash_map', { type: MAP_TYPE.HASH, keySize: 4, valueSize: 8, maxEntries: 16, flags: 0 });
    mapAttrs(o, 'array_map', { type: MAP_TYPE.ARRAY, maxEntries: 8 });
    mapAttrs(o, 'percpu_hash', { type: MAP_TYPE.PERCPU_HASH, maxEntries: 8 });
    mapAttrs(o, 'percpu_array', { type: MAP_TYPE.PERCPU_ARRAY, maxEntries: 4 });
    mapAttrs(o, 'lru_hash', { type: MAP_TYPE.LRU_HASH, maxEntries: 32 });
    mapAttrs(o, 'lru_percpu_hash', { type: MAP_TYPE.LRU_PERCPU_HASH, maxEntries: 32 });
    mapAttrs(o, 'lpm_trie', { type: MAP_TYPE.LPM_TRIE, keySize: 8, valueSize: 4, flags: BPF_F_NO_PREALLOC });
    mapAttrs(o, 'queue', { type: MAP_TYPE.QUEUE, keySize: 0, valueSize: 8, maxEntries: 8 });
    mapAttrs(o, 'stack', { type: MAP_TYPE.STACK, keySize: 0, valueSize: 8 });
    mapAttrs(o, 'bloom', { type: MAP_TYPE.BLOOM_FILTER, keySize: 0, valueSize: 8, maxEntries: 32, mapExtra: 3 });
    mapAttrs(o, 'ringbuf', { type: MAP_TYPE.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 });
    mapAttrs(o, 'user_ringbuf', { type: MAP_TYPE.USER_RINGBUF, maxEntries: 4096 });
    mapAttrs(o, 'perf_events', { type: MAP_TYPE.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: o.ncpus });
    mapAttrs(o, 'stack_traces', { type: MAP_TYPE.STACK_TRACE, valueSize: 128, maxEntries: 16 });
    mapAttrs(o, 'outer_array', { type: MAP_TYPE.ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 4 });
    mapAttrs(o, 'outer_hash', { type: MAP_TYPE.HASH_OF_MAPS, valueSize: 4 });
    mapAttrs(o, 'outer_template', { type: MAP_TYPE.HASH_OF_MAPS, maxEntries: 2 });
    mapAttrs(o, 'sk_storage', { type: MAP_TYPE.SK_STORAGE, maxEntries: 0, flags: BPF_F_NO_PREALLOC });
    mapAttrs(o, 'task_storage', { type: MAP_TYPE.TASK_STORAGE, flags: BPF_F_NO_PREALLOC });
    mapAttrs(o, 'inode_storage', { type: MAP_TYPE.INODE_STORAGE, flags: BPF_F_NO_PREALLOC });
    mapAttrs(o, 'devmap', { type: MAP_TYPE.DEVMAP, valueSize: 4 });
    mapAttrs(o, 'devmap_hash', { type: MAP_TYPE.DEVMAP_HASH });
    mapAttrs(o, 'cpumap', { type: MAP_TYPE.CPUMAP, valueSize: 8, maxEntries: 2 });
    mapAttrs(o, 'sockmap', { type: MAP_TYPE.SOCKMAP, valueSize: 8 });
    mapAttrs(o, 'sockhash', { type: MAP_TYPE.SOCKHASH });

    // contents
    assert.equal(keysOf(o, 'hash_map'), [u32hex(1), u32hex(2)], `${o.side}: hash_map keys`);
    assert.is(valueOf(o, 'hash_map', u32hex(1)), u64hex(12));
    assert.is(valueOf(o, 'hash_map', u32hex(2)), u64hex(9));
    assert.is(mapDump(o, 'array_map').entries?.length, 8);
    assert.is(valueOf(o, 'array_map', u32hex(3)), u64hex(12));
    assert.is(valueOf(o, 'array_map', u32hex(5)), u64hex(99));
    assert.is(valueOf(o, 'array_map', u32hex(0)), u64hex(0));
    assert.is(valueOf(o, 'percpu_hash', u32hex(1)), u64hex(3));
    assert.is(valueOf(o, 'percpu_hash', u32hex(5)), u64hex(4));
    assert.is(valueOf(o, 'percpu_array', u32hex(1)), u64hex(7));
    assert.is(valueOf(o, 'lru_hash', u32hex(7)), u64hex(20));
    assert.is(valueOf(o, 'lru_percpu_hash', u32hex(7)), u64hex(20));
    assert.equal(
      keysOf(o, 'lpm_trie'),
      ['080000000a000000', '10000000c0a80000', '18000000' + '0a010200', '20000000c0a80101'].sort(),
      `${o.side}: lpm_trie keys`,
    );
    assert.is(valueOf(o, 'lpm_trie', '180000000a010200'), u32hex(400));
    assert.equal(mapDump(o, 'queue').entries, [{ value: u64hex(43) }], `${o.side}: queue left over`);
    assert.equal(mapDump(o, 'stack').entries, [{ value: u64hex(42) }, { value: u64hex(41) }], `${o.side}: stack left over`);
    assert.is(valueOf(o, 'outer_array', u32hex(0)), 'map:inner_a');
    assert.is(valueOf(o, 'outer_array', u32hex(2)), 'map:inner_b');
    assert.equal(keysOf(o, 'outer_array'), [u32hex(0), u32hex(2)]);
    assert.equal(mapDump(o, 'outer_hash').entries, [{ key: u32hex(3), value: 'map:inner_b' }]);
    assert.equal(mapDump(o, 'outer_template').entries, []);
    assert.is(valueOf(o, 'inner_a', u32hex(1)), u64hex(5));
    for (const k of [0, 2, 3]) {
      assert.is(valueOf(o, 'inner_a', u32hex(k)), u64hex(0));
      assert.is(valueOf(o, 'inner_b', u32hex(k)), u64hex(0));
    }
    assert.is(valueOf(o, 'inner_b', u32hex(1)), u64hex(13));
    assert.is(valueOf(o, 'storage_seen', u32hex(0)), u64hex(1));
    assert.is(valueOf(o, 'storage_seen', u32hex(1)), u64hex(2));
  },
};

// ---- globals.bpf.c -------------------------------------------------------------------------

// Section layouts (clang-16 -O2; checked by the defaults scenario, which reads the ELF images):
//   .rodata:  cfg_mult u32 @0, cfg_add u64 @8, cfg_table u8[8] @16, cfg_origin struct point @24 (40 B)
//   .data:    counter u64 @0, data_arr u32[4] @8, data_point @24, hidden_total u32 @40 (44 B)
//   .bss:     last_input u64 @0, static_calls u64 @8, bss_buf u8[32] @16, bss_point @48 (64 B)
//   .data.custom: custom_data u32 @0, custom_data2 u64 @8; .rodata.custom: custom_ro u32 @0
const STRING = 'tsbpf: strings in .rodata.str1.1';

function globalsCommonSteps(): Scenario['steps'] {
  return [
    { op: 'run', label: 'compute7', prog: 'compute', data: packet(0, 0, 7) },
    { op: 'run', label: 'compute2', prog: 'compute', data: packet(0, 0, 2) },
    { op: 'run', label: 'copy', prog: 'copy_in', data: packet(0x11223344, 0x55, 0x66) },
    { op: 'run', label: 'config3', prog: 'read_config', data: packet(3) },
    { op: 'run', label: 'config12', prog: 'read_config', data: packet(12) },
    { op: 'run', label: 'custom', prog: 'touch_custom', data: packet(0xff, 0, 10) },
    { op: 'run', label: 'str7', prog: 'string_char', data: packet(7) },
    { op: 'run', label: 'str31', prog: 'string_char', data: packet(31) },
    { op: 'run', label: 'report', prog: 'report', data: packet(0) },
  ];
}

function globalsMapAttrs(o: Outcome): void {
  assert.equal(
    [...o.maps.keys()].sort(),
    ['.bss', '.data', '.data.custom', '.rodata', '.rodata.custom', '.rodata.str1.1'],
    `${o.side}: global data maps`,
  );
  for (const [name, size] of [['.rodata', 40], ['.data', 44], ['.bss', 64], ['.data.custom', 16], ['.rodata.custom', 4], ['.rodata.str1.1', STRING.length + 1]] as const) {
    mapAttrs(o, name, { type: MAP_TYPE.ARRAY, keySize: 4, valueSize: size, maxEntries: 1 });
  }
  // read-only sections are frozen and read-only for programs; sections with global variables are
  // mmapable; the string section has no variables, so it isn't.
  mapAttrs(o, '.rodata', { flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, frozen: true });
  mapAttrs(o, '.rodata.custom', { flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE, frozen: true });
  mapAttrs(o, '.rodata.str1.1', { flags: BPF_F_RDONLY_PROG, frozen: true });
  mapAttrs(o, '.data', { flags: BPF_F_MMAPABLE, frozen: false });
  mapAttrs(o, '.data.custom', { flags: BPF_F_MMAPABLE, frozen: false });
  mapAttrs(o, '.bss', { flags: BPF_F_MMAPABLE, frozen: false });
  assert.is(globalData(o, '.rodata.str1.1'), Buffer.from(`${STRING}\0`).toString('hex'));
}

/** No setup: the ELF's initial values. */
export const globalsDefaultsScenario: Scenario = {
  name: 'globals-defaults',
  object: 'globals',
  steps: globalsCommonSteps(),
  expect(o) {
    assert.is(o.loadErr, 0, `${o.side}: load failed`);
    retval(o, 'compute7', 7 * 3 + 100);
    retval(o, 'compute2', 2 * 3 + 100);
    retval(o, 'copy', 32);
    retval(o, 'config3', 5 + 7 + 10 + 42);
    retval(o, 'config12', 8 + 7 + 10 + 42);
    retval(o, 'custom', ((0xc0ffee ^ 0xff) + 5 + 10) | 0);
    retval(o, 'str7', STRING.charCodeAt(7));
    retval(o, 'str31', STRING.charCodeAt(31));
    retval(o, 'report', 2 /* XDP_PASS */);
    const rep = step(o, 'report').data!;
    assert.is(readLE(rep, 0, 8), 1002n, `${o.side}: counter`);
    assert.is(readLE(rep, 8, 8), 2n, `${o.side}: static_calls`);
    assert.is(readLE(rep, 16, 8), 59n, `${o.side}: hidden_total`);
    assert.is(readLE(rep, 24, 8), 3n, `${o.side}: cfg_mult`);
    globalsMapAttrs(o);

    const ro = globalData(o, '.rodata');
    assert.is(ro, '03000000' + '00000000' + u64hex(100) + '01020305080d1522' + '07000000' + '0800' + '09' + '00' + u64hex(10));
    const data = globalData(o, '.data');
    assert.is(readLE(data, 0, 8), 1002n);
    assert.equal([0, 1, 2, 3].map((i) => Number(readLE(data, 8 + 4 * i, 4))), [10, 20 + 0, 30 + 2, 40 + 7]);
    assert.is(readLE(data, 40, 4), 59n);
    const bss = globalData(o, '.bss');
    assert.is(readLE(bss, 0, 8), 2n, 'last_input');
    assert.is(readLE(bss, 8, 8), 2n, 'static_calls');
    assert.is(bss.slice(32, 96), Buffer.from(packet(0x11223344, 0x55, 0x66).subarray(0, 32)).toString('hex'));
    // bss_point = data_point with tag + 1: {x 1, y 2, tag 4, weight 4}
    assert.is(bss.slice(96, 128), '01000000' + '0200' + '04' + '00' + u64hex(4));
    assert.is(globalData(o, '.data.custom'), u32hex((0xc0ffee ^ 0xff) >>> 0) + '00000000' + u64hex(15));
    assert.is(globalData(o, '.rodata.custom'), u32hex(42));
  },
};

/** Configuration written into the images before load. */
export const globalsSetupScenario: Scenario = {
  name: 'globals-setup',
  object: 'globals',
  setup: {
    init: [
      { section: '.rodata', offset: 0, bytes: u32(5) },         // cfg_mult
      { section: '.rodata', offset: 8, bytes: u64(1000) },      // cfg_add
      { section: '.rodata', offset: 19, bytes: new Uint8Array([50]) }, // cfg_table[3]
      { section: '.rodata.custom', offset: 0, bytes: u32(43) }, // custom_ro
      { section: '.data', offset: 0, bytes: u64(2000) },        // counter
      { section: '.data.custom', offset: 8, bytes: u64(100) },  // custom_data2
      { section: '.bss', offset: 8, bytes: u64(40) },           // static_calls
    ],
  },
  steps: globalsCommonSteps(),
  expect(o) {
    assert.is(o.loadErr, 0, `${o.side}: load failed`);
    retval(o, 'compute7', 7 * 5 + 1000);
    retval(o, 'compute2', 2 * 5 + 1000);
    retval(o, 'config3', 50 + 7 + 10 + 43);
    retval(o, 'config12', 8 + 7 + 10 + 43);
    retval(o, 'custom', ((0xc0ffee ^ 0xff) + 100 + 10) | 0);
    const rep = step(o, 'report').data!;
    assert.is(readLE(rep, 0, 8), 2002n, `${o.side}: counter`);
    assert.is(readLE(rep, 8, 8), 42n, `${o.side}: static_calls`);
    assert.is(readLE(rep, 24, 8), 5n, `${o.side}: cfg_mult`);
    globalsMapAttrs(o);
    assert.is(readLE(globalData(o, '.rodata'), 8, 8), 1000n);
    assert.is(readLE(globalData(o, '.rodata.custom'), 0, 4), 43n);
  },
};

// ---- calls.bpf.c ---------------------------------------------------------------------------

export const callsScenario: Scenario = {
  name: 'calls',
  object: 'calls',
  steps: [
    { op: 'run', label: 'nested', prog: 'calc_nested', data: packet(0, 0, 5) },
    { op: 'run', label: 'square', prog: 'calc_square', data: packet(0, 0, 6) },
    { op: 'run', label: 'xdp', prog: 'calc_xdp', data: packet(2, 4, 7) },
    { op: 'run', label: 'socket', prog: 'calc_socket', data: packet(0) },
    { op: 'run', label: 'loop', prog: 'loop_squares', data: packet(0, 0, 10) },
    { op: 'run', label: 'loop-max', prog: 'loop_squares', data: packet(0, 0, 1000) },
    { op: 'run', label: 'walk', prog: 'walk_numbers', data: packet(3) },
    { op: 'run', label: 'walk-only', prog: 'walk_numbers', data: packet(99, 1) },
    { op: 'run', label: 'tail0', prog: 'tail_entry', data: packet(0) },
    { op: 'run', label: 'tail2', prog: 'tail_entry', data: packet(2, 0, 9) },
    { op: 'run', label: 'tail1', prog: 'tail_entry', data: packet(1) },
    { op: 'run', label: 'tail-oob', prog: 'tail_entry', data: packet(9) },
    { op: 'run', label: 'repeat', prog: 'calc_square', data: packet(0, 0, 3), repeat: 100 },
  ],
  expect(o) {
    assert.is(o.loadErr, 0, `${o.side}: load failed`);
    retval(o, 'nested', 25 + 3 * 5 + 1);
    retval(o, 'square', 37);
    retval(o, 'xdp', 2);
    assert.is(readLE(step(o, 'xdp').data!, 8, 8), BigInt(3 * 2 + 7 + 3 * 4), `${o.side}: calc_xdp result in packet`);
    retval(o, 'socket', 50 * 50 + 3 * 50 + 1);
    retval(o, 'loop', 285);
    retval(o, 'loop-max', 85344); // sum of i*i for i < 64
    let sum = 0;
    for (let i = 0; i < 8; i++) sum += (i * 10 + 3) * (i + 1);
    retval(o, 'walk', 8 * 10000 + sum);
    retval(o, 'walk-only', 8 * 10000 + sum);
    retval(o, 'tail0', 100);
    retval(o, 'tail2', 200 + 81);
    retval(o, 'tail1', -7);
    retval(o, 'tail-oob', -7);
    retval(o, 'repeat', 10);
    assert.equal(
      [...o.progs.keys()].sort(),
      ['calc_nested', 'calc_socket', 'calc_square', 'calc_xdp', 'loop_squares', 'tail_entry', 'tail_two', 'tail_zero', 'walk_numbers'],
      `${o.side}: programs (subprograms are not programs)`,
    );
    assert.is(o.progs.get('calc_square')?.type, 3 /* SCHED_CLS */);
    assert.is(o.progs.get('calc_xdp')?.type, 6 /* XDP */);
    assert.is(o.progs.get('calc_socket')?.type, 1 /* SOCKET_FILTER */);
    mapAttrs(o, 'jump_table', { type: MAP_TYPE.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 });
    assert.equal(mapDump(o, 'jump_table').entries, [
      { key: u32hex(0), value: 'prog:tail_zero' },
      { key: u32hex(2), value: 'prog:tail_two' },
    ]);
    assert.is(globalData(o, '.bss'), 'ffffffff', `${o.side}: tail_seen after the last (failed) tail call`);
    for (let i = 0; i < 8; i++) assert.is(valueOf(o, 'numbers', u32hex(i)), u64hex(i * 10 + 3));
  },
};

// ---- externs.bpf.c -------------------------------------------------------------------------

/** CONFIG_* values of the running kernel (/proc/config.gz, or /boot/config-$(uname -r)). */
export function kernelConfig(): Map<string, string> {
  let text: string;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString();
  } catch {
    text = readFileSync(`/boot/config-${release()}`, 'utf8');
  }
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_\w+)=(.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** Address of a symbol in /proc/kallsyms (root sees real addresses). */
export function kallsyms(name: string): bigint {
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , sym] = line.split(/\s+/);
    if (sym === name) return BigInt(`0x${addr}`);
  }
  throw new Error(`${name} is not in /proc/kallsyms`);
}

/** LINUX_KERNEL_VERSION as libbpf computes it from uname: KERNEL_VERSION(a, b, min(c, 255)). */
export function linuxKernelVersion(): number {
  const [a = 0, b = 0, c = 0] = release().split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return (a << 16) + (b << 8) + Math.min(c, 255);
}

export function externsScenario(): Scenario {
  const pid = process.pid; // alive while both loaders run
  return {
    name: 'externs',
    object: 'externs',
    steps: [
      { op: 'run', label: 'read', prog: 'read_externs', data: packet(0) },
      { op: 'run', label: 'task-self', prog: 'find_task', ctx: concat(u32(pid), u32(0xffffffff)) },
      { op: 'run', label: 'task-none', prog: 'find_task', ctx: concat(u32(0x7fffffff), u32(0xffffffff)) },
      { op: 'run', label: 'weak-kfunc', prog: 'weak_kfunc', data: packet(0) },
    ],
    expect(o) {
      assert.is(o.loadErr, 0, `${o.side}: load failed`);
      const cfg = kernelConfig();
      const hz = Number(cfg.get('CONFIG_HZ'));
      retval(o, 'read', hz);
      retval(o, 'task-self', 1);
      assert.is(step(o, 'task-self').ctx, u32hex(pid) + u32hex(1), `${o.side}: syscall program ctx written back`);
      retval(o, 'task-none', 0);
      retval(o, 'weak-kfunc', 77);
      assert.is(o.progs.get('find_task')?.type, 31 /* SYSCALL */);

      const seen = globalData(o, '.bss');
      assert.is(Number(readLE(seen, 0, 4)), linuxKernelVersion(), `${o.side}: LINUX_KERNEL_VERSION`);
      assert.is(readLE(seen, 4, 4), cfg.get('CONFIG_BPF_SYSCALL') === 'y' ? 1n : 0n, 'CONFIG_BPF_SYSCALL');
      const lsm = cfg.get('CONFIG_BPF_LSM');
      assert.is(readLE(seen, 8, 4), lsm === 'y' ? 1n : lsm === 'm' ? 2n : 0n, 'CONFIG_BPF_LSM tristate');
      assert.is(readLE(seen, 12, 4), BigInt(hz), 'CONFIG_HZ');
      assert.is(readLE(seen, 16, 4), 0n, 'missing weak int');
      assert.is(readLE(seen, 20, 4), 0n, 'missing weak bool');
      const host = JSON.parse(cfg.get('CONFIG_DEFAULT_HOSTNAME') ?? '""') as string;
      const hostBytes = Buffer.alloc(16);
      hostBytes.write(host.slice(0, 15));
      assert.is(seen.slice(48, 80), hostBytes.toString('hex'), 'CONFIG_DEFAULT_HOSTNAME');
      assert.is(readLE(seen, 40, 8), kallsyms('bpf_prog_put'), `${o.side}: typeless ksym (function)`);
      assert.is(readLE(seen, 48, 8), kallsyms('__start_BTF'), `${o.side}: typeless ksym (data)`);
      assert.is(readLE(seen, 56, 8), 0n, 'missing weak ksym');
      assert.is(readLE(seen, 64, 4), 0n, 'task_found: the last find_task found nothing');
      assert.is(readLE(seen, 72, 8), 1n, 'runs');
      mapAttrs(o, '.kconfig', { type: MAP_TYPE.ARRAY, keySize: 4, maxEntries: 1, frozen: true });
      assert.ok((mapDump(o, '.kconfig').flags & BPF_F_RDONLY_PROG) !== 0, `${o.side}: .kconfig is read-only for programs`);
    },
  };
}

// ---- rejected.bpf.c ------------------------------------------------------------------------

export const rejectedDefaultScenario: Scenario = {
  name: 'rejected-default',
  object: 'rejected',
  steps: [{ op: 'run', label: 'good', prog: 'good_len', data: packet(0) }],
  expect(o) {
    assert.is(o.loadErr, 0, `${o.side}: the "?socket" programs must not be loaded by default`);
    retval(o, 'good', 64 - 14);
    assert.is(o.progs.get('good_len')?.autoload, true);
    assert.is(o.progs.get('unchecked_lookup')?.autoload, false);
    assert.is(o.progs.get('endless_loop')?.autoload, false);
    assert.is(o.progs.get('unchecked_lookup')?.type, 1 /* SOCKET_FILTER */);
  },
};

export const rejectedDerefScenario: Scenario = {
  name: 'rejected-deref',
  object: 'rejected',
  setup: { autoload: { unchecked_lookup: true } },
  steps: [{ op: 'run', label: 'good', prog: 'good_len', data: packet(0) }],
  expect(o) {
    assert.is(o.loadErr, -EACCES, `${o.side}: load error ${o.loadErr}`);
    assert.match(o.loadLog ?? '', "invalid mem access 'map_value_or_null'");
    stepErr(o, 'good', -EINVAL); // nothing runs after a failed load
  },
};

export const rejectedLoopScenario: Scenario = {
  name: 'rejected-loop',
  object: 'rejected',
  setup: { autoload: { endless_loop: true } },
  steps: [],
  expect(o) {
    assert.is(o.loadErr, -EINVAL, `${o.side}: load error ${o.loadErr}`);
    assert.match(o.loadLog ?? '', 'infinite loop detected');
  },
};
