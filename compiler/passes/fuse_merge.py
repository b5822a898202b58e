"""Fusion's later steps on the groups it formed: merging sibling kernels (rows over the same rows, loops over the same
domain reading a common array) and ordering the kernels (a cycle between them is reported, not made)."""
from __future__ import annotations

from .fusion_plan import FusionCycle, _squeeze, _sq_equal, shapes_equal


def group_deps(groups, group_of):
    deps = {grp: set() for grp in groups}
    for grp in groups:
        for n in grp.members:
            for v in n.inputs:
                p = v.node
                if p is not None and p not in grp.members:
                    src = group_of.get(p)
                    if src is not None and src is not grp:
                        deps[grp].add(src)
    return deps


# Sibling merging tries every pair (exact, with a reachability search each) up to this many candidate kernels of
# a kind; beyond, only kernels of one level of the kernel DAG are merged (linear, see _merge_buckets)
EXACT_MERGE_LIMIT = 64


def _merge_siblings_exact(groups, group_of, log, kind, fits, reason):
    """Merge pairs of `kind` kernels for which fits(a, b) holds and neither reaches the other through a third
    kernel, until no pair is left; b's nodes join a. Cubic in the number of candidates: small programs only."""
    changed = True
    while changed:
        changed = False
        deps = group_deps(groups, group_of)
        cands = [g for g in groups if g.kind == kind]
        for i, a in enumerate(cands):
            for b in cands[i + 1:]:
                if not fits(a, b):
                    continue
                if _reaches_via_other(b, a, deps) or _reaches_via_other(a, b, deps):
                    continue
                a.members |= b.members
                a.assigned |= b.assigned
                a.reductions += [r for r in b.reductions if r not in a.reductions]
                for n in b.assigned:
                    group_of[n] = a
                a.reasons.append(f"merged with {b.name} ({reason})")
                log.append(f"{a.name}: merged with {b.name} ({reason})")
                groups = [g for g in groups if g is not b]
                changed = True
                break
            if changed:
                break
    return groups


def _reaches_via_other(src, dst, deps):
    """Whether dst depends on src through some third group (so merging them would make a cycle)."""
    stack = [d for d in deps[dst] if d is not src]
    seen = set()
    while stack:
        g = stack.pop()
        if g in seen:
            continue
        seen.add(g)
        if g is src:
            return True
        stack.extend(deps[g])
    return False



def _levels(groups, deps):
    """Longest path from a source to each group in the kernel DAG (deps: group -> groups it reads)."""
    level, users = {}, {g: [] for g in groups}
    waiting = {g: len(deps[g]) for g in groups}
    for g in groups:
        for d in deps[g]:
            users[d].append(g)
    ready = [g for g in groups if waiting[g] == 0]
    for g in ready:
        level[g] = 0
    while ready:
        g = ready.pop()
        for u in users[g]:
            level[u] = max(level.get(u, 0), level[g] + 1)
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    return level


def _merge_buckets(groups, group_of, log, buckets, reason):
    """Merge the groups of each bucket (lists of groups, union-find across buckets) into its first member.

    NOTE: callers bucket only groups of the same level in the kernel DAG. Every edge of the DAG goes from a lower
    level to a higher one, and a merged group spans a single level, so two groups of one level are never joined
    by a path, before or after any number of such merges: merging them cannot make a cycle between kernels."""
    index = {g: i for i, g in enumerate(groups)}
    parent = list(range(len(groups)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for bucket in buckets:
        for g in bucket[1:]:
            a, b = find(index[bucket[0]]), find(index[g])
            if a != b:
                parent[max(a, b)] = min(a, b)
    kept = []
    for i, b in enumerate(groups):
        r = find(i)
        if r == i:
            kept.append(b)
            continue
        a = groups[r]
        a.members |= b.members
        a.assigned |= b.assigned
        known = set(a.reductions)
        a.reductions += [x for x in b.reductions if x not in known]
        for n in b.assigned:
            group_of[n] = a
        a.reasons.append(f"merged with {b.name} ({reason})")
        log.append(f"{a.name}: merged with {b.name} ({reason})")
    return kept


def _shape_key(shape):
    return tuple(str(d) for d in shape)


def merge_sibling_rows(groups, group_of, pos, log):
    """Merge row kernels over the same rows when no other kernel sits between them (e.g. a loss's per-row
    terms and the softmax statistics its gradient needs): their reductions become phases of one kernel."""
    if sum(g.kind == "row" for g in groups) <= EXACT_MERGE_LIMIT:
        return _merge_siblings_exact(groups, group_of, log, "row",
                                     lambda a, b: _sq_equal(a.O, b.O) and _sq_equal(a.R, b.R),
                                     "same rows, nothing in between")
    level = _levels(groups, group_deps(groups, group_of))
    buckets = {}
    for g in groups:
        if g.kind == "row" and g in level:
            key = (level[g], _shape_key(_squeeze(g.O)), _shape_key(_squeeze(g.R)))
            buckets.setdefault(key, []).append(g)
    return _merge_buckets(groups, group_of, log, [b for b in buckets.values() if len(b) > 1],
                          "same rows, nothing in between")


def _external_inputs(grp):
    return {v for n in grp.members for v in n.inputs if v.node is None or v.node not in grp.members}


def merge_sibling_loops(groups, group_of, log):
    """Merge elementwise loop kernels over the same domain that read a common array (an optimizer's new velocity
    and new parameters both read the gradient and the old velocity): one pass reads it once. Every member is
    evaluated per element, so the merged kernel computes the same values; merging never crosses a third kernel."""
    if sum(g.kind == "loop" for g in groups) <= EXACT_MERGE_LIMIT:
        memo = {}

        def ins(g):        # a group's inputs change only when it grows
            key = (id(g), len(g.members))
            if key not in memo:
                memo[key] = _external_inputs(g)
            return memo[key]

        def fits(a, b):
            shared = ins(a) & ins(b)
            return shapes_equal(a.domain, b.domain) and any(shapes_equal(v.type.shape, a.domain) for v in shared)
        return _merge_siblings_exact(groups, group_of, log, "loop", fits, "same domain, shared input")
    level = _levels(groups, group_deps(groups, group_of))
    buckets = {}
    for g in groups:
        if g.kind != "loop" or g not in level:
            continue
        dom = _shape_key(g.domain)
        for v in _external_inputs(g):
            if _shape_key(v.type.shape) == dom:
                buckets.setdefault((level[g], dom, v), []).append(g)
    return _merge_buckets(groups, group_of, log, [b for b in buckets.values() if len(b) > 1],
                          "same domain, shared input")



def toposort_groups(g, groups, group_of, pos):
    """Groups in execution order: depth-first from each group in order of its root, producers first (an explicit
    stack: a chain of thousands of kernels is as deep). A cycle raises FusionCycle naming the extra outputs on it."""
    deps = group_deps(groups, group_of)
    out, state = [], {}
    for start in sorted(groups, key=lambda x: pos[x.root]):
        if state.get(start) == 2:
            continue
        state[start] = 1
        path = [start]
        stack = [iter(sorted(deps[start], key=lambda x: pos[x.root]))]
        while stack:
            grp = next(stack[-1], None)
            if grp is None:
                done = path.pop()
                stack.pop()
                state[done] = 2
                out.append(done)
                continue
            s = state.get(grp)
            if s == 2:
                continue
            if s == 1:
                cyc = path[path.index(grp):]
                extra = [v.node for c in cyc for v in c.outputs[1:]]
                raise FusionCycle(extra or [n for c in cyc for n in c.members - c.assigned])
            state[grp] = 1
            path.append(grp)
            stack.append(iter(sorted(deps[grp], key=lambda x: pos[x.root])))
    for i, grp in enumerate(out):
        grp.id = i
    return out

