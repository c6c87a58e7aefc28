/**
 * Language accuracy of generation with and without steering (Tang et al. 2024, Tables 4–5).
 *
 * For each source language s (a list of prompts in s) and each target language t ≠ s:
 *   normal   generations without intervention
 *   steered  generations with t's neurons activated (optionally s's deactivated first, Table 5)
 * accuracy = fraction of outputs the language identifier assigns to t. For each source whose
 * neurons exist, a deactivation row compares the fraction of outputs in s without and with s's
 * neurons zeroed. Output length = mean generated tokens and characters.
 */
import { LapeError } from '../errors.js';
import type { LanguageIdentifier } from '../langid/langid.js';
import { generateIds, type GenerateOptions, type Generation } from '../runtime/generate.js';
import type { Model } from '../runtime/model.js';
import type { NeuronMasks } from '../select/types.js';
import type { LangStats } from '../stats/types.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import { describeSpec, interventionPatches, type InterventionSpec, type SteeringMode } from './steering.js';

export interface SteerSource {
  lang: string;
  prompts: string[];
}

export interface SteerEvalOptions {
  sources: SteerSource[];
  masks: NeuronMasks;
  stats: LangStats[];
  identifier: LanguageIdentifier;
  /** Target languages (default: every masks language with neurons and statistics, except the source). */
  targets?: string[];
  mode?: SteeringMode;
  alpha?: number;
  /** Also zero the source language's neurons in the steered runs (Table 5). */
  deactivateSource?: boolean;
  /** Besides each activation, the Table 5 combination: zero the source's neurons and activate the target (rows of kind "combined"). */
  combined?: boolean;
  /** Add the source-deactivation rows (default true where the source has neurons). */
  deactivationRows?: boolean;
  /** Keep the first N tokens of each prompt (special tokens included; default: whole prompt). */
  promptTokens?: number;
  generation: Omit<GenerateOptions, 'patches'>;
  /** Prompt encoder (default: the tokenizer with its special tokens; a chat template's for instruct models). */
  encode?: (prompt: string) => number[];
  onProgress?: (done: number, total: number) => void;
}

export interface ConditionResult {
  source: string;
  intervention: string;
  spec: InterventionSpec;
  prompts: number;
  /** Fraction of outputs identified as each identifier language, plus "none" (no letters). */
  fractions: Record<string, number>;
  meanTokens: number;
  meanChars: number;
  outputs: Array<{ text: string; lang: string | null; tokens: number; stop: string }>;
}

export interface SteerRow {
  /**
   * activate: target = steered-towards language; combined: the same with the source's neurons
   * zeroed too (Table 5); deactivate: target = source (its neurons zeroed).
   */
  kind: 'activate' | 'combined' | 'deactivate';
  source: string;
  target: string;
  intervention: string;
  prompts: number;
  /** Fraction of outputs identified as `target` without / with the intervention. */
  normal: number;
  steered: number;
  /** Fraction identified as the source language without / with the intervention. */
  normalSource: number;
  steeredSource: number;
  normalTokens: number;
  steeredTokens: number;
  normalChars: number;
  steeredChars: number;
}

export interface SteerEvalResult {
  prompts: Record<string, string[]>;
  rows: SteerRow[];
  conditions: ConditionResult[];
  seconds: number;
  newTokens: number;
}

function hasNeurons(masks: NeuronMasks, lang: string): boolean {
  const k = masks.languages.indexOf(lang);
  return k >= 0 && masks.masks[k]!.some((idx) => idx.length > 0);
}

export async function steerEval(model: Model, tokenizer: LapeTokenizer, o: SteerEvalOptions): Promise<SteerEvalResult> {
  const mode = o.mode ?? 'set';
  const alpha = o.alpha ?? 1;
  if (o.sources.length === 0) throw new LapeError('steer-eval needs prompts in at least one source language');
  const defaultTargets = o.masks.languages.filter((l) => hasNeurons(o.masks, l) && o.stats.some((s) => s.lang === l));
  const plans = o.sources.map((src) => {
    if (src.prompts.length === 0) throw new LapeError(`no prompts for source language "${src.lang}"`);
    const targets = (o.targets ?? defaultTargets).filter((t) => t !== src.lang);
    const conds: InterventionSpec[] = [{}];
    for (const t of targets) conds.push({ activate: [t], deactivate: o.deactivateSource ? [src.lang] : [], mode, alpha });
    const combine = !!o.combined && !o.deactivateSource && hasNeurons(o.masks, src.lang);
    if (combine) for (const t of targets) conds.push({ activate: [t], deactivate: [src.lang], mode, alpha });
    const deact = (o.deactivationRows ?? true) && hasNeurons(o.masks, src.lang);
    if (deact) conds.push({ deactivate: [src.lang] });
    // Build every patch set first, so bad specs fail before any generation.
    const patches = conds.map((c) => interventionPatches(c, o.masks, o.stats));
    for (const l of [src.lang, ...targets]) {
      if (!o.identifier.languages.includes(l)) {
        throw new LapeError(`language "${l}" is not among the identifier's languages (${o.identifier.languages.join(', ')})`);
      }
    }
    return { src, targets, conds, patches, deact, combine };
  });
  if (plans.every((p) => p.targets.length === 0 && !p.deact)) throw new LapeError('nothing to evaluate: no target language differs from the sources');

  const total = plans.reduce((a, p) => a + p.conds.length * p.src.prompts.length, 0);
  let done = 0;
  const t0 = performance.now();
  let newTokens = 0;
  const decode = (ids: number[]): string => tokenizer.decode(ids, { skipSpecialTokens: true });
  const promptsOut: Record<string, string[]> = {};
  const conditions: ConditionResult[] = [];
  const rows: SteerRow[] = [];
  for (const p of plans) {
    const ids = p.src.prompts.map((text, i) => {
      let row = o.encode ? o.encode(text) : tokenizer.encode(text, { addSpecialTokens: true });
      if (o.promptTokens !== undefined) row = row.slice(0, o.promptTokens);
      if (row.length === 0) throw new LapeError(`prompt ${i} of "${p.src.lang}" encodes to no tokens`);
      return row;
    });
    promptsOut[p.src.lang] = ids.map(decode);
    const results: ConditionResult[] = [];
    for (let c = 0; c < p.conds.length; c++) {
      const gens: Generation[] = await generateIds(
        model,
        ids,
        {
          ...o.generation,
          patches: p.patches[c]!,
          onProgress: (n) => o.onProgress?.(done + n, total),
        },
        decode,
      );
      done += ids.length;
      const outputs = gens.map((g) => {
        newTokens += g.ids.length;
        return { text: g.text, lang: o.identifier.identify(g.text).lang, tokens: g.ids.length, stop: g.stopReason };
      });
      const counts: Record<string, number> = {};
      for (const l of [...o.identifier.languages, 'none']) counts[l] = 0;
      for (const out of outputs) counts[out.lang ?? 'none'] = counts[out.lang ?? 'none']! + 1;
      const fractions = Object.fromEntries(Object.entries(counts).map(([l, n]) => [l, n / outputs.length]));
      const r: ConditionResult = {
        source: p.src.lang,
        intervention: describeSpec(p.conds[c]!),
        spec: p.conds[c]!,
        prompts: outputs.length,
        fractions,
        meanTokens: outputs.reduce((a, x) => a + x.tokens, 0) / outputs.length,
        meanChars: outputs.reduce((a, x) => a + [...x.text].length, 0) / outputs.length,
        outputs,
      };
      results.push(r);
      conditions.push(r);
    }
    const normal = results[0]!;
    const frac = (r: ConditionResult, l: string): number => r.fractions[l] ?? 0;
    const row = (kind: SteerRow['kind'], target: string, r: ConditionResult): SteerRow => ({
      kind,
      source: p.src.lang,
      target,
      intervention: r.intervention,
      prompts: r.prompts,
      normal: frac(normal, target),
      steered: frac(r, target),
      normalSource: frac(normal, p.src.lang),
      steeredSource: frac(r, p.src.lang),
      normalTokens: normal.meanTokens,
      steeredTokens: r.meanTokens,
      normalChars: normal.meanChars,
      steeredChars: r.meanChars,
    });
    p.targets.forEach((t, i) => rows.push(row('activate', t, results[i + 1]!)));
    if (p.combine) p.targets.forEach((t, i) => rows.push(row('combined', t, results[p.targets.length + i + 1]!)));
    if (p.deact) rows.push(row('deactivate', p.src.lang, results[results.length - 1]!));
  }
  return { prompts: promptsOut, rows, conditions, seconds: (performance.now() - t0) / 1000, newTokens };
}
