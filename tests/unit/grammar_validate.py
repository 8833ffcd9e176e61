#!/usr/bin/python3
"""Validates grammar_property_test's walks: each line {"schema", "text"}; the text must parse as
JSON (strictly: no NaN) and validate against the schema (python3-jsonschema, draft 2020-12).
Prints "validated N" and exits 1 on the first failure."""
import json
import sys

import jsonschema


def no_constants(name):
    raise ValueError("non-standard JSON constant " + name)


def main():
    n = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            case = json.loads(line)
            try:
                value = json.loads(case["text"], parse_constant=no_constants)
            except ValueError as e:
                print("not JSON:", repr(case["text"]), e)
                return 1
            errors = list(jsonschema.Draft202012Validator(case["schema"]).iter_errors(value))
            if errors:
                print("invalid:", json.dumps(case["schema"]), repr(case["text"]), errors[0].message)
                return 1
            n += 1
    print("validated", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
