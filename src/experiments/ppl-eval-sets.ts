/**
 * Evaluation sets for the perplexity experiments: per language, text files → fixed-length chunks
 * (src/corpus/chunks.ts, the same chunking as recording), held in memory.
 */
import { join } from 'node:path';
import { collectChunks } from '../corpus/chunks.js';
import { LapeError, ParamError } from '../errors.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';

export interface EvalSpec {
  lang: string;
  files: string[];
}

export interface EvalSet extends EvalSpec {
  chunks: number[][];
}

export interface EvalChunkOptions {
  seqLen: number;
  maxChunks?: number;
  /** Prepended to every chunk (counts in seqLen); null = none. */
  bosId?: number | null;
}

/** `{dir}/{lang}.{split}.txt` for each language (the corpus folder layout of data/corpus). */
export function evalSpecsFromDir(dir: string, split: string, langs: readonly string[]): EvalSpec[] {
  return langs.map((lang) => ({ lang, files: [join(dir, `${lang}.${split}.txt`)] }));
}

/** Checks language codes: non-empty, unique, each with at least one file. */
export function checkEvalSpecs(specs: readonly EvalSpec[]): void {
  if (specs.length === 0) throw new ParamError('no evaluation sets given', 'evalSets');
  const seen = new Set<string>();
  for (const s of specs) {
    if (!s.lang) throw new ParamError('an evaluation set has an empty language code', 'evalSets');
    if (seen.has(s.lang)) throw new ParamError(`language "${s.lang}" is given twice`, 'evalSets');
    seen.add(s.lang);
    if (s.files.length === 0) throw new ParamError(`language "${s.lang}" has no files`, 'evalSets');
  }
}

/** Tokenizes and chunks every set; errors name the files when a set is too short for one chunk. */
export async function loadEvalSets(tokenizer: LapeTokenizer, specs: readonly EvalSpec[], opts: EvalChunkOptions): Promise<EvalSet[]> {
  checkEvalSpecs(specs);
  const out: EvalSet[] = [];
  for (const s of specs) {
    const chunks = await collectChunks(tokenizer, s.files, { seqLen: opts.seqLen, maxChunks: opts.maxChunks, bosId: opts.bosId ?? null });
    out.push({ lang: s.lang, files: [...s.files], chunks });
  }
  return out;
}

/**
 * Rows and evaluation sets: every language whose neurons are deactivated must be a language of
 * the neuron sets and must be evaluated (for the diagonal). An evaluated language the neuron sets
 * do not have (e.g. one held out of identification) is a column with no row. `what` names the
 * source of the neuron languages (a masks or statistics path).
 */
export function checkLanguageSets(
  neuronLangs: readonly string[],
  evalLangs: readonly string[],
  deactivated: readonly string[],
  what: string,
): void {
  const known = new Set(neuronLangs);
  const evalSet = new Set(evalLangs);
  const both = `(${what} has: ${neuronLangs.join(', ')}; evaluation sets: ${evalLangs.join(', ')})`;
  const unknownRows = deactivated.filter((l) => !known.has(l));
  if (unknownRows.length > 0) {
    throw new LapeError(`language${unknownRows.length > 1 ? 's' : ''} ${unknownRows.map((l) => `"${l}"`).join(', ')} to deactivate not in the neuron sets ${both}`);
  }
  const missing = deactivated.filter((l) => !evalSet.has(l));
  if (missing.length > 0) {
    throw new LapeError(`no evaluation set for language${missing.length > 1 ? 's' : ''} ${missing.map((l) => `"${l}"`).join(', ')} ${both}`);
  }
}

/** Evaluated languages the neuron sets do not have: columns without a row. */
export function columnsWithoutRows(neuronLangs: readonly string[], evalLangs: readonly string[]): string[] {
  return evalLangs.filter((l) => !neuronLangs.includes(l));
}

/**
 * One order for every language × language matrix: the evaluation order. Languages of `langs`
 * that are evaluated come in that order; the others keep their order, after them.
 */
export function inEvalOrder(langs: readonly string[], evalLangs: readonly string[]): string[] {
  const pos = (l: string): number => {
    const i = evalLangs.indexOf(l);
    return i < 0 ? evalLangs.length : i;
  };
  return langs.map((l, i) => ({ l, i })).sort((a, b) => pos(a.l) - pos(b.l) || a.i - b.i).map((x) => x.l);
}
