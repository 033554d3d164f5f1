"""Every example under scripts/ runs to completion (exit 0) from a scratch
directory, so that examples cannot rot. The main job scripts/train.lua is
covered by test_train_output.py (its --quick run).

Usage: python3 test_scripts.py path/to/optlua
"""
import glob
import os
import subprocess
import sys
import tempfile

OPTLUA = os.path.abspath(sys.argv[1])
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts")

passed = failed = 0
with tempfile.TemporaryDirectory() as d:
    for path in sorted(glob.glob(os.path.join(SCRIPTS, "*.lua"))):
        name = os.path.basename(path)
        if name == "train.lua":
            continue
        p = subprocess.run([OPTLUA, path], capture_output=True, text=True, timeout=300, cwd=d)
        if p.returncode == 0 and p.stdout.strip():
            passed += 1
        else:
            failed += 1
            print(f"FAIL {name} (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}",
                  file=sys.stderr)
print(f"{passed} passed, {failed} failed, 0 skipped")  # no script is skipped here
sys.exit(1 if failed else 0)
