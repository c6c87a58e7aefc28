import { importTangMasks } from '../../select/tang-import.js';
import { languageTotals, uniqueNeuronCount } from '../../select/masks.js';
import { usageError } from '../../errors.js';
import type { Command } from '../command.js';
import { list, required, str } from '../flags.js';
import { writeMasksFiles } from '../output-paths.js';

export const importTangCommand: Command = {
  name: 'import-tang',
  summary: "Import the paper's released masks (*.neuron.pth, torch pickles) safely into lape masks",
  usage: 'lape import-tang FILE.neuron.pth [--model-name NAME] [--languages en,zh,...] --out masks.json',
  details: [
    '--model-name NAME   stored in the masks settings (default: from the archive folder name)',
    '--languages L,...   language order in the file (default en,zh,fr,es,vi,id,ja; 6-language files drop ja)',
    '--out FILE          masks JSON; a .safetensors copy is written beside it',
    'Only the pickle opcodes and globals these files use are accepted; anything else is refused.',
  ],
  examples: ['lape import-tang ../shared/reference/tang2024/LLaMA-2-7B.neuron.pth --out llama2-7b.masks.json'],
  flags: { 'model-name': { type: 'string' }, languages: { type: 'string' }, out: { type: 'string' } },
  async run(ctx) {
    const file = ctx.positionals[0];
    if (!file) throw usageError('import-tang needs a .neuron.pth file');
    const out = required(ctx, 'out');
    const langs = list(ctx, 'languages');
    const masks = importTangMasks(file, langs.length ? { languages: langs } : {});
    const name = str(ctx, 'model-name');
    if (name) masks.settings.modelName = name;
    writeMasksFiles(out, masks);
    const totals = languageTotals(masks);
    const unique = uniqueNeuronCount(masks);
    ctx.log(`${masks.layers} layers × ${masks.neurons} neurons; ${unique} unique language-specific neurons`);
    ctx.log(masks.languages.map((l, k) => `${l} ${totals[k]}`).join(', '));
    ctx.log(`wrote ${out}`);
    return { out, layers: masks.layers, neurons: masks.neurons, unique, languages: masks.languages, totals, settings: masks.settings };
  },
};
