/**
 * Language dominance (Tang et al. 2024, Eq. 6 and Fig. 7). v_k(l) = mean sentence embedding of
 * language k at layer l (over the aligned texts). A text h of language k is moved to language c
 * by ĥ = h − v_k + v_c; the dominance score of c at layer l is the mean over the other languages
 * k ≠ c of SES(ĥ_k, h_c) — the mean over aligned groups of cos(ĥ of group g in k, h of group g in c).
 * A larger score means the other languages, shifted to c, look more like c: c dominates.
 */
import { checkEmbeddings, cosine, embOffset, type EmbeddingSet } from './ses.js';

export interface DominanceResult {
  languages: string[];
  layers: number[];
  texts: number;
  /** dominance[c][l] = mean over k ≠ c of SES(shifted k → c, c) at layer l. */
  dominance: Record<string, number[]>;
  /** matrix[l][k][c] = SES(shifted k → c, c) at layer l; null on the diagonal. */
  matrix: Array<Array<Array<number | null>>>;
}

export function dominanceFromEmbeddings(e: EmbeddingSet): DominanceResult {
  checkEmbeddings(e);
  const { texts: N, layers: L, hidden: H } = e;
  const K = e.languages.length;
  // Language vectors v[k][l] (H numbers each).
  const v = new Float64Array(K * L * H);
  for (let k = 0; k < K; k++) {
    for (let t = 0; t < N; t++) {
      for (let l = 0; l < L; l++) {
        const src = embOffset(e, k, t, l);
        const dst = (k * L + l) * H;
        for (let i = 0; i < H; i++) v[dst + i] = v[dst + i]! + e.data[src + i]! / N;
      }
    }
  }
  const shifted = new Float64Array(H);
  const matrix: DominanceResult['matrix'] = [];
  for (let l = 0; l < L; l++) {
    const layer: Array<Array<number | null>> = [];
    for (let k = 0; k < K; k++) {
      const row: Array<number | null> = [];
      for (let c = 0; c < K; c++) {
        if (k === c) {
          row.push(null);
          continue;
        }
        const vk = (k * L + l) * H;
        const vc = (c * L + l) * H;
        let s = 0;
        for (let t = 0; t < N; t++) {
          const hk = embOffset(e, k, t, l);
          for (let i = 0; i < H; i++) shifted[i] = e.data[hk + i]! - v[vk + i]! + v[vc + i]!;
          s += cosine(shifted, 0, e.data, embOffset(e, c, t, l), H);
        }
        row.push(s / N);
      }
      layer.push(row);
    }
    matrix.push(layer);
  }
  const dominance: Record<string, number[]> = {};
  e.languages.forEach((lang, c) => {
    dominance[lang] = Array.from({ length: L }, (_, l) => {
      let s = 0;
      for (let k = 0; k < K; k++) if (k !== c) s += matrix[l]![k]![c]!;
      return s / (K - 1);
    });
  });
  return { languages: [...e.languages], layers: Array.from({ length: L }, (_, l) => l), texts: N, dominance, matrix };
}
