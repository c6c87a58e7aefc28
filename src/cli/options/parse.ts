/**
 * Parsing and validation generated from the option declarations: node:util parseArgs tokenizes;
 * everything else (unknown options with a suggestion, values not consumed, repeated single-value
 * options, parsing each value, required / one-of / conflicts / applies-when) is decided here from
 * the declarations. Every problem is a usage error (exit 2) that names the option.
 */
import { parseArgs } from 'node:util';
import { LapeError, ParamError, usageError } from '../../errors.js';
import type { Command, CommandContext } from '../command.js';
import { GLOBAL_GROUP, HELP, JSON_OUT, QUIET } from './global.js';
import { OptionValueError, conditionText, flag, type AnyOption, type Option } from './option.js';

/** Every option a command accepts, its own groups first, then the global ones. */
export function commandOptions(cmd: Command): AnyOption[] {
  return [...cmd.options.flatMap((g) => g.options), ...GLOBAL_GROUP.options];
}

/** Levenshtein distance (insert, delete, substitute; an adjacent swap counts 1). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest name, when it is close enough to be a likely typo; an abbreviation (prefix) counts as close. */
export function suggest(name: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = name.length >= 3 && c.startsWith(name) ? 0.5 : editDistance(name, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== null && bestD <= Math.min(3, Math.max(1, Math.floor(name.length / 4))) ? best : null;
}

export interface ParsedLine {
  values: Map<string, unknown>;
  given: Set<string>;
  positionals: string[];
  /** Deprecation notes (printed on stderr by the caller unless --quiet). */
  warnings: string[];
}

const looksLikeOption = (v: string): boolean => v.startsWith('-') && !/^-\d|^-\.\d|^-$/.test(v);

/** Parses argv for a command; throws a usage error (exit 2) naming the option on any problem. */
export function parseCommandLine(cmd: Command, argv: readonly string[]): ParsedLine {
  const options = commandOptions(cmd);
  const byName = new Map<string, AnyOption>();
  const aliasOf = new Map<string, AnyOption>();
  for (const o of options) {
    if (byName.has(o.name)) throw new Error(`lape ${cmd.name} declares --${o.name} twice`);
    byName.set(o.name, o);
    for (const a of o.aliases ?? []) aliasOf.set(a, o);
  }
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const o of options) {
    const type = o.type === 'bool' ? 'boolean' : 'string';
    config[o.name] = o.short ? { type, short: o.short } : { type };
    for (const a of o.aliases ?? []) config[a] = { type };
  }
  let tokens;
  try {
    ({ tokens } = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: false, tokens: true }));
  } catch (e) {
    throw usageError((e as Error).message);
  }
  const where = `for 'lape ${cmd.name}'`;
  const raw = new Map<string, string[]>();
  const positionals: string[] = [];
  const warnings: string[] = [];
  let previousValue: { option: AnyOption; value: string } | null = null;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') continue;
    if (t.kind === 'positional') {
      const max = cmd.positionals?.max ?? 0;
      if (positionals.length >= max) {
        const after = previousValue;
        if (after && after.option.type === 'list') {
          throw usageError(
            `"${t.value}" is not consumed: --${after.option.name} takes one value per use; give several as --${after.option.name} ${after.value},${t.value} or repeat --${after.option.name}`,
          );
        }
        if (after) throw usageError(`"${t.value}" is not consumed: --${after.option.name} takes one value (${after.value}), and lape ${cmd.name} takes ${max === 0 ? 'no arguments' : `at most ${max} ${cmd.positionals!.metavar}`}`);
        throw usageError(`unexpected argument "${t.value}": lape ${cmd.name} takes ${max === 0 ? 'no arguments' : `at most ${max} ${cmd.positionals!.metavar}`}`);
      }
      positionals.push(t.value);
      previousValue = null;
      continue;
    }
    let o = byName.get(t.name);
    if (!o && aliasOf.has(t.name)) {
      o = aliasOf.get(t.name)!;
      warnings.push(`--${t.name} is deprecated; use --${o.name}`);
    }
    if (!o) {
      const refusal = cmd.refuses?.[t.name];
      if (refusal) throw usageError(`--${t.name}: ${refusal}`);
      const s = suggest(t.name, [...byName.keys()]);
      throw usageError(`unknown option ${t.rawName} ${where}${s ? `; did you mean --${s}?` : ` (lape ${cmd.name} --help lists its options)`}`);
    }
    if (o.type === 'bool') {
      if (t.value !== undefined) throw usageError(`--${o.name} takes no value, got "${t.value}"`);
      if (raw.has(o.name)) throw usageError(`--${o.name} is given twice`);
      raw.set(o.name, ['true']);
      previousValue = null;
      continue;
    }
    if (t.value === undefined || (!t.inlineValue && looksLikeOption(t.value))) {
      throw usageError(`--${o.name} needs a value (${o.metavar})${t.value !== undefined ? `, got the option ${t.value} (write --${o.name}=${t.value} if that is the value)` : ''}`);
    }
    const prev = raw.get(o.name);
    if (prev && o.type !== 'list') {
      throw usageError(`--${o.name} is given twice ("${prev[0]}" and "${t.value}"); it takes one value`);
    }
    raw.set(o.name, [...(prev ?? []), t.value]);
    previousValue = { option: o, value: t.value };
  }

  const min = cmd.positionals?.min ?? 0;
  if (positionals.length < min) throw usageError(`lape ${cmd.name} needs ${cmd.positionals!.metavar}`);

  // Parse every given value now, so bad values fail before anything is loaded.
  const values = new Map<string, unknown>();
  for (const [name, texts] of raw) {
    const o = byName.get(name)!;
    const parseOne = (text: string): unknown => {
      try {
        return o.parse(text);
      } catch (e) {
        if (e instanceof OptionValueError) throw usageError(`--${name} ${e.message}, got "${text}"`);
        throw e;
      }
    };
    if (o.type === 'list') {
      const items = o.commas === false ? texts : texts.flatMap((t) => t.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
      if (items.length === 0) throw usageError(`--${name} needs at least one value`);
      values.set(name, items.map(parseOne));
    } else values.set(name, parseOne(texts[0]!));
  }
  const given = new Set(raw.keys());
  const effective = (name: string): unknown => (values.has(name) ? values.get(name) : byName.get(name)?.default);

  // Conditions, in declaration order: conflicts, applies-when, required, one-of.
  for (const o of options) {
    if (!given.has(o.name)) continue;
    for (const c of o.conflicts ?? []) {
      if (given.has(c)) throw usageError(`give --${o.name} or --${c}, not both`);
    }
    const a = o.appliesWhen;
    if (a && typeof a.option !== 'string') {
      if (!a.option.some((n) => given.has(n))) throw usageError(`--${o.name} applies only with ${conditionText(a)}`);
    } else if (a && typeof a.option === 'string') {
      const v = effective(a.option);
      const holds = a.test ? a.test(v) : a.values ? v !== undefined && a.values.includes(String(v)) : given.has(a.option);
      if (!holds) {
        const now = v === undefined || v === false ? `--${a.option} is not given` : a.values || a.test ? `here --${a.option} ${String(v)}` : '';
        throw usageError(`--${o.name} applies only with ${conditionText(a)}${now ? ` (${now})` : ''}`);
      }
    }
  }
  for (const set of cmd.oneOf ?? []) {
    const g = set.filter((n) => given.has(n));
    if (g.length > 1) throw usageError(`give one of ${set.map((n) => `--${n}`).join(', ')}, not ${g.map((n) => `--${n}`).join(' and ')}`);
    if (g.length === 0) throw usageError(`give one of ${set.map((n) => `--${n} ${byName.get(n)!.metavar}`).join(' or ')}`);
  }
  for (const o of options) {
    if (o.required && !given.has(o.name)) throw usageError(`--${o.name} is required`);
  }
  for (const o of options) if (!values.has(o.name) && o.default !== undefined) values.set(o.name, o.default);
  return { values, given, positionals, warnings };
}

/** Parses a command's arguments into its context; throws LapeError(exit 2) on bad usage. */
export function commandContext(cmd: Command, args: readonly string[], log: (line: string) => void = console.log): CommandContext & { help: boolean } {
  const declared = new Set(commandOptions(cmd).map((o) => o.name));
  // --help wins over every other problem, so a user can always read it.
  if (args.includes('--help') || args.includes('-h')) {
    return { get: () => undefined as never, given: () => false, positionals: [], quiet: true, json: false, help: true, log: () => {} };
  }
  const p = parseCommandLine(cmd, args);
  const json = p.values.get(JSON_OUT.name) === true;
  const quiet = p.values.get(QUIET.name) === true;
  if (!quiet) for (const w of p.warnings) process.stderr.write(`warning: ${w}\n`);
  const check = (o: { name: string }): void => {
    if (!declared.has(o.name)) throw new Error(`internal: lape ${cmd.name} reads --${o.name}, which it does not declare`);
  };
  return {
    get<R>(o: Option<unknown, R>): R {
      check(o);
      return p.values.get(o.name) as R;
    },
    given(o) {
      check(o);
      return p.given.has(o.name);
    },
    positionals: p.positionals,
    quiet,
    json,
    help: p.values.get(HELP.name) === true,
    log: (line) => {
      if (!json) log(line);
    },
  };
}

/**
 * A library ParamError names a parameter (`topRate`); the CLI names the flag that feeds it
 * (`--top-rate`): invalid values become usage errors (exit 2), data that does not fit the setting
 * stays a failure (exit 1) with the flag as the remedy. Other errors pass through.
 */
export function mapLibraryError(cmd: Command, e: unknown): unknown {
  if (!(e instanceof ParamError)) return e;
  const o = commandOptions(cmd).find((x) => x.param === e.param);
  if (!o) return e;
  if (e.fault === 'value') return usageError(`${flag(o)}: ${e.message}`);
  return new LapeError(`${e.message} (${flag(o)})`);
}
