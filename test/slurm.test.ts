/**
 * lape slurm against a real Slurm (Debian's slurm-wlm: munged + slurmctld + slurmd on localhost,
 * test/helpers/slurm-cluster.ts): the job arrays of the embedded model for all seven languages and
 * their merge jobs run to the end; the merged statistics equal unsharded runs; one array task is
 * requeued (killed) mid-run after its resume state was written, and its shard still comes out
 * byte-identical to an uninterrupted run of that shard.
 *
 * Skipped, saying so, only where the Slurm/munge programs are absent; in CI (CI=true) their absence
 * is a failure (.ci/run installs them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadStats } from '../src/stats/stats-file.js';
import { recordLanguage } from '../src/recording/record-language.js';
import { loadModel } from '../src/runtime/model.js';
import { loadTokenizer } from '../src/tokenizer/tokenizer.js';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';
import { findSlurmPrograms, startSlurmCluster, type SlurmCluster } from './helpers/slurm-cluster.js';

const MODEL = repoPath('models/tiny-multilingual');
const CORPUS = repoPath('data/corpus');
const LANGS = ['en', 'zh', 'fr', 'es', 'vi', 'id', 'ja'];
const SHARDS = 2;
const SEQ = 256;
const TOKENS = 16384; // per language: 64 chunks, 32 per shard, one chunk per batch (resume state every 8)
const VICTIM = { lang: 'fr', task: 1 };

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const programs = findSlurmPrograms();
const skip = programs ? false : inCi ? false : 'slurm-wlm and munge are not installed (apt-get install slurm-wlm munge; .ci/run does)';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('lape slurm writes one requeue-able array per language, afterok merges, absolute paths; --submit without sbatch fails clearly', () => {
  const dir = tempDir('lape-slurm-gen-');
  const out = join(dir, 'out');
  const args = ['slurm', '--model', MODEL, '--langs', 'en,zh', '--corpus-dir', CORPUS, '--tokens', '4096', '--seq-len', '256', '--shards', '3',
    '--partition', 'cpu', '--time', '1-00:00:00', '--mem', '16G', '--max-running', '2', '--sbatch-option', 'qos=long', '--weights', 'int8', '--out', out];
  const r = runCli([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as { submitted: boolean; shardFiles: Record<string, string[]> };
  assert.equal(plan.submitted, false);
  assert.deepEqual(plan.shardFiles.zh, [0, 1, 2].map((i) => join(out, 'shards', 'zh', `zh.${i}-of-3.safetensors`)));
  const rec = readFileSync(join(out, 'slurm', 'record-zh.sbatch'), 'utf8');
  for (const line of ['#SBATCH --array=0-2%2', '#SBATCH --requeue', '#SBATCH --open-mode=append', '#SBATCH --partition=cpu', '#SBATCH --time=1-00:00:00',
    '#SBATCH --mem=16G', '#SBATCH --qos=long', '#SBATCH --cpus-per-task=4', `#SBATCH --output=${join(out, 'logs')}/%x_%A_%a.log`]) {
    assert.ok(rec.includes(`${line}\n`), `record-zh.sbatch has ${line}`);
  }
  assert.match(rec, /exec \S+ \S+ record --model \S+ --lang zh --corpus \S+zh\.train\.txt --tokens 4096 --seq-len 256 --shard "\$i\/3" --threads "\$\{SLURM_CPUS_PER_TASK:-1\}" --weights int8 --out \S+\/zh\."\$i"-of-3\.safetensors\n/);
  const merge = readFileSync(join(out, 'slurm', 'merge-zh.sbatch'), 'utf8');
  assert.ok(merge.includes(`merge ${plan.shardFiles.zh!.join(' ')} --out ${join(out, 'stats', 'zh.safetensors')}`));
  const submit = readFileSync(join(out, 'slurm', 'submit.sh'), 'utf8');
  assert.match(submit, /m=\$\(jobid --dependency=afterok:\$a --kill-on-invalid-dep=yes merge-en\.sbatch\)/);
  for (const d of ['logs', 'stats', 'shards/en', 'shards/zh']) assert.ok(existsSync(join(out, d)), `${d}/ exists before the jobs run (Slurm does not create log folders)`);
  // Bash accepts every script.
  for (const f of ['record-en.sbatch', 'merge-en.sbatch', 'submit.sh']) assert.equal(spawnSync('bash', ['-n', join(out, 'slurm', f)]).status, 0, f);

  const noSbatch = runCli([...args, '--submit'], { env: { PATH: '/nonexistent' } });
  assert.equal(noSbatch.code, 1);
  assert.match(noSbatch.stderr, /submitting failed \(sbatch: command not found.*\); the scripts are written: run \S+submit\.sh where sbatch works/);
  const bad = runCli(['slurm', '--model', MODEL, '--langs', 'en,xx', '--corpus-dir', CORPUS, '--shards', '2', '--out', out]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /no train text for language "xx"/);
  const few = runCli(['slurm', '--model', MODEL, '--langs', 'en', '--corpus-dir', CORPUS, '--shards', '8', '--tokens', '1024', '--seq-len', '256', '--out', out]);
  assert.equal(few.code, 2);
  assert.match(few.stderr, /makes 4 chunks of 256 tokens: fewer than --shards 8/);
});

test('lape slurm: job arrays + afterok merges on a real one-node Slurm; a requeued task resumes its shard', { skip, timeout: 240_000 }, async () => {
  assert.ok(programs, 'CI must have slurm-wlm and munge (.ci/run installs them)');
  const t0 = Date.now();
  const dir = tempDir('lape-slurm-');
  const cluster = await startSlurmCluster(join(dir, 'cluster'), { cpus: 2 });
  try {
    await runAndCheck(cluster, dir, t0);
  } finally {
    await cluster.stop();
  }
});

async function runAndCheck(cluster: SlurmCluster, dir: string, t0: number): Promise<void> {
  const tUp = Date.now();
  const out = join(dir, 'run');
  const gen = runCli([
    'slurm', '--model', MODEL, '--langs', LANGS.join(','), '--corpus-dir', CORPUS, '--tokens', String(TOKENS), '--seq-len', String(SEQ),
    '--batch-size', '1', '--shards', String(SHARDS), '--cpus-per-task', '1', '--merge-time', '5', '--out', out, '--submit', '--json',
  ], { env: { SLURM_CONF: cluster.env.SLURM_CONF! } });
  assert.equal(gen.code, 0, gen.stderr);
  const summary = JSON.parse(gen.stdout) as { jobs: Array<{ lang: string; array: string; merge: string }>; stats: Record<string, string> };
  assert.equal(summary.jobs.length, LANGS.length);
  for (const l of LANGS) assert.ok(existsSync(join(out, 'slurm', `record-${l}.sbatch`)) && existsSync(join(out, 'slurm', `merge-${l}.sbatch`)));
  const victimJob = `${summary.jobs.find((j) => j.lang === VICTIM.lang)!.array}_${VICTIM.task}`;
  const victimShard = join(out, 'shards', VICTIM.lang, `${VICTIM.lang}.${VICTIM.task}-of-${SHARDS}.safetensors`);
  const victimLog = (): string => {
    const p = join(out, 'logs', `record-${VICTIM.lang}_${victimJob}.log`);
    return existsSync(p) ? readFileSync(p, 'utf8') : '';
  };

  // Preempt the victim task once its resume state exists: stop it at once (so it cannot finish
  // meanwhile), then requeue it — Slurm kills it and queues it again — and make it eligible now
  // (a requeued job otherwise waits about two minutes).
  let pid: number | undefined;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline && !existsSync(`${victimShard}.partial`)) {
    if (pid === undefined && victimLog().includes('lape slurm: record')) {
      const id = cluster.cmd('squeue', ['-h', '-j', victimJob, '-o', '%A']).trim();
      const pids = cluster.cmd('scontrol', ['listpids', id]).trim().split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]));
      pid = pids.find((p) => Number.isInteger(p) && p > 0);
    }
    await sleep(pid === undefined ? 20 : 2);
  }
  assert.ok(existsSync(`${victimShard}.partial`), `resume state of ${victimJob} appeared\n${cluster.logs()}`);
  if (pid !== undefined) process.kill(pid, 'SIGSTOP');
  assert.ok(!existsSync(victimShard), `${victimJob} was still running when its resume state appeared`);
  cluster.cmd('scontrol', ['requeue', victimJob]);
  const tKill = Date.now();
  await sleep(500);
  cluster.cmd('scontrol', ['update', `JobId=${victimJob}`, 'StartTime=now']);

  // Bounded wait: every merge job done (all merged files present and the queue empty).
  const merged = LANGS.map((l) => summary.stats[l]!);
  while (Date.now() < deadline + 60_000) {
    const queue = cluster.cmd('squeue', ['-h', '-o', '%i %T %r']).trim();
    if (queue === '' && merged.every((f) => existsSync(f))) break;
    if (/DependencyNeverSatisfied|FAILED/.test(queue)) break;
    await sleep(500);
  }
  const tDone = Date.now();
  const missing = merged.filter((f) => !existsSync(f));
  assert.deepEqual(missing, [], `merged statistics missing\nqueue: ${cluster.cmd('squeue', ['-h'])}\nvictim log:\n${victimLog()}\n${cluster.logs()}`);

  // The victim's log (appended across the requeue): one run cancelled by the requeue, one resumed.
  const log = victimLog();
  assert.match(log, /DUE TO JOB REQUEUE/, log);
  assert.match(log, /restart 1/, log);
  const resumed = /resumed after (\d+) chunks/.exec(log);
  assert.ok(resumed && Number(resumed[1]) >= 8, `the requeued task resumed its shard\n${log}`);

  // The requeued shard equals an uninterrupted run of the same shard, byte for byte.
  const clean = join(dir, 'clean.safetensors');
  const r = runCli(['record', '--model', MODEL, '--lang', VICTIM.lang, '--corpus', join(CORPUS, `${VICTIM.lang}.train.txt`), '--tokens', String(TOKENS),
    '--seq-len', String(SEQ), '--batch-size', '1', '--shard', `${VICTIM.task}/${SHARDS}`, '--threads', '1', '--quiet', '--out', clean]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(readFileSync(clean).equals(readFileSync(victimShard)), 'the requeued shard is byte-identical to an uninterrupted one');

  // Merged = unsharded, per language: same tokens; counts equal up to borderline tokens; sums to float64 rounding.
  const model = loadModel(MODEL, { threads: 1 });
  const tokenizer = loadTokenizer(MODEL);
  const neurons = model.spec.numLayers * model.spec.intermediateSize;
  let countDiffs = 0;
  let maxRel = 0;
  try {
    for (const l of LANGS) {
      const ref = await recordLanguage(model, tokenizer, { lang: l, files: [join(CORPUS, `${l}.train.txt`)], seqLen: SEQ, maxTokens: TOKENS, batchSize: 1, out: join(dir, `ref-${l}.safetensors`) });
      const m = loadStats(summary.stats[l]!);
      assert.equal(m.tokens, ref.stats.tokens, l);
      assert.equal(m.meta.shard, `merged:${Array.from({ length: SHARDS }, (_, i) => `${i}/${SHARDS}`).join(',')}`);
      for (let k = 0; k < m.count.length; k++) {
        const d = Math.abs(m.count[k]! - ref.stats.count[k]!);
        if (d > 0) countDiffs++;
        assert.ok(d <= 2, `${l} neuron ${k}: count ${m.count[k]} vs ${ref.stats.count[k]} unsharded`);
        const scale = Math.max(1, Math.abs(ref.stats.sum[k]!));
        maxRel = Math.max(maxRel, Math.abs(m.sum[k]! - ref.stats.sum[k]!) / scale, Math.abs(m.sumSq[k]! - ref.stats.sumSq[k]!) / Math.max(1, ref.stats.sumSq[k]!));
      }
    }
  } finally {
    await model.release();
  }
  assert.ok(countDiffs <= 0.001 * LANGS.length * neurons, `${countDiffs} neuron counts differ from the unsharded runs`);
  assert.ok(maxRel < 1e-9, `sums differ by ${maxRel} (relative)`);
  // Per-task throughput, from the tasks' own log lines (for bench/README.md).
  const rates = readdirSync(join(out, 'logs')).filter((f) => f.startsWith('record-')).flatMap((f) =>
    [...readFileSync(join(out, 'logs', f), 'utf8').matchAll(/\((\d+) tokens\/s\)/g)].map((m) => Number(m[1]))).sort((a, b) => a - b);
  console.log(`slurm test: per-task recording ${rates[0]}–${rates[rates.length - 1]} tokens/s (median ${rates[Math.floor(rates.length / 2)]}, ${rates.length} task runs)`);
  console.log(`slurm test: cluster up ${((tUp - t0) / 1000).toFixed(1)} s; ${LANGS.length} arrays × ${SHARDS} tasks + merges done ${((tDone - tUp) / 1000).toFixed(1)} s after submit ` +
    `(requeue at ${((tKill - tUp) / 1000).toFixed(1)} s, resumed after ${resumed![1]} chunks); ${countDiffs} count differences, max relative sum difference ${maxRel.toExponential(1)}; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
