/**
 * The option machinery (src/cli/options/): usage errors name the option and exit 2; help is
 * generated from the declarations; commands read only what they declare and import no other
 * command; library errors name parameters, never flags. In-process, except two spawned runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError, ParamError } from '../src/errors.js';
import type { Command } from '../src/cli/command.js';
import { COMMANDS, findCommand } from '../src/cli/registry.js';
import { commandHelp, optionText, usageLine } from '../src/cli/options/help.js';
import { commandContext, commandOptions, mapLibraryError, parseCommandLine, suggest } from '../src/cli/options/parse.js';
import { group, opt } from '../src/cli/options/option.js';
import { DEFAULT_SEQ_LEN, parseLayers, resolveLayers, seqLenFor } from '../src/cli/groups/common.js';
import { MODEL_GROUP } from '../src/cli/groups/model.js';
import { runCli } from './helpers/cli.js';
import { repoPath } from './helpers/paths.js';
import { tempDir } from './helpers/tmp.js';

const cmd = (name: string): Command => findCommand(name)!;

/** Asserts parsing throws a usage error (exit 2) whose message matches. */
function usage(name: string, args: string[], re: RegExp): void {
  assert.throws(
    () => parseCommandLine(cmd(name), args),
    (e: unknown) => {
      assert.ok(e instanceof LapeError, `expected LapeError, got ${e}`);
      assert.equal(e.exitCode, 2, e.message);
      assert.match(e.message, re);
      return true;
    },
    `lape ${name} ${args.join(' ')}`,
  );
}

const PPL = ['--model', 'm', '--masks', 'masks.json', '--eval-dir', 'corpus'];

test('unknown options: exit 2, named, with a suggestion when one is close', () => {
  usage('ppl', [...PPL, '--eval-dri', 'x'], /^unknown option --eval-dri for 'lape ppl'; did you mean --eval-dir\?$/);
  usage('ppl', [...PPL, '--seqlen', '64'], /unknown option --seqlen for 'lape ppl'; did you mean --seq-len\?/);
  usage('identify', ['--treshold', '0.5'], /did you mean --threshold\?/);
  usage('ppl', [...PPL, '--foo'], /unknown option --foo for 'lape ppl' \(lape ppl --help lists its options\)/);
  usage('ppl', [...PPL, '--ran'], /did you mean --random-control\?/); // abbreviation
  usage('steer-eval', ['--activate', 'zh'], /--activate: steer-eval chooses the interventions itself/);
  assert.equal(suggest('recod', COMMANDS.map((c) => c.name)), 'record');
});

test('values not consumed: extra arguments and a second value after a single-value option', () => {
  usage('identify', ['--stats', 'a.safetensors', 'b.safetensors', '--out', 'm.json'], /"b\.safetensors" is not consumed: --stats takes one value per use; give several as --stats a\.safetensors,b\.safetensors or repeat --stats/);
  usage('ppl', [...PPL, '--max-chunks', '2', '3'], /"3" is not consumed: --max-chunks takes one value \(2\), and lape ppl takes no arguments/);
  usage('ppl', ['stray', ...PPL], /unexpected argument "stray": lape ppl takes no arguments/);
  usage('report', ['a', 'b'], /lape report takes at most 1 DIR/);
  usage('info', [], /lape info needs DIR/);
  usage('ppl', [...PPL, '--seq-len', '64', '--seq-len', '128'], /--seq-len is given twice \("64" and "128"\); it takes one value/);
  usage('ppl', [...PPL, '--out'], /--out needs a value \(DIR\)/);
  usage('ppl', [...PPL, '--out', '--json'], /--out needs a value \(DIR\), got the option --json/);
  usage('ppl', [...PPL, '--bos=yes'], /--bos takes no value/);
});

test('options that do not apply to the chosen mode name the mode they apply to', () => {
  const id = ['--stats', 's', '--out', 'm.json'];
  usage('identify', [...id, '--method', 'lape', '--threshold', '0.5'], /^--threshold applies only with --method lap \(here --method lape\)$/);
  usage('identify', [...id, '--threshold', '0.5'], /--threshold applies only with --method lap \(here --method lape\)/); // lape by default
  usage('identify', [...id, '--method', 'lap', '--top-rate', '0.02'], /--top-rate applies only with --method lape\|lave\|rs\|pv \(here --method lap\)/);
  usage('identify', [...id, '--seed', '3'], /--seed applies only with --method rs/);
  usage('identify', ['--method', 'pv', '--stats', 's', '--out', 'm.json'], /--stats applies only with --method lape\|lap\|lave\|rs \(here --method pv\)/);
  usage('ppl', [...PPL, '--seed', '3'], /--seed applies only with --random-control \(--random-control is not given\)/);
  usage('ppl', ['--model', 'm', '--masks', 'x', '--eval', 'en=a.txt', '--split', 'test'], /--split applies only with --eval-dir/);
  const gen = ['--model', 'm', '--prompt', 'hi'];
  usage('generate', [...gen, '--top-p', '0.9'], /--top-p applies only with --temperature > 0 \(here --temperature 0\)/);
  usage('generate', [...gen, '--mode', 'add'], /--mode applies only with --activate/);
  usage('generate', [...gen, '--activate', 'zh', '--alpha', '2'], /--alpha applies only with --mode add\|diffmean \(here --mode set\)/);
  usage('generate', [...gen, '--masks', 'm.json'], /--masks applies only with --activate or --deactivate/);
  usage('generate', [...gen, '--stop', 'x', '--no-stop'], /give --stop or --no-stop, not both/);
  usage('ppl', ['--model', 'm', '--masks', 'x', '--eval', 'en=a.txt', '--eval-dir', 'd'], /give one of --eval, --eval-dir, not --eval and --eval-dir/);
  usage('ppl', ['--model', 'm', '--masks', 'x'], /give one of --eval LANG=FILE,\.\.\. or --eval-dir DIR/);
  usage('ppl', ['--masks', 'x', '--eval-dir', 'd'], /--model is required/);
  // …and where they do apply, they parse.
  assert.equal(parseCommandLine(cmd('identify'), [...id, '--method', 'lap', '--threshold', '0.5']).values.get('threshold'), 0.5);
  assert.equal(parseCommandLine(cmd('generate'), [...gen, '--temperature', '0.7', '--top-p', '0.9']).values.get('top-p'), 0.9);
});

test('values: parsed and checked by the declaration, errors name the option', () => {
  usage('ppl', [...PPL, '--seq-len', '1'], /--seq-len must be an integer ≥ 2, got "1"/);
  usage('ppl', [...PPL, '--batch-size', '-1'], /--batch-size must be a positive integer, got "-1"/);
  usage('ppl', [...PPL, '--max-chunks', 'x'], /--max-chunks must be an integer, got "x"/);
  usage('identify', ['--method', 'magic'], /--method must be one of lape, lap, lave, rs, pv, got "magic"/);
  usage('sweep', ['--ratios', 'a'], /--ratios must be numbers, got "a"/);
  usage('record', ['--shard', '3/3'], /--shard must be i\/n with 0 ≤ i < n, got "3\/3"/);
  usage('generate', ['--model', 'm', '--prompt', 'x', '--max-new-tokens', '0'], /--max-new-tokens must be a positive integer/);
  usage('generate', ['--model', 'm', '--prompt', 'x', '--temperature', '0.5', '--top-p', '0'], /--top-p must be in \(0, 1\], got "0"/);
});

test('one list syntax: comma-separated and/or repeated; free-text lists are repeated only', () => {
  const p = parseCommandLine(cmd('ppl'), [...PPL, '--langs', 'en,zh', '--langs', 'fr', '--deactivate', 'en']);
  assert.deepEqual(p.values.get('langs'), ['en', 'zh', 'fr']);
  assert.deepEqual(p.values.get('deactivate'), ['en']);
  const s = parseCommandLine(cmd('identify'), ['--stats', 'a,b', '--stats', 'c', '--out', 'm.json']);
  assert.deepEqual(s.values.get('stats'), ['a', 'b', 'c']);
  const g = parseCommandLine(cmd('generate'), ['--model', 'm', '--prompt', 'x', '--stop', 'a,b', '--stop', '\\n']);
  assert.deepEqual(g.values.get('stop'), ['a,b', '\\n']);
  usage('ppl', [...PPL, '--langs', ','], /--langs needs at least one value/);
  // --eval: files after LANG= belong to that language.
  const e = parseCommandLine(cmd('ppl'), ['--model', 'm', '--masks', 'x', '--eval', 'en=a.txt,b.txt', '--eval', 'zh=c.txt']);
  assert.deepEqual(e.values.get('eval'), ['en=a.txt', 'b.txt', 'zh=c.txt']);
});

test('--langs everywhere: import-tang keeps --languages as a deprecated alias', () => {
  const p = parseCommandLine(cmd('import-tang'), ['f.neuron.pth', '--languages', 'en,zh', '--out', 'm.json']);
  assert.deepEqual(p.values.get('langs'), ['en', 'zh']);
  assert.deepEqual(p.warnings, ['--languages is deprecated; use --langs']);
  for (const c of COMMANDS) {
    const names = commandOptions(c).map((o) => o.name);
    assert.ok(!names.includes('languages'), `${c.name} declares --languages`);
  }
});

test('the --out rule: FILE for one result, DIR for several; both checked', () => {
  const files = ['record', 'merge', 'identify', 'import-tang', 'layers', 'overlap', 'generate'];
  const dirs = ['ppl', 'sweep', 'ses', 'dominance', 'steer-eval', 'stability', 'record-langs', 'demo', 'slurm', 'examples', 'judge'];
  for (const c of COMMANDS) {
    const out = commandOptions(c).find((o) => o.name === 'out');
    if (!out) continue;
    const kind = out.metavar === 'DIR' ? dirs : files;
    assert.ok(kind.includes(c.name), `lape ${c.name} --out ${out.metavar} breaks the rule`);
    assert.match(commandHelp(c), new RegExp(`Here --out is a ${out.metavar}\\.`));
  }
  const dir = tempDir();
  const file = join(dir, 'a.txt');
  writeFileSync(file, 'x');
  usage('ppl', [...PPL, '--out', file], /--out must be a folder \(this command writes several files\), not a file/);
  usage('record', ['--out', dir], /--out must be a file \(this command writes one result\), not a folder/);
  usage('record', ['--out', 'stats.json'], /--out must end in \.safetensors, got "stats\.json"/);
  usage('identify', ['--out', 'masks.safetensors'], /--out must end in \.json/);
});

test('one --seq-len default for record, ppl and sweep: 512, capped at the model context', () => {
  assert.equal(DEFAULT_SEQ_LEN, 512);
  assert.equal(seqLenFor(undefined, 4096), 512);
  assert.equal(seqLenFor(undefined, 128), 128);
  assert.equal(seqLenFor(64, 128), 64);
  assert.throws(() => seqLenFor(4096, 128), /--seq-len 4096 exceeds the model's context \(max_position_embeddings = 128\)/);
  const decl = ['record', 'ppl', 'sweep'].map((n) => commandOptions(cmd(n)).find((o) => o.name === 'seq-len')!);
  for (const d of decl) assert.equal(d, decl[0], 'the same declaration');
  assert.match(optionText(decl[0]!), /\(default 512, or the model's context if shorter\)$/);
});

test('help is generated from the declarations: every option, its default, its condition', () => {
  for (const c of COMMANDS) {
    const help = commandHelp(c);
    for (const g of c.options) assert.ok(help.includes(`\n${g.title}:\n`), `${c.name}: section ${g.title}`);
    for (const o of commandOptions(c)) {
      assert.match(help, new RegExp(`\\n  --${o.name}\\b`), `lape ${c.name} --help lacks --${o.name}`);
      if (typeof o.default === 'number') assert.ok(help.includes(`default ${o.default}`) || o.defaultText, `${c.name} --${o.name} default`);
    }
    // Every --flag the help text mentions is one the command declares (or a mode of another option).
    const declared = new Set(commandOptions(c).flatMap((o) => [o.name, ...(o.aliases ?? [])]));
    // (Mentions of another command's options, "lape record --shard", are fine.)
    const optionPart = help.slice(0, help.indexOf('\nConventions:')).replace(/lape [a-z-]+ --[a-z-]+/g, '');
    const mentioned = [...optionPart.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!);
    for (const m of mentioned) if (!declared.has(m) && !c.refuses?.[m]) assert.fail(`lape ${c.name} --help mentions --${m}, which it does not declare`);
    assert.ok(help.includes(`Usage: ${usageLine(c)}`));
  }
  const idOpt = (n: string) => commandOptions(cmd('identify')).find((o) => o.name === n)!;
  assert.equal(optionText(idOpt('threshold')), 'absolute activation probability a language needs (only with --method lap; default 0.95)');
  assert.equal(optionText(idOpt('out')), 'masks JSON; masks .safetensors is written beside it (required)');
  assert.match(commandHelp(cmd('identify')), /\n  --threshold X {2,}absolute activation/);
});

/** Splits an example command line like a shell would (double quotes, backslash-newline). */
function shellSplit(line: string): string[] {
  const out: string[] = [];
  for (const m of line.replace(/\\\n/g, ' ').matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2]!);
  return out;
}

test('every example in every --help parses', () => {
  for (const c of COMMANDS) {
    for (const ex of c.examples) {
      const [lape, name, ...args] = shellSplit(ex).filter((a, i) => !(i === 0 && a === 'npx'));
      assert.equal(lape, 'lape');
      assert.equal(name, c.name, ex);
      assert.doesNotThrow(() => parseCommandLine(c, args), ex);
    }
  }
});

test('declarations are consistent: one type per option name; conditions refer to declared options', () => {
  const types = new Map<string, string>();
  for (const c of COMMANDS) {
    const names = new Set(commandOptions(c).map((o) => o.name));
    for (const o of commandOptions(c)) {
      const t = types.get(o.name);
      if (t) assert.equal(o.type === 'list' ? 'list' : 'single', t, `--${o.name} changes kind in lape ${c.name}`);
      else types.set(o.name, o.type === 'list' ? 'list' : 'single');
      const refs = [...(o.conflicts ?? []), ...[o.appliesWhen?.option ?? []].flat()];
      for (const r of refs) assert.ok(names.has(r), `lape ${c.name} --${o.name} refers to --${r}, which it does not declare`);
    }
    for (const set of c.oneOf ?? []) for (const n of set) assert.ok(names.has(n), `${c.name} oneOf --${n}`);
  }
});

test('every model-loading command takes the one model group (a new model option is one declaration)', () => {
  for (const name of ['record', 'ppl', 'sweep', 'generate', 'steer-eval', 'ses', 'dominance']) {
    assert.ok(cmd(name).options.includes(MODEL_GROUP), `lape ${name} lacks MODEL_GROUP`);
  }
  // The demo passes every model option but the folder on to its steps.
  const demoModel = cmd('demo').options.find((g) => g.title === 'Model')!;
  assert.deepEqual(demoModel.options.map((o) => o.name), MODEL_GROUP.options.map((o) => o.name));
});

test('reading an undeclared option is a bug that fails loudly', async () => {
  const declared = opt.int('declared', { default: 3, help: 'x' });
  const undeclared = opt.int('undeclared', { default: 4, help: 'y' });
  const fake: Command = { name: 'fake', summary: 's', options: [group('Options', declared)], examples: [], run: async (ctx) => ctx.get(undeclared) };
  const ctx = commandContext(fake, []);
  assert.equal(ctx.get(declared), 3);
  await assert.rejects(fake.run(ctx), /internal: lape fake reads --undeclared, which it does not declare/);
});

test('commands import option groups, never another command', () => {
  const dir = repoPath('src/cli/commands');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const src = readFileSync(join(dir, f), 'utf8');
    assert.ok(!/from '\.\/[^']+'/.test(src), `${f} imports another command module`);
    assert.ok(!/ctx\.values/.test(src), `${f} reads raw values`);
  }
});

test('library errors name parameters, not flags; the CLI maps them to its options', () => {
  for (const d of ['src/select', 'src/experiments']) {
    for (const f of readdirSync(repoPath(d)).filter((f) => f.endsWith('.ts'))) {
      const code = readFileSync(repoPath(join(d, f)), 'utf8')
        .split('\n')
        .filter((l) => !/^\s*(\/\/|\*|\/\*\*)/.test(l));
      for (const l of code) {
        assert.ok(!/['"`][^'"`]*--[a-z]/.test(l), `${d}/${f} names a flag: ${l.trim()}`);
        assert.ok(!/LapeError\([^)]*,\s*2\)/.test(l), `${d}/${f} picks an exit code: ${l.trim()}`);
      }
    }
  }
  const mapped = mapLibraryError(cmd('identify'), new ParamError('top rate must be a number in (0, 1], got 0', 'topRate'));
  assert.ok(mapped instanceof LapeError && mapped.exitCode === 2);
  assert.equal(mapped.message, '--top-rate: top rate must be a number in (0, 1], got 0');
  const data = mapLibraryError(cmd('ses'), new ParamError('text too long; use a token limit', 'maxTokens', 'data'));
  assert.ok(data instanceof LapeError && data.exitCode === 1);
  assert.equal(data.message, 'text too long; use a token limit (--max-tokens)');
  const other = new ParamError('x', 'noSuchParam');
  assert.equal(mapLibraryError(cmd('ppl'), other), other);
});

test('--layers syntax: ranges, bottom:K, top:K, checked against the layer count at use', () => {
  assert.deepEqual(resolveLayers(parseLayers('0-3,28-31'), 32), [0, 1, 2, 3, 28, 29, 30, 31]);
  assert.deepEqual(resolveLayers(parseLayers('2,1-2'), 6), [1, 2]);
  assert.deepEqual(resolveLayers(parseLayers('bottom:2'), 6), [0, 1]);
  assert.deepEqual(resolveLayers(parseLayers('top:2'), 6), [4, 5]);
  assert.throws(() => parseLayers('3-1'), /runs backwards/);
  assert.throws(() => parseLayers('middle:2'), /must be ranges like 0-3,28-31, bottom:K or top:K/);
  assert.throws(() => resolveLayers(parseLayers('0-6'), 6), /--layers: layer 6 does not exist \(the model has layers 0-5\)/);
  assert.throws(() => resolveLayers(parseLayers('top:7'), 6), /the model has 6 layers/);
});

test('the CLI exits 2 and names the option (spawned)', () => {
  const u = runCli(['ppl', ...PPL, '--eval-dri', 'x']);
  assert.equal(u.code, 2);
  assert.match(u.stderr, /lape ppl: unknown option --eval-dri for 'lape ppl'; did you mean --eval-dir\?\nUsage: lape ppl /);
  const n = runCli(['identify', '--stats', 'a.safetensors', 'b.safetensors', '--out', 'x.json']);
  assert.equal(n.code, 2);
  assert.match(n.stderr, /"b\.safetensors" is not consumed/);
  const h = runCli(['identify', '--threshold', '--help']);
  assert.equal(h.code, 0, 'help wins over other problems');
  assert.match(h.stdout, /^Select language-specific neurons/);
});
