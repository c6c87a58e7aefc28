/**
 * A small deterministic mutator for fuzzing parsers: seeded PRNG (mulberry32), byte-level
 * mutations (bit flips, random bytes, interesting integers, insertions, deletions, truncation,
 * duplicated ranges) and JSON-level ones (a random value replaced by a hostile one).
 */

export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff];

/** One mutated copy of `input`: 1–4 byte-level mutations. `hot` bytes (e.g. a header) are hit more often. */
export function mutateBytes(input: Uint8Array, rnd: () => number, hot = input.length): Buffer {
  let b = Buffer.from(input);
  const pos = (n = b.length): number => (rnd() < 0.7 ? Math.floor(rnd() * Math.min(hot, n)) : Math.floor(rnd() * n));
  const rounds = 1 + Math.floor(rnd() * 4);
  for (let r = 0; r < rounds && b.length > 0; r++) {
    const kind = Math.floor(rnd() * 7);
    const p = pos();
    if (kind === 0) b[p] = b[p]! ^ (1 << Math.floor(rnd() * 8));
    else if (kind === 1) b[p] = Math.floor(rnd() * 256);
    else if (kind === 2 && p + 4 <= b.length) b.writeUInt32LE(INTERESTING[Math.floor(rnd() * INTERESTING.length)]!, p);
    else if (kind === 3) b = Buffer.concat([b.subarray(0, p), Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 16) }, () => Math.floor(rnd() * 256))), b.subarray(p)]);
    else if (kind === 4) b = Buffer.concat([b.subarray(0, p), b.subarray(Math.min(b.length, p + 1 + Math.floor(rnd() * 64)))]);
    else if (kind === 5) b = b.subarray(0, p);
    else {
      const q = pos();
      const len = Math.min(64, b.length - q);
      b = Buffer.concat([b.subarray(0, p), b.subarray(q, q + len), b.subarray(p)]);
    }
  }
  return b;
}

const HOSTILE: unknown[] = [null, -1, 0, 1e308, -1e308, 2 ** 53, 1.5, '', 'x', true, [], {}, [1, 2, 3], { a: 1 }, 'NaN', -0.000001, 99999999];

/** A copy of a JSON value with 1–3 random leaves or members replaced by hostile values (or deleted). */
export function mutateJson(value: unknown, rnd: () => number): unknown {
  const copy = JSON.parse(JSON.stringify(value)) as unknown;
  const rounds = 1 + Math.floor(rnd() * 3);
  for (let r = 0; r < rounds; r++) {
    // Walk down a random path.
    let parent: Record<string, unknown> | unknown[] | null = null;
    let key: string | number | null = null;
    let node: unknown = copy;
    for (let depth = 0; depth < 6 && node && typeof node === 'object'; depth++) {
      const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
      if (keys.length === 0 || (depth > 0 && rnd() < 0.3)) break;
      key = keys[Math.floor(rnd() * keys.length)]!;
      parent = node as Record<string, unknown>;
      node = (node as Record<string | number, unknown>)[key];
    }
    if (parent === null || key === null) continue;
    if (rnd() < 0.15 && !Array.isArray(parent)) delete (parent as Record<string, unknown>)[key as string];
    else (parent as Record<string | number, unknown>)[key] = HOSTILE[Math.floor(rnd() * HOSTILE.length)];
  }
  return copy;
}
