/**
 * Per-neuron parameter change between a base checkpoint and a fine-tuned one (the PV baseline):
 * for FFN neuron j, ‖Δ‖ over row j of gate/up and column j of down.
 */
import { LapeError } from '../errors.js';
import { ParameterChangeAccumulator } from '../select/pv.js';
import { openCheckpoint } from './checkpoint.js';

export function neuronParameterChange(baseDir: string, tunedDir: string, mode: 'absolute' | 'relative' = 'absolute'): Float64Array {
  const base = openCheckpoint(baseDir);
  const tuned = openCheckpoint(tunedDir);
  const a = base.spec;
  const b = tuned.spec;
  if (a.numLayers !== b.numLayers || a.intermediateSize !== b.intermediateSize || a.hiddenSize !== b.hiddenSize || a.arch !== b.arch) {
    throw new LapeError(
      `fine-tuned model has another shape (${b.architecture} ${b.numLayers}×${b.intermediateSize}) than the base (${a.architecture} ${a.numLayers}×${a.intermediateSize})`,
      tunedDir,
    );
  }
  const acc = new ParameterChangeAccumulator(a.numLayers, a.intermediateSize);
  for (let i = 0; i < a.numLayers; i++) {
    const w = base.arch.weights.layer(i);
    acc.add(i, base.readF32(w.gate), tuned.readF32(w.gate), 'rows');
    acc.add(i, base.readF32(w.up), tuned.readF32(w.up), 'rows');
    acc.add(i, base.readF32(w.down), tuned.readF32(w.down), 'cols');
  }
  return acc.magnitudes(mode);
}
