/**
 * Merging statistics shards of one language: the same model, tokenizer and chunking, disjoint
 * shards of each corpus; totals added in a fixed order; blocks (blocks.ts) concatenated in the
 * same order and merged pairwise down to the parts' block limit.
 */
import { LapeError } from '../errors.js';
import { LAPE_VERSION } from '../version.js';
import { compactBlocks, type StatsBlocks } from './blocks.js';
import type { LangStats } from './types.js';

/** Metadata keys that must agree between shards of one language. */
const MERGE_KEYS = ['lang', 'model_config_sha256', 'tokenizer_sha256', 'seq_len', 'bos', 'layers', 'neurons', 'weights', 'device'] as const;

/** One recorded piece of a corpus: shard i of n of the chunk stream of the corpus with this sha256. */
interface Piece {
  corpus: string;
  index: number;
  count: number;
}

function parseShardText(s: string, file: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m || Number(m[2]) < 1 || Number(m[1]) >= Number(m[2])) throw new LapeError(`statistics metadata has an invalid shard "${s}"`, file);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/** The pieces a statistics file holds: its own shard, or for a merged file every shard merged into it. */
export function statsPieces(s: LangStats, file: string): Piece[] {
  const m = s.meta;
  if (m.merged_parts) {
    let parts: unknown;
    try {
      parts = JSON.parse(m.merged_parts);
    } catch {
      throw new LapeError('statistics metadata "merged_parts" is not valid JSON', file);
    }
    if (!Array.isArray(parts) || parts.length === 0) throw new LapeError('statistics metadata "merged_parts" is not a list', file);
    return parts.map((p) => {
      if (!Array.isArray(p) || typeof p[0] !== 'string' || typeof p[1] !== 'string') throw new LapeError('statistics metadata "merged_parts" has a bad entry', file);
      return { corpus: p[0], ...parseShardText(p[1], file) };
    });
  }
  const shard = m.shard ?? '0/1';
  const corpus = m.corpus_sha256 ?? '';
  if (shard.startsWith('merged:')) {
    // Merged by an older lape: the shards are listed, their corpora only when there was one.
    return shard.slice(7).split(',').map((x) => ({ corpus, ...parseShardText(x, file) }));
  }
  return [{ corpus, ...parseShardText(shard, file) }];
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Whether shards i/n and j/m of one chunk stream share a chunk (c ≡ i mod n and c ≡ j mod m is solvable). */
export function shardsOverlap(a: { index: number; count: number }, b: { index: number; count: number }): boolean {
  return (a.index - b.index) % gcd(a.count, b.count) === 0;
}

/** Sums statistics shards of one language (same model, tokenizer, sequence length); refuses overlapping shards and values that are not counts. */
export function mergeStats(parts: Array<{ file: string; stats: LangStats }>, warn: (msg: string) => void = () => {}): LangStats {
  if (parts.length === 0) throw new LapeError('nothing to merge');
  const first = parts[0]!;
  for (const p of parts) {
    for (const key of MERGE_KEYS) {
      if (p.stats.meta[key] !== first.stats.meta[key]) {
        throw new LapeError(
          `cannot merge: ${key} differs (${JSON.stringify(p.stats.meta[key])} here, ${JSON.stringify(first.stats.meta[key])} in ${first.file})`,
          p.file,
        );
      }
    }
    if (p.stats.tokens <= 0) throw new LapeError('cannot merge: the statistics hold no tokens', p.file);
    const { chunks, seq_len } = p.stats.meta;
    if (chunks !== undefined && seq_len !== undefined && Number(chunks) * Number(seq_len) !== p.stats.tokens) {
      throw new LapeError(`cannot merge: ${p.stats.tokens} tokens is not chunks × seq_len (${chunks} × ${seq_len}); the file was edited or is damaged`, p.file);
    }
  }
  // The full model identity (weights included) exists in files recorded since it was introduced.
  const withId = parts.filter((p) => p.stats.meta.model_sha256 !== undefined);
  if (withId.length > 0 && withId.length < parts.length) {
    const old = parts.find((p) => p.stats.meta.model_sha256 === undefined)!;
    throw new LapeError(
      'cannot merge: this file was recorded by an older lape that identified the model by config.json only, so it cannot be checked against ' +
        `${withId[0]!.file}'s weights; record it again with this lape`,
      old.file,
    );
  }
  for (const p of withId) {
    if (p.stats.meta.model_sha256 !== withId[0]!.stats.meta.model_sha256) {
      throw new LapeError(`cannot merge: recorded with other model weights or tokenizer than ${withId[0]!.file} (model_sha256 differs)`, p.file);
    }
  }
  if (withId.length === 0) warn('these statistics were recorded by an older lape: only config.json, not the weights, could be compared (record again to check the weights)');
  // No chunk may be counted twice: shards of one corpus must be disjoint.
  const seen: Array<Piece & { file: string }> = [];
  for (const p of parts) {
    for (const piece of statsPieces(p.stats, p.file)) {
      const clash = seen.find((q) => q.corpus === piece.corpus && shardsOverlap(q, piece));
      if (clash) {
        const same = clash.index === piece.index && clash.count === piece.count;
        throw new LapeError(
          same
            ? `cannot merge: shard ${piece.index}/${piece.count} of the same corpus is counted twice (also in ${clash.file})`
            : `cannot merge: shard ${piece.index}/${piece.count} overlaps shard ${clash.index}/${clash.count} of the same corpus in ${clash.file} (they share chunks, which would be counted twice)`,
          p.file,
        );
      }
      seen.push({ ...piece, file: p.file });
    }
  }
  const n = first.stats.count.length;
  const out: LangStats = {
    lang: first.stats.lang,
    layers: first.stats.layers,
    neurons: first.stats.neurons,
    tokens: 0,
    count: new Float64Array(n),
    sum: new Float64Array(n),
    sumSq: new Float64Array(n),
    meta: {},
  };
  // Fixed order (by shard, then file) so the merged sums do not depend on argument order.
  const ordered = [...parts].sort((a, b) =>
    (a.stats.meta.shard ?? '').localeCompare(b.stats.meta.shard ?? '', 'en', { numeric: true }) || a.file.localeCompare(b.file));
  for (const { stats } of ordered) {
    out.tokens += stats.tokens;
    for (let k = 0; k < n; k++) {
      out.count[k]! += stats.count[k]!;
      out.sum[k]! += stats.sum[k]!;
      out.sumSq[k]! += stats.sumSq[k]!;
    }
  }
  const blocks = mergedBlocks(ordered, warn);
  if (blocks) out.blocks = blocks;
  const m = first.stats.meta;
  const pieces = ordered.flatMap((p) => statsPieces(p.stats, p.file));
  out.meta = {
    lang: out.lang,
    model_config_sha256: m.model_config_sha256 ?? '',
    ...(m.model_sha256 ? { model_sha256: m.model_sha256 } : {}),
    tokenizer_sha256: m.tokenizer_sha256 ?? '',
    seq_len: m.seq_len ?? '',
    bos: m.bos ?? 'false',
    corpus_sha256: [...new Set(ordered.map((p) => p.stats.meta.corpus_sha256))].join(','),
    shard: `merged:${pieces.map((p) => `${p.index}/${p.count}`).join(',')}`,
    merged_parts: JSON.stringify(pieces.map((p) => [p.corpus, `${p.index}/${p.count}`])),
    ...(ordered.every((p) => p.stats.meta.chunks !== undefined) ? { chunks: String(ordered.reduce((s, p) => s + Number(p.stats.meta.chunks), 0)) } : {}),
    lape_version: LAPE_VERSION,
    ...(m.weights ? { weights: m.weights } : {}),
    ...(m.device ? { device: m.device } : {}),
  };
  return out;
}

/** The parts' blocks in merge order, merged pairwise down to the largest block limit; none when a part has none. */
function mergedBlocks(ordered: Array<{ file: string; stats: LangStats }>, warn: (msg: string) => void): StatsBlocks | undefined {
  const withBlocks = ordered.filter((p) => p.stats.blocks !== undefined);
  if (withBlocks.length === 0) return undefined;
  if (withBlocks.length < ordered.length) {
    const without = ordered.find((p) => p.stats.blocks === undefined)!;
    warn(`${without.file} has no blocks: the merged statistics have none either (lape stability needs them)`);
    return undefined;
  }
  const max = Math.max(...withBlocks.map((p) => p.stats.blocks!.max));
  return compactBlocks({
    max,
    chunks: withBlocks.flatMap((p) => p.stats.blocks!.chunks),
    count: withBlocks.flatMap((p) => p.stats.blocks!.count),
    sum: withBlocks.flatMap((p) => p.stats.blocks!.sum),
  });
}
