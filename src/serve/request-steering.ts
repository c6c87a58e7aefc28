/**
 * A request's `lape` object → its compiled patch vectors (per layer scale/shift), with the same
 * semantics and the same error messages as lape generate's --activate/--deactivate/--mode/--alpha/
 * --layers (src/experiments/steering.ts). Compiled vectors are cached per distinct steering, so
 * a steady stream of identically steered requests compiles once.
 */
import { LapeError } from '../errors.js';
import { interventionPatches, isEmptySpec, type InterventionSpec } from '../experiments/steering.js';
import { patchVectors, type AffineVectors } from '../runtime/patches.js';
import { restrictToLayers } from '../select/masks.js';
import type { NeuronMasks } from '../select/types.js';
import type { LangStats } from '../stats/types.js';
import { parseLayers, resolveLayers } from '../cli/groups/common.js';
import { OptionValueError } from '../cli/options/option.js';
import { badRequest } from './openai-errors.js';
import type { LapeParams } from './openai-schema.js';

export interface SteeringData {
  masks: NeuronMasks | null;
  stats: LangStats[];
  layers: number;
  neurons: number;
}

const CACHE_SIZE = 64;

export class RequestSteering {
  private cache = new Map<string, Map<number, AffineVectors>>();

  constructor(private readonly data: SteeringData) {}

  /** The languages a request may activate / deactivate (for /v1/models and the explorer). */
  languages(): { masks: string[]; stats: string[] } {
    return { masks: this.data.masks?.languages ?? [], stats: this.data.stats.map((s) => s.lang) };
  }

  vectors(p: LapeParams): Map<number, AffineVectors> {
    const spec: InterventionSpec = { activate: p.activate, deactivate: p.deactivate, mode: p.mode, alpha: p.alpha };
    if (isEmptySpec(spec)) {
      if (p.layers !== null) throw badRequest('lape.layers needs lape.activate or lape.deactivate', 'lape.layers');
      return new Map();
    }
    const key = JSON.stringify(p);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const masks = this.data.masks;
    if (!masks) throw badRequest('steering needs language-specific neurons: start lape serve with --masks (and --stats to activate)', 'lape');
    let layerList: number[] | null = null;
    try {
      if (typeof p.layers === 'string') layerList = resolveLayers(parseLayers(p.layers), this.data.layers);
      else if (p.layers) {
        const bad = p.layers.find((l) => l >= this.data.layers);
        if (bad !== undefined) throw new LapeError(`layer ${bad} does not exist (the model has layers 0-${this.data.layers - 1})`);
        layerList = p.layers;
      }
      const restricted = layerList ? restrictToLayers(masks, layerList) : masks;
      const vectors = patchVectors(interventionPatches(spec, restricted, this.data.stats), this.data.layers, this.data.neurons);
      if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, vectors);
      return vectors;
    } catch (e) {
      if (e instanceof OptionValueError) throw badRequest(`lape.layers ${e.message}`, 'lape.layers');
      if (e instanceof Error && !(e instanceof TypeError)) throw badRequest(e.message.replace(/^--layers/, 'lape.layers'), 'lape');
      throw e;
    }
  }
}
