/**
 * Incremental text for streamed responses: each call gets the whole decoded text so far and
 * returns what may be sent now. Held back: a trailing U+FFFD (a multi-byte character whose bytes
 * are split over tokens decodes as a replacement character until its last byte arrives), and a
 * tail that could be the start of a stop string (the final text is cut before the stop string, so
 * nothing of it may have been sent).
 */
export class TextStream {
  private sent = 0;

  constructor(private readonly stop: readonly string[]) {}

  /** The new text that is safe to send, given the whole text so far. */
  next(text: string): string {
    let end = text.length;
    while (end > this.sent && text[end - 1] === '\uFFFD') end--;
    let hold = 0;
    for (const s of this.stop) {
      for (let k = Math.min(s.length - 1, end - this.sent); k > hold; k--) {
        if (text.endsWith(s.slice(0, k), end)) {
          hold = k;
          break;
        }
      }
    }
    return this.take(text, end - hold);
  }

  /** Everything not sent yet of the final text. */
  finish(finalText: string): string {
    return this.take(finalText, finalText.length);
  }

  private take(text: string, end: number): string {
    if (end <= this.sent) return '';
    const out = text.slice(this.sent, end);
    this.sent = end;
    return out;
  }
}
