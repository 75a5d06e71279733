// `tsbpf build --watch`: rebuild a source when it or any file it includes changes. Directories are
// watched rather than files, because editors save by writing a new file and renaming it over the old
// one, and a watch on the old file's inode would then see nothing more.

import { type FSWatcher, watch } from 'node:fs';
import { dirname, join } from 'node:path';
import type { BuildResult } from './compile.js';

export interface WatchHandlers {
  /** Builds one source; resolves to its result, or undefined when the build failed (and was reported). */
  build: (source: string) => Promise<BuildResult | undefined>;
  /** Files not worth watching (system headers, the vmlinux.h cache). */
  ignore?: (file: string) => boolean;
}

export class BuildWatcher {
  #watchers = new Map<string, FSWatcher>();
  /** file → the sources that read it. */
  #dependents = new Map<string, Set<string>>();
  /** source → whether its last build succeeded. */
  readonly ok = new Map<string, boolean>();
  #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Builds run one at a time, in the order their changes were seen. */
  #queue: Promise<void> = Promise.resolve();
  readonly sources: readonly string[];
  readonly #handlers: WatchHandlers;

  /** Starts by building every source once; `idle()` resolves when those builds are done. */
  constructor(sources: readonly string[], handlers: WatchHandlers) {
    this.sources = sources;
    this.#handlers = handlers;
    this.#enqueue(sources);
  }

  /** Resolves once every build asked for so far has finished. */
  idle(): Promise<void> {
    return this.#queue;
  }

  #enqueue(sources: readonly string[]): void {
    this.#queue = this.#queue.then(async () => {
      for (const s of sources) if (!this.#closed) await this.#rebuild(s);
    });
  }

  /** Whether every source's last build succeeded. */
  get allOk(): boolean {
    return this.sources.every((s) => this.ok.get(s));
  }

  async #rebuild(source: string): Promise<void> {
    const r = await this.#handlers.build(source);
    this.ok.set(source, !!r);
    // A failed build keeps watching what it read before, and the source itself in any case.
    const files = r ? r.dependencies : [source, ...this.#filesOf(source)];
    for (const set of this.#dependents.values()) set.delete(source);
    for (const f of new Set([source, ...files])) {
      if (this.#handlers.ignore?.(f)) continue;
      let set = this.#dependents.get(f);
      if (!set) this.#dependents.set(f, (set = new Set()));
      set.add(source);
      this.#watchDir(dirname(f));
    }
  }

  #filesOf(source: string): string[] {
    const out: string[] = [];
    for (const [f, set] of this.#dependents) if (set.has(source)) out.push(f);
    return out;
  }

  #watchDir(dir: string): void {
    if (this.#watchers.has(dir)) return;
    const w = watch(dir, (_event, name) => {
      if (this.#closed || !name) return;
      const file = join(dir, name.toString());
      const dependents = this.#dependents.get(file);
      if (!dependents) return;
      for (const s of dependents) this.#pending.add(s);
      // Editors write in bursts (truncate, write, rename): wait for the burst to end.
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#flush(), 100);
    });
    w.on('error', () => { /* a watched directory went away; its files come back through a rebuild */ });
    this.#watchers.set(dir, w);
  }

  #flush(): void {
    const sources = [...this.#pending];
    this.#pending.clear();
    this.#enqueue(sources);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

