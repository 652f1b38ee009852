#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""series.py: the patch series, from the whole files of the repository.

The repository holds the files as the whole series leaves them. How the
series is split into patches lives in harness/series/: for patch NN,
NN-name.msg is its commit message and NN-name.hunks its hunks, as in a
diff but without line numbers, and with the long runs of added lines
abbreviated. Going from the last patch to the first, the hunks of each are
found in the tree after it and undone, which gives the tree before it; the
tree before the first patch must be the pinned base, file for file.

  series.py states BASE FINAL OUT
        write the tree after each patch into OUT/00 (the base), OUT/01...
        (the files of harness/base.manifest only); BASE and FINAL are the
        pristine tree and the tree with the series applied
  series.py record NN BEFORE AFTER
        write harness/series/NN-*.hunks from two such trees, the tree
        before patch NN and the tree after it; for changing the split

The format of a .hunks file: lines starting with "#" before the first hunk
are comments. "@@ new PATH" says that the patch adds PATH. "@@ PATH" starts
a hunk of PATH, whose lines start with " " (context), "+" (added by the
patch) or "-" (removed by it), as in a unified diff; a line "+..." stands
for any number of added lines, as few as make the rest of the hunk match.
Empty lines at the end of a hunk are ignored; an empty line inside it is an
empty context line. A hunk must match the tree after the patch exactly
once.
"""

import difflib
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIES = os.path.join(TOP, "harness", "series")
MANIFEST = os.path.join(TOP, "harness", "base.manifest")

SKIP = "+..."


class SplitError(Exception):
    pass


def manifest_files():
    files = []
    with open(MANIFEST) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and (parts[0] == "absent" or
                                    re.fullmatch(r"[0-9a-f]{64}", parts[0])):
                files.append(parts[1])
    return files


def patches():
    """(number, name) of every patch, in order."""
    out = []
    for fn in sorted(os.listdir(SERIES)):
        m = re.fullmatch(r"(\d\d)-(.+)\.msg", fn)
        if m:
            out.append((int(m.group(1)), m.group(1) + "-" + m.group(2)))
    for i, (n, _) in enumerate(out):
        if n != i + 1:
            raise SplitError("harness/series: patch numbers must run 01, 02, ... (%02d)" % n)
    return out


def read_tree(root, files):
    tree = {}
    for f in files:
        p = os.path.join(root, f)
        if os.path.exists(p):
            with open(p, encoding="utf-8", errors="surrogateescape",
                      newline="") as fh:
                tree[f] = fh.read()
    return tree


def write_tree(root, tree):
    for f, text in tree.items():
        p = os.path.join(root, f)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8", errors="surrogateescape",
                  newline="") as fh:
            fh.write(text)


# A hunk: (path, items, where), items a list of (kind, text) with kind one
# of " ", "+", "-" and "...", where for messages.
def parse_hunks(path):
    hunks, news = [], []
    cur = None
    with open(path, encoding="utf-8", errors="surrogateescape",
              newline="") as fh:
        lines = fh.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()

    def close():
        if cur is None:
            return
        items, explicit = cur[1], cur[3]
        while items and not explicit[-1]:
            items.pop()
            explicit.pop()
        if not any(k in "+-" for k, _ in items):
            raise SplitError("%s: hunk at line %d changes nothing" % (path, cur[2]))
        hunks.append((cur[0], items, "%s:%d" % (os.path.relpath(path, TOP), cur[2])))

    for no, line in enumerate(lines, 1):
        if line.startswith("@@"):
            close()
            cur = None
            arg = line[2:].strip()
            if arg.startswith("new "):
                news.append(arg[4:].strip())
                continue
            if not arg:
                raise SplitError("%s:%d: @@ without a path" % (path, no))
            cur = (arg.split()[0], [], no, [])
            continue
        if cur is None:
            if line == "" or line.startswith("#"):
                continue
            raise SplitError("%s:%d: a line outside a hunk" % (path, no))
        if line == SKIP:
            cur[1].append(("...", None))
            cur[3].append(True)
        elif line == "":
            # An empty context line; one at the end of a hunk is dropped.
            cur[1].append((" ", ""))
            cur[3].append(False)
        elif line[0] in " +-":
            cur[1].append((line[0], line[1:]))
            cur[3].append(True)
        else:
            raise SplitError("%s:%d: a hunk line must start with ' ', '+' or '-'"
                             % (path, no))
    close()
    return hunks, news


def match_at(lines, start, pattern, limit=2):
    """The ways pattern (items without "-") matches lines from start on, at
    most limit of them, each as the number of lines matched by each item.
    Fixed lines must match in order; a "..." item takes any number of
    lines. Only the "..." items recurse, so a long hunk costs no depth."""
    runs = [[]]
    for kind, text in pattern:
        if kind == "...":
            runs.append([])
        else:
            runs[-1].append(text)
    found = []

    def go(ri, li, skips):
        run = runs[ri]
        if lines[li:li + len(run)] != run:
            return
        end = li + len(run)
        if ri == len(runs) - 1:
            found.append(skips)
            return
        first = runs[ri + 1][0]
        for n in range(len(lines) - end):
            if lines[end + n] == first:
                go(ri + 1, end + n, skips + [n])
                if len(found) >= limit:
                    return

    go(0, start, [])
    out = []
    for skips in found:
        counts, k = [], 0
        for kind, _ in pattern:
            if kind == "...":
                counts.append(skips[k])
                k += 1
            else:
                counts.append(1)
        out.append(counts)
    return out


def undo_hunk(text, hunk):
    path, items, where = hunk
    lines = text.split("\n")
    pattern = [(k, t) for k, t in items if k != "-"]
    if not pattern or pattern[0][0] == "...":
        raise SplitError("%s: a hunk must start with a line to find, not with "
                         "a removed line alone or %s" % (where, SKIP))
    if pattern[-1][0] == "..." or any(a[0] == b[0] == "..." for a, b in
                                      zip(pattern, pattern[1:])):
        raise SplitError("%s: %s must be followed by a line to find" % (where, SKIP))
    first = pattern[0][1]
    found = []
    for start in range(len(lines)):
        if lines[start] != first:
            continue
        found += [(start, c) for c in match_at(lines, start, pattern)]
        if len(found) > 1:
            break
    if len(found) != 1:
        raise SplitError("%s: %s in %s" % (where, "no match" if not found else
                                          "more than one match", path))
    start, counts = found[0]
    out, li, ci = [], start, 0
    for kind, t in items:
        if kind == "-":
            out.append(t)
            continue
        n = counts[ci]
        ci += 1
        if kind == " ":
            out.extend(lines[li:li + n])
        li += n
    return "\n".join(lines[:start] + out + lines[li:]), start


def undo_patch(tree, name, path=None):
    hunks, news = parse_hunks(path or os.path.join(SERIES, name + ".hunks"))
    tree = dict(tree)
    for f in news:
        if f not in tree:
            raise SplitError("%s.hunks: new file %s is not in the tree" % (name, f))
        del tree[f]
    for hunk in hunks:
        if hunk[0] not in tree:
            raise SplitError("%s: %s is not in the tree" % (hunk[2], hunk[0]))
        tree[hunk[0]], _ = undo_hunk(tree[hunk[0]], hunk)
    return tree


def states(base, final, out):
    files = manifest_files()
    trees = [read_tree(final, files)]
    names = [n for _, n in patches()]
    for name in reversed(names):
        trees.insert(0, undo_patch(trees[0], name))
    want = read_tree(base, files)
    bad = sorted(f for f in set(want) | set(trees[0])
                 if want.get(f) != trees[0].get(f))
    if bad:
        for f in bad:
            if f in want and f in trees[0]:
                diff = difflib.unified_diff(
                    want[f].split("\n"), trees[0][f].split("\n"),
                    "base/" + f, "undone/" + f, lineterm="", n=1)
                sys.stderr.write("\n".join(list(diff)[:40]) + "\n")
        raise SplitError("undoing every patch does not give the base: " +
                         ", ".join(bad))
    for i, tree in enumerate(trees):
        d = os.path.join(out, "%02d" % i)
        subprocess.run(["rm", "-rf", d], check=True)
        write_tree(d, tree)
    with open(os.path.join(out, "names"), "w") as fh:
        fh.write("\n".join(["00-base"] + names) + "\n")


# record: the hunks of one patch from the trees before and after it.
def diff_hunks(a, b, context):
    """Unified diff hunks of a -> b as lists of (kind, text)."""
    al, bl = a.split("\n"), b.split("\n")
    hunks = []
    sm = difflib.SequenceMatcher(None, al, bl, autojunk=False)
    for group in sm.get_grouped_opcodes(context):
        items = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                items += [(" ", t) for t in al[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                items += [("-", t) for t in al[i1:i2]]
            if tag in ("replace", "insert"):
                items += [("+", t) for t in bl[j1:j2]]
        hunks.append(items)
    return hunks


def abbreviate(items, keep_head=2, keep_tail=2, longer_than=8):
    out, run = [], []

    def flush():
        if len(run) > longer_than:
            out.extend(run[:keep_head] + [("...", None)] + run[-keep_tail:])
        else:
            out.extend(run)
        run.clear()

    for it in items:
        if it[0] == "+":
            run.append(it)
        else:
            flush()
            out.append(it)
    flush()
    return out


def format_hunk(path, items):
    if ("+", SKIP[1:]) in items:
        raise SplitError("record: %s adds a line \"%s\", which a .hunks file "
                         "cannot tell from %s" % (path, SKIP[1:], SKIP))
    lines = ["@@ " + path]
    for k, t in items:
        lines.append(SKIP if k == "..." else k + t)
    return "\n".join(lines)


def record_file(path, before, after):
    """Hunks that take after back to before, checked one by one."""
    for context in (3, 6, 12, 24, 48):
        text, chunks, ok = after, [], True
        for items in diff_hunks(before, after, context):
            try:
                want, _ = undo_hunk(text, (path, items, "record"))
            except SplitError:
                ok = False
                break
            # The shortest abbreviation that still undoes the same lines.
            for cand in (abbreviate(items), abbreviate(items, 2, 6),
                         abbreviate(items, 4, 12), items):
                try:
                    new, _ = undo_hunk(text, (path, cand, "record"))
                except SplitError:
                    continue
                if new == want:
                    break
            chunks.append(format_hunk(path, cand))
            text = want
        if ok and text == before:
            return chunks
    raise SplitError("record: no hunks found that undo %s" % path)


def record(nn, before, after):
    name = dict(patches()).get(nn)
    if not name:
        raise SplitError("record: no harness/series/%02d-*.msg" % nn)
    files = manifest_files()
    b, a = read_tree(before, files), read_tree(after, files)
    out = []
    old = os.path.join(SERIES, name + ".hunks")
    if os.path.exists(old):
        with open(old) as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                out.append(line.rstrip("\n"))
    if out:
        out.append("")
    for f in files:
        if f in a and f not in b:
            out.append("@@ new " + f)
    for f in files:
        if f in a and f in b and a[f] != b[f]:
            out.extend(c + "\n" for c in record_file(f, b[f], a[f]))
        elif f in b and f not in a:
            raise SplitError("record: a patch that deletes %s" % f)
    # The check, before the old file is replaced: undoing the new hunks
    # gives the tree before.
    with open(old + ".new", "w", newline="") as fh:
        fh.write("\n".join(out).rstrip("\n") + "\n")
    try:
        ok = undo_patch(a, name, old + ".new") == b
    except SplitError:
        os.remove(old + ".new")
        raise
    if not ok:
        os.remove(old + ".new")
        raise SplitError("record: %s.hunks would not undo the patch" % name)
    os.replace(old + ".new", old)


def main(argv):
    try:
        if len(argv) == 4 and argv[0] == "states":
            states(*argv[1:])
        elif len(argv) == 4 and argv[0] == "record":
            record(int(argv[1]), argv[2], argv[3])
        else:
            sys.stderr.write(__doc__)
            return 2
    except SplitError as e:
        sys.stderr.write("series: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
