#!/usr/bin/env python3
"""Trains the byte-level BPE of the bundled model and writes tokenizer.json and
tokenizer_config.json (with a chat template) into the output folder."""
import json
import os
import sys
import time

import bpe

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] | trim }}\n\n"
    "{% elif message['role'] == 'user' %}<|user|>{{ message['content'] | trim }}<|end|>\n"
    "{% elif message['role'] == 'assistant' %}<|assistant|>{{ message['content'] | trim }}<|end|>\n"
    "{% else %}{{ raise_exception('unknown role ' + message['role']) }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def main() -> None:
    corpus, out = sys.argv[1], sys.argv[2]
    vocab_size = int(sys.argv[3]) if len(sys.argv) > 3 else 2048
    os.makedirs(out, exist_ok=True)
    text = open(corpus, encoding="utf-8").read()
    t0 = time.time()
    vocab, merges = bpe.train(text, vocab_size)
    tj = bpe.tokenizer_json(vocab, merges)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=1)
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
              "add_bos_token": True, "model_max_length": 512,
              "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": CHAT_TEMPLATE}
    with open(os.path.join(out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
    n = len(tj["model"]["vocab"]) + len(tj["added_tokens"])
    print(f"{len(merges)} merges, {n} tokens in {time.time() - t0:.0f}s -> {out}")


if __name__ == "__main__":
    main()
