/** `lape info DIR`: what a checkpoint is (architecture, sizes, neurons, dtype, tokenizer). */
import type { Command } from '../command.js';
import { modelInfo } from '../model-info.js';
import { WEIGHTS } from '../groups/model.js';
import { group } from '../options/option.js';

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'Describe a local Hugging Face checkpoint or .gguf file (architecture, sizes, neurons, weight types and how they are held, tokenizer)',
  options: [group('Model', WEIGHTS)],
  positionals: { metavar: 'DIR', help: 'a Hugging Face checkpoint folder or a .gguf file', min: 1, max: 1, io: { role: 'model' } },
  examples: ['lape info models/tiny-multilingual', 'lape info ~/models/Qwen2.5-0.5B --json', 'lape info model.Q4_K_M.gguf --weights int4'],
  async run(ctx) {
    const dir = ctx.positionals[0]!;
    const info = modelInfo(dir, ctx.get(WEIGHTS));
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
    // One row per stored type when something is not held as stored (quantised GGUF, --weights).
    const held = info.holdings
      ? [
          ['held as', `${mib(info.heldBytes!)} with --weights ${info.weights}`] as [string, string],
          ...info.holdings.map((h): [string, string] => [
            `  ${h.stored}`,
            `${h.tensors} tensor${h.tensors === 1 ? '' : 's'}, ${human(h.parameters)} parameters, ${mib(h.storedBytes)} → ${h.held}, ${mib(h.heldBytes)}`,
          ]),
        ]
      : [];
    const rows: Array<[string, string]> = [
      ['checkpoint', info.dir],
      ['architecture', info.architecture],
      ['layers', String(info.layers)],
      ['hidden size', String(info.hiddenSize)],
      ['FFN size', String(info.ffnSize)],
      ['FFN neurons', `${info.neurons} (${info.layers} × ${info.ffnSize})`],
      ['attention heads', `${info.heads} (key/value heads ${info.kvHeads})`],
      ['vocabulary', String(info.vocabSize)],
      ['parameters', `${info.parameters} (${human(info.parameters)})`],
      ['weights', `${info.dtype}, ${mib(info.weightBytes)}`],
      ...held,
      ['tokenizer', info.tokenizerVocab === null ? info.tokenizer : `${info.tokenizer}, ${info.tokenizerVocab} tokens`],
      ...Object.entries(info.structure),
    ];
    if (info.ignoredTensors) rows.push(['not used', `${info.ignoredTensors} stored tensors (buffers or other modalities)`]);
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [k, v] of rows) ctx.log(`${k.padEnd(w)}  ${v}`);
    return info;
  },
};
