"""Reference renderings of chat templates: Python's jinja2 configured as Hugging Face transformers
configures it (sandboxed, trim_blocks, lstrip_blocks, loopcontrols, its tojson filter and the
raise_exception / strftime_now globals; the clock fixed at 2024-07-26 12:00).

  python3 render_jinja2.py TEMPLATE_FILE SPECIALS_FILE CASES.jsonl

Prints one JSON object per case: {"expected": text} or {"error": message}.
"""
import datetime
import json
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime(2024, 7, 26, 12, 0, 0).strftime(fmt)


def main():
    template_file, specials, cases = sys.argv[1:4]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    with open(template_file, encoding="utf-8") as f:
        template = env.from_string(f.read())
    with open(specials, encoding="utf-8") as f:
        specials = json.load(f)
    out = []
    with open(cases, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            c = json.loads(line)
            ctx = dict(specials)
            ctx.update(messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                       tools=c["tools"], **c["kwargs"])
            try:
                out.append({"expected": template.render(**ctx)})
            except Exception as e:  # noqa: BLE001 - any failure is a reference error
                out.append({"error": f"{type(e).__name__}: {e}"})
    sys.stdout.write("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in out))


if __name__ == "__main__":
    main()
