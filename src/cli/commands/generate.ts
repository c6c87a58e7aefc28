/**
 * `lape generate`: greedy or sampled generation from one prompt or a prompt file, optionally
 * steered (neuron patches from masks + statistics).
 */
import { generateText } from '../../runtime/generate.js';
import { loadTokenizer } from '../../tokenizer/tokenizer.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Command } from '../command.js';
import { chatEncoder, generationGroup, genOptionsFromFlags } from '../groups/generation.js';
import { MODEL_GROUP, withModel } from '../groups/model.js';
import { FORCE, outFile } from '../groups/output.js';
import { STEERING_GROUP, steeringFromFlags } from '../groups/steering.js';
import { STEERING_NOTES } from '../groups/steering.js';
import { group, opt } from '../options/option.js';
import { Progress } from '../progress.js';
import { readPromptFile, type PromptRecord } from '../prompts.js';

export const GENERATE_FORMAT = 'lape-generate';

const PROMPT = opt.string('prompt', { help: 'one prompt (the output text goes to stdout)' });
const PROMPTS = opt.list('prompts', { metavar: 'FILE,...', io: { role: 'in' }, help: 'prompt files: one prompt per line, or JSONL with a "prompt" field' });
const GEN_OUT = outFile({ ext: '.jsonl', required: false, format: 'jsonl:stop_reason', help: 'write one JSON line per prompt here' });

export const generateCommand: Command = {
  name: 'generate',
  summary: 'Generate text (greedy or sampled, KV cache), optionally steering language-specific neurons',
  options: [group('Prompts', PROMPT, PROMPTS), MODEL_GROUP, generationGroup({ maxNewTokens: 64, stop: [] }), STEERING_GROUP, group('Output', GEN_OUT, FORCE)],
  oneOf: [['prompt', 'prompts']],
  notes: [...STEERING_NOTES, 'Without --out, --prompts prints the JSON lines on stdout.'],
  examples: [
    'lape generate --model models/tiny-multilingual --prompt "The menu bar" --max-new-tokens 40',
    'lape generate --model M --prompt "The menu bar" --masks out/masks.json --stats out/stats --activate zh',
    'lape generate --model M --prompts prompts.jsonl --deactivate en --activate fr --masks out/masks.json --stats out/stats --out gens.jsonl',
  ],
  async run(ctx) {
    const prompt = ctx.get(PROMPT);
    const promptFiles = ctx.get(PROMPTS);
    const promptFile = promptFiles.length ? promptFiles : undefined;
    const genOpts = genOptionsFromFlags(ctx);
    const out = ctx.get(GEN_OUT);
    const records: PromptRecord[] = promptFile !== undefined ? promptFile.flatMap(readPromptFile) : [{ prompt: prompt! }];
    return withModel(ctx, async (model) => {
      const tokenizer = loadTokenizer(model.dir);
      const { patches, label, intervention } = steeringFromFlags(ctx, model.spec);
      const progress = new Progress({ label: 'generate', total: records.length, unit: 'prompts', quiet: ctx.quiet || records.length === 1 });
      const t0 = performance.now();
      const results = await generateText(
        model,
        tokenizer,
        records.map((r) => r.prompt),
        { ...genOpts, patches, onProgress: (done) => progress.update(done) },
        chatEncoder(ctx, model.dir, tokenizer),
      );
      progress.finish();
      const seconds = (performance.now() - t0) / 1000;
      const newTokens = results.reduce((a, g) => a + g.ids.length, 0);
      const lines = results.map((g, i) =>
        JSON.stringify({
          index: i,
          prompt: g.prompt,
          text: g.text,
          prompt_tokens: g.promptIds.length,
          new_tokens: g.ids.length,
          stop_reason: g.stopReason,
          intervention: label,
          ...(records[i]!.meta ? { meta: records[i]!.meta } : {}),
        }),
      );
      if (out !== undefined) writeFileAtomic(out, lines.join('\n') + '\n');
      if (promptFile === undefined) ctx.log(results[0]!.text);
      else if (out === undefined) for (const l of lines) ctx.log(l);
      else ctx.log(`wrote ${results.length} generations to ${out}`);
      return {
        format: GENERATE_FORMAT,
        model: model.dir,
        prompts: results.length,
        intervention: { ...intervention, label },
        newTokens,
        seconds,
        tokensPerSecond: seconds > 0 ? newTokens / seconds : null,
        out: out ?? null,
        generations: promptFile === undefined ? results.map((g) => ({ text: g.text, new_tokens: g.ids.length, stop_reason: g.stopReason })) : undefined,
      };
    });
  },
};
