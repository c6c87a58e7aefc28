import { LapeError } from '../errors.js';

/** One line of a JSON Lines file as an object; errors name the file and the 1-based line. */
export function jsonObjectLine(line: string, lineNumber: number, path: string): Record<string, unknown> {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    throw new LapeError(`line ${lineNumber} is not valid JSON (${(e as Error).message})`, path);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new LapeError(`line ${lineNumber} is not a JSON object`, path);
  return obj as Record<string, unknown>;
}
