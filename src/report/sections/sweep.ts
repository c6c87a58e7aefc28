/**
 * Section 5, ratio sweep (paper Fig. 4): PPL change of every evaluated language as the share of
 * the model's neurons selected (and one language's share deactivated) grows; the random control
 * beside it on the same scale. From sweep.json (src/experiments/sweep.ts SweepResult; a file may
 * also hold an array of them, one per deactivated language).
 */
import { figure, table, type Cell } from '../html.js';
import type { ReportContext, SectionOutput } from '../context.js';
import type { Field } from '../input.js';
import { LINE_LEGEND, type ChartSpec } from '../charts.js';

interface SweepPoint {
  deactivated: string;
  set: string;
  ratio: number;
  evaluated: string;
  neurons: number;
  ppl: number;
  change: number;
}

function readSweep(f: Field): { lang: string; evaluated: string[]; points: SweepPoint[]; random: boolean } {
  // lape sweep writes the language under settings.lang (SweepResult has it at the top).
  const lang = f.get('lang').present ? f.get('lang').string() : f.get('settings').get('lang').string();
  const evaluated = f.get('evalLanguages').strings();
  const points: SweepPoint[] = [];
  let random = false;
  for (const row of f.get('rows').array()) {
    const ratio = row.get('ratio').number();
    const add = (cells: Field, set: string): void => {
      const change = cells.get('change').numbersByKey(evaluated);
      const ppl = cells.get('ppl').numbersByKey(evaluated);
      const neurons = cells.get('neuronsDeactivated').number();
      evaluated.forEach((e, i) => points.push({ deactivated: lang, set, ratio, evaluated: e, neurons, ppl: ppl[i]!, change: change[i]! }));
    };
    add(row, `LAPE neurons of ${lang}`);
    if (row.get('random').present) {
      random = true;
      add(row.get('random'), 'random neurons, same sizes');
    }
  }
  return { lang, evaluated, points, random };
}

export async function sweepSection(ctx: ReportContext): Promise<SectionOutput | null> {
  if (!ctx.folder.has('sweep.json')) return null;
  const root = ctx.folder.json('sweep.json');
  const list = Array.isArray(root.value) ? root.array() : root.get('sweeps').present ? root.get('sweeps').array() : [root];
  const sweeps = list.map(readSweep);
  const all = sweeps.flatMap((s) => s.points);
  const csvFile = ctx.csvFor('sweep.csv', 'report-sweep.csv', ['deactivated', 'set', 'ratio', 'evaluated', 'neurons_deactivated', 'ppl', 'change'], () =>
    all.map((p) => [p.deactivated, p.set, p.ratio, p.evaluated, p.neurons, p.ppl, p.change]),
  );
  const parts: string[] = [];
  for (const s of sweeps) {
    const values = s.points.map((p) => ({ ...p, percent: p.ratio * 100 }));
    const colors = ctx.colors(s.evaluated);
    const spec = {
      title: { text: `Ratio sweep: deactivating ${s.lang} neurons`, subtitle: 'x: share of all FFN neurons selected by LAPE (the deactivated language’s part of them is zeroed)' },
      description: `Line chart of the perplexity change of each language as more ${s.lang} neurons are deactivated${s.random ? ', beside a random control' : ''}.`,
      data: { values },
      facet: { column: { field: 'set', type: 'nominal', title: null, sort: [`LAPE neurons of ${s.lang}`, 'random neurons, same sizes'], header: { labelFontSize: 13, labelFontWeight: 'bold' } } },
      spec: {
        width: s.random ? 400 : 640,
        height: 300,
        encoding: {
          x: { field: 'percent', type: 'quantitative', title: 'Selection ratio (% of neurons)', axis: { values: [...new Set(s.points.map((p) => p.ratio * 100))], labelExpr: "datum.value + ' %'" } },
          y: { field: 'change', type: 'quantitative', title: 'PPL change (PPL − PPL unmodified)' },
          color: { field: 'evaluated', type: 'nominal', title: 'Evaluated language', sort: s.evaluated, legend: LINE_LEGEND, scale: { domain: colors.domain, range: colors.range } },
          strokeDash: { field: 'evaluated', type: 'nominal', title: 'Evaluated language', sort: s.evaluated, scale: { domain: colors.domain, range: colors.dashes } },
        },
        mark: { type: 'line', strokeWidth: 2, point: { filled: true, size: 40 } },
      },
      resolve: { scale: { y: 'shared' } },
    } as unknown as ChartSpec;
    parts.push(
      figure(
        await ctx.chart(spec, `sweep-${s.lang}`, `Ratio sweep for ${s.lang}`),
        `PPL change per evaluated language as the selection ratio grows, deactivating ${s.lang}’s neurons (paper Fig. 4)${s.random ? '; right: random neurons of the same per-layer sizes' : ''}.`,
        [csvFile],
      ),
    );
    const ratios = [...new Set(s.points.map((p) => p.ratio))];
    const main = `LAPE neurons of ${s.lang}`;
    const rows: Cell[][] = ratios.map((r) => {
      const pts = s.points.filter((p) => p.ratio === r && p.set === main);
      return [`${(r * 100).toFixed(r * 100 < 1 ? 2 : 1)} %`, pts[0]?.neurons ?? null, ...s.evaluated.map((e) => pts.find((p) => p.evaluated === e)?.change ?? null)];
    });
    parts.push(table(['Ratio', `${s.lang} neurons zeroed`, ...s.evaluated.map((e) => `Δ PPL ${e}`)], rows, { caption: `PPL change per ratio when deactivating ${s.lang}`, digits: 2 }));
  }
  return { id: 'sweep', title: 'Ratio sweep', html: parts.join('\n'), charts: sweeps.length, csv: [csvFile] };
}
