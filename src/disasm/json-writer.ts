// JSON text in the layout of bpftool's json_writer: compact for --json, and for --pretty (and the
// BTF-typed `map dump`) its particular indentation, where array elements follow "[" and "," on the
// same line and only object members start new lines. Values keep insertion order and may be
// bigints, verbatim text (RawJson) or member lists with repeated or empty names (JsonEntries).

/** Text written as is (a number in a printf format, "(unknown)", a pre-quoted string). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

/** An object given as an ordered list of members, which may repeat names (anonymous struct members are ""). */
export class JsonEntries {
  readonly entries: [string, JsonValue][];
  constructor(entries: [string, JsonValue][] = []) {
    this.entries = entries;
  }
}

export type JsonValue =
  | null | boolean | number | bigint | string | RawJson | JsonEntries | JsonValue[] | { [key: string]: JsonValue | undefined };

class Writer {
  private readonly parts: string[] = [];
  private depth = 0;
  private sep = false;
  private readonly pretty: boolean;
  constructor(pretty: boolean) {
    this.pretty = pretty;
  }

  private eor(): void {
    if (this.sep) this.parts.push(',');
    this.sep = true;
  }
  private eol(): void {
    if (this.pretty) this.parts.push(`\n${'    '.repeat(this.depth)}`);
  }
  private begin(c: string): void {
    this.eor();
    this.parts.push(c);
    this.depth++;
    this.sep = false;
  }
  private end(c: string): void {
    this.depth--;
    if (this.sep) this.eol();
    this.parts.push(c);
    this.sep = true;
  }
  private name(n: string): void {
    this.eor();
    this.eol();
    this.sep = false;
    this.parts.push(JSON.stringify(n), this.pretty ? ': ' : ':');
  }

  value(v: JsonValue): void {
    if (Array.isArray(v)) {
      this.begin('[');
      for (const e of v) this.value(e);
      this.end(']');
      return;
    }
    if (v instanceof JsonEntries) {
      this.begin('{');
      for (const [k, e] of v.entries) {
        this.name(k);
        this.value(e);
      }
      this.end('}');
      return;
    }
    if (v !== null && typeof v === 'object' && !(v instanceof RawJson)) {
      this.begin('{');
      for (const [k, e] of Object.entries(v)) {
        if (e === undefined) continue;
        this.name(k);
        this.value(e);
      }
      this.end('}');
      return;
    }
    this.eor();
    this.parts.push(scalar(v));
  }

  text(): string {
    return this.parts.join('');
  }
}

function scalar(v: null | boolean | number | bigint | string | RawJson): string {
  if (v instanceof RawJson) return v.text;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  return JSON.stringify(v);
}

/** Serializes like bpftool's json_writer (pretty: 4-space indentation, its line-breaking rules). */
export function writeJson(v: JsonValue, pretty = false): string {
  const w = new Writer(pretty);
  w.value(v);
  return w.text();
}
