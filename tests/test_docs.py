"""The public API's documentation: numpydoc sections, type hints, runnable
examples, and the README's API list.

Public objects are the names in ``fastdigits.__all__`` and in the
``__all__`` of the modules in ``MODULES``, and the public methods and
properties of those classes.  numpydoc itself is not a dependency: the
few rules checked here need only the section headers and the entries'
names, which :class:`Docstring` reads.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import doctest
import importlib
import inspect
import re
import textwrap
from pathlib import Path

import pytest

import fastdigits
from fastdigits import errors

ROOT = Path(__file__).resolve().parents[1]

#: Modules whose ``__all__`` is public beyond ``fastdigits.__all__`` and
#: whose examples run as doctests (``fastdigits`` itself: the package's).
MODULES = ("augment", "classify", "data", "distributed", "ensemble", "errors", "export", "metrics", "model", "modelfiles",
           "outliers", "persist", "preprocess", "read", "recipes", "sheet", "training")


#: numpydoc's sections, in the order numpydoc wants them.
ORDER = ("Parameters", "Attributes", "Methods", "Returns", "Yields", "Receives", "Other Parameters",
         "Raises", "Warns", "Warnings", "See Also", "Notes", "References", "Examples")

#: fastdigits' own exceptions: raising one names it under "Raises".
ERRORS = {name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, Exception)
          and obj.__module__ == errors.__name__} | set(errors.__all__)


class Docstring:
    """A docstring split into its summary line and numpydoc sections."""

    def __init__(self, text: str | None):
        self.problems: list[str] = []
        lines = inspect.cleandoc(text or "").splitlines()
        self.summary = lines[0].strip() if lines else ""
        if len(lines) > 1 and lines[1].strip():
            self.problems.append("the summary is more than one line")
        self.sections: dict[str, list[str]] = {}
        current = None
        for i, line in enumerate(lines):
            underline = lines[i + 1] if i + 1 < len(lines) else ""
            if line.strip() and re.fullmatch(r"-{3,}", underline.strip()) and not line.startswith(" "):
                header = line.strip()
                if header not in ORDER:
                    self.problems.append(f"unknown section {header!r}")
                elif header in self.sections:
                    self.problems.append(f"section {header!r} twice")
                elif len(underline.strip()) != len(header):
                    self.problems.append(f"the underline of {header!r} is not as long as it")
                current = header
                self.sections[current] = []
            elif current is not None and not re.fullmatch(r"-{3,}", line.strip()):
                self.sections[current].append(line)
        known = [s for s in self.sections if s in ORDER]
        if known != sorted(known, key=ORDER.index):
            self.problems.append(f"sections out of numpydoc's order: {known}")

    def entries(self, section: str) -> list[str]:
        """The unindented lines of ``section``: its entries' heads (``x : float``)."""
        body = textwrap.dedent("\n".join(self.sections.get(section, []))).splitlines()
        return [line for line in body if line.strip() and not line.startswith(" ")]

    def names(self, section: str) -> set[str]:
        """The names an entry of ``section`` documents: ``a, b : float`` gives a and b."""
        found = set()
        for line in self.entries(section):
            if re.fullmatch(r"[*\w]+(, *[*\w]+)*( : .*)?", line.strip()):
                found.update(n.strip().lstrip("*") for n in line.split(" : ")[0].split(","))
        return found


def _public_objects() -> dict[str, tuple[str, object]]:
    """``{qualified name: (kind, object)}``, kind one of "function",
    "class", "method", "property"; constants are left out (see
    :func:`test_constants_have_a_doc_comment`)."""
    found: dict[str, tuple[str, object]] = {}
    owners = [("fastdigits", fastdigits, fastdigits.__all__)]
    for name in MODULES:
        module = importlib.import_module(f"fastdigits.{name}")
        owners.append((module.__name__, module, module.__all__))
    seen: set[int] = set()
    for prefix, module, names in owners:
        for name in names:
            obj = getattr(module, name)
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            seen.add(id(obj))
            qualname = f"{prefix}.{name}"
            found[qualname] = ("class" if inspect.isclass(obj) else "function", obj)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, property):
                        found[f"{qualname}.{attr}"] = ("property", value)
                    elif isinstance(value, (classmethod, staticmethod)):
                        found[f"{qualname}.{attr}"] = ("method", getattr(obj, attr))
                    elif inspect.isfunction(value):
                        found[f"{qualname}.{attr}"] = ("method", value)
    return found


PUBLIC = _public_objects()


def _documented_parameters(obj) -> list[inspect.Parameter]:
    """The parameters a docstring must name: all but self/cls and ``*args``/``**kwargs``."""
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin's
        return []
    return [p for p in signature.parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _raised_errors(function) -> set[str]:
    """fastdigits errors that ``function``'s own body raises (not those of what it calls)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return set()
    raised = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
            if name in ERRORS:
                raised.add(name)
    return raised


def docstring_problems(kind: str, obj) -> list[str]:
    """What keeps ``obj``'s docstring and signature from being documented API."""
    if kind == "property":
        doc = Docstring(obj.fget.__doc__)
        return doc.problems + ([] if doc.summary else ["no docstring"])
    text = obj.__doc__
    if dataclasses.is_dataclass(obj) and text == f"{obj.__name__}{inspect.signature(obj)}".replace(" -> None", ""):
        text = None  # the docstring @dataclass writes for a class without one
    doc = Docstring(text)
    problems = list(doc.problems)
    if not doc.summary:
        return ["no docstring"]
    if not doc.summary.endswith("."):
        problems.append(f"the summary does not end with a full stop: {doc.summary!r}")
    params = [] if issubclass_exception(obj) else _documented_parameters(obj)
    if params and "Parameters" not in doc.sections:
        problems.append("no Parameters section")
    missing = [p.name for p in params if p.name not in doc.names("Parameters")]
    if missing and "Parameters" in doc.sections:
        problems.append(f"Parameters does not name {', '.join(missing)}")
    stray = [line for line in doc.entries("Parameters") if not re.fullmatch(r"[*\w]+(, *[*\w]+)*( : .*)?", line)]
    if stray:
        problems.append(f"Parameters holds text that is no entry (a Notes paragraph?): {stray[0][:60]!r}")
    try:  # ``*args`` and ``**kwargs`` may be documented, and need not be
        variadic = {p.name for p in inspect.signature(obj).parameters.values()
                    if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    except (TypeError, ValueError):
        variadic = set()
    unknown = doc.names("Parameters") - {p.name for p in params} - variadic
    if unknown and params:
        problems.append(f"Parameters names what the signature lacks: {', '.join(sorted(unknown))}")
    if kind in ("function", "method"):
        returns = inspect.signature(obj).return_annotation
        if returns not in (None, "None"):  # no hint: an undocumented return is still one
            wanted = "Yields" if inspect.isgeneratorfunction(obj) else "Returns"
            if wanted not in doc.sections:
                problems.append(f"no {wanted} section")
    if kind in ("function", "class") and "Examples" not in doc.sections:
        problems.append("no Examples section")
    bodies = [obj] if not inspect.isclass(obj) else \
        [vars(obj)[m] for m in ("__init__", "__post_init__") if m in vars(obj)]
    raised = set().union(*map(_raised_errors, bodies)) if bodies else set()
    unnamed = raised - doc.names("Raises")
    if unnamed:
        problems.append(f"Raises does not name {', '.join(sorted(unnamed))}, which it raises")
    return problems


def hint_problems(kind: str, obj) -> list[str]:
    """Parameters and returns of ``obj``'s signature without a type hint."""
    if kind == "property":
        return [] if "return" in getattr(obj.fget, "__annotations__", {}) else ["no return type hint"]
    params = [] if issubclass_exception(obj) else _documented_parameters(obj)
    problems = [f"no type hint for {p.name}" for p in params if p.annotation is inspect.Parameter.empty]
    if kind in ("function", "method") and inspect.signature(obj).return_annotation is inspect.Signature.empty:
        problems.append("no return type hint")
    return problems


def issubclass_exception(obj) -> bool:
    return inspect.isclass(obj) and issubclass(obj, BaseException)


@pytest.mark.parametrize("qualname", sorted(PUBLIC))
def test_public_object_is_documented(qualname):
    kind, obj = PUBLIC[qualname]
    problems = docstring_problems(kind, obj)
    assert not problems, f"{qualname}: " + "; ".join(problems)


@pytest.mark.parametrize("qualname", sorted(PUBLIC))
def test_public_signature_has_type_hints(qualname):
    """What ``py.typed`` promises type checkers: every public parameter and
    return annotated."""
    kind, obj = PUBLIC[qualname]
    problems = hint_problems(kind, obj)
    assert not problems, f"{qualname}: " + "; ".join(problems)


def test_errors_all_lists_every_error():
    defined = {name for name, obj in vars(errors).items() if isinstance(obj, type)
               and issubclass(obj, Exception) and obj.__module__ == errors.__name__}
    assert defined <= set(errors.__all__), f"missing from fastdigits.errors.__all__: {defined - set(errors.__all__)}"


def test_the_checks_catch_a_bad_docstring():
    def area(width: float, height: float) -> float:
        """Area of a rectangle,
        in square metres.

        Parameters
        ----------
        width : float

        Examples
        --------
        >>> area(2, 3)
        6
        """
        if width < 0:
            raise errors.InputError("width < 0")
        return width * height

    problems = " | ".join(docstring_problems("function", area))
    for expected in ("more than one line", "does not name height", "no Returns", "Raises does not name InputError"):
        assert expected in problems

    def scale(x, factor: float):
        """Scale x."""

    assert hint_problems("function", scale) == ["no type hint for x", "no return type hint"]


def _constants() -> list[str]:
    """The qualified name of every constant in the modules' ``__all__``."""
    out = []
    for name in MODULES:
        module = importlib.import_module(f"fastdigits.{name}")
        for attr in module.__all__:
            obj = getattr(module, attr)
            if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)):
                out.append(f"{module.__name__}.{attr}")
    return out


@pytest.mark.parametrize("qualname", _constants())
def test_constants_have_a_doc_comment(qualname):
    """A public constant is documented by a ``#:`` comment above it (what
    Sphinx's autodoc reads), in the module that defines it."""
    module_name, name = qualname.rsplit(".", 1)
    module = importlib.import_module(module_name)
    for candidate in (module, *(importlib.import_module(f"fastdigits.{m}") for m in MODULES)):
        lines = inspect.getsource(candidate).splitlines()
        for i, line in enumerate(lines):
            if re.match(rf"{name}\s*(:[^=]*)?=", line):
                assert i and lines[i - 1].startswith("#:"), f"{qualname}: no #: comment above its assignment"
                return
    pytest.fail(f"{qualname}: no assignment found")


# ------------------------------------------------------------------ examples


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    tests = []
    for name in ("fastdigits", *(f"fastdigits.{m}" for m in MODULES)):
        module = importlib.import_module(name)
        tests.extend(t for t in finder.find(module) if t.examples)
    return sorted(tests, key=lambda t: t.name)


@pytest.mark.parametrize("test", _doctests(), ids=lambda t: t.name)
def test_examples_run(test, tmp_path, monkeypatch):
    """Every example does what it shows, in an empty working folder (the
    examples that write files write them there)."""
    monkeypatch.chdir(tmp_path)
    test = copy.copy(test)
    test.globs = dict(test.globs)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


# -------------------------------------------------------------------- README


def _readme_api() -> list[tuple[str, str]]:
    """The ``- `name`: summary`` entries of the README's "API reference"."""
    text = (ROOT / "README.md").read_text()
    section = re.search(r"^### API reference\n(.*?)(?=^#)", text, re.S | re.M)
    assert section, "README.md has no '### API reference' section"
    return re.findall(r"^- `([^`]+)`: (.*)$", section.group(1), re.M)


def _markdown(summary: str) -> str:
    """A docstring's reStructuredText as the README's Markdown: ``:func:`x```
    and double backquotes become single backquotes."""
    return re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", summary).replace("``", "`")


def _expected_entry(name: str) -> str:
    obj = getattr(fastdigits, name)
    summary = Docstring(obj.__doc__).summary if inspect.isclass(obj) or inspect.isfunction(obj) else "..."
    return f"- `{name}`: {_markdown(summary)}"


def test_readme_lists_exactly_the_public_names():
    listed = [name for name, _ in _readme_api()]
    duplicates = {n for n in listed if listed.count(n) > 1}
    expected = "\n".join(_expected_entry(n) for n in fastdigits.__all__)
    assert not duplicates, f"README lists {duplicates} twice"
    assert set(listed) == set(fastdigits.__all__), (
        f"README's API reference differs from fastdigits.__all__: missing {set(fastdigits.__all__) - set(listed)}, "
        f"extra {set(listed) - set(fastdigits.__all__)}; the entries would be:\n{expected}")


def test_readme_summaries_are_the_docstrings_first_lines():
    wrong = []
    for name, summary in _readme_api():
        obj = getattr(fastdigits, name, None)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            first = _markdown(Docstring(obj.__doc__).summary)
            if summary != first:
                wrong.append(f"- `{name}`: {first}")
    assert not wrong, "README's API reference should read:\n" + "\n".join(wrong)
