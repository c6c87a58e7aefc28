/**
 * lape slurm: the Slurm scripts that record every language as a job array (one task per shard,
 * `lape record --shard i/n`) and merge each language's shards after its array succeeded
 * (`lape merge`, dependency afterok) — written into one folder, and submitted with --submit.
 *
 * Layout of --out DIR (all paths in the scripts are absolute, for a filesystem shared by the nodes):
 *   slurm/record-LANG.sbatch   the array: task i runs `lape record --shard i/n` (requeue-able)
 *   slurm/merge-LANG.sbatch    `lape merge` of the n shards into stats/LANG.safetensors
 *   slurm/submit.sh            submits each array, then its merge with afterok; writes slurm/jobs.tsv
 *   logs/                      record-LANG_ARRAYJOB_TASK.log, merge-LANG_JOB.log (appended across requeues)
 *   shards/LANG/LANG.i-of-n.safetensors (+ .partial while a task runs: its resume state)
 *   stats/LANG.safetensors     the merged statistics (lape identify --stats DIR/stats)
 *
 * Preemption: the arrays are submitted requeue-able; a requeued task runs the same command,
 * which resumes its shard from the .partial file (lape record's resume: byte-identical result),
 * or returns at once when the shard is complete.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LapeError, usageError } from '../../errors.js';
import { checkLangCode } from '../../stats/lang-code.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import type { Command } from '../command.js';
import { LANGS, SEQ_LEN } from '../groups/common.js';
import { MODEL_DIR, MODEL_GROUP, THREADS, forwardArgs } from '../groups/model.js';
import { FORCE, outDir } from '../groups/output.js';
import { group, opt, requiredOption, variant } from '../options/option.js';
import { BLOCKS, CORPUS_DIR, RECORD_BATCH, RECORD_BOS, SPLIT, TOKENS, corpusFileFor } from '../groups/recording.js';

const CLI_MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

/** Shell-quotes one word. */
export function shq(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

const SLURM_LANGS = variant(requiredOption(LANGS), { help: 'languages: one job array (and one merge job) each' });
const SHARDS = opt.int('shards', { required: true, help: 'shards per language = tasks per job array (lape record --shard i/n)' });
const SLURM_TOKENS = variant(TOKENS, { help: 'tokens per language (before sharding): each shard records about N/shards' });
const SLURM_THREADS = variant(THREADS, { help: 'ONNX Runtime threads per task', defaultText: 'the task\'s CPUs (SLURM_CPUS_PER_TASK)' });

const PARTITION = opt.string('partition', { metavar: 'NAME', help: 'Slurm partition', defaultText: "the cluster's default" });
const ACCOUNT = opt.string('account', { metavar: 'NAME', help: 'Slurm account', defaultText: "the cluster's default" });
const TIME_RE = /^\d+(?:-\d+)?(?::\d+){0,2}$/;
const checkTime = (t: string): string | null => (TIME_RE.test(t) ? null : 'must be a Slurm time limit: MINUTES, HH:MM:SS or DAYS-HH:MM:SS');
const TIME = opt.string('time', { metavar: 'LIMIT', help: 'time limit of each record task (HH:MM:SS, DAYS-HH:MM:SS)', defaultText: "the partition's", check: checkTime });
const MERGE_TIME = opt.string('merge-time', { metavar: 'LIMIT', default: '00:15:00', help: 'time limit of each merge job', check: checkTime });
const CPUS = opt.int('cpus-per-task', { default: 4, help: 'CPUs per record task (the ONNX Runtime threads, unless --threads is given)' });
const MEM = opt.string('mem', { metavar: 'SIZE', help: 'memory per record task (e.g. 32G)', defaultText: "the partition's", check: (m) => (/^\d+[KMGT]?$/.test(m) ? null : 'must be a size like 32G or 16000M') });
const MAX_RUNNING = opt.int('max-running', { help: 'at most N tasks of one array at once', defaultText: 'no limit' });
const SBATCH_OPTION = opt.list('sbatch-option', {
  metavar: 'KEY=VALUE',
  commas: false,
  help: 'another #SBATCH line for every job, without its dashes: qos=long, constraint=avx512, gres=gpu:1 (repeatable)',
  item: (raw: string) => {
    if (!/^[a-z][a-z-]*(=.+)?$/.test(raw)) throw new LapeError(`--sbatch-option "${raw}" must be KEY or KEY=VALUE (an sbatch option without its dashes)`, undefined, 2);
    return raw;
  },
});
const LAPE_CMD = opt.string('lape', {
  metavar: 'CMD',
  help: 'how the compute nodes start lape (shell words, e.g. "npx lape" or a module load line and lape)',
  defaultText: "this node's node and lape, by absolute path",
});
const SUBMIT = opt.bool('submit', { help: 'submit the jobs now (runs slurm/submit.sh; needs sbatch on PATH)' });
// The guard knows the results (merged and shard statistics); the scripts and logs in slurm/ and
// logs/ are this command's own and are rewritten by each run.
const SLURM_OUT = outDir(
  [
    { name: 'stats', format: 'lape-stats', dir: true },
    { name: 'shards', format: 'lape-stats', dir: true },
  ],
  './lape-slurm',
);

export interface SlurmPlan {
  out: string;
  langs: string[];
  shards: number;
  scripts: { record: Record<string, string>; merge: Record<string, string>; submit: string };
  shardFiles: Record<string, string[]>;
  stats: Record<string, string>;
  logs: string;
}

interface Job {
  lang: string;
  array: string;
  merge: string;
}

export const slurmCommand: Command = {
  name: 'slurm',
  summary: 'Write (and with --submit, submit) Slurm job arrays that record every language in shards, and their merge jobs',
  options: [
    group('Recording', SLURM_LANGS, CORPUS_DIR, SPLIT, SLURM_TOKENS, SEQ_LEN, RECORD_BATCH, RECORD_BOS, BLOCKS, SHARDS),
    group('Model', MODEL_DIR, SLURM_THREADS, ...MODEL_GROUP.options.filter((o) => o.name !== MODEL_DIR.name && o.name !== THREADS.name)),
    group('Slurm', PARTITION, ACCOUNT, TIME, MERGE_TIME, CPUS, MEM, MAX_RUNNING, SBATCH_OPTION, LAPE_CMD, SUBMIT),
    group('Output', SLURM_OUT, FORCE),
  ],
  notes: [
    'Per language: a job array whose task i runs lape record --shard i/n into DIR/shards/LANG/, and a merge job',
    'that waits for the whole array to succeed (afterok) and writes DIR/stats/LANG.safetensors. Logs: DIR/logs/.',
    'The arrays are requeue-able: a preempted or requeued task resumes its shard from LANG.i-of-n.safetensors.partial.',
    'To rerun shards that failed (e.g. hit the time limit): sbatch with the array indices to rerun and',
    'slurm/record-LANG.sbatch, then sbatch slurm/merge-LANG.sbatch; completed shards return at once.',
    'The folder must be on a filesystem every node sees (paths in the scripts are absolute).',
  ],
  examples: [
    'lape slurm --model ~/models/Llama-2-7b-hf --langs en,zh,fr,es,vi,id,ja --corpus-dir corpus --tokens 100000000 --shards 64 --time 12:00:00 --partition cpu --out /scratch/lape-7b --submit',
    'lape slurm --model models/tiny-multilingual --langs en,fr --corpus-dir data/corpus --tokens 65536 --shards 4 --seq-len 256 --cpus-per-task 1 --out lape-slurm',
  ],
  async run(ctx) {
    const langs = ctx.get(SLURM_LANGS);
    for (const l of langs) checkLangCode(l);
    if (new Set(langs).size !== langs.length) throw usageError('--langs names a language twice');
    const shards = ctx.get(SHARDS);
    const out = resolve(ctx.get(SLURM_OUT));
    const model = resolve(ctx.get(MODEL_DIR));
    if (!existsSync(model)) throw new LapeError('no such checkpoint folder or file', model);
    const corpusDir = resolve(ctx.get(CORPUS_DIR));
    const split = ctx.get(SPLIT);
    const corpus = new Map(langs.map((l) => [l, corpusFileFor(corpusDir, l, split)]));
    const tokens = ctx.get(SLURM_TOKENS);
    const seqLen = ctx.get(SEQ_LEN);
    if (tokens !== undefined && seqLen !== undefined && Math.floor(tokens / seqLen) < shards) {
      throw usageError(`--tokens ${tokens} makes ${Math.floor(tokens / seqLen)} chunks of ${seqLen} tokens: fewer than --shards ${shards}`);
    }
    const lape = ctx.get(LAPE_CMD) ?? `${shq(process.execPath)} ${shq(CLI_MAIN)}`;
    const cpus = ctx.get(CPUS);
    const threadsArg = ctx.given(SLURM_THREADS) ? String(ctx.get(SLURM_THREADS)) : '"${SLURM_CPUS_PER_TASK:-1}"';
    const modelArgs = forwardArgs(ctx, MODEL_GROUP.options.filter((o) => o.name !== MODEL_DIR.name && o.name !== THREADS.name));
    const recordArgs = [
      ...(tokens === undefined ? [] : ['--tokens', String(tokens)]),
      ...(seqLen === undefined ? [] : ['--seq-len', String(seqLen)]),
      ...forwardArgs(ctx, [RECORD_BATCH, RECORD_BOS, BLOCKS]),
    ];

    const dirs = { slurm: join(out, 'slurm'), logs: join(out, 'logs'), shards: join(out, 'shards'), stats: join(out, 'stats') };
    // Slurm does not create the folders of --output: make them all now.
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    for (const l of langs) mkdirSync(join(dirs.shards, l), { recursive: true });

    const common = (): string[] => {
      const lines: string[] = [];
      const p = ctx.get(PARTITION);
      const a = ctx.get(ACCOUNT);
      if (p) lines.push(`#SBATCH --partition=${p}`);
      if (a) lines.push(`#SBATCH --account=${a}`);
      for (const o of ctx.get(SBATCH_OPTION)) lines.push(`#SBATCH --${o}`);
      return lines;
    };
    const maxRunning = ctx.get(MAX_RUNNING);
    const time = ctx.get(TIME);
    const mem = ctx.get(MEM);
    const plan: SlurmPlan = { out, langs, shards, scripts: { record: {}, merge: {}, submit: join(dirs.slurm, 'submit.sh') }, shardFiles: {}, stats: {}, logs: dirs.logs };
    const shardFile = (l: string, i: string | number): string => join(dirs.shards, l, `${l}.${i}-of-${shards}.safetensors`);
    for (const l of langs) {
      const recordScript = join(dirs.slurm, `record-${l}.sbatch`);
      const mergeScript = join(dirs.slurm, `merge-${l}.sbatch`);
      plan.scripts.record[l] = recordScript;
      plan.scripts.merge[l] = mergeScript;
      plan.shardFiles[l] = Array.from({ length: shards }, (_, i) => shardFile(l, i));
      plan.stats[l] = join(dirs.stats, `${l}.safetensors`);
      const record = [
        '#!/bin/bash',
        `#SBATCH --job-name=record-${l}`,
        `#SBATCH --array=0-${shards - 1}${maxRunning === undefined ? '' : `%${maxRunning}`}`,
        `#SBATCH --output=${join(dirs.logs, '%x_%A_%a.log')}`,
        '#SBATCH --open-mode=append',
        '#SBATCH --requeue',
        '#SBATCH --nodes=1',
        '#SBATCH --ntasks=1',
        `#SBATCH --cpus-per-task=${cpus}`,
        ...(time ? [`#SBATCH --time=${time}`] : []),
        ...(mem ? [`#SBATCH --mem=${mem}`] : []),
        ...common(),
        `# Written by lape slurm: language ${l}, task i records shard i of ${shards}.`,
        '# A requeued task (preemption, node failure, scontrol requeue) runs this again and resumes its',
        '# shard from the .partial file beside it; a complete shard returns at once.',
        'set -euo pipefail',
        'i=${SLURM_ARRAY_TASK_ID:?run this with sbatch (it is a job array)}',
        `echo "lape slurm: record ${l} shard $i/${shards} on $(hostname), job \${SLURM_ARRAY_JOB_ID:-?}_$i, restart \${SLURM_RESTART_COUNT:-0}, $(date -Is)"`,
        ['exec', lape, 'record', '--model', shq(model), '--lang', l, '--corpus', shq(corpus.get(l)!), ...recordArgs.map(shq),
          '--shard', `"$i/${shards}"`, '--threads', threadsArg, ...modelArgs.map(shq),
          '--out', `${shq(join(dirs.shards, l))}/${l}."$i"-of-${shards}.safetensors`].join(' '),
        '',
      ].join('\n');
      const merge = [
        '#!/bin/bash',
        `#SBATCH --job-name=merge-${l}`,
        `#SBATCH --output=${join(dirs.logs, '%x_%j.log')}`,
        '#SBATCH --open-mode=append',
        '#SBATCH --requeue',
        '#SBATCH --nodes=1',
        '#SBATCH --ntasks=1',
        '#SBATCH --cpus-per-task=1',
        `#SBATCH --time=${ctx.get(MERGE_TIME)}`,
        ...common(),
        `# Written by lape slurm: sums the ${shards} shards of ${l} (submitted after the record array succeeded).`,
        'set -euo pipefail',
        `echo "lape slurm: merge ${l} on $(hostname), job \${SLURM_JOB_ID:-?}, $(date -Is)"`,
        `exec ${lape} merge ${plan.shardFiles[l].map(shq).join(' ')} --out ${shq(plan.stats[l])}`,
        '',
      ].join('\n');
      writeFileAtomic(recordScript, record);
      writeFileAtomic(mergeScript, merge);
    }
    const submit = [
      '#!/bin/bash',
      '# Written by lape slurm: submits each language\'s record array, then its merge job with',
      '# dependency afterok on the whole array. Job ids go to jobs.tsv (language, array, merge).',
      'set -euo pipefail',
      `cd ${shq(dirs.slurm)}`,
      '# sbatch --parsable prints JOBID or JOBID;CLUSTER',
      'command -v sbatch >/dev/null || { echo "sbatch: command not found (run this where Slurm\'s commands are)" >&2; exit 1; }',
      'jobid() { local r; r=$(sbatch --parsable "$@") || return 1; echo "${r%%;*}"; }',
      ': > jobs.tsv.tmp',
      ...langs.flatMap((l) => [
        `a=$(jobid record-${l}.sbatch)`,
        `m=$(jobid --dependency=afterok:$a --kill-on-invalid-dep=yes merge-${l}.sbatch)`,
        `printf '%s\\t%s\\t%s\\n' ${l} "$a" "$m" >> jobs.tsv.tmp`,
        `echo "${l}: record array $a (${shards} tasks), merge $m"`,
      ]),
      'mv jobs.tsv.tmp jobs.tsv',
      '',
    ].join('\n');
    writeFileAtomic(plan.scripts.submit, submit);

    ctx.log(`wrote ${langs.length} job arrays of ${shards} tasks and ${langs.length} merge jobs: ${dirs.slurm}/`);
    ctx.log(`compute nodes run lape as: ${lape}`);
    let jobs: Job[] | undefined;
    if (ctx.get(SUBMIT)) {
      const r = spawnSync(existsSync('/bin/bash') ? '/bin/bash' : 'bash', [plan.scripts.submit], { encoding: 'utf8' });
      if (r.error || r.status !== 0) {
        const why = r.error ? String(r.error.message) : (r.stderr || r.stdout).trim();
        throw new LapeError(`submitting failed (${why}); the scripts are written: run ${plan.scripts.submit} where sbatch works`);
      }
      jobs = readFileSync(join(dirs.slurm, 'jobs.tsv'), 'utf8').trim().split('\n').map((line) => {
        const [lang, array, merge] = line.split('\t');
        return { lang: lang!, array: array!, merge: merge! };
      });
      for (const j of jobs) ctx.log(`${j.lang}: record array ${j.array}, merge ${j.merge}`);
      ctx.log(`logs: ${dirs.logs}/; merged statistics: ${dirs.stats}/LANG.safetensors`);
    } else {
      ctx.log(`submit with: bash ${shq(plan.scripts.submit)}`);
    }
    return { ...plan, lape, submitted: jobs !== undefined, ...(jobs ? { jobs } : {}) };
  },
};
