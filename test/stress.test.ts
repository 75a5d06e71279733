// Open/load/attach/close cycles over a mix of objects, including loads that fail midway (a program the
// verifier refuses after the maps, one of them pinned, were created). Afterwards the process has as
// many fds as before, tsbpf owns none, and every kernel object the cycles created is gone.
//
// Every Fd tsbpf creates is recorded with its kernel id as it is made (the leak tracer's hook), so the
// check is exact even when other processes create and free BPF objects at the same time.
//
// TSBPF_STRESS_CYCLES sets the number of cycles (default 500 for CI, about 20 s; the full run is 1000).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, VerifierError } from '../src/index.js';
import { getNextId, liveFds } from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';
import { compileInline } from './support/inline-bpf.js';
import { recordFdCreation } from './support/leak-tracer.js';

const CYCLES = Number(process.env.TSBPF_STRESS_CYCLES ?? 500);
const PIN_ROOT = `/sys/fs/bpf/tsbpf-stress-${process.pid}`;

const ATTACH_SRC = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");
SEC("raw_tp/sys_enter")
int count_sys_enter(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&hits, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

const OBJ = {
  maps: compileBpf('maps'),
  globals: compileBpf('globals'),
  calls: compileBpf('calls'),
  lifecycle: compileBpf('lifecycle'),
  attach: compileInline('stress-attach', ATTACH_SRC),
};

const packet = (): Uint8Array => {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setBigUint64(8, 3n, true);
  return b;
};

/** One cycle of kind `k`. Returns what happened, for the tally. */
async function cycle(k: number): Promise<string> {
  switch (k % 6) {
    case 0: {
      using obj = BpfObject.open(OBJ.maps);
      await obj.load();
      const m = obj.maps.get('hash_map')!;
      const key = new Uint8Array(m.keySize);
      m.update(key, new Uint8Array(m.valueSize).fill(7));
      assert.ok(m.lookup(key));
      return 'maps';
    }
    case 1: {
      using obj = BpfObject.open(OBJ.globals);
      obj.maps.get('.rodata')!.initialValue[0] = 1;
      await obj.load();
      await obj.programs.get('compute')!.testRun({ data: packet() });
      void obj.maps.get('.bss')!.initialValue[0];
      return 'globals';
    }
    case 2: {
      using obj = BpfObject.open(OBJ.calls);
      await obj.load();
      await obj.programs.get('calc_square')!.testRun({ data: packet() });
      return 'calls';
    }
    case 3: {
      // Fails in the verifier after both maps were created and shared_counts was pinned.
      const obj = BpfObject.open(OBJ.lifecycle, { pinRootPath: PIN_ROOT });
      obj.programs.get('refused')!.autoload = true;
      try {
        await obj.load();
        throw new Error('the refused program loaded');
      } catch (e) {
        if (!(e instanceof VerifierError)) throw e;
      } finally {
        obj.close();
      }
      return 'verifier-rejected';
    }
    case 4: {
      using obj = BpfObject.open(OBJ.lifecycle, { pinRootPath: PIN_ROOT });
      await obj.load();
      await obj.programs.get('count_run')!.testRun({ data: packet() });
      return 'pinned';
    }
    default: {
      using obj = BpfObject.open(OBJ.attach);
      await obj.load();
      obj.attachSync();
      assert.is(obj.links.size, 1);
      return 'attached';
    }
  }
}

function osFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function mappings(): number {
  return readFileSync('/proc/self/maps', 'utf8').split('\n').length;
}

function alive(kind: 'prog' | 'map' | 'link', ids: Set<number>): number[] {
  const out: number[] = [];
  for (let id = getNextId(kind, 0); id; id = getNextId(kind, id)) if (ids.has(id)) out.push(id);
  return out;
}

test.after(() => {
  rmSync(PIN_ROOT, { recursive: true, force: true });
});

test(`${CYCLES} open/load/attach/close cycles (6 kinds, 1 in 6 refused by the verifier) leave no fd and no kernel object`, async () => {
  // Warm up every path once (lazy caches: kernel BTF, feature probes, libuv's threads), then measure.
  for (let k = 0; k < 6; k++) await cycle(k);
  const fds0 = osFdCount();
  const live0 = liveFds().length;
  const rss0 = process.memoryUsage().rss;
  const maps0 = mappings();
  const created = recordFdCreation();

  const tally: Record<string, number> = {};
  const t0 = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    const what = await cycle(i);
    tally[what] = (tally[what] ?? 0) + 1;
  }
  const ms = performance.now() - t0;
  rmSync(PIN_ROOT, { recursive: true, force: true });

  const ids = { prog: new Set(created.prog), map: new Set(created.map), link: new Set(created.link) };
  // Freed objects leave the id lists after an RCU grace period (and the pin must be gone).
  let left: string[] = [];
  for (let wait = 0; wait < 100; wait++) {
    left = (['prog', 'map', 'link'] as const).flatMap((k) => alive(k, ids[k]).map((id) => `${k} ${id}`));
    if (!left.length) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  console.log(`${CYCLES} cycles in ${(ms / 1000).toFixed(1)} s (${(ms / CYCLES).toFixed(1)} ms each): ${JSON.stringify(tally)}; ` +
    `kernel objects made: ${ids.prog.size} progs, ${ids.map.size} maps, ${ids.link.size} links; ` +
    `RSS ${grown >= 0 ? '+' : ''}${grown.toFixed(0)} MiB, mappings ${maps0} -> ${mappings()}`);

  assert.ok(ids.prog.size >= CYCLES / 2 && ids.map.size >= CYCLES && ids.link.size >= Math.floor(CYCLES / 6), 'the cycles made kernel objects (and the recorder saw them)');
  assert.equal(left, [], 'every kernel object made by the cycles is gone');
  assert.is(liveFds().length, live0, 'tsbpf owns no more fds than before');
  assert.is(osFdCount(), fds0, 'the process has as many fds as before');
  assert.not.ok(existsSync(join(PIN_ROOT, 'shared_counts')));
  assert.ok(grown < 512, `RSS grew by ${grown.toFixed(0)} MiB`);
});

test.run();
