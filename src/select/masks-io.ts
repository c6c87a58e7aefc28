/**
 * Saving and loading NeuronMasks.
 *
 * JSON (`.json`), human-readable and diff-friendly, keys in a fixed order:
 *   { "format": "lape-masks", "version": 1, "method": ..., "languages": [...], "layers": L,
 *     "neurons": I, "settings": { keys sorted },
 *     "masks": { "<lang>": [ [layer 0 indices], ... one line per layer ], ... in language order } }
 *
 * safetensors (`.safetensors`), compact, readable from Python: per language two tensors in CSR
 * form, `indices.<lang>` (I32, all selected neuron indices, layer by layer, ascending within a
 * layer) and `offsets.<lang>` (I32, layers + 1 entries: layer l is indices[offsets[l]:offsets[l+1]]);
 * metadata: format = "lape-masks", version = "1", method, languages (JSON array), layers, neurons,
 * settings (JSON object). I64 tensors are accepted when loading.
 *
 * Writes are atomic; loading validates everything (validateMasks) and errors name the file.
 * `loadMasks` also reads the paper's released `.pth` files (tang-import.ts).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { LapeError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import {
  readSafetensorsHeader,
  readTensorF64,
  encodeSafetensors,
  type TensorToWrite,
} from '../checkpoint/safetensors.js';
import type { NeuronMasks } from './types.js';
import { validateMasks } from './masks.js';
import { importTangMasks } from './tang-import.js';
import { readTextFile } from '../corpus/text-files.js';

export const MASKS_FORMAT = 'lape-masks';
export const MASKS_VERSION = 1;

export type MasksFileFormat = 'json' | 'safetensors';

function sortedSettings(settings: NeuronMasks['settings']): NeuronMasks['settings'] {
  const out: NeuronMasks['settings'] = {};
  for (const k of Object.keys(settings).sort()) out[k] = settings[k]!;
  return out;
}

/** The JSON text of a masks file (validates first; non-finite settings are rejected). */
export function masksToJson(masks: NeuronMasks): string {
  validateMasks(masks);
  const lines: string[] = [];
  lines.push('{');
  lines.push(`  "format": ${JSON.stringify(MASKS_FORMAT)},`);
  lines.push(`  "version": ${MASKS_VERSION},`);
  lines.push(`  "method": ${JSON.stringify(masks.method)},`);
  lines.push(`  "languages": ${JSON.stringify(masks.languages)},`);
  lines.push(`  "layers": ${masks.layers},`);
  lines.push(`  "neurons": ${masks.neurons},`);
  const settings = Object.entries(sortedSettings(masks.settings));
  if (settings.length === 0) lines.push('  "settings": {},');
  else {
    lines.push('  "settings": {');
    settings.forEach(([k, v], i) => {
      lines.push(`    ${JSON.stringify(k)}: ${JSON.stringify(v)}${i < settings.length - 1 ? ',' : ''}`);
    });
    lines.push('  },');
  }
  lines.push('  "masks": {');
  masks.languages.forEach((lang, k) => {
    lines.push(`    ${JSON.stringify(lang)}: [`);
    const perLayer = masks.masks[k]!;
    perLayer.forEach((idx, l) => {
      lines.push(`      [${idx.join(',')}]${l < perLayer.length - 1 ? ',' : ''}`);
    });
    lines.push(`    ]${k < masks.languages.length - 1 ? ',' : ''}`);
  });
  lines.push('  }');
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Parses and validates the JSON text of a masks file; `file` names it in errors. */
export function masksFromJson(text: string, file: string): NeuronMasks {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new LapeError(`not valid JSON (${(e as Error).message})`, file);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new LapeError('not a masks file (no JSON object)', file);
  const o = raw as Record<string, unknown>;
  if (o.format !== MASKS_FORMAT) {
    throw new LapeError(`not a lape masks file (format is ${JSON.stringify(o.format)}, expected "${MASKS_FORMAT}")`, file);
  }
  if (o.version !== MASKS_VERSION) {
    throw new LapeError(`unsupported masks file version ${JSON.stringify(o.version)} (this lape reads ${MASKS_VERSION})`, file);
  }
  const languages = o.languages;
  if (!Array.isArray(languages)) throw new LapeError('"languages" is not an array', file);
  const byLang = o.masks;
  if (typeof byLang !== 'object' || byLang === null || Array.isArray(byLang)) {
    throw new LapeError('"masks" is not an object keyed by language', file);
  }
  const keys = Object.keys(byLang);
  for (const key of keys) {
    if (!languages.includes(key)) throw new LapeError(`"masks" has language "${key}", which is not in "languages"`, file);
  }
  const masks = languages.map((lang) => {
    const v = (byLang as Record<string, unknown>)[String(lang)];
    if (v === undefined) throw new LapeError(`"masks" has no entry for language ${JSON.stringify(lang)}`, file);
    return v;
  });
  return validateMasks(
    { method: o.method, languages, layers: o.layers, neurons: o.neurons, settings: o.settings, masks },
    file,
  );
}

export function saveMasksJson(path: string, masks: NeuronMasks): void {
  writeFileAtomic(path, masksToJson(masks));
}

export function saveMasksSafetensors(path: string, masks: NeuronMasks): void {
  writeFileAtomic(path, encodeMasksSafetensors(masks));
}

/** The bytes of a masks .safetensors file. */
export function encodeMasksSafetensors(masks: NeuronMasks): Buffer {
  validateMasks(masks);
  const tensors: Record<string, TensorToWrite> = {};
  masks.languages.forEach((lang, k) => {
    const perLayer = masks.masks[k]!;
    const offsets = new Int32Array(masks.layers + 1);
    let n = 0;
    perLayer.forEach((idx, l) => {
      n += idx.length;
      offsets[l + 1] = n;
    });
    const indices = new Int32Array(n);
    perLayer.forEach((idx, l) => indices.set(idx, offsets[l]!));
    tensors[`indices.${lang}`] = { dtype: 'I32', shape: [n], data: indices };
    tensors[`offsets.${lang}`] = { dtype: 'I32', shape: [masks.layers + 1], data: offsets };
  });
  return encodeSafetensors(tensors, {
    format: MASKS_FORMAT,
    version: String(MASKS_VERSION),
    method: masks.method,
    languages: JSON.stringify(masks.languages),
    layers: String(masks.layers),
    neurons: String(masks.neurons),
    settings: JSON.stringify(sortedSettings(masks.settings)),
  });
}

export function loadMasksJson(path: string): NeuronMasks {
  return masksFromJson(readTextFile(path, 'masks'), path);
}

export function loadMasksSafetensors(path: string): NeuronMasks {
  const header = readSafetensorsHeader(path);
  const md = header.metadata;
  if (md.format !== MASKS_FORMAT) {
    throw new LapeError(`not a lape masks file (metadata format is ${JSON.stringify(md.format)}, expected "${MASKS_FORMAT}")`, path);
  }
  if (md.version !== String(MASKS_VERSION)) {
    throw new LapeError(`unsupported masks file version ${JSON.stringify(md.version)} (this lape reads ${MASKS_VERSION})`, path);
  }
  const parseJson = (key: string): unknown => {
    try {
      return JSON.parse(md[key] ?? '');
    } catch {
      throw new LapeError(`metadata "${key}" is missing or not valid JSON`, path);
    }
  };
  const languages = parseJson('languages');
  const settings = parseJson('settings');
  const layers = Number(md.layers);
  const neurons = Number(md.neurons);
  if (!Array.isArray(languages)) throw new LapeError('metadata "languages" is not a JSON array', path);
  if (!Number.isSafeInteger(layers) || layers <= 0) throw new LapeError(`invalid layer count ${JSON.stringify(md.layers)}`, path);
  const expected = new Set<string>();
  for (const lang of languages) {
    expected.add(`indices.${lang}`);
    expected.add(`offsets.${lang}`);
  }
  for (const name of header.tensors.keys()) {
    if (!expected.has(name)) throw new LapeError(`unexpected tensor "${name}" in a masks file`, path);
  }
  const masks = languages.map((lang) => {
    const get = (name: string, len?: number): Float64Array => {
      const info = header.tensors.get(name);
      if (!info) throw new LapeError(`tensor "${name}" is missing`, path);
      if (info.dtype !== 'I32' && info.dtype !== 'I64') throw new LapeError(`tensor "${name}" is ${info.dtype}, expected I32 or I64`, path);
      if (info.shape.length !== 1 || (len !== undefined && info.shape[0] !== len)) {
        throw new LapeError(`tensor "${name}" has shape ${JSON.stringify(info.shape)}, expected [${len ?? 'n'}]`, path);
      }
      return readTensorF64(header, name);
    };
    const offsets = get(`offsets.${lang}`, layers + 1);
    const indices = get(`indices.${lang}`);
    if (offsets[0] !== 0 || offsets[layers] !== indices.length) {
      throw new LapeError(`tensor "offsets.${lang}" must run from 0 to ${indices.length}`, path);
    }
    const perLayer: number[][] = [];
    for (let l = 0; l < layers; l++) {
      const a = offsets[l]!;
      const b = offsets[l + 1]!;
      if (!(b >= a)) throw new LapeError(`tensor "offsets.${lang}" decreases at layer ${l}`, path);
      perLayer.push(Array.from(indices.subarray(a, b)));
    }
    return perLayer;
  });
  return validateMasks({ method: md.method, languages, layers, neurons, settings, masks }, path);
}

/** The format a path implies: `.json` → json, `.safetensors` → safetensors. */
export function masksFormatOf(path: string): MasksFileFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.safetensors') return 'safetensors';
  return undefined;
}

/** Saves masks; the format is given or taken from the extension (.json / .safetensors). */
export function saveMasks(path: string, masks: NeuronMasks, format?: MasksFileFormat): void {
  const fmt = format ?? masksFormatOf(path);
  if (fmt === 'json') saveMasksJson(path, masks);
  else if (fmt === 'safetensors') saveMasksSafetensors(path, masks);
  else throw new LapeError('cannot tell the masks format: use a .json or .safetensors file name', path);
}

/**
 * Loads masks from .json, .safetensors, or the paper's .pth release; other names are sniffed
 * (a leading "{" means JSON, a torch zip means .pth, otherwise safetensors).
 */
export function loadMasks(path: string): NeuronMasks {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return loadMasksJson(path);
  if (ext === '.safetensors') return loadMasksSafetensors(path);
  if (ext === '.pth' || ext === '.pt') return importTangMasks(path);
  const head = Buffer.alloc(4);
  try {
    const fd = openSync(path, 'r');
    try {
      readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new LapeError(`cannot read masks file (${(e as NodeJS.ErrnoException).code ?? e})`, path);
  }
  if (head[0] === 0x7b) return loadMasksJson(path);
  if (head.readUInt32LE(0) === 0x04034b50) return importTangMasks(path);
  return loadMasksSafetensors(path);
}
