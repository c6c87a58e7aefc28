/**
 * Options several groups share, declared once; groups and commands take variants of them (other
 * help or default, never another type): languages, statistics, chunk length, BOS, batch size, and
 * the layer-range syntax.
 */
import { usageError } from '../../errors.js';
import { OptionValueError, opt } from '../options/option.js';

/** Language codes; what they select is said by each variant's help. */
export const LANGS = opt.list('langs', { metavar: 'L,...', help: 'languages' });

/** Corpus text files (record: one language; examples: [LANG=]FILE items). */
export const CORPUS = opt.list('corpus', { metavar: 'FILE,...', io: { role: 'in' }, help: 'UTF-8 text (.txt or .txt.gz), one paragraph per line' });

/** Language-specific neurons. */
export const MASKS = opt.path('masks', { metavar: 'FILE', help: "language-specific neurons (masks.json / .safetensors / the paper's .pth)" });

/** Activation statistics from lape record. */
export const STATS = opt.list('stats', {
  metavar: 'PATH,...',
  io: { role: 'in', reads: ['.safetensors'] },
  help: 'statistics from lape record: a folder of LANG.safetensors, or files',
});

/**
 * One chunk length for recording and evaluation, so statistics and perplexities are measured on
 * inputs of the same shape: 512 tokens (the recording benchmark's shape, bench/README.md), or the
 * model's context when that is shorter. lape demo passes its own value (256, the tiny model's
 * training window).
 */
export const DEFAULT_SEQ_LEN = 512;
export const SEQ_LEN = opt.int('seq-len', {
  min: 2,
  help: 'tokens per chunk, for recording and perplexity alike (BOS included)',
  defaultText: `${DEFAULT_SEQ_LEN}, or the model's context if shorter`,
});

/** The chunk length: the flag, else the default capped at the model's context; checked against it. */
export function seqLenFor(value: number | undefined, maxPositionEmbeddings: number): number {
  if (value === undefined) return Math.min(DEFAULT_SEQ_LEN, maxPositionEmbeddings);
  if (value > maxPositionEmbeddings) {
    throw usageError(`--seq-len ${value} exceeds the model's context (max_position_embeddings = ${maxPositionEmbeddings})`);
  }
  return value;
}

export const BOS = opt.bool('bos', { help: 'start every chunk with the BOS token' });

export const BATCH_SIZE = opt.int('batch-size', { help: 'inputs per forward run' });

export const SEED = opt.int('seed', { min: null, default: 0, help: 'random seed', param: 'seed' });

// ---- layers: 0-3,28-31 | bottom:K | top:K -------------------------------------------------------

export type LayerSelection = { kind: 'ranges'; ranges: Array<[number, number]> } | { kind: 'bottom' | 'top'; count: number };

const LAYER_SYNTAX = 'must be ranges like 0-3,28-31, bottom:K or top:K';

/** Parses the --layers syntax (checked against the model's layer count later, by resolveLayers). */
export function parseLayers(raw: string): LayerSelection {
  const s = raw.trim();
  const edge = /^(bottom|top):(\d+)$/.exec(s);
  if (edge) {
    const count = Number(edge[2]);
    if (count < 1) throw new OptionValueError(`${edge[1]}:K needs K ≥ 1`);
    return { kind: edge[1] as 'bottom' | 'top', count };
  }
  const ranges: Array<[number, number]> = [];
  for (const part of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new OptionValueError(LAYER_SYNTAX);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a) throw new OptionValueError(`has a range ${part} that runs backwards`);
    ranges.push([a, b]);
  }
  return { kind: 'ranges', ranges };
}

/** The sorted distinct layer indices of a selection for a model with `numLayers` layers. */
export function resolveLayers(sel: LayerSelection, numLayers: number, flagName = 'layers'): number[] {
  if (sel.kind !== 'ranges') {
    if (sel.count > numLayers) throw usageError(`--${flagName} ${sel.kind}:${sel.count}: the model has ${numLayers} layers`);
    const start = sel.kind === 'bottom' ? 0 : numLayers - sel.count;
    return Array.from({ length: sel.count }, (_, i) => start + i);
  }
  const set = new Set<number>();
  for (const [a, b] of sel.ranges) {
    if (b >= numLayers) throw usageError(`--${flagName}: layer ${b} does not exist (the model has layers 0-${numLayers - 1})`);
    for (let l = a; l <= b; l++) set.add(l);
  }
  return [...set].sort((x, y) => x - y);
}

/** A short file-name-safe name of a selection: bottom2, top2, 0-3_28-31. */
export function layersTag(sel: LayerSelection): string {
  return sel.kind === 'ranges' ? sel.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join('_') : `${sel.kind}${sel.count}`;
}

/** As written on the command line: bottom:2, 0-3,28-31. */
export function layersText(sel: LayerSelection): string {
  return sel.kind === 'ranges' ? sel.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',') : `${sel.kind}:${sel.count}`;
}

/**
 * `--layers` for interventions restricted to some layers (ppl, sweep, generate, steer-eval): only
 * the neurons in those layers are zeroed or steered, e.g. to test the U-shape causally.
 */
export const LAYERS = opt.custom('layers', {
  metavar: 'SPEC',
  help: 'layers to intervene on: 0-3,28-31 | bottom:K | top:K',
  defaultText: 'all',
  parse: parseLayers,
});
