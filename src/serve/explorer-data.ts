/**
 * What the explorer shows of an output folder, computed with the report's own code so that the
 * two agree: the report's language order and colours (ReportContext), the perplexity matrices
 * with the report's row order and diverging scale (report/sections/ppl*.ts), the masks files, and
 * per neuron the activation probability and mean activation per language and the LAPE entropy
 * (select/lape.ts, with the main masks' knobs).
 */
import { LapeError } from '../errors.js';
import { ReportContext } from '../report/context.js';
import { divergingScale, mainPpl, pplDocs } from '../report/sections/ppl-files.js';
import { matrixCells } from '../report/sections/ppl.js';
import { CONTEXTS_PER_NEURON, examplesByLanguage } from '../report/sections/examples.js';
import { activationProbabilities, lapeSelection } from '../select/lape.js';
import type { NeuronMasks } from '../select/types.js';
import { meanActivation } from '../stats/stats-file.js';
import type { LangStats } from '../stats/types.js';

export interface MatrixView {
  file: string;
  method: string;
  layers: string | null;
  columns: string[];
  rows: string[];
  measures: Record<'relative' | 'absolute', { cells: Array<{ row: string; col: string; value: number; ppl: number; change: number; ratio: number }>; domain: [number, number]; extent: [number, number]; format: string }>;
}

export interface NeuronRow {
  neuron: number;
  /** Activation probability per language (the stats' order). */
  prob: number[];
  mean: number[];
  /** LAPE entropy (null: filtered out, never selected). */
  entropy: number | null;
  /** Languages whose masks contain the neuron. */
  member: string[];
}

export class ExplorerData {
  private ctx: ReportContext;
  private entropyCache: Float64Array | null = null;

  constructor(readonly dir: string) {
    this.ctx = new ReportContext(dir);
  }

  /** Fails early (before the server starts) on a folder with nothing to show. */
  check(): void {
    if (!this.ctx.pplFiles().length && !this.ctx.masksFiles().length && !this.ctx.stats()) {
      throw new LapeError('no lape results here (ppl.json, masks.json or stats/): nothing to explore', this.dir);
    }
  }

  mainMasks(): NeuronMasks | undefined {
    return this.ctx.masks();
  }

  stats(): LangStats[] | undefined {
    return this.ctx.stats();
  }

  overview(): Record<string, unknown> {
    const docs = pplDocs(this.ctx);
    const main = mainPpl(docs);
    const ordered = main ? [main, ...docs.filter((d) => d !== main)] : docs;
    const matrices: MatrixView[] = ordered.map((d) => {
      const measures = {} as MatrixView['measures'];
      let rows: string[] = [];
      for (const m of ['relative', 'absolute'] as const) {
        const mc = matrixCells(d, m, { random: true });
        rows = mc.rows;
        const { scale, format } = divergingScale(mc.cells.map((c) => c.value));
        const s = scale as { domain: [number, number]; scheme: { extent: [number, number] } };
        measures[m] = {
          cells: mc.cells.map((c) => ({ row: c.row, col: c.evaluated, value: c.value, ppl: c.ppl, change: c.change, ratio: c.ratio })),
          domain: s.domain,
          extent: s.scheme.extent,
          format,
        };
      }
      return { file: d.file, method: d.method, layers: d.layerSpec ?? null, columns: d.evaluated, rows, measures };
    });
    const masks = this.ctx.masksFiles().map((f) => {
      const m = this.ctx.masksOf(f);
      return { file: f, method: m.method, languages: m.languages, layers: m.layers, neurons: m.neurons, counts: m.masks.map((per) => per.map((idx) => idx.length)) };
    });
    const stats = this.ctx.stats();
    const languages = this.ctx.order([...new Set([...this.ctx.languages(), ...(stats ?? []).map((s) => s.lang)])]);
    const scale = this.ctx.colors(languages);
    return {
      folder: this.dir,
      languages,
      colors: Object.fromEntries(scale.domain.map((l, i) => [l, scale.range[i]])),
      matrices,
      masks,
      stats: stats ? stats.map((s) => ({ lang: s.lang, tokens: s.tokens, layers: s.layers, neurons: s.neurons })) : null,
      examples: this.examples(),
    };
  }

  /** lape examples' output as the report shows it: per language a few neurons and their top contexts. */
  private examples(): Array<{ lang: string; neurons: Array<{ layer: number; index: number; langs: string[]; top: Array<{ lang: string; activation: number; before: string; token: string; after: string }> }> }> | null {
    const ex = examplesByLanguage(this.ctx);
    if (!ex) return null;
    return [...ex.chosen].map(([lang, ns]) => ({
      lang,
      neurons: ns.map((n) => ({ layer: n.layer, index: n.index, langs: n.langs, top: n.top.slice(0, CONTEXTS_PER_NEURON) })),
    }));
  }

  /** The neurons of `lang` in `layer` of masks file `file`, with their statistics. */
  neurons(file: string, layer: number, lang: string): { languages: string[]; rows: NeuronRow[]; threshold: number | null } {
    if (!this.ctx.masksFiles().includes(file)) throw new LapeError(`no masks file "${file}" in the folder`, this.dir);
    const m = this.ctx.masksOf(file);
    if (!Number.isInteger(layer) || layer < 0 || layer >= m.layers) throw new LapeError(`layer ${layer} outside 0..${m.layers - 1}`);
    const k = m.languages.indexOf(lang);
    if (k < 0) throw new LapeError(`the masks have no language "${lang}" (they have ${m.languages.join(', ')})`);
    const fitting = (this.ctx.stats() ?? []).filter((s) => s.layers === m.layers && s.neurons === m.neurons);
    const stats = this.ctx.order(fitting.map((s) => s.lang)).map((l) => fitting.find((s) => s.lang === l)!);
    const probs = stats.length ? activationProbabilities(stats) : [];
    const means = stats.map(meanActivation);
    const entropy = this.entropy(stats);
    const I = m.neurons;
    const rows = m.masks[k]![layer]!.map((j) => {
      const at = layer * I + j;
      const h = entropy ? entropy[at]! : NaN;
      return {
        neuron: j,
        prob: probs.map((p) => p[at]!),
        mean: means.map((v) => v[at]!),
        entropy: Number.isFinite(h) ? h : null,
        member: m.languages.filter((_, q) => m.masks[q]![layer]!.includes(j)),
      };
    });
    const t = m.settings.thresholdEntropy;
    return { languages: stats.map((s) => s.lang), rows, threshold: typeof t === 'number' ? t : null };
  }

  private entropy(stats: LangStats[]): Float64Array | null {
    if (stats.length < 2) return null;
    if (!this.entropyCache) {
      const main = this.ctx.masks();
      const num = (key: string): number | undefined => (typeof main?.settings[key] === 'number' ? (main.settings[key] as number) : undefined);
      this.entropyCache = lapeSelection(stats, { topRate: num('topRate'), filterRate: num('filterRate'), barRatio: num('barRatio') }).entropy;
    }
    return this.entropyCache;
  }
}
