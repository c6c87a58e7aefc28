/**
 * Property-style check of the output rule, driven by the command registry: every command that
 * writes (an `out` option or output positional) is run with its output set to each of its inputs
 * (and their twins) and to places inside a checkpoint folder; each run must fail and leave every
 * byte of the workspace unchanged. A command added later needs only a fixture line below (the test
 * fails naming it otherwise).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../src/cli/registry.js';
import { commandOptions, commandContext } from '../src/cli/options/parse.js';
import type { Command } from '../src/cli/command.js';
import type { OptionIo } from '../src/cli/options/option.js';
import { withExtension } from '../src/cli/groups/output.js';
import { saveMasks } from '../src/select/masks-io.js';
import { lapeSelection } from '../src/select/lape.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { runMain } from './helpers/main.js';
import { snapshot, syntheticStats, writeStats } from './helpers/fixtures-io.js';
import { archive, masksPickle } from './helpers/torch-zip.js';

const ws = tempDir();
const model = join(ws, 'model');
mkdirSync(model);
for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) cpSync(repoPath(`models/tiny-multilingual/${f}`), join(model, f));
const corpus = join(ws, 'corpus');
mkdirSync(corpus);
for (const l of ['en', 'fr']) for (const s of ['train', 'valid']) writeFileSync(join(corpus, `${l}.${s}.txt`), readFileSync(repoPath(`data/corpus/${l}.valid.txt`)).subarray(0, 20_000));
writeFileSync(join(corpus, 'parallel.jsonl'), readFileSync(repoPath('data/corpus/parallel.jsonl'), 'utf8').split('\n').slice(0, 10).join('\n') + '\n');
const stats = join(ws, 'stats');
mkdirSync(stats);
const st = [syntheticStats('en', {}, 6, 512), syntheticStats('fr', {}, 6, 512, 1024, 2)];
writeStats(join(stats, 'en.safetensors'), st[0]!);
writeStats(join(stats, 'fr.safetensors'), st[1]!);
const masks = join(ws, 'masks.json');
const sel = lapeSelection(st, { topRate: 0.01 }).result;
saveMasks(masks, sel, 'json');
saveMasks(join(ws, 'masks.safetensors'), sel, 'safetensors');
const pth = join(ws, 'X.neuron.pth');
writeFileSync(pth, archive('X', masksPickle([[{ key: '0', numel: 1, offset: 0, size: [1], stride: [1] }]]), { 0: [3] }));
const prompts = join(ws, 'en.prompts.txt');
writeFileSync(prompts, 'The menu\nOpen a file\n');
const en = join(corpus, 'en.train.txt');
const questions = join(ws, 'questions.jsonl');
writeFileSync(questions, '{"id":"en-1","lang":"en","prompt":"The menu"}\n');
const answers = join(ws, 'answers.jsonl');
writeFileSync(answers, '{"index":0,"prompt":"The menu","text":"bar","intervention":"none","meta":{"id":"en-1","lang":"en"}}\n');

/** Required inputs per command (everything but the output). */
const FIXTURES: Record<string, string[]> = {
  demo: ['--model', model, '--corpus-dir', corpus, '--langs', 'en,fr'],
  record: ['--model', model, '--lang', 'en', '--corpus', en],
  'record-langs': ['--model', model, '--langs', 'en,fr', '--corpus-dir', corpus],
  merge: [join(stats, 'en.safetensors')],
  stability: ['--stats', stats],
  identify: ['--stats', stats],
  'import-tang': [pth],
  layers: [masks],
  overlap: [masks],
  ppl: ['--model', model, '--masks', masks, '--eval-dir', corpus],
  sweep: ['--model', model, '--stats', stats, '--lang', 'en', '--eval-dir', corpus],
  generate: ['--model', model, '--prompts', prompts],
  'steer-eval': ['--model', model, '--masks', masks, '--stats', stats, '--prompts', `en=${prompts}`],
  ses: ['--model', model, '--parallel', join(corpus, 'parallel.jsonl'), '--masks', masks],
  dominance: ['--model', model, '--parallel', join(corpus, 'parallel.jsonl')],
  report: [],
  slurm: ['--model', model, '--langs', 'en,fr', '--corpus-dir', corpus, '--shards', '2'],
  examples: ['--model', model, '--masks', masks, '--corpus', en],
  // Port 9 (discard): the guard refuses before any request.
  judge: ['--endpoint', 'http://127.0.0.1:9/v1', '--judge-model', 'x', '--answers', answers, '--questions', questions],
};

function outputOf(cmd: Command): { io: Extract<OptionIo, { role: 'out' }>; positional: boolean } | null {
  for (const o of commandOptions(cmd)) if (o.io?.role === 'out') return { io: o.io, positional: false };
  if (cmd.positionals?.io?.role === 'out') return { io: cmd.positionals.io, positional: true };
  return null;
}

/** The input paths of a parsed command line, from the declarations (LANG= prefixes removed). */
function inputsOf(cmd: Command, args: string[]): string[] {
  const ctx = commandContext(cmd, args, () => {});
  const paths: string[] = [];
  const add = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(add);
    else if (typeof v === 'string') paths.push(v.replace(/^[a-z]{2,3}=/, ''));
  };
  for (const o of commandOptions(cmd)) if (o.io && o.io.role !== 'out') add(ctx.get(o));
  if (cmd.positionals && cmd.positionals.io?.role !== 'out') add(ctx.positionals);
  return paths;
}

function targets(cmd: Command, io: Extract<OptionIo, { role: 'out' }>, args: string[]): string[] {
  const t = new Set<string>();
  const positional = outputOf(cmd)!.positional;
  const placeholder = join(ws, `placeholder${io.kind === 'file' ? io.ext ?? '' : ''}`);
  const inputs = inputsOf(cmd, positional ? [...args, placeholder] : [...args, '--out', placeholder]);
  for (const p of inputs) {
    t.add(p);
    if (statSync(p).isDirectory()) {
      if (io.kind === 'file' && io.ext) t.add(join(p, `new${io.ext}`));
    } else if (io.kind === 'file' && io.ext) {
      // The output whose twin is this input (masks.json ↔ masks.safetensors).
      for (const f of io.files) if (f.name.startsWith('.') && p.endsWith(f.name)) t.add(withExtension(p, io.ext));
    }
  }
  // Inside a checkpoint folder, whether or not the command reads it.
  if (io.kind === 'file') {
    t.add(join(model, `model${io.ext ?? ''}`));
    t.add(join(model, 'model.safetensors'));
  } else {
    t.add(model);
    t.add(join(model, 'results'));
  }
  return [...t];
}

test('every command that writes declares --force and has a fixture', () => {
  for (const cmd of COMMANDS) {
    if (!outputOf(cmd)) continue;
    assert.ok(FIXTURES[cmd.name], `add the required inputs of "lape ${cmd.name}" to FIXTURES in test/output-guard.test.ts`);
    assert.ok(commandOptions(cmd).some((o) => o.name === 'force'), `lape ${cmd.name} writes results but has no --force`);
  }
});

test('no command overwrites an input, a twin of one, or anything in a checkpoint folder', async (t) => {
  const before = snapshot(ws);
  let cases = 0;
  for (const cmd of COMMANDS) {
    const out = outputOf(cmd);
    if (!out) continue;
    const args = FIXTURES[cmd.name]!;
    for (const target of targets(cmd, out.io, args)) {
      const line: string[] = out.positional ? [cmd.name, ...args, target] : [cmd.name, ...args, '--out', target];
      const r = await runMain([...line, '--quiet']);
      cases++;
      assert.notEqual(r.code, 0, `lape ${line.join(' ')} succeeded`);
      assert.doesNotMatch(r.stderr, /internal error/, line.join(' '));
      assert.deepEqual(snapshot(ws), before, `lape ${line.join(' ')} changed the workspace`);
    }
  }
  t.diagnostic(`${cases} command lines refused`);
  assert.ok(cases >= 40, `${cases} cases`);
});
