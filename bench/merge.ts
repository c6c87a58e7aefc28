/**
 * Benchmark (not a test): the cost of `lape merge` at a 7B model's shape — N shard files of
 * LLaMA-2-7B's 32 layers × 11,008 neurons (count, sum, sum² as f64: 8.5 MB each), merged by the CLI
 * as a Slurm merge job runs it (process start, read, sum, write).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/merge.js [--shards 64] [--layers 32] [--neurons 11008]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { saveStats } from '../src/stats/stats-file.js';

const { values: args } = parseArgs({ options: { shards: { type: 'string', default: '64' }, layers: { type: 'string', default: '32' }, neurons: { type: 'string', default: '11008' } } });
const n = Number(args.shards);
const L = Number(args.layers);
const I = Number(args.neurons);
const dir = mkdtempSync(join(tmpdir(), 'lape-merge-bench-'));
try {
  const files: string[] = [];
  for (let s = 0; s < n; s++) {
    const count = new Float64Array(L * I);
    const sum = new Float64Array(L * I);
    const sumSq = new Float64Array(L * I);
    for (let k = 0; k < L * I; k++) {
      count[k] = (k * 7 + s) % 1000;
      sum[k] = count[k]! * 0.01;
      sumSq[k] = count[k]! * 0.001;
    }
    const f = join(dir, `zh.${s}-of-${n}.safetensors`);
    saveStats(f, {
      lang: 'zh', layers: L, neurons: I, tokens: 1000 * 512, count, sum, sumSq,
      meta: { model_config_sha256: 'bench', tokenizer_sha256: 'bench', corpus_sha256: 'bench', seq_len: '512', bos: 'false', shard: `${s}/${n}`, chunks: '1000', max_tokens: 'all' },
    });
    files.push(f);
  }
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const out = join(dir, 'zh.safetensors');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [main, 'merge', ...files, '--out', out, '--quiet'], { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(r.stderr);
  const t1 = process.hrtime.bigint();
  spawnSync(process.execPath, ['-e', '0']);
  const nodeStart = Number(process.hrtime.bigint() - t1) / 1e9;
  const mb = statSync(files[0]!).size / 1e6;
  console.log(`merge of ${n} shards of ${L} × ${I} neurons (${mb.toFixed(1)} MB each, ${(mb * n).toFixed(0)} MB in all): ${seconds.toFixed(2)} s wall (node start alone ${nodeStart.toFixed(2)} s)`);
  console.log(`MERGE ${JSON.stringify({ shards: n, layers: L, neurons: I, mbPerShard: mb, seconds, nodeStart })}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
