/** The progress display: nothing for short work, no rate before there is one to show. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Progress, SHOW_AFTER_MS } from '../src/cli/progress.js';

function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const w = new Writable({ write(chunk, _e, cb) { out += String(chunk); cb(); } }) as unknown as NodeJS.WriteStream;
  return { stream: w, text: () => out };
}

test('work shorter than SHOW_AFTER_MS prints nothing, not even at finish', () => {
  const s = sink();
  const p = new Progress({ label: 'report', total: 8, unit: 'sections', stream: s.stream, plainEverySeconds: 0 });
  for (let i = 1; i <= 8; i++) p.update(i);
  p.finish();
  assert.equal(s.text(), '');
});

test('longer work shows lines; the first line has no "0.00 units/s"', async () => {
  const s = sink();
  const p = new Progress({ label: 'steer-eval', total: 10, unit: 'generations', stream: s.stream, plainEverySeconds: 0 });
  await new Promise((r) => setTimeout(r, SHOW_AFTER_MS + 50));
  p.update(0);
  assert.match(s.text(), /steer-eval/);
  assert.doesNotMatch(s.text(), /0\.00 generations\/s/);
  p.update(5);
  p.finish();
  assert.match(s.text(), /generations\/s/);
});
