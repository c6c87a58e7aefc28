/** Typed access to parsed flags, with usage errors (exit 2) naming the flag. */
import { usageError } from '../errors.js';
import type { CommandContext } from './command.js';

export function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw usageError(`--${name} needs a value`);
  return v;
}

export function required(ctx: CommandContext, name: string): string {
  const v = str(ctx, name);
  if (v === undefined || v === '') throw usageError(`--${name} is required`);
  return v;
}

export function list(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [String(v)]).flatMap((s) => s.split(',')).filter((s) => s.length > 0);
}

export function num(ctx: CommandContext, name: string, fallback: number, check?: (n: number) => string | null): number {
  const v = str(ctx, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw usageError(`--${name} must be a number, got "${v}"`);
  const problem = check?.(n);
  if (problem) throw usageError(`--${name} ${problem}, got ${n}`);
  return n;
}

export const positiveInt = (n: number): string | null => (Number.isInteger(n) && n > 0 ? null : 'must be a positive integer');

export function bool(ctx: CommandContext, name: string): boolean {
  return ctx.values[name] === true;
}
