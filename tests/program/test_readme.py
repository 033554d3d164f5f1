"""Every ```lua example in README.md runs and exits 0 (STYLE.md: every
example in the README is run by the tests), each from a scratch directory.

Usage: python3 test_readme.py path/to/optlua
"""
import os
import re
import tempfile

import driver
from driver import ROOT, check, run

TIMEOUT = 300

with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    blocks = re.findall(r"```lua\n(.*?)```", f.read(), re.S)


def example(code):
    if "fashion_mnist" in code:
        driver.need_fashion_mnist()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "example.lua")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        p = run(path, cwd=d, timeout=TIMEOUT)
    first = code.strip().splitlines()[0:3]
    check(p.rc == 0, f"({' / '.join(first)}):\n{p.err}")


# One case per example; a README without any fails, as a test file without
# cases does.
for i, code in enumerate(blocks, 1):
    driver.case(f"README example {i}", lambda code=code: example(code))

driver.main()
