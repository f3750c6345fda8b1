#!/usr/bin/env python3
"""Validates generated texts against their JSON Schemas with python3-jsonschema (an independent
implementation): reads JSON lines {"schema", "output", "name"}, prints one line per failure and
exits 1 when any text does not parse or does not validate."""
import json
import sys

import jsonschema

failures = 0
count = 0
for line in open(sys.argv[1], encoding="utf-8"):
    case = json.loads(line)
    count += 1
    try:
        value = json.loads(case["output"])
    except ValueError as e:
        failures += 1
        print(f"{case['name']}: not JSON ({e}): {case['output']!r}")
        continue
    validator = jsonschema.validators.validator_for(case["schema"])
    errors = list(validator(case["schema"], format_checker=validator.FORMAT_CHECKER)
                  .iter_errors(value))
    if errors:
        failures += 1
        print(f"{case['name']}: {errors[0].message}: {case['output']!r}")
print(f"{count - failures}/{count} valid")
sys.exit(1 if failures else 0)
