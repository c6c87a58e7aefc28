/**
 * Per-neuron parameter change between a base checkpoint and a fine-tuned one (the PV baseline):
 * for FFN neuron j, ‖Δ‖ over its slice of each FFN matrix — the output row j of gate and up (of
 * the first projection in plain FFNs), the input column j of down; rows and columns swap for
 * Conv1D [in, out] weights (GPT-2), and the neuron's bias entries count too.
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
  const outIn = a.weightLayout === 'out-in';
  for (let i = 0; i < a.numLayers; i++) {
    const wa = base.tensors.layers[i]!;
    const wb = tuned.tensors.layers[i]!;
    for (const role of ['gate', 'up', 'down'] as const) {
      const ra = wa[role];
      const rb = wb[role];
      if (!ra || !rb) continue;
      const intoNeurons = role !== 'down'; // gate/up produce the neurons, down consumes them
      acc.add(i, base.readF32(ra.weight), tuned.readF32(rb.weight), intoNeurons === outIn ? 'rows' : 'cols');
      if (intoNeurons && ra.bias && rb.bias) acc.add(i, base.readF32(ra.bias), tuned.readF32(rb.bias), 'vector');
    }
  }
  return acc.magnitudes(mode);
}
