/**
 * Imports the language-specific neuron masks released with Tang et al. (ACL 2024)
 * (`<Model>.neuron.pth` in github.com/RUCAIBox/Language-Specific-Neurons): a torch `save` zip
 * whose `data.pkl` is `List[language][layer] -> LongTensor` of sorted neuron indices, storages
 * under `data/<key>`. Read with the minimal ZIP reader (zip.ts) and the safe pickle reader
 * (pickle.ts); nothing is executed.
 *
 * Languages: en, zh, fr, es, vi, id, ja in that order (files with 6 languages have no ja).
 * The archive's top folder encodes the settings: `<model>.<method>.<data>.<top_rate>.
 * <filter_rate>.<activation_bar_ratio>.<largest>`, e.g. `Llama-2-7b-hf.whether.default.0.01.0.95.0.95.False`.
 * The FFN size is not stored in the file: it comes from a table of the released models (by the
 * folder's model name), else from `options.neurons`, else max index + 1 (settings.neuronsInferred).
 */
import { readFileSync, statSync } from 'node:fs';

const MAX_FILE_BYTES = 512 * 2 ** 20;
import { basename } from 'node:path';
import { LapeError } from '../errors.js';
import type { NeuronMasks } from './types.js';
import { validateMasks } from './masks.js';
import { ZipArchive } from './zip.js';
import { TorchStorage, TorchTensor, tensorValues, unpickleTorch, type PickleValue } from './pickle.js';

export const TANG_LANGUAGES = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'] as const;

/** The released models: archive model name (lower case) → paper name, layers, FFN size. */
export const TANG_MODELS: Record<string, { paperName: string; layers: number; neurons: number }> = {
  'llama-2-7b-hf': { paperName: 'LLaMA-2-7B', layers: 32, neurons: 11008 },
  'llama-2-13b-hf': { paperName: 'LLaMA-2-13B', layers: 40, neurons: 13824 },
  'llama-70b': { paperName: 'LLaMA-2-70B', layers: 80, neurons: 28672 },
  'bloom-7b': { paperName: 'BLOOM-7B', layers: 30, neurons: 16384 },
  mistral: { paperName: 'Mistral-7B', layers: 32, neurons: 14336 },
  opt: { paperName: 'OPT-6.7B', layers: 32, neurons: 16384 },
  phi: { paperName: 'Phi-2-2.7B', layers: 32, neurons: 10240 },
};

export interface TangImportOptions {
  /** Language codes in file order; default en, zh, fr, es, vi, id, ja (first 6 for 6-language files). */
  languages?: string[];
  /** FFN size; default from TANG_MODELS, else max index + 1. */
  neurons?: number;
}

const FLOAT = String.raw`\d+\.\d+(?:e[-+]?\d+)?|\d+(?:\.\d+)?e[-+]?\d+`;
const FOLDER_RE = new RegExp(
  String.raw`^(.+)\.([^.]+)\.([^.]+)\.(${FLOAT})\.(${FLOAT})\.(${FLOAT})\.(True|False)$`,
);

/** Parses the settings encoded in the archive's top folder name (undefined if it has another form). */
export function parseTangFolder(folder: string): Record<string, string | number | boolean> | undefined {
  const m = FOLDER_RE.exec(folder);
  if (!m) return undefined;
  return {
    modelName: m[1]!,
    detection: m[2]!,
    data: m[3]!,
    topRate: Number(m[4]),
    filterRate: Number(m[5]),
    barRatio: Number(m[6]),
    largest: m[7] === 'True',
  };
}

/** Reads a `.neuron.pth` file into NeuronMasks (method "tang2024"). */
export function importTangMasks(path: string, options: TangImportOptions = {}): NeuronMasks {
  let bytes: Buffer;
  try {
    const size = statSync(path).size;
    if (size > MAX_FILE_BYTES) throw new LapeError(`is ${size} bytes; a masks file is far smaller (at most ${MAX_FILE_BYTES} bytes are read)`, path);
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof LapeError) throw e;
    throw new LapeError(`cannot read the masks file (${(e as NodeJS.ErrnoException).code ?? e})`, path);
  }
  return importTangMasksFromBytes(bytes, path, options);
}

export function importTangMasksFromBytes(bytes: Buffer, file: string, options: TangImportOptions = {}): NeuronMasks {
  const zip = new ZipArchive(bytes, file);
  const pkl = zip.names().filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkl.length !== 1) {
    throw new LapeError(`not a torch save archive: expected one data.pkl entry, found ${pkl.length}`, file);
  }
  const prefix = pkl[0]!.slice(0, pkl[0]!.length - 'data.pkl'.length); // "folder/" or ""
  const folder = prefix.replace(/\/$/, '');
  if (zip.entries.has(`${prefix}byteorder`)) {
    const order = zip.read(`${prefix}byteorder`).toString('utf8').trim();
    if (order !== 'little') throw new LapeError(`storages are ${order}-endian; only little-endian is supported`, file);
  }
  const root = unpickleTorch(zip.read(pkl[0]!), file);

  const storageCache = new Map<string, Buffer>();
  const storageBytes = (s: TorchStorage): Buffer => {
    let b = storageCache.get(s.key);
    if (!b) {
      const name = `${prefix}data/${s.key}`;
      if (!zip.entries.has(name)) throw new LapeError(`storage "${s.key}" has no entry ${name}`, file);
      b = zip.read(name);
      storageCache.set(s.key, b);
    }
    return b;
  };

  const isList = (v: PickleValue): v is PickleValue[] => Array.isArray(v);
  if (!isList(root) || root.length === 0) {
    throw new LapeError('expected a list of languages, each a list of per-layer index tensors', file);
  }
  const K = root.length;
  const languages = options.languages ?? (K === 7 || K === 6 ? TANG_LANGUAGES.slice(0, K) : undefined);
  if (!languages) {
    throw new LapeError(`the file has ${K} languages; pass the language codes (known files have 6 or 7)`, file);
  }
  if (languages.length !== K) {
    throw new LapeError(`the file has ${K} languages but ${languages.length} language codes were given`, file);
  }
  let layers = -1;
  let maxIndex = -1;
  const masks = root.map((perLayer, k) => {
    if (!isList(perLayer)) throw new LapeError(`language ${k} (${languages[k]}) is not a list of layers`, file);
    if (layers < 0) layers = perLayer.length;
    if (perLayer.length !== layers) {
      throw new LapeError(`language ${languages[k]} has ${perLayer.length} layers, ${languages[0]} has ${layers}`, file);
    }
    return perLayer.map((t, l) => {
      if (!(t instanceof TorchTensor)) throw new LapeError(`language ${languages[k]} layer ${l} is not a tensor`, file);
      if (t.size.length !== 1) {
        throw new LapeError(`language ${languages[k]} layer ${l} is a ${t.size.length}-d tensor, expected 1-d`, file);
      }
      const values = tensorValues(t, storageBytes(t.storage), file);
      for (const v of values) if (v > maxIndex) maxIndex = v;
      return values;
    });
  });
  if (layers <= 0) throw new LapeError('the file has no layers', file);

  const parsed = parseTangFolder(folder);
  const modelName = typeof parsed?.modelName === 'string' ? parsed.modelName : folder;
  const known = TANG_MODELS[modelName.toLowerCase()];
  let neurons: number;
  const settings: NeuronMasks['settings'] = {
    source: basename(file),
    archiveFolder: folder,
    ...(parsed ?? {}),
    modelName,
  };
  if (options.neurons !== undefined) {
    neurons = options.neurons;
    if (!Number.isSafeInteger(neurons) || neurons <= maxIndex) {
      throw new LapeError(`FFN size (neurons) ${neurons} is too small: the file has neuron index ${maxIndex}`, file);
    }
  } else if (known) {
    // The archive names a released model: its sizes are checked, never widened to fit the file.
    if (known.layers !== layers) {
      throw new LapeError(`the archive is for ${known.paperName} (${known.layers} layers), but the file has ${layers} layers: not a valid ${known.paperName} mask`, file);
    }
    if (maxIndex >= known.neurons) {
      throw new LapeError(`neuron index ${maxIndex} does not exist in ${known.paperName} (${known.neurons} FFN neurons per layer): the file is damaged`, file);
    }
    neurons = known.neurons;
    settings.paperModel = known.paperName;
  } else {
    neurons = maxIndex + 1;
    settings.neuronsInferred = true;
  }
  if (neurons <= 0) neurons = 1;
  return validateMasks({ method: 'tang2024', languages: [...languages], layers, neurons, settings, masks }, file);
}
