// `bpftool -j|-p btf dump file X format raw` (bpftool 7.1): the types as JSON, byte for byte, with
// bpftool's json_writer layout for -p (4-space indent, `[{` and `},{` between array objects).

import type { Btf } from './btf.js';
import { BTF_KIND, BTF_KIND_NAMES, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED } from './types.js';

/** bpftool's json_writer: separators and newlines are decided as values are written. */
class JsonWriter {
  private out: string[] = [];
  private sep = '';
  private depth = 0;
  private readonly pretty: boolean;

  constructor(pretty: boolean) {
    this.pretty = pretty;
  }

  private eol(): void {
    if (this.pretty) this.out.push('\n' + '    '.repeat(this.depth));
  }
  /** End of record: the pending separator, then ',' for whatever follows. */
  private eor(): void {
    if (this.sep) this.out.push(this.sep);
    this.sep = ',';
  }
  private begin(c: string): void {
    this.eor();
    this.out.push(c);
    this.depth++;
    this.sep = '';
  }
  private end(c: string): void {
    this.depth--;
    if (this.sep) this.eol();
    this.out.push(c);
    this.sep = ',';
  }
  startObject(): void { this.begin('{'); }
  endObject(): void { this.end('}'); }
  startArray(): void { this.begin('['); }
  endArray(): void { this.end(']'); }
  name(n: string): void {
    this.eor();
    this.eol();
    this.sep = '';
    this.out.push(quote(n), this.pretty ? ': ' : ':');
  }
  /** A number (or bigint) value, printed in decimal. */
  num(name: string, v: number | bigint): void {
    this.name(name);
    this.eor();
    this.out.push(String(v));
  }
  str(name: string, v: string): void {
    this.name(name);
    this.eor();
    this.out.push(quote(v));
  }
  take(): string {
    // jsonw_destroy ends the output with a newline.
    return this.out.join('') + '\n';
  }
}

/** jsonw_puts: quotes and backslashes escaped, control characters as \b \f \n \r \t, the rest as is. */
function quote(s: string): string {
  let r = '"';
  for (const ch of s) {
    switch (ch) {
      case '\t': r += '\\t'; break;
      case '\n': r += '\\n'; break;
      case '\r': r += '\\r'; break;
      case '\f': r += '\\f'; break;
      case '\b': r += '\\b'; break;
      case '\\': r += '\\\\'; break;
      case '"': r += '\\"'; break;
      default: r += ch;
    }
  }
  return r + '"';
}

function linkage(l: number): string {
  return l === 0 ? 'static' : l === 1 ? 'global' : l === 2 ? 'extern' : '(unknown)';
}

const anon = (n: string): string => (n === '' ? '(anon)' : n);

/** The JSON of `bpftool -j btf dump … format raw` (`pretty`: -p), own types only for split BTF. */
export function dumpRawJson(btf: Btf, pretty = false): string {
  const w = new JsonWriter(pretty);
  w.startObject();
  w.name('types');
  w.startArray();
  for (let id = btf.startId; id <= btf.typeCount; id++) {
    const t = btf.type(id);
    w.startObject();
    w.num('id', id);
    w.str('kind', BTF_KIND_NAMES[t.kind] ?? 'UNKNOWN');
    w.str('name', anon(t.name));
    switch (t.kind) {
      case BTF_KIND.INT: {
        const e = (t.encoding.signed ? BTF_INT_SIGNED : 0) | (t.encoding.char ? BTF_INT_CHAR : 0) | (t.encoding.bool ? BTF_INT_BOOL : 0);
        w.num('size', t.size);
        w.num('bits_offset', t.bitOffset);
        w.num('nr_bits', t.bits);
        w.str('encoding', e === 0 ? '(none)' : e === BTF_INT_SIGNED ? 'SIGNED' : e === BTF_INT_CHAR ? 'CHAR' : e === BTF_INT_BOOL ? 'BOOL' : 'UNKN');
        break;
      }
      case BTF_KIND.PTR: case BTF_KIND.CONST: case BTF_KIND.VOLATILE: case BTF_KIND.RESTRICT: case BTF_KIND.TYPEDEF:
      case BTF_KIND.TYPE_TAG:
        w.num('type_id', t.type);
        break;
      case BTF_KIND.ARRAY:
        w.num('type_id', t.type);
        w.num('index_type_id', t.indexType);
        w.num('nr_elems', t.nelems);
        break;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION:
        w.num('size', t.size);
        w.num('vlen', t.members.length);
        w.name('members');
        w.startArray();
        for (const m of t.members) {
          w.startObject();
          w.str('name', anon(m.name));
          w.num('type_id', m.type);
          w.num('bits_offset', m.bitOffset);
          if (m.bitfieldSize) w.num('bitfield_size', m.bitfieldSize);
          w.endObject();
        }
        w.endArray();
        break;
      case BTF_KIND.ENUM: case BTF_KIND.ENUM64:
        w.str('encoding', t.signed ? 'SIGNED' : 'UNSIGNED');
        w.num('size', t.size);
        w.num('vlen', t.values.length);
        w.name('values');
        w.startArray();
        for (const v of t.values) {
          w.startObject();
          w.str('name', anon(v.name));
          if (typeof v.value === 'number') {
            // bpftool passes the __s32 value to a u64 field, so an unsigned value with bit 31 set prints
            // sign-extended (0xffffffff → 18446744073709551615).
            const s32 = BigInt(v.value | 0);
            w.num('val', t.signed ? s32 : BigInt.asUintN(64, s32));
          } else {
            w.num('val', t.signed ? BigInt.asIntN(64, v.value) : BigInt.asUintN(64, v.value));
          }
          w.endObject();
        }
        w.endArray();
        break;
      case BTF_KIND.FWD:
        w.str('fwd_kind', t.isUnion ? 'union' : 'struct');
        break;
      case BTF_KIND.FUNC:
        w.num('type_id', t.type);
        w.str('linkage', linkage(t.linkage));
        break;
      case BTF_KIND.FUNC_PROTO:
        w.num('ret_type_id', t.returnType);
        w.num('vlen', t.params.length);
        w.name('params');
        w.startArray();
        for (const p of t.params) {
          w.startObject();
          w.str('name', anon(p.name));
          w.num('type_id', p.type);
          w.endObject();
        }
        w.endArray();
        break;
      case BTF_KIND.VAR:
        w.num('type_id', t.type);
        w.str('linkage', linkage(t.linkage));
        break;
      case BTF_KIND.DATASEC:
        w.num('size', t.size);
        w.num('vlen', t.vars.length);
        w.name('vars');
        w.startArray();
        for (const v of t.vars) {
          w.startObject();
          w.num('type_id', v.type);
          w.num('offset', v.offset);
          w.num('size', v.size);
          w.endObject();
        }
        w.endArray();
        break;
      case BTF_KIND.FLOAT:
        w.num('size', t.size);
        break;
      case BTF_KIND.DECL_TAG:
        w.num('type_id', t.type);
        w.num('component_idx', t.componentIdx);
        break;
      default:
        break;
    }
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return w.take();
}
