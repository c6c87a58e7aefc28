import { importTangMasks } from '../../select/tang-import.js';
import { languageTotals, uniqueNeuronCount } from '../../select/masks.js';
import type { Command } from '../command.js';
import { LANGS } from '../groups/common.js';
import { FORCE, NO_REPORT, masksOut, writeMasksResult } from '../groups/output.js';
import { group, opt, variant } from '../options/option.js';

const MODEL_NAME = opt.string('model-name', { metavar: 'NAME', help: 'stored in the masks settings', defaultText: 'from the archive folder name' });
const FILE_LANGS = variant(LANGS, {
  help: 'language order in the file (6-language files drop ja)',
  defaultText: 'en,zh,fr,es,vi,id,ja',
  aliases: ['languages'],
});
const MASKS_OUT = masksOut();

export const importTangCommand: Command = {
  name: 'import-tang',
  summary: "Import the paper's released masks (*.neuron.pth, torch pickles) safely into lape masks",
  options: [group('Options', MODEL_NAME, FILE_LANGS), group('Output', MASKS_OUT, NO_REPORT, FORCE)],
  positionals: { metavar: 'FILE.neuron.pth', help: "one of the paper's released mask files", min: 1, max: 1 },
  notes: ['Only the pickle opcodes and globals these files use are accepted; anything else is refused.'],
  examples: ['lape import-tang ../shared/reference/tang2024/LLaMA-2-7B.neuron.pth --out llama2-7b/masks.json'],
  async run(ctx) {
    const file = ctx.positionals[0]!;
    const out = ctx.get(MASKS_OUT);
    const langs = ctx.get(FILE_LANGS);
    const masks = importTangMasks(file, langs.length ? { languages: langs } : {});
    const name = ctx.get(MODEL_NAME);
    if (name) masks.settings.modelName = name;
    if (masks.settings.neuronsInferred && !ctx.quiet) {
      process.stderr.write(`warning: the archive names no released model lape knows, so the FFN size (${masks.neurons}) is inferred from the largest index; check it against your model (lape ppl and ses refuse masks that do not fit)\n`);
    }
    const totals = languageTotals(masks);
    const unique = uniqueNeuronCount(masks);
    ctx.log(`${masks.layers} layers × ${masks.neurons} neurons; ${unique} unique language-specific neurons`);
    ctx.log(masks.languages.map((l, k) => `${l} ${totals[k]}`).join(', '));
    const written = await writeMasksResult(ctx, out, masks);
    return { out, safetensors: written.safetensors, report: written.report, layers: masks.layers, neurons: masks.neurons, unique, languages: masks.languages, totals, settings: masks.settings };
  },
};
