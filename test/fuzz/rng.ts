// A small seeded PRNG (sfc32). Every fuzz input is generated from its own generator seeded with
// (campaign seed, input index), so any input can be regenerated on its own from those two numbers:
// a crash report, a hang killed by the watchdog or a worker restart needs nothing else.

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    // splitmix32 to spread the two integers over the 128-bit state.
    let s = (seed ^ Math.imul(stream ^ 0x9e3779b9, 0x85ebca6b)) >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, n). */
  int(n: number): number {
    if (n <= 0) return 0;
    return Math.floor((this.u32() / 2 ** 32) * n);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = (this.u32() / 2 ** 32) * total;
    for (const [w, v] of items) {
      if (r < w) return v;
      r -= w;
    }
    return items[items.length - 1]![1];
  }
}
