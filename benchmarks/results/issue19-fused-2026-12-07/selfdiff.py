import re, subprocess, sys
def load(p):
    out = subprocess.run(["callgrind_annotate", "--threshold=100", p], capture_output=True, text=True).stdout
    d = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if m:
            k = m.group(2).strip(); k = re.sub(r" \[.*\]$", "", k); d[k] = d.get(k, 0) + int(m.group(1).replace(",", ""))
    return d
pre = sys.argv[1]; n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
a = load(pre + "-200.cg"); b = load(pre + "-1200.cg")
rows = sorted(((b[k] - a.get(k, 0)) / 1000, k) for k in b)
groups = {}
for v, k in rows:
    lib = re.search(r"\[([^\]]*)\]", k); lib = lib.group(1).split("/")[-1] if lib else "?"
    groups[lib] = groups.get(lib, 0) + v
for v, k in reversed(rows[-n:]):
    print(f"{v:8.1f}k  {k[:150]}")
print("by library:")
for lib, v in sorted(groups.items(), key=lambda t: -t[1])[:15]:
    print(f"{v:8.1f}k  {lib}")
