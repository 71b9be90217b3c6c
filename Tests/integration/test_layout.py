"""Knowledge written once: the module graph (Package.swift's moduleGraph, read by CMakeLists.txt and
FuzzTesting/build.sh) and the fuzz targets with their seeds (FuzzTesting/targets). These tests fail,
naming what disagrees, when a build, a module's imports or a seed drifts from the one place.

Needs only the source tree and `swift` (for `swift package dump-package`); no binary under test."""
import hashlib
import json
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "Package.swift"
FUZZ = ROOT / "FuzzTesting"
KINDS = ("c", "library", "executable")


def module_graph(manifest_text):
    """The moduleGraph lines, parsed the way CMake and build.sh parse them: [(kind, name, [imports])]."""
    lines = manifest_text.splitlines()
    start = lines.index('let moduleGraph = """')
    end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == '"""')
    return [(words[0], words[1], words[2:]) for words in (line.split() for line in lines[start + 1:end])]


GRAPH = module_graph(MANIFEST.read_text())


def graph_errors(graph):
    """What is wrong with the graph itself: unknown kinds, and imports of modules not on a line above."""
    errors, above = [], set()
    for kind, name, imports in graph:
        if kind not in KINDS:
            errors.append(f"{name}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        errors += [f"{name} imports {module}, which is not on a line above it" for module in imports if module not in above]
        above.add(name)
    if [kind for kind, _, _ in graph].count("executable") != 1:
        errors.append("the graph needs exactly one executable")
    return errors


def closure(graph, name):
    """Every module `name` may import: its declared imports and, through them, theirs."""
    imports = {module: set(deps) for _, module, deps in graph}
    seen, todo = set(), list(imports.get(name, ()))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += imports.get(module, ())
    return seen


IMPORT = re.compile(r"^[ \t]*(?:@\w+[ \t]+)*(?:(?:public|package|internal)[ \t]+)?import[ \t]+(?:\w+[ \t]+)?(\w+)", re.MULTILINE)


def undeclared_imports(graph, sources):
    """Imports of graph modules that the importing module's line does not reach (a build may then compile
    the importer first: CMake and build.sh order by the graph)."""
    names = {name for _, name, _ in graph}
    return [f"{path.relative_to(sources.parent)} imports {module}, but {name}'s moduleGraph line does not reach it"
            for name, _, path, module in source_imports(graph, sources)
            if module in names and module not in closure(graph, name)]


def source_imports(graph, sources):
    """(module, the imports its line names, file, imported module) for each import in each module's files."""
    for _, name, imports in graph:
        for path in sorted((sources / name).glob("*.swift")):
            for module in IMPORT.findall(path.read_text()):
                yield name, imports, path, module


def c_imports_off_their_line(graph, sources):
    """Files importing a C module that their own module's line does not name: C stays in the modules
    that wrap it (SystemSupport, SCEPCrypto, SCEPPKCS11), however many modules reach it through them."""
    c_modules = {name for kind, name, _ in graph if kind == "c"}
    return [f"{path.relative_to(sources.parent)} imports {module}, which {name}'s moduleGraph line does not name: "
            "call a wrapper in SystemSupport instead"
            for name, imports, path, module in source_imports(graph, sources)
            if module in c_modules and module not in imports]


def test_module_graph_is_well_formed():
    assert graph_errors(GRAPH) == []


def test_every_source_folder_is_a_module_of_the_graph():
    folders = {path.name for path in (ROOT / "Sources").iterdir() if path.is_dir()}
    names = {name for _, name, _ in GRAPH}
    assert sorted(folders - names) == [], "folders in Sources/ missing from Package.swift's moduleGraph"
    assert sorted(names - folders) == [], "moduleGraph modules without a folder in Sources/"


def test_every_module_imports_only_what_its_line_reaches():
    assert undeclared_imports(GRAPH, ROOT / "Sources") == []


def test_only_the_modules_that_wrap_c_import_it():
    assert c_imports_off_their_line(GRAPH, ROOT / "Sources") == []
    assert sorted(name for _, name, imports in GRAPH if "CSCEPShim" in imports) == ["SCEPCrypto", "SCEPPKCS11", "SystemSupport"]


def test_c_import_check_catches_a_forged_import(tmp_path):
    """The executable importing the shim for getenv and exit, as it did before SystemSupport."""
    (tmp_path / "Sources" / "scep-agent").mkdir(parents=True)
    (tmp_path / "Sources" / "scep-agent" / "main.swift").write_text("import CSCEPShim\nimport SystemSupport\n")
    assert c_imports_off_their_line(GRAPH, tmp_path / "Sources") == [
        "Sources/scep-agent/main.swift imports CSCEPShim, which scep-agent's moduleGraph line does not name: "
        "call a wrapper in SystemSupport instead"]


def test_swiftpm_builds_exactly_the_graph():
    """A target added to Package.swift by hand, outside moduleGraph, would be missing from CMake and the fuzz build."""
    dump = subprocess.run(["swift", "package", "dump-package"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert dump.returncode == 0, dump.stderr
    package = json.loads(dump.stdout)
    kinds = {"regular": ("library", "c"), "executable": ("executable",)}
    built = {}
    for target in package["targets"]:
        if target["type"] == "test" or target.get("path", "").startswith("Tests/"):
            continue  # test targets and their helpers are SwiftPM's alone
        dependencies = sorted(next(iter(dependency.values()))[0] for dependency in target["dependencies"])
        built[target["name"]] = (kinds.get(target["type"], (target["type"],)), dependencies)
    expected = {name: (kind, sorted(imports)) for kind, name, imports in GRAPH}
    for name in sorted(set(built) | set(expected)):
        assert name in expected, f"Package.swift builds {name}, which is not in moduleGraph"
        assert name in built, f"moduleGraph has {name}, which Package.swift does not build"
        kind, imports = expected[name]
        assert kind in built[name][0], f"{name}: moduleGraph says {kind}, SwiftPM builds {built[name][0]}"
        assert built[name][1] == imports, f"{name}: SwiftPM dependencies {built[name][1]}, moduleGraph {imports}"


@pytest.mark.parametrize("reader", ["CMakeLists.txt", "FuzzTesting/build.sh"])
def test_builds_read_the_graph_instead_of_naming_modules(reader):
    text = (ROOT / reader).read_text()
    assert "moduleGraph" in text or "scep_modules_from_graph" in text, f"{reader} no longer reads moduleGraph"
    # The executable is left out: it is named after the project, which CMake names too.
    # Also as a library: -lNAME, libNAME.a.
    named = [name for kind, name, _ in GRAPH
             if kind != "executable" and re.search(rf"(?<![\w-])(?:-l|lib)?{re.escape(name)}(?![\w-])", text)]
    assert named == [], f"{reader} names modules itself ({', '.join(named)}); take them from Package.swift's moduleGraph"


def test_graph_checks_catch_a_forged_graph(tmp_path):
    """The checks above, fed a graph broken the ways an edit breaks it."""
    # DER's line, whatever it imports, made to import SCEPAgent (below it) and followed by an unknown kind.
    forged = re.sub(r"^    library     DER\b.*$", "    library     DER     SCEPAgent\n    framework   Extra", MANIFEST.read_text(), count=1, flags=re.M)
    errors = graph_errors(module_graph(forged))
    assert "DER imports SCEPAgent, which is not on a line above it" in errors
    assert any(error.startswith("Extra: unknown kind") for error in errors)
    # SCEPMessages's line without SCEPCrypto: its files import SCEPCrypto, which nothing else on it reaches.
    dropped = [(kind, name, [m for m in imports if not (name == "SCEPMessages" and m == "SCEPCrypto")])
               for kind, name, imports in GRAPH]
    assert any("imports SCEPCrypto, but SCEPMessages's moduleGraph line" in error
               for error in undeclared_imports(dropped, ROOT / "Sources"))


def fuzz_table():
    """FuzzTesting/targets: {target: (max_len, [seed patterns])}, in its order."""
    table = {}
    for line in (FUZZ / "targets").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            target, max_len, *patterns = line.split()
            table[target] = (int(max_len), patterns)
    return table


def test_fuzz_targets_are_main_swifts():
    enum = re.search(r"enum Target: String \{\s*case ([^}]*)\}", (FUZZ / "main.swift").read_text())
    cases = [case.strip() for case in enum.group(1).split(",")]
    assert list(fuzz_table()) == cases


def test_every_referenced_seed_exists():
    missing = [f"{target}: {pattern}" for target, (_, patterns) in fuzz_table().items()
               for pattern in patterns if not list(ROOT.glob(pattern))]
    assert missing == [], "FuzzTesting/targets references seeds that match no file"


def test_no_seed_is_a_copy_of_a_file_elsewhere_in_the_tree():
    """Seeds copied from Tests/Fixtures or boards/ drift from what they copy; reference them in FuzzTesting/targets."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    elsewhere = {}
    for name in filter(None, listed.decode().split("\0")):
        path = ROOT / name
        if not name.startswith("FuzzTesting/") and path.is_file():
            elsewhere.setdefault(digest(path), name)
    copies = [f"{seed.relative_to(ROOT)} copies {elsewhere[digest(seed)]}"
              for seed in sorted((FUZZ / "seeds").rglob("*")) if seed.is_file() and digest(seed) in elsewhere]
    assert copies == []
