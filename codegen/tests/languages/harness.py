"""Checks generated Python key packages against the conformance corpus the Rust codec wrote:
`python3 harness.py NAME=MODULE.py=CORPUS.jsonl ...`. Prints "NAME: agree N of M" per corpus and
each disagreement; exits 1 on any."""

import importlib.util
import json
import sys


def load(path):
    spec = importlib.util.spec_from_file_location(path.rsplit("/", 1)[-1][:-3], path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def value_json(value):
    if isinstance(value, str):
        return value
    return {"layout": value.layout, "parts": dict(value.parts)}


def value_from(pkg, value):
    if isinstance(value, str):
        return value
    return pkg.Layout(value["layout"], value["parts"])


def parsed(pkg, key):
    try:
        match = pkg.parse(key)
    except pkg.ParseError:
        return {"error": True}
    values = {name: value_json(v) for name, v in match.values.items()}
    return {"key": match.key.name, "values": values, "slot": match.slot}


def check(pkg, v):
    op = v["op"]
    expect = v["expect"]
    if op == "format":
        values = {name: value_from(pkg, value) for name, value in v["values"].items()}
        try:
            key = pkg.key_named(v["key"]).format_values(values)
        except pkg.FormatError as error:
            if error.key != v["key"]:
                return f"format {v['key']}: the error names key {error.key}: {error}"
            return "" if expect.get("error") else f"format {v['key']} {v['values']!r}: {error}; want {expect['key']!r}"
        if expect.get("error"):
            return f"format {v['key']} {v['values']!r}: got {key!r}; want an error"
        if key != expect["key"] or pkg.slot(key) != expect["slot"]:
            return f"format {v['key']}: got {key!r} slot {pkg.slot(key)}; want {expect['key']!r} slot {expect['slot']}"
        got = parsed(pkg, key)
        return "" if got == expect["parsed"] else f"parse {key!r}: got {got}; want {expect['parsed']}"
    if op == "parse":
        got = parsed(pkg, v["input"])
        return "" if got == expect else f"parse {v['input']!r}: got {got}; want {expect}"
    if op == "ttl":
        try:
            millis = pkg.key_named(v["key"]).ttl.resolve(v["env"].get)
            got = "never" if millis is None else str(millis)
        except pkg.TtlError:
            got = "error"
        want = "error" if expect.get("error") else "never" if expect.get("never") else expect["millis"]
        return "" if got == want else f"ttl {v['key']} {v['env']!r}: got {got}; want {want}"
    return f"unknown op {op}"


def main():
    failed = False
    for arg in sys.argv[1:]:
        name, module, corpus = arg.split("=")
        pkg = load(module)
        total = agree = shown = 0
        with open(corpus, encoding="utf-8") as lines:
            for line in lines:
                total += 1
                problem = check(pkg, json.loads(line))
                if not problem:
                    agree += 1
                elif shown < 20:
                    shown += 1
                    print("  " + problem)
        print(f"{name}: agree {agree} of {total}")
        failed = failed or agree != total
    sys.exit(1 if failed else 0)


main()
