import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAPE_VERSION } from '../src/version.js';

test('version is read from package.json', () => {
  assert.match(LAPE_VERSION, /^\d+\.\d+\.\d+/);
});
