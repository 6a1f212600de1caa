"""Merge the firmware modules that are loaded together at boot into one bundle file.

On the Pico every .mpy file loaded before the token is ready costs about 13 ms
(issue 18: a path search of three littlefs lookups, an open and the load), so the
bundles carry the core modules app.py's first import pulls in (MERGED) as one
module, dsc/token.mpy. The repository keeps one small module per concern; only
bundles are merged.

    merged_sources(read) -> {"dsc/token.py": merged text, "dsc/crypto.py": stub, ...}

How the merged module keeps each member a module to the rest of the firmware:
- the members' code runs in dependency order in one namespace; a member's import
  of another member becomes a name for that member's stand-in object;
- after a member's code ran, its stand-in gets the member's top-level names and
  is put in sys.modules and on the dsc package, so `from dsc import config` and
  `from dsc.storage import DirFS` elsewhere find it without a file;
- every other member keeps a file of a few lines (STUB) that loads dsc/token.mpy and
  takes its names, for whoever imports it first (a test harness; app never does).

One namespace must not change what any name means: the merge refuses (ValueError)
two members binding one name to different things, or a member reading a global
name that only another member binds.
"""

import ast

PACKAGE = "dsc"
ENTRY = "token"  # the member app.py imports (first): its file holds all of them
MERGED = ("crypto", "ocra", "config", "storage", "ui", "token")  # dependency order, ENTRY last
# Each group is merged on its own, the same way: (package, entry, members in dependency
# order, entry last). The Pico board and the two modules it imports at boot load as one
# file too (app.py imports dsc.token before the board, so the board finds the core's
# stand-ins in sys.modules).
CORE = (PACKAGE, ENTRY, MERGED)
PICO = ("boards", "pico", ("pico_pins", "keypad", "pico"))
GROUPS = (CORE, PICO)
PREFIX = "_bundle_"  # names the merge adds; no member may use them
STUB = """# OpenDSC bundle: this module's code is in %(package)s/%(entry)s.mpy with the other
# modules loaded at boot (scripts/firmware_merge.py); take its names from there.
import sys
import %(package)s.%(entry)s

globals().update(sys.modules[__name__].__dict__)
"""


def path(member, package=PACKAGE):
    return "%s/%s.py" % (package, member)


def group_paths(group):
    package, _, members = group
    return [path(m, package) for m in members]


def merged_sources(read, group=CORE):
    """{path: source} for the group's merged entry module and its other members' stubs.
    `read(path)` gives a member's source."""
    package, entry, members = group

    def where(m):
        return path(m, package)

    trees = {m: ast.parse(read(where(m)), where(m)) for m in members}
    identities = {}
    for m in members:
        identities[m] = _identities(m, trees[m], identities, group)
    _check_one_namespace(trees, identities, group)
    body = _header(group)
    for m in members:
        body += _member_code(m, trees[m], group)
        if m != entry:
            body += _publish(m, identities[m], package)
    module = ast.Module(body=body, type_ignores=[])
    text = "# OpenDSC bundle: %s merged by scripts/firmware_merge.py\n" % ", ".join(where(m) for m in members)
    out = {where(entry): text + ast.unparse(ast.fix_missing_locations(module)) + "\n"}
    for m in members:
        if m != entry:
            out[where(m)] = STUB % {"package": package, "entry": entry}
    return out


def _member_import(node, group):
    """For `from dsc import a` / `from dsc.a import x`: [(bound name, member, attribute or None)]
    for the parts naming members (other parts are left to the import statement)."""
    package, _, members = group
    if not isinstance(node, ast.ImportFrom) or node.level:
        return []
    if node.module == package:
        return [(a.asname or a.name, a.name, None) for a in node.names if a.name in members]
    if node.module and node.module.startswith(package + ".") and node.module[len(package) + 1:] in members:
        member = node.module[len(package) + 1:]
        return [(a.asname or a.name, member, a.name) for a in node.names]
    return []


def _identities(member, tree, earlier, group):
    """{top-level name: what it is}, equal for two bindings only when one namespace
    gives the same result: a member, a member's name, an outside import, one
    constant, or else this member's own definition."""
    package = group[0]
    names = {}
    for node in tree.body:
        imported = _member_import(node, group)
        for bound, other, attribute in imported:
            if other not in earlier:
                raise ValueError("%s imports %s, which comes later in its group"
                                 % (path(member, package), path(other, package)))
            if attribute is None:
                names[bound] = ("member", other)
            elif attribute in earlier[other]:
                names[bound] = earlier[other][attribute]
            else:
                raise ValueError("%s imports %s from %s, which has no such top-level name"
                                 % (path(member, package), attribute, path(other, package)))
        if imported:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = ("import", getattr(node, "module", None), a.name)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names[node.name] = ("own", member, node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            constant = isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in targets:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name):
                        names[n.id] = (("constant", repr(node.value.value)) if constant and n is target
                                       else ("own", member, n.id))
        elif not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            for n in ast.walk(node):  # if/try/for at the top: whatever they bind is the member's own
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    names[n.id] = ("own", member, n.id)
    return names


def _check_one_namespace(trees, identities, group):
    package, _, members = group
    everything = {}
    for m in members:
        for name, identity in identities[m].items():
            if name.startswith(PREFIX):
                raise ValueError("%s binds %s: the merge's own names start with %s"
                                 % (path(m, package), name, PREFIX))
            if everything.setdefault(name, (m, identity))[1] != identity:
                raise ValueError("%s and %s both bind %s, to different things"
                                 % (path(everything[name][0], package), path(m, package), name))
    for m in members:
        tree = trees[m]
        local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        local |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        foreign = sorted(name for name in read - local - set(identities[m]) if name in everything)
        if foreign:
            raise ValueError("%s reads %s, which %s binds: merged, it would see that"
                             % (path(m, package), ", ".join(foreign), path(everything[foreign[0]][0], package)))


def _header(group):
    package, entry, members = group
    return ast.parse(
        "import sys as %(p)ssys\n"
        "import %(package)s as %(p)spackage\n"
        "class %(p)sModule:\n"
        "    pass\n" % {"p": PREFIX, "package": package}
        + "".join("%s%s = %sModule()\n" % (PREFIX, m, PREFIX) for m in members if m != entry)).body


def _member_code(member, tree, group):
    """The member's statements, its imports of other members turned into plain names."""
    out = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue  # a docstring: the bundle has no use for it
        imported = _member_import(node, group)
        if not imported:
            out.append(node)
            continue
        package, _, members = group
        kept = [a for a in node.names if node.module != package or a.name not in members]
        if node.module == package and kept:
            out.append(ast.ImportFrom(module=node.module, names=kept, level=0))
        for bound, other, attribute in imported:
            source = PREFIX + other if attribute is None else attribute
            if bound != source:
                out.append(ast.Assign(targets=[ast.Name(bound, ast.Store())], value=ast.Name(source, ast.Load())))
    return out


def _publish(member, names, package):
    """Fill the member's stand-in with its names and make it the module others import."""
    stand_in = PREFIX + member
    lines = ["%s.%s = %s" % (stand_in, name, name) for name in sorted(names)]
    lines.append("%ssys.modules[%r] = %s" % (PREFIX, package + "." + member, stand_in))
    lines.append("%spackage.%s = %s" % (PREFIX, member, stand_in))
    return ast.parse("\n".join(lines)).body
