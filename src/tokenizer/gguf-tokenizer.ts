/**
 * A GGUF file's tokenizer metadata (tokenizer.ggml.*) → the tokenizer.json object that
 * @huggingface/tokenizers builds, so a GGUF model gets the same LapeTokenizer as a HF folder.
 *
 * - `gpt2` (byte-level BPE): tokens are already in the GPT-2 byte→unicode alphabet; merges are
 *   "a b" strings; the pre-tokenizer regex is the one `tokenizer.ggml.pre` names (only names whose
 *   regex lape knows are accepted).
 * - `llama` (SentencePiece BPE with byte fallback, as llama.cpp runs it): pieces with scores; a
 *   merge of two pieces ranks by the score of the piece it makes (llama.cpp's SPM tokenizer picks
 *   the highest-scoring adjacent pair); spaces become ▁, a ▁ is prepended (add_space_prefix,
 *   default true), unknown bytes fall back to the <0xXX> tokens.
 * Token types CONTROL (3) and USER_DEFINED (4) become added tokens (special for CONTROL); BOS/EOS
 * are added per tokenizer.ggml.add_bos_token / add_eos_token (llama.cpp's defaults: BOS on for
 * `llama`, off for `gpt2`).
 */
import { LapeError } from '../errors.js';
import type { GgufHeader, GgufValue } from '../checkpoint/gguf.js';

const TYPE_NORMAL = 1;
const TYPE_UNKNOWN = 2;
const TYPE_CONTROL = 3;
const TYPE_USER_DEFINED = 4;
const TYPE_BYTE = 6;

/** llama.cpp pre-tokenizer names whose regex is GPT-2's (ByteLevel with use_regex). */
const GPT2_PRE = new Set(['gpt-2', 'gpt2', 'phi-2', 'jina-es', 'jina-de', 'jina-v2-es', 'jina-v2-de']);

export interface GgufTokenizerFiles {
  json: Record<string, unknown>;
  config: Record<string, unknown>;
}

function strings(h: GgufHeader, key: string, required: boolean): string[] | null {
  const v = h.metadata.get(key);
  if (v === undefined) {
    if (required) throw new LapeError(`missing GGUF metadata "${key}"`, h.path);
    return null;
  }
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new LapeError(`GGUF metadata "${key}" is not a list of strings`, h.path);
  return v as string[];
}

function numbers(h: GgufHeader, key: string, n: number): number[] | null {
  const v = h.metadata.get(key);
  if (v === undefined) return null;
  if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number')) {
    throw new LapeError(`GGUF metadata "${key}" must be a list of ${n} numbers`, h.path);
  }
  return v as number[];
}

function optBool(h: GgufHeader, key: string, fallback: boolean): boolean {
  const v: GgufValue | undefined = h.metadata.get(key);
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new LapeError(`GGUF metadata "${key}" must be a bool`, h.path);
  return v;
}

function optId(h: GgufHeader, key: string, n: number): number | null {
  const v = h.metadata.get(key);
  if (v === undefined) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n) throw new LapeError(`GGUF metadata "${key}" = ${String(v)} is not a token id (vocabulary ${n})`, h.path);
  return v;
}

function postProcessor(tokens: string[], bos: number | null, eos: number | null, addBos: boolean, addEos: boolean): unknown {
  const single: unknown[] = [];
  const specials: Record<string, { id: string; ids: number[]; tokens: string[] }> = {};
  const special = (id: number): void => {
    single.push({ SpecialToken: { id: tokens[id], type_id: 0 } });
    specials[tokens[id]!] = { id: tokens[id]!, ids: [id], tokens: [tokens[id]!] };
  };
  if (addBos && bos !== null) special(bos);
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  if (addEos && eos !== null) special(eos);
  const pair = [...single, { Sequence: { id: 'B', type_id: 1 } }];
  return { type: 'TemplateProcessing', single, pair, special_tokens: specials };
}

/** Builds tokenizer.json (+ a minimal tokenizer_config) from a GGUF header. */
export function ggufTokenizerFiles(h: GgufHeader): GgufTokenizerFiles {
  const modelV = h.metadata.get('tokenizer.ggml.model');
  if (typeof modelV !== 'string') throw new LapeError('missing GGUF metadata "tokenizer.ggml.model" (the file has no tokenizer)', h.path);
  const tokens = strings(h, 'tokenizer.ggml.tokens', true)!;
  const n = tokens.length;
  const types = numbers(h, 'tokenizer.ggml.token_type', n) ?? new Array<number>(n).fill(TYPE_NORMAL);
  const bos = optId(h, 'tokenizer.ggml.bos_token_id', n);
  const eos = optId(h, 'tokenizer.ggml.eos_token_id', n);
  const unk = optId(h, 'tokenizer.ggml.unknown_token_id', n);
  const added: unknown[] = [];
  const vocab: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const t = types[i]!;
    if (t === TYPE_CONTROL || t === TYPE_USER_DEFINED) {
      added.push({ id: i, content: tokens[i], single_word: false, lstrip: false, rstrip: false, normalized: false, special: t === TYPE_CONTROL });
    }
    // Added tokens stay in the model vocabulary too (HF keeps e.g. <unk>, <s> in SentencePiece vocabs).
    if (!(tokens[i]! in vocab)) vocab[tokens[i]!] = i;
  }
  const config: Record<string, unknown> = {
    bos_token: bos === null ? null : tokens[bos],
    eos_token: eos === null ? null : tokens[eos],
    // llama.cpp decodes pieces as they are (no " ." → "." clean-up).
    clean_up_tokenization_spaces: false,
  };
  // The chat template, as tokenizer_config.json holds it (lape serve, generate --chat).
  const chat = h.metadata.get('tokenizer.chat_template');
  if (typeof chat === 'string') config.chat_template = chat;

  if (modelV === 'gpt2') {
    const pre = h.metadata.get('tokenizer.ggml.pre') ?? 'default';
    if (typeof pre !== 'string' || !GPT2_PRE.has(pre)) {
      throw new LapeError(
        `GGUF pre-tokenizer ${JSON.stringify(pre)} is not supported yet (supported: ${[...GPT2_PRE].join(', ')}; others need their llama.cpp regex)`,
        h.path,
      );
    }
    const merges = strings(h, 'tokenizer.ggml.merges', true)!;
    const addBos = optBool(h, 'tokenizer.ggml.add_bos_token', false);
    const addEos = optBool(h, 'tokenizer.ggml.add_eos_token', false);
    const json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: postProcessor(tokens, bos, eos, addBos, addEos),
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
      },
    };
    return { json, config };
  }

  if (modelV === 'llama') {
    const scores = numbers(h, 'tokenizer.ggml.scores', n);
    if (!scores) throw new LapeError('missing GGUF metadata "tokenizer.ggml.scores" (a SentencePiece vocabulary needs them)', h.path);
    const addBos = optBool(h, 'tokenizer.ggml.add_bos_token', true);
    const addEos = optBool(h, 'tokenizer.ggml.add_eos_token', false);
    const addSpace = optBool(h, 'tokenizer.ggml.add_space_prefix', true);
    // Merges: every split of a normal piece into two pieces, ranked by the merged piece's score.
    const ranked: Array<[number, number, string, string]> = [];
    for (let i = 0; i < n; i++) {
      if (types[i] !== TYPE_NORMAL && types[i] !== TYPE_USER_DEFINED) continue;
      const piece = [...tokens[i]!];
      for (let s = 1; s < piece.length; s++) {
        const a = piece.slice(0, s).join('');
        const b = piece.slice(s).join('');
        const ia = vocab[a];
        const ib = vocab[b];
        if (ia === undefined || ib === undefined) continue;
        ranked.push([scores[i]!, i, a, b]);
      }
    }
    ranked.sort((x, y) => y[0] - x[0] || x[1] - y[1]);
    const hasBytes = types.some((t) => t === TYPE_BYTE);
    const normalizers: unknown[] = [];
    if (addSpace) normalizers.push({ type: 'Prepend', prepend: '▁' });
    normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: '▁' });
    const decoders: unknown[] = [
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
      ...(hasBytes ? [{ type: 'ByteFallback' }] : []),
      { type: 'Fuse' },
      ...(addSpace ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
    ];
    const json = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: { type: 'Sequence', normalizers },
      pre_tokenizer: null,
      post_processor: postProcessor(tokens, bos, eos, addBos, addEos),
      decoder: { type: 'Sequence', decoders },
      model: {
        type: 'BPE', dropout: null, unk_token: unk === null ? null : tokens[unk], continuing_subword_prefix: null,
        end_of_word_suffix: null, fuse_unk: true, byte_fallback: hasBytes, ignore_merges: false, vocab,
        merges: ranked.map(([, , a, b]) => [a, b]),
      },
    };
    void TYPE_UNKNOWN;
    return { json, config };
  }
  throw new LapeError(`GGUF tokenizer model ${JSON.stringify(modelV)} is not supported (gpt2, llama)`, h.path);
}
