"""Reference code lives with the tests: every public function and class under src/realsyn is
used by the package itself (or is one of the entry points listed below), and no test oracle
imports the module it checks.

"Used" is by name, transitively: a definition counts as used when a name in live code refers
to it (module-level code, the body of a used definition, a decorated definition such as a CLI
command, a `module:Name` string such as the stage registry, or the docs build's script). A
definition only tests refer to is reference code: move it under tests/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "realsyn"
# Production code outside the package: the docs build runs docs/*.py (mkdocs-gen-files).
BUILD_SCRIPTS = sorted((ROOT / "docs").glob("*.py"))

# Public entry points nothing in the package calls, each with why it is kept.
ENTRY_POINTS = {
    # the Python API's one call that runs a config's pipeline (what `realsyn run` does)
    "run_pipeline",
    # named in embed's encoder-mismatch error as the way to switch encoders by hand
    "forget_embeddings",
}

# Oracle files and the modules they check: an oracle that imported its subject would agree
# with it by construction. Any module that defines a stage is a subject too (see below).
RETRIEVE_STEPS = ["realsyn.retrieve.stage", "realsyn.retrieve.index_steps",
                  "realsyn.retrieve.routing_steps", "realsyn.retrieve.search_steps",
                  "realsyn.retrieve.cap_steps", "realsyn.retrieve.report_steps",
                  "realsyn.retrieve.lists", "realsyn.retrieve.candidates"]
ORACLE_SUBJECTS = {
    "tests/retrieve/oracle_retrieve.py": RETRIEVE_STEPS,
    "tests/retrieve/oracle_index.py": RETRIEVE_STEPS,
    "tests/retrieve/oracle_quality.py": RETRIEVE_STEPS,
    "tests/retrieve/oracle_routing.py": RETRIEVE_STEPS,
    "tests/balance/oracle_balance.py": ["realsyn.balance.stage"],
    "tests/extract/oracle_dedup_pairs.py": ["realsyn.extract.dedup_steps",
                                            "realsyn.extract.semantic_partition",
                                            "realsyn.extract.lsh_keys"],
    "tests/extract/dedup_oracle.py": ["realsyn.extract.dedup_steps",
                                      "realsyn.extract.semantic_partition",
                                      "realsyn.extract.lsh_keys",
                                      "realsyn.dataflow.components"],
}
STAGE_BASES = {"Stage", "SteppedStage", "FunnelStage"}
FRAMEWORK = "realsyn.stage"  # defines what a stage is, and checks nothing itself


def _names(node: ast.AST) -> set[str]:
    """Every name a piece of code refers to: names, attributes, imported names and the
    `module:Name` strings that load a class by path."""
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.alias):
            found.add(child.name.rsplit(".", 1)[-1])
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            found.update(re.findall(r"[\w.]+:(\w+)", child.value))
    return found


def unused_definitions() -> list[str]:
    definitions: dict[str, list[tuple[str, ast.AST]]] = {}
    live: set[str] = set(ENTRY_POINTS)
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        where = str(path.relative_to(ROOT))
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                definitions.setdefault(node.name, []).append((where, node))
                if node.decorator_list:  # registered where it is defined (CLI commands)
                    live |= _names(node) | {node.name}
            else:
                live |= _names(node)
    for script in BUILD_SCRIPTS:
        live |= _names(ast.parse(script.read_text()))
    grown = True
    while grown:
        grown = False
        for name in list(live):
            for _, node in definitions.pop(name, []):
                live |= _names(node)
                grown = True
    return sorted(f"{where}:{node.lineno} {name}" for name, nodes in definitions.items()
                  for where, node in nodes if not name.startswith("_"))


def test_no_public_definition_in_src_is_used_only_by_tests():
    unused = unused_definitions()
    assert not unused, ("used by nothing in src/realsyn (reference code belongs under tests/, "
                        "dead code goes): " + "; ".join(unused))


def _imports(tree: ast.AST) -> set[str]:
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            modules |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {module for module in modules if module.startswith("realsyn")}


def _defines_a_stage(module: str) -> bool:
    path = SRC.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        return False
    return any(isinstance(node, ast.ClassDef)
               and {getattr(base, "id", getattr(base, "attr", "")) for base in node.bases}
               & STAGE_BASES for node in ast.parse(path.read_text()).body)


def oracle_files() -> list[Path]:
    return sorted(p for p in (ROOT / "tests").rglob("*.py") if "oracle" in p.stem)


def test_every_oracle_names_its_subjects():
    assert {str(p.relative_to(ROOT)) for p in oracle_files()} == set(ORACLE_SUBJECTS)


def test_no_oracle_imports_the_module_it_checks():
    offending = []
    for path in oracle_files():
        imported = _imports(ast.parse(path.read_text()))
        subjects = set(ORACLE_SUBJECTS.get(str(path.relative_to(ROOT)), []))
        offending += [f"{path.relative_to(ROOT)} imports {module}" for module in sorted(imported)
                      if module in subjects or (module != FRAMEWORK and _defines_a_stage(module))]
    assert not offending, "; ".join(offending)
