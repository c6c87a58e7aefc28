/**
 * Typed, validating access to a config.json object. Every family names its sizes differently
 * (`n_layer` vs `num_hidden_layers`…); a key may be given with aliases, tried in order, and each
 * read states the default the family's HF config class has (or none: then the key is required).
 * Errors name config.json and the key.
 */
import { LapeError } from '../errors.js';
import type { RopeScaling } from './model-spec.js';

type Keys = string | readonly string[];

export class ConfigReader {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly file: string,
    /** Prefix for messages about a nested object, e.g. "text_config.". */
    readonly path = '',
  ) {}

  /** The first alias present (not undefined/null), with its value. */
  private find(keys: Keys): { key: string; value: unknown } | undefined {
    for (const key of typeof keys === 'string' ? [keys] : keys) {
      const value = this.raw[key];
      if (value !== undefined && value !== null) return { key, value };
    }
    return undefined;
  }

  private fail(message: string): never {
    throw new LapeError(message, this.file);
  }

  private label(keys: Keys): string {
    const k = typeof keys === 'string' ? keys : keys[0]!;
    return `"${this.path}${k}"`;
  }

  has(keys: Keys): boolean {
    return this.find(keys) !== undefined;
  }

  num(keys: Keys, fallback?: number): number {
    const hit = this.find(keys);
    if (!hit) {
      if (fallback !== undefined) return fallback;
      this.fail(`missing required field ${this.label(keys)}`);
    }
    if (typeof hit.value !== 'number' || !Number.isFinite(hit.value)) {
      this.fail(`field "${this.path}${hit.key}" is not a finite number (got ${JSON.stringify(hit.value)})`);
    }
    return hit.value;
  }

  /** A number > 0 (eps, rope bases, soft caps, factors). */
  positive(keys: Keys, fallback?: number): number {
    const v = this.num(keys, fallback);
    if (!(v > 0)) this.fail(`field ${this.label(keys)} must be > 0, got ${v}`);
    return v;
  }

  /** A positive integer (sizes, counts). */
  int(keys: Keys, fallback?: number): number {
    const v = this.num(keys, fallback);
    if (!Number.isInteger(v) || v <= 0) this.fail(`field ${this.label(keys)} must be a positive integer, got ${v}`);
    return v;
  }

  /** A positive number, or null when absent/null (optional features such as soft caps). */
  optionalPositive(keys: Keys): number | null {
    return this.has(keys) ? this.positive(keys) : null;
  }

  optionalInt(keys: Keys): number | null {
    return this.has(keys) ? this.int(keys) : null;
  }

  bool(keys: Keys, fallback: boolean): boolean {
    const hit = this.find(keys);
    if (!hit) return fallback;
    if (typeof hit.value !== 'boolean') this.fail(`field "${this.path}${hit.key}" must be true or false`);
    return hit.value;
  }

  str(keys: Keys, fallback?: string): string {
    const hit = this.find(keys);
    if (!hit) {
      if (fallback !== undefined) return fallback;
      this.fail(`missing required field ${this.label(keys)}`);
    }
    if (typeof hit.value !== 'string') this.fail(`field "${this.path}${hit.key}" must be a string`);
    return hit.value;
  }

  strings(keys: Keys): string[] | null {
    const hit = this.find(keys);
    if (!hit) return null;
    if (!Array.isArray(hit.value) || !hit.value.every((s) => typeof s === 'string')) {
      this.fail(`field "${this.path}${hit.key}" must be a list of strings`);
    }
    return hit.value as string[];
  }

  /** A nested object (text_config, rope_scaling…), or null when absent. */
  sub(key: string): ConfigReader | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(`field "${this.path}${key}" must be an object`);
    return new ConfigReader(v as Record<string, unknown>, this.file, `${this.path}${key}.`);
  }

  /** Refuses a variant lape does not implement, naming the key and its value. */
  refuse(condition: boolean, keys: Keys, why: string): void {
    if (!condition) return;
    const hit = this.find(keys);
    this.fail(`${this.label(keys)} = ${JSON.stringify(hit?.value)} is not supported: ${why}`);
  }

  /**
   * Rotary settings in both config styles: transformers ≤ 4 writes `rope_theta` (or a family key
   * such as `rotary_emb_base`) and `rope_scaling`; transformers 5 writes `rope_parameters`
   * ({rope_type, rope_theta, …}, or one such object per attention type for Gemma 3).
   */
  rope(thetaKeys: Keys, defaultTheta: number, kind?: string): { theta: number; scaling: RopeScaling } {
    const params = this.sub('rope_parameters');
    if (params) {
      const perKind = kind ? params.sub(kind) : null;
      const p = perKind ?? params;
      return { theta: p.positive('rope_theta', this.has(thetaKeys) ? this.positive(thetaKeys) : defaultTheta), scaling: p.ropeScaling() };
    }
    const scaling = this.sub('rope_scaling');
    return { theta: this.positive(thetaKeys, defaultTheta), scaling: scaling ? scaling.ropeScaling() : { type: 'default' } };
  }

  /** This object read as a rope scaling description. */
  private ropeScaling(): RopeScaling {
    const type = this.str(['rope_type', 'type'], 'default');
    switch (type) {
      case 'default':
        return { type: 'default' };
      case 'linear':
        return { type: 'linear', factor: this.positive('factor') };
      case 'llama3':
        return {
          type: 'llama3',
          factor: this.positive('factor'),
          lowFreqFactor: this.positive('low_freq_factor'),
          highFreqFactor: this.positive('high_freq_factor'),
          originalMaxPositionEmbeddings: this.int('original_max_position_embeddings'),
        };
      default:
        return this.fail(`${this.path}rope type ${JSON.stringify(type)} is not supported (supported: default, linear, llama3)`);
    }
  }
}
