/** Language-specific neuron selection: LAPE and the paper's baselines, masks files, the paper's released masks. */
export type { NeuronMasks } from './types.js';
export {
  DEFAULT_BAR_RATIO,
  DEFAULT_FILTER_RATE,
  DEFAULT_TOP_RATE,
  checkScores,
  entropySettings,
  pyRound,
  quantileRank,
  resolveEntropyOptions,
  selectByEntropy,
  type EntropySelectOptions,
  type EntropySelection,
  type ResolvedEntropyOptions,
} from './entropy.js';
export { activationProbabilities, checkStats, lapeSelection, selectLape, type LapeOptions, type LapeResult } from './lape.js';
export { selectLap, type LapOptions } from './lap.js';
export { clampedMeanActivations, laveSelection, selectLave, type LaveOptions, type LaveResult } from './lave.js';
export {
  ParameterChangeAccumulator,
  pvSelection,
  selectPv,
  type LanguageChange,
  type NeuronAxis,
  type PvOptions,
  type PvResult,
} from './pv.js';
export { randomMasks, selectRandom, type RandomOptions } from './rs.js';
export { STATS_METHODS, selectWithMethod, type MethodOptions, type StatsMethod } from './methods.js';
export { jaccard, selectionKeys, selectionStability, type StabilityOptions, type StabilityResult, type StabilityRow } from './stability.js';
export { Xoshiro128, splitmix64 } from './prng.js';
export {
  checkIndices,
  checkMasksFit,
  intersectionMatrix,
  languageTotals,
  layerCounts,
  overlapMatrix,
  uniqueNeuronCount,
  validateMasks,
} from './masks.js';
export {
  MASKS_FORMAT,
  MASKS_VERSION,
  loadMasks,
  loadMasksJson,
  loadMasksSafetensors,
  masksFormatOf,
  masksFromJson,
  masksToJson,
  saveMasks,
  saveMasksJson,
  saveMasksSafetensors,
  type MasksFileFormat,
} from './masks-io.js';
export {
  TANG_LANGUAGES,
  TANG_MODELS,
  importTangMasks,
  importTangMasksFromBytes,
  parseTangFolder,
  type TangImportOptions,
} from './tang-import.js';
