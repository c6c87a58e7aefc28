import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadParallel } from '../src/experiments/parallel.js';
import { repoPath } from './helpers/paths.js';

test('the embedded parallel set loads with all seven languages, Indonesian ("id") included', () => {
  const set = loadParallel(repoPath('data/corpus/parallel.jsonl'));
  assert.deepEqual([...set.languages].sort(), ['en', 'es', 'fr', 'id', 'ja', 'vi', 'zh']);
  assert.ok(set.groups.length >= 300);
  assert.equal(set.texts.id!.length, set.groups.length);
});
