/**
 * Language-specific neuron sets: for each language, for each layer, the sorted FFN neuron
 * indices. Every language given to the selection appears, also with zero neurons.
 */
export interface NeuronMasks {
  /** lape | lap | lave | pv | rs | tang2024 (imported) | ... */
  method: string;
  languages: string[];
  layers: number;
  neurons: number;
  /** Knobs used (top_rate, filter_rate, bar_ratio, seed, the bar value, source file, ...). */
  settings: Record<string, number | string | boolean>;
  /** masks[langIndex][layer] = ascending neuron indices. */
  masks: number[][][];
}
