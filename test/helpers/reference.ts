import { readSafetensorsHeader, readTensorF64, type SafetensorsHeader } from '../../src/checkpoint/safetensors.js';

/** A reference-vector file written by tools/*.py, read as float64 arrays with shapes. */
export class Reference {
  readonly header: SafetensorsHeader;
  constructor(path: string) {
    this.header = readSafetensorsHeader(path);
  }
  has(name: string): boolean {
    return this.header.tensors.has(name);
  }
  shape(name: string): number[] {
    const t = this.header.tensors.get(name);
    if (!t) throw new Error(`reference has no tensor ${name}`);
    return t.shape;
  }
  get(name: string): Float64Array {
    return readTensorF64(this.header, name);
  }
  /** A [rows, cols] tensor as rows of plain numbers. */
  rows(name: string): number[][] {
    const [r, c] = this.shape(name) as [number, number];
    const d = this.get(name);
    return Array.from({ length: r }, (_, i) => Array.from(d.subarray(i * c, (i + 1) * c)));
  }
}

/** max |a - b| over indices where keep(i) is true. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, keep: (i: number) => boolean = () => true): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) if (keep(i)) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: ArrayLike<number>, keep: (i: number) => boolean = () => true): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (keep(i)) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
