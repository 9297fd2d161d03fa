"""The test suite keeps the shape docs/development.md describes: tests/<package>/test_<module>.py beside the
code, helpers only in tests/support/, and no test file importing from another test file."""
import ast

from tests.support.environment import REPO

TESTS = REPO / "tests"
PACKAGES = {"connectors", "dedupe", "quality", "warehouse", "pipelines", "benchmarks"}


def every_test_file():
    return sorted(TESTS.rglob("test_*.py"))


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_no_test_file_imports_from_another_test_file_or_a_conftest():
    offenders = []
    for path in [*every_test_file(), *TESTS.rglob("support/*.py")]:
        for module in imported_modules(path):
            leaf = module.rsplit(".", 1)[-1]
            if module.startswith("tests.") and (leaf.startswith("test_") or leaf == "conftest"):
                offenders.append(f"{path.relative_to(REPO)} imports {module}")
    assert not offenders, "move what they share to tests/support/: " + "; ".join(offenders)


def test_every_test_file_sits_under_the_package_it_tests():
    misplaced = []
    for path in every_test_file():
        parts = path.relative_to(TESTS).parts
        if len(parts) == 1:
            if path.name != "test_docs.py" and path.name != "test_layout.py":
                misplaced.append(str(path.relative_to(REPO)))
        elif parts[0] not in PACKAGES or not (REPO / parts[0]).is_dir():
            misplaced.append(str(path.relative_to(REPO)))
    assert not misplaced, f"tests/<package>/test_<module>.py, please: {misplaced}"


PRODUCT = ("connectors", "dedupe", "quality", "warehouse", "pipelines")


def test_no_product_module_imports_another_inside_a_function():
    """Layers are checked by lint-imports on module-level imports; an import inside a function
    hides an edge from it (and usually a cycle), so product code imports at the top."""
    hidden = []
    for package in PRODUCT:
        for path in sorted((REPO / package).rglob("*.py")):
            module = ".".join(path.relative_to(REPO).with_suffix("").parts)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(func):
                    names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
                             else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
                    for name in names:
                        if name.split(".")[0] in PRODUCT:
                            hidden.append(f"{module}:{node.lineno} imports {name}")
    assert not hidden, "import at the top of the module (split it if that makes a cycle): " + "; ".join(hidden)


def test_no_product_module_is_over_600_lines():
    """A module longer than this holds more than one job (docs/development.md): split it by job."""
    long = [f"{path.relative_to(REPO)} ({n})" for package in PRODUCT for path in sorted((REPO / package).rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600]
    assert not long, "split these by job: " + ", ".join(long)
