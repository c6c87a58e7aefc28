"""Reference renderings of chat templates by transformers' apply_chat_template (the independent
implementation lape's src/tokenizer/chat-template.ts is tested against).

Run with the tools venv (transformers 4.57): /work/venv-hf/bin/python tools/chat_template_reference.py
Writes test/fixtures/chat-templates.json: for each template (ChatML as Qwen2 writes it, the Llama 3
header format, a Llama 2 [INST] format that checks role alternation with raise_exception) and each
conversation, the text transformers renders with add_generation_prompt=True and the token ids of
the embedded model's tokenizer (models/tiny-multilingual) for that text without special tokens.
"""
import json
import os
import transformers
from transformers import PreTrainedTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = {
    "chatml": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
        "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' %}"
        "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
    ),
    "llama2": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
    ),
}
CONVERSATIONS = [
    [{"role": "user", "content": "Translate 'menu bar' into French."}],
    [
        {"role": "system", "content": "Answer in Chinese."},
        {"role": "user", "content": "  What is a cell style?  "},
    ],
    [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "你好，世界"},
    ],
]

tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(ROOT, "models/tiny-multilingual/tokenizer.json"), bos_token="<s>", eos_token="</s>")
cases = []
for name, template in TEMPLATES.items():
    for conv in CONVERSATIONS:
        try:
            text = tok.apply_chat_template(conv, chat_template=template, add_generation_prompt=True, tokenize=False)
            error = None
        except Exception as e:  # jinja2 TemplateError from raise_exception
            text, error = None, str(e)
        ids = tok(text, add_special_tokens=False)["input_ids"] if text is not None else None
        cases.append({"template": name, "messages": conv, "text": text, "error": error, "ids": ids})
out = {"generator": f"tools/chat_template_reference.py, transformers {transformers.__version__}", "bos_token": "<s>", "eos_token": "</s>", "templates": TEMPLATES, "cases": cases}
with open(os.path.join(ROOT, "test/fixtures/chat-templates.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"wrote {len(cases)} cases")
