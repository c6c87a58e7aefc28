/**
 * Tensor roles → state-dict names and shapes, from a ModelSpec and its family's name table, and
 * the check that a checkpoint holds exactly those tensors (plus the ones the family ignores by
 * name). Shapes are derived from the roles, never read from the file and trusted.
 */
import { LapeError } from '../errors.js';
import type { Family, GlobalRole, LayerRole } from './family.js';
import type { ModelSpec } from './model-spec.js';

/** A role's stored tensors: `.weight`, and `.bias` when the spec declares one. */
export interface RoleRef {
  weight: string;
  bias?: string;
}

export interface ResolvedTensors {
  global: Partial<Record<GlobalRole, RoleRef>>;
  layers: Array<Partial<Record<LayerRole, RoleRef>>>;
  /** Every used tensor with the shape the spec implies. */
  shapes: Map<string, number[]>;
  /** Stored tensors left out on purpose (the family's ignore list). */
  ignored: string[];
  /** The LM head is the embedding matrix (no separate tensor used). */
  tiedHead: boolean;
}

interface RoleShape {
  /** [out, in] for projections (transposed for Conv1D layouts), [n] for norms. */
  weight: number[];
  bias: number[] | null;
}

/** The roles a layer of this spec has, with shapes. */
export function layerRoleShapes(spec: ModelSpec): Map<LayerRole, RoleShape> {
  const { hiddenSize: H, intermediateSize: I, headDim: hd } = spec;
  const q = spec.numHeads * hd;
  const kv = spec.numKvHeads * hd;
  const m = new Map<LayerRole, RoleShape>();
  const linear = (role: LayerRole, out: number, inp: number, bias: boolean): void => {
    m.set(role, { weight: spec.weightLayout === 'out-in' ? [out, inp] : [inp, out], bias: bias ? [out] : null });
  };
  const norm = (role: LayerRole, n: number): void => {
    m.set(role, { weight: [n], bias: spec.norm === 'layer' ? [n] : null });
  };
  norm('attnNorm', H);
  if (spec.qkv === 'separate') {
    linear('q', q, H, spec.bias.qkv);
    linear('k', kv, H, spec.bias.qkv);
    linear('v', kv, H, spec.bias.qkv);
  } else {
    linear('qkv', q + 2 * kv, H, spec.bias.qkv);
  }
  if (spec.qkNorm) {
    norm('qNorm', hd);
    norm('kNorm', hd);
  }
  linear('o', H, q, spec.bias.o);
  if (spec.sandwichNorms) norm('postAttnNorm', H);
  if (spec.block !== 'parallel-shared-norm') norm('ffnNorm', H);
  if (spec.ffn === 'gated') linear('gate', I, H, spec.bias.ffn);
  linear('up', I, H, spec.bias.ffn);
  linear('down', H, I, spec.bias.ffn);
  if (spec.sandwichNorms) norm('postFfnNorm', H);
  return m;
}

function globalRoleShapes(spec: ModelSpec): Map<GlobalRole, RoleShape> {
  const { hiddenSize: H, vocabSize: V } = spec;
  const normBias = spec.norm === 'layer' ? [H] : null;
  const m = new Map<GlobalRole, RoleShape>();
  m.set('embed', { weight: [V, H], bias: null });
  if (spec.positions === 'learned') m.set('posEmbed', { weight: [spec.maxPositionEmbeddings + spec.positionOffset, H], bias: null });
  if (spec.embedNorm) m.set('embedNorm', { weight: [H], bias: normBias });
  m.set('finalNorm', { weight: [H], bias: normBias });
  m.set('lmHead', { weight: [V, H], bias: spec.bias.lmHead ? [V] : null });
  return m;
}

/**
 * Matches the stored tensor names against the roles. Throws a LapeError (without a file; the
 * caller adds it) naming the first missing, misshapen or unexpected tensor.
 */
export function resolveTensors(
  spec: ModelSpec,
  family: Family,
  stored: Map<string, { shape: number[] }>,
  /** Where the spec came from, for messages. */
  source = 'config.json',
): ResolvedTensors {
  const names = family.names;
  const embedName = (prefix: string): string => `${prefix}${names.global.embed}.weight`;
  const layout = names.layouts.find((l) => stored.has(embedName(l.model))) ?? names.layouts[0]!;
  const shapes = new Map<string, number[]>();
  const expect = (name: string, want: number[], missing: string): void => {
    const t = stored.get(name);
    if (!t) throw new LapeError(`tensor "${name}" is missing (${missing})`);
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new LapeError(`tensor "${name}" has shape [${t.shape.join(', ')}] but ${source} implies [${want.join(', ')}]`);
    }
    shapes.set(name, want);
  };
  const use = (base: string, shape: RoleShape, optional = false): RoleRef | undefined => {
    const weight = `${base}.weight`;
    if (optional && !stored.has(weight)) return undefined;
    expect(weight, shape.weight, `a ${spec.architecture} with this ${source} needs it`);
    if (!shape.bias) return { weight };
    const bias = `${base}.bias`;
    expect(bias, shape.bias, `${source} declares this bias`);
    return { weight, bias };
  };

  const global: ResolvedTensors['global'] = {};
  let tiedHead = false;
  for (const [role, shape] of globalRoleShapes(spec)) {
    const name = names.global[role];
    if (!name) throw new LapeError(`the ${family.key} name table has no ${role} tensor`);
    if (role === 'lmHead') {
      // Tied checkpoints that still store the head use it as stored (as HF's loader does).
      const ref = use(`${layout.head}${name}`, shape, spec.tieWordEmbeddings);
      if (ref) global.lmHead = ref;
      else tiedHead = true;
      continue;
    }
    global[role] = use(`${layout.model}${name}`, shape);
  }
  const layerShapes = layerRoleShapes(spec);
  const layers = Array.from({ length: spec.numLayers }, (_, i) => {
    const prefix = layout.model + names.layer.replace('{i}', String(i));
    const refs: Partial<Record<LayerRole, RoleRef>> = {};
    for (const [role, shape] of layerShapes) {
      const name = names.roles[role];
      if (!name) throw new LapeError(`the ${family.key} name table has no ${role} tensor`);
      refs[role] = use(prefix + name, shape);
    }
    return refs;
  });

  const ignored: string[] = [];
  for (const name of stored.keys()) {
    if (shapes.has(name)) continue;
    if (names.ignore?.some((re) => re.test(name))) {
      ignored.push(name);
    } else {
      throw new LapeError(
        `unexpected tensor "${name}": a ${spec.architecture} with this ${source} has no such weight ` +
        `(a bias or layer ${source} does not declare, or a variant lape does not implement)`,
      );
    }
  }
  return { global, layers, shapes, ignored, tiedHead };
}
