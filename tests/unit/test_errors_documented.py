"""Every error routed-llm raises on purpose is importable from the package and documented in the README."""

import inspect
from pathlib import Path

import routed_llm
import routed_llm.errors

README = Path(__file__).resolve().parents[2] / "README.md"


def error_classes() -> list[type[Exception]]:
    return [
        cls
        for _, cls in inspect.getmembers(routed_llm.errors, inspect.isclass)
        if issubclass(cls, routed_llm.errors.RoutedLLMError) and cls.__module__ == "routed_llm.errors"
    ]


def test_errors_are_all_documented() -> None:
    text = README.read_text()
    section = text[text.index("### Errors\n") : text.index("\n## ", text.index("### Errors\n"))]
    missing = [cls.__name__ for cls in error_classes() if f"`{cls.__name__}`" not in section]
    assert not missing, f"README's Errors section does not name {missing}"


def test_errors_are_all_exported_from_the_package() -> None:
    missing = [cls.__name__ for cls in error_classes() if getattr(routed_llm, cls.__name__, None) is not cls]
    assert not missing, f"routed_llm does not export {missing}"
