/** `lape <command> --help`, generated from the command's declarations. */
import type { Command } from '../command.js';
import { GLOBAL_GROUP } from './global.js';
import { conditionText, type AnyOption } from './option.js';

const MAX_COLUMN = 30;
const WIDTH = 100;

/** Word-wraps one paragraph to `width` columns. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(' ')) {
    if (cur && cur.length + 1 + word.length > width) {
      lines.push(cur);
      cur = word;
    } else cur = cur ? `${cur} ${word}` : word;
  }
  lines.push(cur);
  return lines;
}

function optionHead(o: AnyOption): string {
  const names = o.short ? `--${o.name}, -${o.short}` : `--${o.name}`;
  return o.metavar ? `${names} ${o.metavar}` : names;
}

function defaultShown(o: AnyOption): string | null {
  if (o.defaultText !== undefined) return o.defaultText;
  const d = o.default;
  if (d === undefined || d === false) return null;
  if (Array.isArray(d)) return d.length ? d.join(',') : null;
  return String(d);
}

/** The help text of one option after its column: help, condition, default, required, aliases. */
export function optionText(o: AnyOption): string {
  const extras: string[] = [];
  if (o.appliesWhen) extras.push(`only with ${conditionText(o.appliesWhen)}`);
  const d = defaultShown(o);
  if (d !== null) extras.push(`default ${d}`);
  if (o.required) extras.push('required');
  for (const a of o.aliases ?? []) extras.push(`--${a} is a deprecated alias`);
  return extras.length ? `${o.help} (${extras.join('; ')})` : o.help;
}

/** The usage line: positionals, required options, one-of sets, then [options]. */
export function usageLine(c: Command): string {
  const all = c.options.flatMap((g) => g.options);
  const inOneOf = new Set((c.oneOf ?? []).flat());
  const parts = [`lape ${c.name}`];
  if (c.positionals) parts.push(c.positionals.min > 0 ? c.positionals.metavar : `[${c.positionals.metavar}]`);
  for (const o of all) if (o.required && !inOneOf.has(o.name)) parts.push(optionHead(o));
  for (const set of c.oneOf ?? []) {
    parts.push(`(${set.map((n) => optionHead(all.find((o) => o.name === n)!)).join(' | ')})`);
  }
  if (all.some((o) => !o.required && !inOneOf.has(o.name))) parts.push('[options]');
  return parts.join(' ');
}

/** Which kind of --out the command has: 'file', 'folder' or null. */
function outKind(c: Command): 'file' | 'folder' | null {
  const out = c.options.flatMap((g) => g.options).find((o) => o.name === 'out');
  if (!out) return null;
  return out.metavar === 'DIR' ? 'folder' : 'file';
}

export const CONVENTIONS = [
  'List options (A,B) take comma-separated values and may be repeated (--langs en,zh --langs fr);',
  'every other option takes one value, once. An option that does not apply (e.g. --threshold',
  'without --method lap) is an error, never ignored. --out names a FILE when the command writes one',
  'result (record, merge, identify, import-tang, layers, overlap, generate) and a DIR when it writes',
  'several files with fixed names (ppl, sweep, ses, dominance, steer-eval, examples, judge, demo, slurm; see docs/outputs.md).',
  'A folder of per-language files holds LANG.SPLIT.txt (text) or LANG.safetensors (statistics).',
];

export function commandHelp(c: Command): string {
  const groups = [...c.options, GLOBAL_GROUP].filter((g) => g.options.length > 0);
  const width = Math.min(MAX_COLUMN, Math.max(...groups.flatMap((g) => g.options.map((o) => optionHead(o).length))));
  const line = (o: AnyOption): string[] => {
    const head = optionHead(o);
    const text = optionText(o).split('\n').flatMap((t) => wrap(t, Math.max(40, WIDTH - width - 4)));
    const pad = ' '.repeat(width + 4);
    if (head.length > width) return [`  ${head}`, ...text.map((t) => pad + t)];
    return [`  ${head.padEnd(width)}  ${text[0]}`, ...text.slice(1).map((t) => pad + t)];
  };
  const out: string[] = [c.summary, '', `Usage: ${usageLine(c)}`];
  if (c.positionals) out.push('', `  ${c.positionals.metavar}: ${c.positionals.help}`);
  for (const g of groups) out.push('', `${g.title}:`, ...g.options.flatMap(line));
  const kind = outKind(c);
  out.push('', 'Conventions:', ...CONVENTIONS.map((l) => `  ${l}`));
  if (kind) out.push(`  Here --out is a ${kind === 'file' ? 'FILE' : 'DIR'}.`);
  if (c.notes?.length) out.push('', ...c.notes);
  out.push('', 'Examples:', ...c.examples.map((e) => `  ${e}`));
  return out.join('\n');
}
