/**
 * Tokenizer from a checkpoint folder's tokenizer.json (+ tokenizer_config.json), or from a GGUF
 * file's tokenizer metadata turned into the same tokenizer.json form (gguf-tokenizer.ts), via
 * @huggingface/tokenizers. Special tokens (BOS) follow the checkpoint's own post-processor.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { LapeError } from '../errors.js';
import { readGgufHeader } from '../checkpoint/gguf.js';
import { isGgufPath } from '../checkpoint/gguf-checkpoint.js';
import { ggufTokenizerFiles } from './gguf-tokenizer.js';

export interface LapeTokenizer {
  /** tokenizer.json model type (BPE, Unigram, WordPiece, WordLevel). */
  type: string;
  vocabSize: number;
  /** sha256 of tokenizer.json, or of the one built from GGUF metadata (provenance for statistics files). */
  sha256: string;
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
}

/** Tokenizer of a checkpoint folder (tokenizer.json) or of a .gguf file (its tokenizer metadata). */
export function loadTokenizer(dir: string): LapeTokenizer {
  if (isGgufPath(dir)) {
    const { json, config } = ggufTokenizerFiles(readGgufHeader(dir));
    const bytes = Buffer.from(JSON.stringify(json));
    return fromTokenizerJson(json, config, bytes, dir);
  }
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new LapeError('missing tokenizer.json (lape needs the fast-tokenizer file)', path);
  const bytes = readFileSync(path);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new LapeError(`not valid JSON (${(e as Error).message})`, path);
  }
  return fromTokenizerJson(json, loadTokenizerConfig(dir), bytes, path);
}

/** tokenizer_config.json of a checkpoint folder ({} when absent), or a GGUF file's equivalent. */
export function loadTokenizerConfig(dir: string): Record<string, unknown> {
  if (isGgufPath(dir)) return ggufTokenizerFiles(readGgufHeader(dir)).config;
  const cfgPath = join(dir, 'tokenizer_config.json');
  if (!existsSync(cfgPath)) return {};
  try {
    return JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new LapeError(`not valid JSON (${(e as Error).message})`, cfgPath);
  }
}

/** The tokenizer built from a tokenizer.json object; `bytes` are hashed for provenance. */
/** Tokenizer model types @huggingface/tokenizers implements; anything else would tokenize differently from the checkpoint. */
export const TOKENIZER_MODELS = ['BPE', 'Unigram', 'WordPiece', 'WordLevel'] as const;

function fromTokenizerJson(json: Record<string, unknown>, config: Record<string, unknown>, bytes: Uint8Array, path: string): LapeTokenizer {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new LapeError('not a tokenizer.json (expected a JSON object)', path);
  const m = json.model as { type?: unknown; vocab?: unknown } | undefined;
  if (typeof m !== 'object' || m === null) throw new LapeError('not a tokenizer.json: no "model" object', path);
  const type = m.type ?? (m.vocab !== undefined && (json.model as Record<string, unknown>).merges !== undefined ? 'BPE' : undefined);
  if (typeof type !== 'string' || !(TOKENIZER_MODELS as readonly string[]).includes(type)) {
    throw new LapeError(`tokenizer model type ${JSON.stringify(m.type)} is not supported (supported: ${TOKENIZER_MODELS.join(', ')})`, path);
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new LapeError(`cannot build the tokenizer (${(e as Error)?.message ?? String(e)})`, path);
  }
  const model = json.model as { type?: string; vocab?: Record<string, number> | unknown[] } | undefined;
  const added = Array.isArray(json.added_tokens) ? (json.added_tokens as Array<{ id: number }>) : [];
  const baseVocab = model?.vocab ? (Array.isArray(model.vocab) ? model.vocab.length : Object.keys(model.vocab).length) : 0;
  const maxAdded = added.reduce((m, t) => Math.max(m, t.id + 1), 0);
  return {
    type: model?.type ?? 'unknown',
    vocabSize: Math.max(baseVocab, maxAdded),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    encode: (text, opts) => tok.encode(text, { add_special_tokens: opts?.addSpecialTokens ?? false }).ids,
    decode: (ids, opts) => tok.decode(ids, { skip_special_tokens: opts?.skipSpecialTokens ?? false }),
    tokenToId: (t) => tok.token_to_id(t),
  };
}
