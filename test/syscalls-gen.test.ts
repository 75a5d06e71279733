// The generated syscall layouts: regenerating from this kernel's BTF must reproduce the committed
// files byte for byte, the layouts must match the fixed UAPI offsets, and the generator must
// refuse a bpf_attr member it has no command mapping for.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateFiles, OUT_DIR } from '../syscalls/gen/generate.js';
import { emitAttr, HEADER, type BtfSource } from '../syscalls/gen/emit.js';
import { BTF_KIND, type BtfType } from '../btf/types.js';
import {
  BPF_ATTR, BPF_ATTR_SIZEOF, BPF_PROG_INFO, BPF_MAP_INFO, BPF_LINK_INFO, PERF_EVENT_ATTR,
} from '../syscalls/generated/bpf-attr.js';
import { BPF_CMD, BPF_CMD_NAMES, BPF_MAP_TYPE, BPF_MAP_TYPE_NAMES, BPF_FUNC_ID } from '../syscalls/generated/bpf-enums.js';

const files = generateFiles();

test('regenerating from /sys/kernel/btf/vmlinux changes nothing', () => {
  for (const [name, text] of Object.entries(files)) {
    const committed = readFileSync(join(OUT_DIR, name), 'utf8');
    assert.ok(committed.startsWith(HEADER), `${name} has the generated-file header`);
    // compare line by line first for a readable failure, then exactly
    assert.fixture(text, committed, `${name} differs from the generator output; run npm run gen:syscalls`);
    assert.is(text, committed);
  }
});

test('layouts agree with the UAPI offsets (which never move)', () => {
  assert.equal(BPF_ATTR.MAP_ELEM.key, { off: 8, size: 8 });
  assert.equal(BPF_ATTR.MAP_ELEM.value, { off: 16, size: 8 });
  assert.equal(BPF_ATTR.MAP_ELEM.next_key, BPF_ATTR.MAP_ELEM.value);
  assert.equal(BPF_ATTR.MAP_ELEM.flags, { off: 24, size: 8 });
  assert.is(BPF_ATTR_SIZEOF.MAP_ELEM, 32);
  assert.equal(BPF_ATTR.MAP_CREATE.map_name, { off: 28, size: 16 });
  assert.equal(BPF_ATTR.MAP_CREATE.map_extra, { off: 64, size: 8 });
  assert.equal(BPF_ATTR.PROG_LOAD.log_buf, { off: 32, size: 8 });
  assert.equal(BPF_ATTR.PROG_LOAD.prog_name, { off: 48, size: 16 });
  assert.equal(BPF_ATTR.PROG_LOAD.log_true_size, { off: 140, size: 4 });
  assert.equal(BPF_ATTR.PROG_LOAD.attach_prog_fd, BPF_ATTR.PROG_LOAD.attach_btf_obj_fd);
  assert.equal(BPF_ATTR.MAP_BATCH.count, { off: 32, size: 4 });
  assert.equal(BPF_ATTR.PROG_TEST_RUN.ctx_out, { off: 56, size: 8 });
  assert.equal(BPF_ATTR.RAW_TRACEPOINT_OPEN.cookie, { off: 16, size: 8 });
  assert.equal(BPF_ATTR.LINK_CREATE.kprobe_multi_cookies, { off: 40, size: 8 });
  assert.equal(BPF_ATTR.LINK_CREATE.tracing_cookie, { off: 24, size: 8 });
  assert.equal(BPF_PROG_INFO.gpl_compatible, { off: 84, size: 4, bit: 0, bits: 1 });
  assert.equal(BPF_PROG_INFO.verified_insns, { off: 216, size: 4 });
  assert.equal(BPF_MAP_INFO.map_extra, { off: 80, size: 8 });
  assert.equal(BPF_LINK_INFO.raw_tracepoint_cookie, { off: 32, size: 8 });
  assert.equal(PERF_EVENT_ATTR.sample_period, PERF_EVENT_ATTR.sample_freq);
  assert.equal(PERF_EVENT_ATTR.precise_ip, { off: 40, size: 8, bit: 15, bits: 2 });
  assert.equal(PERF_EVENT_ATTR.config1, { off: 56, size: 8 });
});

test('enums: names, numbers, reverse lookup preferring canonical names', () => {
  assert.is(BPF_CMD.MAP_CREATE, 0);
  assert.is(BPF_CMD.PROG_LOAD, 5);
  assert.is(BPF_CMD.PROG_RUN, BPF_CMD.PROG_TEST_RUN);
  assert.is(BPF_CMD_NAMES[10], 'BPF_PROG_TEST_RUN');
  assert.is(BPF_MAP_TYPE.HASH, 1);
  assert.is(BPF_MAP_TYPE.RINGBUF, 27);
  assert.is(BPF_MAP_TYPE_NAMES[BPF_MAP_TYPE.CGROUP_STORAGE], 'BPF_MAP_TYPE_CGROUP_STORAGE');
  assert.is(BPF_FUNC_ID.map_lookup_elem, 1);
  assert.ok(files['bpf-enums.ts']!.includes('export const BPF_LINK_TYPE = {'));
});

/** A hand-built BTF: `union bpf_attr { struct { u32 mystery; }; }`. */
function fakeSource(): BtfSource {
  const types: BtfType[] = [
    { kind: BTF_KIND.UNKN, name: '' },
    { kind: BTF_KIND.INT, name: 'u32', size: 4, encoding: { signed: false, char: false, bool: false }, bitOffset: 0, bits: 32 },
    { kind: BTF_KIND.STRUCT, name: '', size: 4, kflag: false, members: [{ name: 'mystery', type: 1, bitOffset: 0, bitfieldSize: 0 }] },
    { kind: BTF_KIND.UNION, name: 'bpf_attr', size: 4, kflag: false, members: [{ name: '', type: 2, bitOffset: 0, bitfieldSize: 0 }] },
  ];
  return {
    type: (id) => types[id]!,
    find: (name, kind) => {
      const id = types.findIndex((t) => t.name === name && t.kind === kind);
      if (id < 0) throw new Error(`no ${name}`);
      return id;
    },
  };
}

test('an unmapped anonymous bpf_attr member fails loudly', () => {
  assert.throws(() => emitAttr(fakeSource()), /keyed 'mystery'.*ATTR_MEMBERS/);
});

test.run();
