/** `recordLanguage`: one language (or one shard of it) recorded to the end into its statistics file. */
import type { Model } from '../runtime/model.js';
import type { LapeTokenizer } from '../tokenizer/tokenizer.js';
import type { LangStats } from '../stats/types.js';
import { LanguageRecorder, type RecordOptions } from './recorder.js';

export type { RecordOptions } from './recorder.js';

export interface RecordResult {
  stats: LangStats;
  resumedFromChunks: number;
  alreadyComplete: boolean;
  /** Tokens processed by this invocation (excluding resumed ones). */
  tokensThisRun: number;
  seconds: number;
}

export async function recordLanguage(model: Model, tokenizer: LapeTokenizer, opts: RecordOptions): Promise<RecordResult> {
  const started = Date.now();
  const r = await LanguageRecorder.open(model, tokenizer, opts);
  if (r.complete) return { stats: r.complete, resumedFromChunks: Number(r.complete.meta.chunks), alreadyComplete: true, tokensThisRun: 0, seconds: 0 };
  opts.onProgress?.(r.tokens);
  await r.advanceTo();
  const stats = r.finish();
  return { stats, resumedFromChunks: r.resumedFromChunks, alreadyComplete: false, tokensThisRun: r.tokensThisRun, seconds: (Date.now() - started) / 1000 };
}
