#!/usr/bin/env python3
"""Translation checks (suite 'validate'):
1. every source of the desktop client with translatable strings is in po/POTFILES.in, and every
   listed file exists;
2. po/zh_CN.po, merged with a template extracted from the sources now, has no untranslated
   and no fuzzy message (so a new string without a Chinese translation fails).
usage: check-translations.py SOURCE_ROOT
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

root = sys.argv[1]
listed = [l.strip() for l in open(os.path.join(root, "po", "POTFILES.in"), encoding="utf-8")
          if l.strip() and not l.startswith("#")]
errors = []
for f in listed:
    if not os.path.exists(os.path.join(root, f)):
        errors.append("POTFILES.in lists a missing file: " + f)

marks = {".c": re.compile(r'\b(N?_|C_|NC_|g_dngettext)\s*\('), ".ui": re.compile(r'translatable="yes"')}
candidates = glob.glob(os.path.join(root, "client-gtk", "*.c")) + glob.glob(os.path.join(root, "client-gtk", "*.ui"))
candidates += glob.glob(os.path.join(root, "data", "*.in")) + glob.glob(os.path.join(root, "data", "*.gschema.xml"))
for path in candidates:
    rel = os.path.relpath(path, root)
    ext = os.path.splitext(path)[1]
    text = open(path, encoding="utf-8").read()
    translatable = rel.startswith("data/") or (ext in marks and marks[ext].search(text))
    if translatable and rel not in listed:
        errors.append("translatable source missing from po/POTFILES.in: " + rel)

with tempfile.TemporaryDirectory() as tmp:
    pot = os.path.join(tmp, "implus.pot")
    subprocess.run(["xgettext", "--files-from=" + os.path.join(root, "po", "POTFILES.in"),
                    "--directory=" + root, "--from-code=UTF-8", "--keyword=_", "--keyword=N_",
                    "--keyword=C_:1c,2", "--keyword=NC_:1c,2", "--keyword=g_dngettext:2,3",
                    "--add-comments=TRANSLATORS", "-o", pot], check=True)
    merged = os.path.join(tmp, "zh_CN.po")
    subprocess.run(["msgmerge", "--quiet", "--no-fuzzy-matching", "-o", merged,
                    os.path.join(root, "po", "zh_CN.po"), pot], check=True)
    stats = subprocess.run(["msgfmt", "--check", "--statistics", "-o", os.devnull, merged],
                           capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    print(stats.stderr.strip())
    if stats.returncode != 0 or "untranslated" in stats.stderr or "fuzzy" in stats.stderr:
        errors.append("po/zh_CN.po is not complete: " + stats.stderr.strip())
        untranslated = subprocess.run(["msgattrib", "--untranslated", "--no-obsolete", merged],
                                      capture_output=True, text=True).stdout
        errors.extend("untranslated: " + m for m in re.findall(r'^msgid "(.+)"$', untranslated, re.M))

for e in errors:
    print("FAIL " + e)
sys.exit(1 if errors else 0)
