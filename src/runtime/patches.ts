/**
 * Neuron patches on hook_act, compiled to one affine map per layer: act' = act * scale + shift.
 * zero: scale 0; set: scale 0, shift v; add: shift += v; scale: scale *= v. Several patches on
 * one layer compose in the order given.
 */
import { LapeError } from '../errors.js';

export type PatchMode = 'zero' | 'set' | 'add' | 'scale';

export interface NeuronPatch {
  layer: number;
  indices: ArrayLike<number>;
  mode: PatchMode;
  /** Per-index values (same length as indices) or one value for all; unused for 'zero'. */
  values?: ArrayLike<number> | number;
}

export interface AffineVectors {
  scale: Float32Array;
  shift: Float32Array;
}

export function identityVectors(neurons: number): AffineVectors {
  return { scale: new Float32Array(neurons).fill(1), shift: new Float32Array(neurons) };
}

export function patchVectors(patches: NeuronPatch[], layers: number, neurons: number): Map<number, AffineVectors> {
  const out = new Map<number, AffineVectors>();
  for (const p of patches) {
    if (!Number.isInteger(p.layer) || p.layer < 0 || p.layer >= layers) {
      throw new LapeError(`patch layer ${p.layer} outside 0..${layers - 1}`);
    }
    const valuesArr = typeof p.values === 'number' || p.values === undefined ? null : p.values;
    if (p.mode !== 'zero' && p.values === undefined) throw new LapeError(`patch mode "${p.mode}" needs values`);
    if (valuesArr && valuesArr.length !== p.indices.length) {
      throw new LapeError(`patch on layer ${p.layer}: ${p.indices.length} indices but ${valuesArr.length} values`);
    }
    let v = out.get(p.layer);
    if (!v) out.set(p.layer, (v = identityVectors(neurons)));
    for (let k = 0; k < p.indices.length; k++) {
      const j = p.indices[k]!;
      if (!Number.isInteger(j) || j < 0 || j >= neurons) {
        throw new LapeError(`patch on layer ${p.layer}: neuron index ${j} outside 0..${neurons - 1}`);
      }
      const val = valuesArr ? valuesArr[k]! : (p.values as number | undefined) ?? 0;
      switch (p.mode) {
        case 'zero': v.scale[j] = 0; v.shift[j] = 0; break;
        case 'set': v.scale[j] = 0; v.shift[j] = val; break;
        case 'add': v.shift[j] = v.shift[j]! + val; break;
        case 'scale': v.scale[j] = v.scale[j]! * val; v.shift[j] = v.shift[j]! * val; break;
      }
    }
  }
  return out;
}

/**
 * Per-sequence patch inputs of a sequencePatches plan: for each layer, [B, 1, I] scale and shift
 * vectors stacked from each sequence's compiled patches (a layer a sequence does not patch is the
 * identity there, so an unsteered sequence computes exactly what an unpatched plan computes).
 */
export function stackSequenceVectors(rows: ReadonlyArray<Map<number, AffineVectors>>, layers: number, neurons: number): AffineVectors[] {
  const B = rows.length;
  const out: AffineVectors[] = [];
  for (let l = 0; l < layers; l++) {
    const scale = new Float32Array(B * neurons).fill(1);
    const shift = new Float32Array(B * neurons);
    rows.forEach((r, b) => {
      const v = r.get(l);
      if (!v) return;
      scale.set(v.scale, b * neurons);
      shift.set(v.shift, b * neurons);
    });
    out.push({ scale, shift });
  }
  return out;
}
