/** Small input files for the data-safety tests: synthetic statistics, masks, a workspace snapshot. */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { saveStats } from '../../src/stats/stats-file.js';
import type { LangStats } from '../../src/stats/types.js';

/** Statistics of `lang` that pass every value check (counts ≤ tokens, Cauchy–Schwarz holds). */
export function syntheticStats(lang: string, meta: Record<string, string> = {}, layers = 2, neurons = 64, tokens = 1024, seed = 1): LangStats {
  const n = layers * neurons;
  const count = new Float64Array(n);
  const sum = new Float64Array(n);
  const sumSq = new Float64Array(n);
  let x = seed * 2654435761;
  for (let k = 0; k < n; k++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    count[k] = x % (tokens + 1);
    sum[k] = 0.1 * count[k]!;
    sumSq[k] = 0.01 * count[k]!;
  }
  return {
    lang, layers, neurons, tokens, count, sum, sumSq,
    meta: { lang, model_config_sha256: 'c', model_sha256: 'm', tokenizer_sha256: 't', corpus_sha256: `corpus-${lang}`, seq_len: '64', bos: 'false', shard: '0/1', chunks: String(tokens / 64), ...meta },
  };
}

export function writeStats(path: string, s: LangStats): string {
  saveStats(path, s);
  return path;
}

/** sha256 of every file under `dir` (relative path → hash): "nothing changed" is equality of two snapshots. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(p, r);
      } else out[r] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}
