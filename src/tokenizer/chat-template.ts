/**
 * Chat templates: a checkpoint's `chat_template` (tokenizer_config.json, or a GGUF file's
 * tokenizer.chat_template) rendered with @huggingface/jinja the way transformers'
 * apply_chat_template renders it (messages, add_generation_prompt, bos_token, eos_token;
 * raise_exception is the library's), so instruct checkpoints get their real prompt format. The rendered text is
 * encoded without the tokenizer's own special tokens, since the template writes them.
 *
 * A checkpoint without one gets PLAIN_CHAT_TEMPLATE: one "role: content" line per message and
 * "assistant:" after them, encoded with the tokenizer's special tokens (its BOS) as plain text is.
 */
import { Template } from '@huggingface/jinja';
import { LapeError } from '../errors.js';
import { loadTokenizerConfig, type LapeTokenizer } from './tokenizer.js';

export interface ChatMessage {
  role: string;
  content: string;
}

/** The documented template for checkpoints without one (base models such as the embedded one). */
export const PLAIN_CHAT_TEMPLATE =
  "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

export interface ChatTemplate {
  /** 'checkpoint' = the model's own template; 'plain' = PLAIN_CHAT_TEMPLATE. */
  source: 'checkpoint' | 'plain';
  /** The prompt text for messages, ending where the assistant's reply begins. */
  render(messages: ChatMessage[]): string;
  /** The prompt's token ids. */
  encode(messages: ChatMessage[]): number[];
}

/** A special token as tokenizer_config.json writes it: a string or an AddedToken object. */
function tokenText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return '';
}

/** The default template of a config: a string, or the entry named "default" of a list of {name, template}. */
function templateText(config: Record<string, unknown>, where: string): string | null {
  const t = config.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((e) => e && typeof e === 'object' && (e as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
    if (named && typeof named.template === 'string') return named.template;
  }
  throw new LapeError('chat_template is neither a string nor a list with a "default" entry', where);
}

export function chatTemplateFrom(config: Record<string, unknown>, tokenizer: LapeTokenizer, where: string): ChatTemplate {
  const text = templateText(config, where);
  let template: Template;
  try {
    template = new Template(text ?? PLAIN_CHAT_TEMPLATE);
  } catch (e) {
    throw new LapeError(`chat_template does not parse: ${(e as Error).message}`, where);
  }
  const vars = { bos_token: tokenText(config.bos_token), eos_token: tokenText(config.eos_token) };
  const render = (messages: ChatMessage[]): string => {
    try {
      return template.render({
        messages,
        add_generation_prompt: true,
        ...vars,
      });
    } catch (e) {
      // raise_exception (provided by @huggingface/jinja) lands here too, e.g. roles that do not alternate.
      throw new LapeError(`the chat template refuses these messages: ${(e as Error).message}`, where);
    }
  };
  return {
    source: text === null ? 'plain' : 'checkpoint',
    render,
    encode: (messages) => tokenizer.encode(render(messages), { addSpecialTokens: text === null }),
  };
}

/** The chat template of a checkpoint folder or GGUF file. */
export function loadChatTemplate(dir: string, tokenizer: LapeTokenizer): ChatTemplate {
  return chatTemplateFrom(loadTokenizerConfig(dir), tokenizer, dir);
}
