/** `lape info DIR`: what a checkpoint is (architecture, sizes, neurons, dtype, tokenizer). */
import type { Command } from '../command.js';
import { modelInfo } from '../model-info.js';

function human(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'Describe a local Hugging Face checkpoint (architecture, sizes, neurons, dtype, tokenizer)',
  options: [],
  positionals: { metavar: 'DIR', help: 'a Hugging Face checkpoint folder', min: 1, max: 1, io: { role: 'model' } },
  examples: ['lape info models/tiny-multilingual', 'lape info ~/models/Qwen2.5-0.5B --json'],
  async run(ctx) {
    const dir = ctx.positionals[0]!;
    const info = modelInfo(dir);
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
      ['weights', `${info.dtype}, ${(info.weightBytes / 2 ** 20).toFixed(1)} MiB`],
      ['tokenizer', info.tokenizerVocab === null ? info.tokenizer : `${info.tokenizer}, ${info.tokenizerVocab} tokens`],
      ...Object.entries(info.structure),
    ];
    if (info.ignoredTensors) rows.push(['not used', `${info.ignoredTensors} stored tensors (buffers or other modalities)`]);
    const w = Math.max(...rows.map((r) => r[0].length));
    for (const [k, v] of rows) ctx.log(`${k.padEnd(w)}  ${v}`);
    return info;
  },
};
