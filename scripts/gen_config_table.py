"""Regenerate README's configuration table from samples/.env.example (the one source of truth)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- config-table:begin -->", "<!-- config-table:end -->"


def table() -> str:
    rows, comments, section = [], [], ""
    for raw in (ROOT / "samples" / ".env.example").read_text().splitlines():
        line = raw.strip()
        if line.startswith("# ----"):
            section = line.strip("# -").strip()
            comments = []
            continue
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if m:
            name, value = m.groups()
            default = value if not line.startswith("#") else ""
            doc = " ".join(c for c in comments if not c.startswith("one of:")) or ""
            choices = next((c[len("one of:"):].strip() for c in comments if c.startswith("one of:")), "")
            if choices:
                doc = f"{doc} ({choices})".strip()
            doc = doc.replace("|", "/")
            rows.append(f"| {section} | `{name}` | {('`' + default + '`') if default else '—'} | {doc} |")
            comments = []
        elif line.startswith("#") and not line.startswith("# llmops-kit") and section:
            comments.append(line.lstrip("# ").strip())
        elif not line:
            comments = []
    head = "| part | variable | default | what it does |\n|---|---|---|---|"
    return "\n".join([head, *rows])


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(f"{re.escape(BEGIN)}.*?{re.escape(END)}", f"{BEGIN}\n{table()}\n{END}", text, flags=re.S)
    if "--check" in sys.argv:
        return 0 if new == text else 1
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
