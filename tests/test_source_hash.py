"""The compiler-source hash in the disk-cache key (backends/build.py tree_hash): the content hash, kept under a
stamp of the files' sizes and mtimes so a process need not read every source; any edit changes it."""
import hashlib
import os
import time

from compiler.backends.build import tree_hash


def _content_hash(root):
    h = hashlib.sha256()
    for d, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for f in sorted(names):
            if f.endswith(".py"):
                h.update(f.encode() + b"\0" + open(os.path.join(d, f), "rb").read())
    return h.hexdigest()


def test_tree_hash_memo_follows_every_edit(tmp_path):
    src, memo = tmp_path / "src", tmp_path / "memo"
    (src / "sub").mkdir(parents=True)
    (src / "a.py").write_text("x = 1\n")
    (src / "sub" / "b.py").write_text("y = 2\n")
    (src / "notes.txt").write_text("not source")
    first = tree_hash(str(src), str(memo))
    assert first == _content_hash(str(src)) == tree_hash(str(src))
    assert len(os.listdir(memo)) == 1
    # the memo is what a second process reads: plant another value under the same stamp and it comes back
    stamp = os.listdir(memo)[0]
    (memo / stamp).write_text("ab" * 32)
    assert tree_hash(str(src), str(memo)) == "ab" * 32
    (memo / stamp).write_text("garbage")                   # an unreadable memo is recomputed
    assert tree_hash(str(src), str(memo)) == first
    # an edit (same size, new mtime) gives a new stamp and the new content's hash
    time.sleep(0.01)
    (src / "sub" / "b.py").write_text("y = 3\n")
    os.utime(src / "sub" / "b.py", ns=(time.time_ns(), time.time_ns() + 10**9))
    second = tree_hash(str(src), str(memo))
    assert second != first and second == _content_hash(str(src))
    (src / "c.py").write_text("")                          # a new file counts too
    assert tree_hash(str(src), str(memo)) == _content_hash(str(src)) != second
