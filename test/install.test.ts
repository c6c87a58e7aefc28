/**
 * Installing lape as a user would, in temp folders (opt-in: LAPE_TEST_INSTALL=1, which .ci/run
 * sets; it needs the npm registry or a warm npm cache and takes minutes):
 * 1. a copy of this working tree, plain `npm ci` with npm 11 (the one on PATH) and with npm 10
 *    (Node 20's own, 10.8.2, fetched with `npm pack npm@10.8.2`), without ONNXRUNTIME_NODE_INSTALL
 *    or any npm_config_* in the environment: no warnings of ours, onnxruntime's CUDA provider not
 *    downloaded, and `npx lape --version` prints no warning either;
 * 2. `npm pack` of that copy installed into an empty folder; the README's library example (the
 *    ```js block under "## Library") runs there as written, and so does `npx lape info`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdtempSync, rmSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { repoPath } from './helpers/paths.js';

const SKIP = process.env.LAPE_TEST_INSTALL === '1' ? false : 'set LAPE_TEST_INSTALL=1 to run the clean-install tests (minutes; needs the npm registry or a warm npm cache)';
const CUDA = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so';

// One temp root for the whole file (node:test's after() inside a subtest would remove a folder
// the next subtest still needs).
const ROOT = mkdtempSync(join(tmpdir(), 'lape-install-'));
after(() => rmSync(ROOT, { recursive: true, force: true }));
let n = 0;
function tempDir(prefix: string): string {
  const d = join(ROOT, `${prefix}${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

/** The environment of a user's shell: no npm_* or onnxruntime switches inherited from `npm test`. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_|^ONNXRUNTIME_NODE_INSTALL/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return env;
}

function sh(cmd: string, args: string[], cwd: string, env = cleanEnv()): { code: number; out: string } {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 900_000 });
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

function warnings(out: string): string[] {
  return out.split('\n').filter((l) => /\bwarn(ing)?\b/i.test(l));
}

/** The tracked and unignored files of this working tree, copied (no node_modules, no dist). */
function copyTree(): string {
  const dir = join(tempDir('lape-install-'), 'lape');
  const files = spawnSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: repoPath('.'), encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
  for (const f of files) {
    // Never a symlink (a worktree's node_modules may be a link to a shared folder: npm ci in the
    // copy would empty it), never node_modules or dist.
    if (/^(node_modules|dist)(\/|$)/.test(f) || !existsSync(repoPath(f)) || lstatSync(repoPath(f)).isSymbolicLink()) continue;
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(repoPath(f), join(dir, f));
  }
  assert.equal(existsSync(join(dir, 'node_modules')), false, 'the copy has no node_modules');
  return dir;
}

let npm10: string | null = null;
function npm10Cli(): string {
  if (npm10) return npm10;
  const d = tempDir('lape-npm10-');
  const r = sh('npm', ['pack', 'npm@10.8.2', '--silent'], d);
  assert.equal(r.code, 0, r.out);
  const tgz = readdirSync(d).find((f) => f.endsWith('.tgz'))!;
  assert.equal(sh('tar', ['xzf', tgz], d).code, 0);
  npm10 = join(d, 'package', 'bin', 'npm-cli.js');
  return npm10;
}

function cleanInstall(npm: { label: string; cmd: string; args: string[] }): string {
  const dir = copyTree();
  const ci = sh(npm.cmd, [...npm.args, 'ci', '--no-audit', '--no-fund'], dir);
  console.log(`${npm.label} npm ci:\n${ci.out.trim()}`);
  assert.equal(ci.code, 0, ci.out);
  assert.deepEqual(warnings(ci.out), [], `${npm.label}: npm ci warnings`);
  assert.ok(existsSync(join(dir, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1')), 'the CPU build is installed');
  assert.equal(existsSync(join(dir, CUDA)), false, `${npm.label}: the CUDA provider was downloaded`);
  const v = sh(npm.cmd, [...npm.args, 'exec', '--', 'lape', '--version'], dir);
  assert.equal(v.code, 0, v.out);
  assert.deepEqual(warnings(v.out), [], `${npm.label}: npx lape --version warnings`);
  return dir;
}

test('clean npm ci (npm 11 and npm 10): no warnings of ours, no CUDA download; the README example from a packed tarball', { skip: SKIP, timeout: 1_800_000 }, async (t) => {
  let tree = '';
  await t.test('npm 11 (PATH)', () => {
    tree = cleanInstall({ label: 'npm 11', cmd: 'npm', args: [] });
  });
  await t.test('npm 10.8.2 (Node 20 bundles it)', () => {
    cleanInstall({ label: 'npm 10', cmd: process.execPath, args: [npm10Cli()] });
  });
  await t.test('npm pack → npm install into an empty folder → the README library example runs as written', () => {
    assert.ok(tree, 'needs the npm 11 tree');
    const pack = sh('npm', ['pack', '--silent'], tree);
    assert.equal(pack.code, 0, pack.out);
    const tgz = join(tree, pack.out.trim().split('\n').filter(Boolean)[0]!.trim());
    assert.ok(existsSync(tgz), tgz);
    const app = tempDir('lape-app-');
    // allowScripts as the README says.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'try-lape', private: true, type: 'module', allowScripts: { 'onnxruntime-node': false, protobufjs: false } }, null, 2));
    // The README's install line (npm 11 reads allowScripts; ONNXRUNTIME_NODE_INSTALL=skip is for npm 10).
    const inst = sh('npm', ['install', '--no-audit', '--no-fund', tgz], app, { ...cleanEnv(), ONNXRUNTIME_NODE_INSTALL: 'skip' });
    console.log(`npm install <tarball>:\n${inst.out.trim()}`);
    assert.equal(inst.code, 0, inst.out);
    // npm 11 lists a `prepare` script only for non-registry sources (git, file, link, remote;
    // @npmcli/arborist lib/install-scripts.js), so this file tarball's own prepare (the build of a
    // git checkout) is listed, as no registry install of lape-neurons would be; and a name-only
    // allowScripts entry cannot cover a file source (it matches by resolved path). Nothing else.
    const ownPrepare = /install-scripts( 1 package has install scripts not yet covered by allowScripts:|\s+lape-neurons@[\d.]+ \(prepare: |$| Run `npm install-scripts ls`)/;
    assert.deepEqual(warnings(inst.out).filter((l) => !ownPrepare.test(l)), []);
    assert.equal(existsSync(join(app, CUDA)), false);
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    const lib = readme.slice(readme.indexOf('## Library'));
    const code = /```js\n([\s\S]*?)```/.exec(lib)![1]!;
    writeFileSync(join(app, 'example.mjs'), code);
    const ex = sh(process.execPath, ['example.mjs'], app);
    assert.equal(ex.code, 0, ex.out);
    assert.match(ex.out, /^8 layers; 4096 neuron counts; \d+ logits/m);
    const info = sh('npx', ['--no-install', 'lape', 'info', join(app, 'node_modules/lape-neurons/models/tiny-multilingual')], app);
    assert.equal(info.code, 0, info.out);
    assert.match(info.out, /LlamaForCausalLM/);
    assert.deepEqual(warnings(info.out), []);
  });
});
