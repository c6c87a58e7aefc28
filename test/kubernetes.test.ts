/**
 * examples/kubernetes: the Indexed Job (one pod per shard, JOB_COMPLETION_INDEX → --shard) and the
 * merge Job are valid against the Kubernetes schema (kubernetes-models' validate(): the JSON schemas
 * generated from the Kubernetes OpenAPI spec, devDependency), consistent (completions = N of
 * --shard = the merge's N), and their container commands, run here through /bin/sh for two indices
 * on the embedded model, give the statistics of an unsharded run.
 *
 * The validator is a devDependency that `npm ci` installs; without it (a node_modules from before
 * it was added) the schema test is skipped, saying so, except in CI (CI=true), where it fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { loadStats } from '../src/stats/stats-file.js';
import { repoPath } from './helpers/paths.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
type Doc = { kind: string; metadata: { name: string }; spec: Record<string, any> };
const moduleName = (n: string): string => n; // a variable specifier: tsc does not need the packages' types
type Yaml = { parseAllDocuments(s: string): Array<{ toJSON(): unknown; errors: unknown[] }> };
type JobClass = new (d: unknown) => { validate(): void };
async function loadDeps(): Promise<{ yaml: Yaml | null; Job: JobClass | null; missing: string }> {
  try {
    const yaml = (await import(moduleName('yaml'))) as Yaml;
    try {
      const Job = ((await import(moduleName('kubernetes-models/batch/v1/Job'))) as { Job: JobClass }).Job;
      return { yaml, Job, missing: '' };
    } catch (e) {
      return { yaml, Job: null, missing: String((e as Error).message).split('\n')[0]! };
    }
  } catch (e) {
    return { yaml: null, Job: null, missing: String((e as Error).message).split('\n')[0]! };
  }
}
const { yaml, Job: JobModel, missing } = await loadDeps();

function load(file: string): Doc[] {
  const text = readFileSync(repoPath(`examples/kubernetes/${file}`), 'utf8');
  if (!yaml) throw new Error('yaml is not installed');
  return yaml.parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], file);
    return d.toJSON() as Doc;
  });
}

const skipSchema = JobModel ? false : inCi ? false : `the validator is not installed (${missing}); npm ci installs it`;

test('the Kubernetes manifests are valid Jobs (kubernetes-models schema) and consistent', { skip: skipSchema }, () => {
  assert.ok(JobModel && yaml, `CI must have the devDependencies kubernetes-models and yaml: ${missing}`);
  const [record] = load('record-job.yaml');
  const [merge] = load('merge-job.yaml');
  for (const doc of [record!, merge!]) {
    assert.equal(doc.kind, 'Job');
    new JobModel(doc).validate(); // throws with the schema's complaint
  }
  // The validator does reject what Kubernetes would: a misspelt mode, a string for an integer.
  const bad = structuredClone(record!);
  bad.spec.completionMode = 'Indexd';
  assert.throws(() => new JobModel(bad).validate());
  const bad2 = structuredClone(record!);
  bad2.spec.completions = 'sixty-four';
  assert.throws(() => new JobModel(bad2).validate());

  const spec = record!.spec;
  assert.equal(spec.completionMode, 'Indexed');
  const n = spec.completions as number;
  const c = spec.template.spec.containers[0];
  const cmd = c.args[0] as string;
  assert.ok(cmd.includes(`--shard "\${JOB_COMPLETION_INDEX}/${n}"`), cmd);
  assert.ok(cmd.includes(`.\${JOB_COMPLETION_INDEX}-of-${n}.safetensors`), cmd);
  assert.equal(spec.template.spec.restartPolicy, 'Never');
  assert.deepEqual(spec.podFailurePolicy.rules[0], { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] });
  assert.ok((merge!.spec.template.spec.containers[0].args[0] as string).includes(`n=${n};`));
});

test('the manifests\' commands, run for two indices on the embedded model, merge to the unsharded statistics', { skip: yaml ? false : inCi ? false : `yaml is not installed (${missing})` }, () => {
  assert.ok(yaml, 'CI must have the devDependency yaml');
  const dir = tempDir('lape-k8s-');
  // /data as the pods see it: the checkpoint and corpus where the manifest expects them.
  const data = join(dir, 'data');
  mkdirSync(join(data, 'models'), { recursive: true });
  symlinkSync(repoPath('models/tiny-multilingual'), join(data, 'models', 'Llama-2-7b-hf'));
  symlinkSync(repoPath('data/corpus'), join(data, 'corpus'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'lape'), `#!/bin/sh\nexec '${process.execPath}' '${repoPath('dist/src/cli/main.js')}' "$@"\n`);
  chmodSync(join(bin, 'lape'), 0o755);
  const N = 2;
  const here = (cmd: string): string =>
    cmd.replaceAll('/data/', `${data}/`).replace('--tokens 100000000', '--tokens 8192').replace('--seq-len 512', '--seq-len 256')
      .replace('--threads 4', '--threads 1').replaceAll('/64"', `/${N}"`).replaceAll('-of-64', `-of-${N}`).replace('n=64;', `n=${N};`);
  const [record] = load('record-job.yaml');
  const [merge] = load('merge-job.yaml');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  for (let i = 0; i < N; i++) {
    const r = spawnSync('/bin/sh', ['-c', here(record!.spec.template.spec.containers[0].args[0])], { env: { ...env, JOB_COMPLETION_INDEX: String(i) }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const m = spawnSync('/bin/sh', ['-c', here(merge!.spec.template.spec.containers[0].args[0])], { env, encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr);
  const whole = join(dir, 'whole.safetensors');
  const u = runCli(['record', '--model', repoPath('models/tiny-multilingual'), '--lang', 'en', '--corpus', repoPath('data/corpus/en.train.txt'),
    '--tokens', '8192', '--seq-len', '256', '--threads', '1', '--quiet', '--out', whole]);
  assert.equal(u.code, 0, u.stderr);
  const a = loadStats(join(data, 'out', 'stats', 'en.safetensors'));
  const b = loadStats(whole);
  assert.equal(a.tokens, b.tokens);
  assert.equal(a.meta.shard, `merged:0/${N},1/${N}`);
  let differ = 0;
  for (let k = 0; k < a.count.length; k++) {
    const d = Math.abs(a.count[k]! - b.count[k]!);
    assert.ok(d <= 2, `neuron ${k}: ${a.count[k]} vs ${b.count[k]}`);
    if (d) differ++;
    assert.ok(Math.abs(a.sum[k]! - b.sum[k]!) <= 1e-4 * Math.max(1, Math.abs(b.sum[k]!)), `sum ${k}`);
  }
  assert.ok(differ <= 10, `${differ} counts differ (borderline tokens)`);
  // A missing shard makes the merge fail, not merge a part.
  const one = spawnSync('/bin/sh', ['-c', here(merge!.spec.template.spec.containers[0].args[0]).replace(`n=${N};`, 'n=3;')], { env, encoding: 'utf8' });
  assert.notEqual(one.status, 0);
  assert.match(one.stderr, /expected 3 shards, found 1/);
});
