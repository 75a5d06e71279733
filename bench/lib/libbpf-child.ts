// The libbpf side runs in a child process (bench/c/bench-libbpf.c) that takes one command per line on
// stdin and answers with one JSON object per line. While it measures, this process only waits.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export type Reply = Record<string, unknown>;

export class LibbpfChild {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private exited: Error | undefined;
  get pid(): number {
    return this.child.pid ?? -1;
  }
  /** libbpf's version as the child reports it, e.g. "1.1". */
  version = '?';

  private constructor(bin: string) {
    this.child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[libbpf] ${d.toString()}`));
    const lines = createInterface({ input: this.child.stdout });
    lines.on('line', (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      try {
        w.resolve(JSON.parse(line) as Reply);
      } catch {
        w.reject(new Error(`bench-libbpf printed something that is not JSON: ${line}`));
      }
    });
    this.child.on('exit', (code, signal) => {
      this.exited = new Error(`bench-libbpf exited (code ${code}, signal ${signal})`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
    this.child.on('error', (e) => {
      this.exited = e;
      for (const w of this.waiting.splice(0)) w.reject(e);
    });
  }

  static async start(bin: string): Promise<LibbpfChild> {
    const c = new LibbpfChild(bin);
    const hello = await c.next();
    c.version = String(hello.libbpf ?? '?');
    return c;
  }

  private next(): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  /** Sends one command and returns its reply; a reply with "error" becomes a rejection. */
  async cmd(line: string): Promise<Reply> {
    const p = this.next();
    this.child.stdin.write(`${line}\n`);
    const r = await p;
    if (typeof r.error === 'string') throw new Error(`libbpf side: ${line}: ${r.error}`);
    return r;
  }

  /** The numeric array `key` of a reply (nanosecond samples). */
  static samples(r: Reply, key = 'total'): number[] {
    const v = r[key];
    if (!Array.isArray(v)) throw new Error(`libbpf reply has no '${key}' array: ${JSON.stringify(r).slice(0, 200)}`);
    return v.map(Number);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end('quit\n');
    await done;
  }
}
