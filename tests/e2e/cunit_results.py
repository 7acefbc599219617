#!/usr/bin/env python3
"""Reads iscsi-test-cu's verbose (-v) text output and prints one line per test:
    <Suite>.<Test> <passed|skipped|failed>
CUnit itself has no "skipped": libiscsi's tests print "[SKIPPED] ..." and
return, which CUnit counts as passed; a test that printed [SKIPPED] and then
passed is reported here as skipped. A test with no verdict (the run was cut
short) is reported as failed.

Usage: cunit_results.py OUTPUT-FILE...
"""
import re
import sys

MARK = re.compile(r"^Suite: (\S+)\s*$|^  Test: (\S+) \.\.\.", re.M)
VERDICT = re.compile(r"^[ \t]*(passed|FAILED)(?=\s|$)", re.M)


def parse(text):
    marks = list(MARK.finditer(text))
    suite = None
    for i, m in enumerate(marks):
        if m.group(1):
            suite = m.group(1)
            continue
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        seg = text[m.end():end]
        v = VERDICT.search(seg)
        if v is None:
            result = "failed"
        elif v.group(1) == "FAILED":
            result = "failed"
        elif "[SKIPPED]" in seg[:v.start()]:
            result = "skipped"
        else:
            result = "passed"
        yield f"{suite}.{m.group(2)}", result


def main():
    for path in sys.argv[1:]:
        with open(path, errors="replace") as f:
            for name, result in parse(f.read()):
                print(name, result)


if __name__ == "__main__":
    main()
