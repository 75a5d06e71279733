// The tsbpf side of each measurement, run in this process. Each function mirrors one command of
// bench/c/bench-libbpf.c: same object, same keys and values, same loop shape, same clock placement.

import { readFileSync } from 'node:fs';
import type * as Api from '../../src/index.js';
import type * as BtfApi from '../../btf/index.js';
import type * as SysApi from '../../syscalls/index.js';

export type TsbpfApi = typeof Api;
export type BtfModule = typeof BtfApi;
export type SyscallsModule = typeof SysApi;

const VMLINUX = '/sys/kernel/btf/vmlinux';
/** Must match VALUE_SIZE / struct value32 in bench/bpf/mapbench.bpf.c. */
export const VALUE_SIZE = 32;

function now(): number {
  return Number(process.hrtime.bigint());
}

/** open → load → close of one object, `iters` times; nanoseconds for the whole and for open alone. */
export async function loadSamples(api: TsbpfApi, path: string, iters: number, sync = false): Promise<{ total: number[]; open: number[] }> {
  const total: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = now();
    const obj = api.BpfObject.open(path);
    const t1 = now();
    try {
      if (sync) obj.loadSync();
      else await obj.load();
    } finally {
      obj.close();
    }
    total.push(now() - t0);
    open.push(t1 - t0);
  }
  return { total, open };
}

/** Reading and parsing /sys/kernel/btf/vmlinux (what btf__parse does), optionally plus name lookups. */
export function btfSamples(mod: BtfModule, iters: number, withLookups: boolean): { total: number[]; types: number; checksum: number } {
  const K = mod.BTF_KIND;
  const lookups: [string, number][] = [
    ['task_struct', K.STRUCT], ['sk_buff', K.STRUCT], ['bpf_prog', K.STRUCT], ['xdp_md', K.STRUCT], ['tcp_sendmsg', K.FUNC],
  ];
  const total: number[] = [];
  let types = 0;
  let checksum = 0;
  for (let i = 0; i < iters; i++) {
    const t0 = now();
    const btf = mod.Btf.parse(readFileSync(VMLINUX));
    if (withLookups) for (const [name, kind] of lookups) checksum += btf.findOne(name, kind) ?? -1;
    types = btf.typeCount + 1; // + void, like btf__type_cnt
    total.push(now() - t0);
  }
  return { total, types, checksum };
}

export type MapOp = 'update' | 'lookup' | 'update_batch' | 'lookup_batch';
/** Diagnostics: the same loops one layer down, on syscalls/ directly (no BpfMap checks, reused batch buffers). */
export type RawMapOp = 'raw_update' | 'raw_lookup' | 'raw_lookup_batch';

/** The tsbpf copy of bench/bpf/mapbench.bpf.o, loaded once for all map measurements. */
export class TsMapBench {
  private readonly obj: Api.BpfObject;
  private readonly hash: Api.BpfMap;
  private readonly array: Api.BpfMap;

  private constructor(obj: Api.BpfObject, hash: Api.BpfMap, array: Api.BpfMap) {
    this.obj = obj;
    this.hash = hash;
    this.array = array;
  }

  static async setup(api: TsbpfApi, path: string, maxEntries: number): Promise<TsMapBench> {
    const obj = api.BpfObject.open(path);
    try {
      const hash = obj.map('bench_hash');
      const array = obj.map('bench_array');
      hash.setMaxEntries(maxEntries);
      array.setMaxEntries(maxEntries);
      await obj.load();
      return new TsMapBench(obj, hash, array);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  close(): void {
    this.obj.close();
  }

  /** `reps` repetitions of `n` operations on keys 0..n-1; nanoseconds per repetition. */
  run(which: 'hash' | 'array', op: MapOp | RawMapOp, n: number, batch: number, reps: number, sys?: SyscallsModule): { total: number[]; checksum: number } {
    const map = which === 'hash' ? this.hash : this.array;
    if (op.startsWith('raw_') && !sys) throw new Error('the syscalls/ module is not available');
    const fd = map.fd;
    const outKeys = new Uint8Array(batch * 4);
    const outValues = new Uint8Array(batch * VALUE_SIZE);
    const inBatch = new Uint8Array(4);
    const outBatch = new Uint8Array(4);
    const total: number[] = [];
    let checksum = 0;
    const key = new Uint8Array(4);
    const keyView = new DataView(key.buffer);
    const value = new Uint8Array(VALUE_SIZE);
    const valueView = new DataView(value.buffer);
    const keys = new Uint8Array(n * 4);
    const values = new Uint8Array(n * VALUE_SIZE);
    const kv = new DataView(keys.buffer);
    const vv = new DataView(values.buffer);
    for (let i = 0; i < n; i++) {
      kv.setUint32(i * 4, i, true);
      vv.setUint32(i * VALUE_SIZE, i, true);
    }
    for (let r = 0; r < reps; r++) {
      const t0 = now();
      switch (op) {
        case 'update':
          for (let i = 0; i < n; i++) {
            keyView.setUint32(0, i, true);
            valueView.setUint32(0, i, true);
            map.update(key, value);
          }
          break;
        case 'lookup':
          for (let i = 0; i < n; i++) {
            keyView.setUint32(0, i, true);
            if (!map.lookupInto(key, value)) throw new Error(`tsbpf: key ${i} missing from ${map.name}`);
            checksum += value[0]!;
          }
          break;
        case 'update_batch':
          for (let off = 0; off < n; off += batch) {
            const count = Math.min(batch, n - off);
            map.updateBatch(keys.subarray(off * 4, (off + count) * 4), values.subarray(off * VALUE_SIZE, (off + count) * VALUE_SIZE), count);
          }
          break;
        case 'lookup_batch': {
          let cursor: Uint8Array | undefined;
          let seen = 0;
          for (;;) {
            const res = map.lookupBatch(batch, cursor);
            seen += res.count;
            if (res.count) checksum += res.values[0]!;
            if (res.done) break;
            cursor = res.cursor;
          }
          if (seen !== n) throw new Error(`tsbpf: lookupBatch saw ${seen} entries of ${map.name}, expected ${n}`);
          break;
        }
        case 'raw_update':
          for (let i = 0; i < n; i++) {
            keyView.setUint32(0, i, true);
            valueView.setUint32(0, i, true);
            sys!.mapUpdateElem(fd, key, value, 0);
          }
          break;
        case 'raw_lookup':
          for (let i = 0; i < n; i++) {
            keyView.setUint32(0, i, true);
            if (!sys!.mapLookupElem(fd, key, value, 0)) throw new Error(`tsbpf: key ${i} missing from ${map.name}`);
            checksum += value[0]!;
          }
          break;
        case 'raw_lookup_batch': {
          let seen = 0;
          let first = true;
          for (;;) {
            const res = sys!.mapLookupBatch(fd, first ? null : inBatch, outBatch, outKeys, outValues, batch);
            seen += res.count;
            if (res.count) checksum += outValues[0]!;
            if (res.done) break;
            inBatch.set(outBatch);
            first = false;
          }
          if (seen !== n) throw new Error(`tsbpf: mapLookupBatch saw ${seen} entries of ${map.name}, expected ${n}`);
          break;
        }
      }
      total.push(now() - t0);
    }
    return { total, checksum };
  }
}

/** `reps` passes of `n` calls of a syscall that does nothing; nanoseconds per pass. */
export function nullSyscallSamples(fn: () => number, n: number, reps: number): number[] {
  const total: number[] = [];
  let sum = 0;
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < n; i++) sum += fn();
    total.push(now() - t0);
  }
  if (sum === -1) console.log(sum); // keep the calls observable
  return total;
}
