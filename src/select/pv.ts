/**
 * PV — parameter variation (paper §3.1 baseline): fine-tune the base model on each language
 * separately, measure per FFN neuron how much its parameters moved, normalise those magnitudes
 * across languages and take the entropy — i.e. the LAPE pipeline (entropy.ts) with the change
 * magnitude c_k[i,j] ≥ 0 in place of the activation probability: c' = c / Σ_k c, H = −Σ c' ln c',
 * the filter and activation bars are the same global quantiles, taken over all change magnitudes.
 *
 * The API takes the magnitudes as arrays so the checkpoint reading can be wired separately;
 * `ParameterChangeAccumulator` computes them from weight matrices: for neuron j of a layer the
 * L2 norm of the change of all parameters that belong to it (row j of gate/up/fc1 weights in the
 * HF [intermediate, hidden] layout, column j of down/fc2 [hidden, intermediate], entry j of an
 * FFN bias), optionally relative to the norm of the base parameters (mode "relative").
 */
import { LapeError } from '../errors.js';
import type { NeuronMasks } from './types.js';
import {
  checkScores,
  entropySettings,
  resolveEntropyOptions,
  selectByEntropy,
  type EntropySelectOptions,
  type EntropySelection,
} from './entropy.js';

export interface LanguageChange {
  lang: string;
  /** Change magnitude per neuron, row-major [layer][neuron], finite and ≥ 0. */
  change: Float64Array;
}

export interface PvResult extends EntropySelection {
  result: NeuronMasks;
  languages: string[];
}

export type PvOptions = EntropySelectOptions;

export function pvSelection(
  changes: readonly LanguageChange[],
  layers: number,
  neurons: number,
  options: PvOptions = {},
): PvResult {
  const opts = resolveEntropyOptions(options);
  const languages = changes.map((c) => c.lang);
  const scores = changes.map((c) => c.change);
  checkScores(languages, scores, layers, neurons, 'parameter changes');
  const sel = selectByEntropy(scores, layers, neurons, opts);
  return {
    ...sel,
    languages,
    result: { method: 'pv', languages, layers, neurons, settings: entropySettings(opts, sel), masks: sel.masks },
  };
}

export function selectPv(
  changes: readonly LanguageChange[],
  layers: number,
  neurons: number,
  options: PvOptions = {},
): NeuronMasks {
  return pvSelection(changes, layers, neurons, options).result;
}

/** How a weight tensor maps onto FFN neurons. */
export type NeuronAxis =
  /** [neurons, hidden] row-major: neuron j = row j (HF gate_proj / up_proj / fc1 weight). */
  | 'rows'
  /** [hidden, neurons] row-major: neuron j = column j (HF down_proj / fc2 weight). */
  | 'cols'
  /** [neurons]: neuron j = entry j (an FFN bias). */
  | 'vector';

/** Accumulates per-neuron squared parameter changes (and base norms) for one language's fine-tune. */
export class ParameterChangeAccumulator {
  readonly delta2: Float64Array;
  readonly base2: Float64Array;

  constructor(readonly layers: number, readonly neurons: number) {
    this.delta2 = new Float64Array(layers * neurons);
    this.base2 = new Float64Array(layers * neurons);
  }

  /** Adds one matrix (or bias) of `layer`: base and tuned must have the same length. */
  add(layer: number, base: ArrayLike<number>, tuned: ArrayLike<number>, axis: NeuronAxis): void {
    const I = this.neurons;
    if (!(Number.isInteger(layer) && layer >= 0 && layer < this.layers)) {
      throw new LapeError(`parameter change: layer ${layer} out of range 0..${this.layers - 1}`);
    }
    if (base.length !== tuned.length) {
      throw new LapeError(`parameter change: base has ${base.length} values, fine-tuned ${tuned.length}`);
    }
    if (base.length % I !== 0 || (axis === 'vector' && base.length !== I)) {
      throw new LapeError(`parameter change: ${base.length} values do not fit ${I} neurons (${axis})`);
    }
    const off = layer * I;
    const other = base.length / I;
    for (let e = 0; e < base.length; e++) {
      const j = axis === 'rows' ? Math.floor(e / other) : axis === 'cols' ? e % I : e;
      const b = base[e]!;
      const d = tuned[e]! - b;
      this.delta2[off + j] += d * d;
      this.base2[off + j] += b * b;
    }
  }

  /** ‖Δθ_j‖ ("absolute") or ‖Δθ_j‖ / ‖θ_j‖ ("relative"; 0 where ‖θ_j‖ = 0). */
  magnitudes(mode: 'absolute' | 'relative' = 'absolute'): Float64Array {
    const out = new Float64Array(this.delta2.length);
    for (let j = 0; j < out.length; j++) {
      const d = Math.sqrt(this.delta2[j]!);
      out[j] = mode === 'absolute' ? d : this.base2[j]! > 0 ? d / Math.sqrt(this.base2[j]!) : 0;
    }
    return out;
  }
}
