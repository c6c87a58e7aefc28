/**
 * Bounded fuzzing of every parser of untrusted files: safetensors headers (through statistics and
 * masks), masks JSON, the paper's .pth (ZIP + pickle), tokenizer.json, config.json, GGUF. Each
 * case is a seeded mutation (test/helpers/mutate.ts) and must end in success or a LapeError —
 * never another exception — within a per-case time bound. CASES per parser, seeded: reruns are identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError } from '../src/errors.js';
import { openCheckpoint } from '../src/checkpoint/checkpoint.js';
import { loadStats } from '../src/stats/stats-file.js';
import { loadMasks, saveMasks } from '../src/select/masks-io.js';
import { importTangMasksFromBytes } from '../src/select/tang-import.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { lapeSelection } from '../src/select/lape.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';
import { syntheticStats, writeStats } from './helpers/fixtures-io.js';
import { mutateBytes, mutateJson, prng } from './helpers/mutate.js';

const CASES = Number(process.env.LAPE_FUZZ_CASES ?? 200);
const CASE_MS = 3000;
const dir = tempDir();

interface Target {
  name: string;
  /** Bytes of a valid input, and how many leading bytes are "header" (mutated more often). */
  seed: Buffer;
  hot?: number;
  /** JSON inputs also get structured mutations. */
  json?: boolean;
  parse(bytes: Buffer, i: number): void;
}

const statsSeed = readFileSync(writeStats(join(dir, 'seed.stats.safetensors'), syntheticStats('en', {}, 2, 16, 256)));
const sel = lapeSelection([syntheticStats('en', {}, 2, 16, 256), syntheticStats('fr', {}, 2, 16, 256, 2)], { topRate: 0.2 }).result;
saveMasks(join(dir, 'seed.masks.json'), sel, 'json');
saveMasks(join(dir, 'seed.masks.safetensors'), sel, 'safetensors');
/** A small Llama checkpoint (400 KB of weights) whose files are mutated. */
const SMALL = repoPath('test/fixtures/llama-gqa');
const header = (b: Buffer): number => 8 + Number(b.readBigUInt64LE(0));

/** A checkpoint folder whose one file is replaced per case (the others are links to the tiny model). */
function caseModel(i: number, file: string, bytes: Buffer, from = SMALL): string {
  const m = join(dir, `m${file.replace(/\W/g, '')}${i < 0 ? 'seed' : i}`);
  mkdirSync(m);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
    if (f !== file) symlinkSync(join(from, f), join(m, f));
  }
  writeFileSync(join(m, file), bytes);
  return m;
}

const write = (name: string, bytes: Buffer): string => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

const TARGETS: Target[] = [
  { name: 'statistics (safetensors header + values)', seed: statsSeed, hot: header(statsSeed), parse: (b) => void loadStats(write('case.stats.safetensors', b)) },
  {
    name: 'masks .safetensors',
    seed: readFileSync(join(dir, 'seed.masks.safetensors')),
    hot: header(readFileSync(join(dir, 'seed.masks.safetensors'))),
    parse: (b) => void loadMasks(write('case.masks.safetensors', b)),
  },
  { name: 'masks JSON', seed: readFileSync(join(dir, 'seed.masks.json')), json: true, parse: (b) => void loadMasks(write('case.masks.json', b)) },
  { name: ".pth (ZIP + pickle)", seed: readFileSync(repoPath('test/fixtures/tang2024/Phi-2-2.7B.neuron.pth')), parse: (b) => void importTangMasksFromBytes(b, 'case.pth') },
  {
    name: 'tokenizer.json',
    seed: readFileSync(join(SMALL, 'tokenizer.json')),
    json: true,
    parse: (b, i) => {
      const t = loadTokenizer(caseModel(i, 'tokenizer.json', b));
      t.decode(t.encode('The menu bar, 菜单栏, la barre de menus.'));
    },
  },
  { name: 'config.json', seed: readFileSync(join(SMALL, 'config.json')), json: true, parse: (b, i) => void openCheckpoint(caseModel(i, 'config.json', b)) },
  {
    name: 'model.safetensors header',
    seed: readFileSync(join(SMALL, 'model.safetensors')),
    hot: header(readFileSync(join(SMALL, 'model.safetensors'))),
    parse: (b, i) => void openCheckpoint(caseModel(i, 'model.safetensors', b)),
  },
  {
    name: 'GGUF (header, metadata, tokenizer)',
    seed: readFileSync(repoPath('test/fixtures/gguf/llama-gqa.f16.gguf')),
    hot: 16384,
    parse: (b, i) => {
      const p = write(`case${i}.gguf`, b);
      openCheckpoint(p);
      loadTokenizer(p);
    },
  },
];

for (const [t, target] of TARGETS.entries()) {
  test(`fuzz ${target.name}: ${CASES} mutated inputs, LapeError or success, each under ${CASE_MS} ms`, (ctx) => {
    const rnd = prng(1000 + t);
    const seedJson = target.json ? (JSON.parse(target.seed.toString('utf8')) as unknown) : null;
    target.parse(target.seed, -1); // the unmutated input is valid: the cases test the parser, not a broken setup
    let ok = 0;
    let refused = 0;
    let slowest = 0;
    for (let i = 0; i < CASES; i++) {
      const bytes = seedJson !== null && rnd() < 0.5 ? Buffer.from(JSON.stringify(mutateJson(seedJson, rnd))) : mutateBytes(target.seed, rnd, target.hot);
      const t0 = performance.now();
      try {
        target.parse(bytes, i);
        ok++;
      } catch (e) {
        if (!(e instanceof LapeError)) {
          const f = write(`crash-${t}-${i}.bin`, bytes);
          assert.fail(`case ${i}: ${(e as Error)?.stack ?? String(e)} (input kept in ${f})`);
        }
        assert.doesNotMatch(e.message, /\n\s+at /, 'no stack trace in the message');
        refused++;
      }
      const ms = performance.now() - t0;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < CASE_MS, `case ${i} took ${ms.toFixed(0)} ms`);
    }
    ctx.diagnostic(`${ok} accepted, ${refused} refused with LapeError, slowest ${slowest.toFixed(0)} ms`);
  });
}
