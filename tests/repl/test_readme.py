"""Every ```lua example in README.md runs and exits 0 (STYLE.md: every
example in the README is run by the tests).

Usage: python3 test_readme.py path/to/optlua
"""
import os
import re
import subprocess
import sys
import tempfile

OPTLUA = os.path.abspath(sys.argv[1])
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"

text = open(README, encoding="utf-8").read()
blocks = re.findall(r"```lua\n(.*?)```", text, re.S)
passed = failed = skipped = 0
with tempfile.TemporaryDirectory() as d:
    for i, code in enumerate(blocks, 1):
        if "fashion_mnist" in code and not os.path.exists(FASHION):
            skipped += 1
            print(f"SKIP README example {i}: dataset-fashion-mnist not installed ({FASHION})")
            continue
        path = os.path.join(d, f"example{i}.lua")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        p = subprocess.run([OPTLUA, path], capture_output=True, text=True, timeout=300, cwd=d)
        if p.returncode == 0:
            passed += 1
        else:
            failed += 1
            first = code.strip().splitlines()[0:3]
            print(f"FAIL README example {i} ({' / '.join(first)}):\n{p.stderr}", file=sys.stderr)
if not blocks:
    failed += 1
    print("FAIL: no ```lua examples found in README.md", file=sys.stderr)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
