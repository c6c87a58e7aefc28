/**
 * For the lape serve tests: steering inputs that fit the embedded model (statistics recorded on a
 * few languages' train split, LAPE masks of them), and `lape serve` started as a user starts it —
 * the built CLI in a child process on a free loopback port — with its URL read from the line it
 * prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadModel } from '../../src/runtime/model.js';
import { saveMasks } from '../../src/select/masks-io.js';
import { selectLape } from '../../src/select/lape.js';
import { recordLanguage } from '../../src/recording/record-language.js';
import type { LangStats } from '../../src/stats/types.js';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.js';
import { repoPath } from './paths.js';

export const MODEL = repoPath('models/tiny-multilingual');

/** Records en, zh, fr (2k train tokens each) and selects LAPE's 5 % → DIR/masks.json, DIR/stats/. */
export async function steeringInputs(dir: string): Promise<{ masks: string; stats: string }> {
  const model = loadModel(MODEL, { threads: 1 });
  try {
    const tokenizer = loadTokenizer(MODEL);
    const stats: LangStats[] = [];
    for (const lang of ['en', 'zh', 'fr']) {
      const r = await recordLanguage(model, tokenizer, {
        lang,
        files: [repoPath(`data/corpus/${lang}.train.txt`)],
        seqLen: 256,
        maxTokens: 8 * 256,
        batchSize: 8,
        out: join(dir, 'stats', `${lang}.safetensors`),
      });
      stats.push(r.stats);
    }
    saveMasks(join(dir, 'masks.json'), selectLape(stats, { topRate: 0.05 }));
  } finally {
    await model.release();
  }
  return { masks: join(dir, 'masks.json'), stats: join(dir, 'stats') };
}

export interface Served {
  url: string;
  proc: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `lape serve ARGS --port 0` (or `lape explore` when args[0] is "explore"). */
export function startServe(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const argv = args[0] === 'explore' ? args : ['serve', ...args];
  const threads = argv.includes('--model') ? ['--threads', '1'] : [];
  const proc = spawn(process.execPath, [repoPath('dist/src/cli/main.js'), ...argv, '--port', '0', ...threads], {
    cwd: repoPath('.'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`lape serve did not start in 60 s:\n${err}`)), 60_000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[\w.:[\]-]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1]!,
          proc,
          stderr: () => err,
          exited,
          stop: () => {
            proc.kill('SIGTERM');
            return exited;
          },
        });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`lape serve exited with ${code} before listening:\n${err}`));
    });
  });
}
