/**
 * Reading the result files of an output folder for the report: existence checks, JSON / JSON
 * Lines parsing and small shape validators. Every problem is a LapeError naming the file and,
 * inside it, the offending field (e.g. `ppl.json: rows[2].change.zh is "x", expected a number`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LapeError } from '../errors.js';

export type Json = unknown;

/** A value inside a file, with its path for messages. */
export class Field {
  constructor(
    readonly value: Json,
    readonly file: string,
    readonly where: string,
  ) {}

  private fail(expected: string): never {
    let shown: string;
    try {
      shown = JSON.stringify(this.value) ?? String(this.value);
    } catch {
      shown = String(this.value);
    }
    if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
    throw new LapeError(`${this.where || 'the file'} is ${this.value === undefined ? 'missing' : shown}, expected ${expected}`, this.file);
  }

  private child(key: string | number, value: Json): Field {
    const where = typeof key === 'number' ? `${this.where}[${key}]` : this.where ? `${this.where}.${key}` : key;
    return new Field(value, this.file, where);
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  /** A member of an object (missing members are allowed here; check them with the accessors). */
  get(key: string): Field {
    const o = this.object();
    return this.child(key, Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined);
  }

  object(): Record<string, Json> {
    if (typeof this.value !== 'object' || this.value === null || Array.isArray(this.value)) this.fail('an object');
    return this.value as Record<string, Json>;
  }

  entries(): Array<[string, Field]> {
    return Object.entries(this.object()).map(([k, v]) => [k, this.child(k, v)]);
  }

  array(): Field[] {
    if (!Array.isArray(this.value)) this.fail('an array');
    return (this.value as Json[]).map((v, i) => this.child(i, v));
  }

  /** A finite number; with `nullable`, null becomes NaN (a missing cell). */
  number(nullable = false): number {
    if (nullable && this.value === null) return NaN;
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) this.fail(nullable ? 'a number or null' : 'a finite number');
    return this.value as number;
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail('a string');
    return this.value as string;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail('true or false');
    return this.value as boolean;
  }

  optionalNumber(): number | undefined {
    return this.present ? this.number() : undefined;
  }

  optionalString(): string | undefined {
    return this.present ? this.string() : undefined;
  }

  strings(): string[] {
    return this.array().map((f) => f.string());
  }

  numbers(nullable = false): number[] {
    return this.array().map((f) => f.number(nullable));
  }

  /** An object of numbers keyed by the given names (every key must be present). */
  numbersByKey(keys: readonly string[], nullable = false): number[] {
    return keys.map((k) => this.get(k).number(nullable));
  }
}

/** The files of one output folder. */
export class OutputFolder {
  constructor(readonly dir: string) {}

  path(rel: string): string {
    return join(this.dir, rel);
  }

  has(rel: string): boolean {
    const p = this.path(rel);
    return existsSync(p) && statSync(p).isFile();
  }

  hasDir(rel: string): boolean {
    const p = this.path(rel);
    return existsSync(p) && statSync(p).isDirectory();
  }

  text(rel: string): string {
    try {
      return readFileSync(this.path(rel), 'utf8');
    } catch (e) {
      throw new LapeError(`cannot read (${(e as NodeJS.ErrnoException).code ?? e})`, this.path(rel));
    }
  }

  /** Parses a JSON file; the root Field names the file in errors. */
  json(rel: string): Field {
    const file = this.path(rel);
    const text = this.text(rel);
    try {
      return new Field(JSON.parse(text), file, '');
    } catch (e) {
      throw new LapeError(`not valid JSON (${(e as Error).message})`, file);
    }
  }

  /** Parses a JSON Lines file (blank lines skipped); each record's Field names its line. */
  jsonl(rel: string): Field[] {
    const file = this.path(rel);
    const out: Field[] = [];
    this.text(rel)
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() === '') return;
        try {
          out.push(new Field(JSON.parse(line), file, `line ${i + 1}`));
        } catch (e) {
          throw new LapeError(`line ${i + 1} is not valid JSON (${(e as Error).message})`, file);
        }
      });
    return out;
  }
}
